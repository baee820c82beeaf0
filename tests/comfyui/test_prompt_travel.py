"""Prompt travel in a real ComfyUI: keyframes equal CLIPTextEncode through a real CLIP, every frame is computed with
its own embedding (the UNet's cross-attention input, hooked) at cfg 1 and 2, with context windows in both modes,
ControlNet and the I2V reference; a schedule that does not fit the latent stops before sampling."""
import hashlib

import pytest
import torch

import checkpoint_files
import graph_utils

FRAMES, TOKENS = 24, 7
SCHEDULE = '"0": "a bud", "0.5": "a (blooming:1.2) rose",\n-1 = "a wilted rose",'


def run_node(cls, **inputs):
    """A node's first output, V1 or V3."""
    if hasattr(cls, "FUNCTION"):
        return getattr(cls(), cls.FUNCTION)(**inputs)[0]
    return graph_utils.node_output(cls.execute(**inputs))


class FakeClip:
    """Stands in for a CLIP at the tiny UNet's width: a fixed random embedding per text."""

    def tokenize(self, text):
        return text

    def encode_from_tokens_scheduled(self, tokens):
        seed = int(hashlib.sha256(tokens.encode()).hexdigest()[:8], 16)
        g = torch.Generator().manual_seed(seed)
        import comfy_helpers
        return [[torch.randn(1, TOKENS, comfy_helpers.CONTEXT_DIM, generator=g),
                 {"pooled_output": torch.randn(1, comfy_helpers.CONTEXT_DIM, generator=g)}]]


@pytest.fixture(scope="module")
def clip(host):
    import comfy.sd
    path = checkpoint_files.model_paths(checkpoint_files.ensure_model_files())[("checkpoints", checkpoint_files.CHECKPOINT)]
    return comfy.sd.load_checkpoint_guess_config(path, output_vae=False, output_clip=True)[1]


def _schedule(host, clip, text, frames, method="linear", pre="", app=""):
    node = host.nodes.NODE_CLASS_MAPPINGS["ALCM_PromptSchedule"]
    return run_node(node, clip=clip, text=text, frames=frames, interpolation=method, pre_text=pre, app_text=app)


def _encode(host, clip, text):
    return run_node(host.nodes.NODE_CLASS_MAPPINGS["CLIPTextEncode"], clip=clip, text=text)


def test_keyframes_equal_clip_text_encode_and_midpoint_is_the_mean(host, clip):
    """Through a real CLIP (SD1.5 CLIP-L at full size, random weights)."""
    cond = _schedule(host, clip, '"0": "a red fox", "8": "a (blue:1.3) bird"', 9, pre="photo", app="4k")
    assert len(cond) == 1 and cond[0][0].shape[0] == 9 and cond[0][1]["pooled_output"].shape[0] == 9
    (a, a_extra), = _encode(host, clip, "photo, a red fox, 4k")
    (b, b_extra), = _encode(host, clip, "photo, a (blue:1.3) bird, 4k")
    assert torch.equal(cond[0][0][0:1], a) and torch.equal(cond[0][0][8:9], b)
    assert torch.equal(cond[0][1]["pooled_output"][0:1], a_extra["pooled_output"])
    torch.testing.assert_close(cond[0][0][4:5], (a + b) / 2, rtol=0, atol=1e-6)
    torch.testing.assert_close(cond[0][1]["pooled_output"][4:5], (a_extra["pooled_output"] + b_extra["pooled_output"])
                               / 2, rtol=0, atol=1e-6)
    assert not torch.allclose(a, b)
    spherical = _schedule(host, clip, '"0": "a red fox", "8": "a (blue:1.3) bird"', 9, "spherical", "photo", "4k")
    assert torch.equal(spherical[0][0][8:9], b) and not torch.allclose(spherical[0][0][4], cond[0][0][4])


def _record_cross_attention(model):
    """attn2 patch: the cross-attention input (context) of the first transformer block of every UNet call."""
    seen = []

    def patch(n, context, value, extra_options):
        if extra_options.get("block") == ("input", 1):
            window = extra_options.get("context_window")
            seen.append((context.clone(), list(extra_options["cond_or_uncond"]),
                         None if window is None else list(window.index_list)))
        return n, context, value

    m = model.clone()
    m.set_model_attn2_patch(patch)
    return m, seen


def _windows(host, model, mode):
    if mode is None:
        return model
    opts = host.pack.animatelcm_core.context.ContextOptions(8, 2)
    return host.pack.nodes.context.attach_context(model, opts, mode, max_length=64)


def _sample(model, noise, positive, negative, cfg, steps=2):
    import comfy.sample
    import comfy.samplers
    sigmas = torch.linspace(4.0, 1.0, steps).tolist() + [0.0]
    return comfy.sample.sample_custom(model, noise, cfg, comfy.samplers.sampler_object("euler"), torch.tensor(sigmas),
                                      positive, negative, torch.zeros_like(noise), disable_pbar=True, seed=0)


def _check_rows(seen, positive, negative):
    """Each UNet call's cond rows hold the schedule's embedding of each of its frames; uncond rows the negative."""
    assert seen
    for context, chunks, window in seen:
        indices = window if window is not None else list(range(FRAMES))
        rows = context.view(len(chunks), len(indices), *context.shape[1:])
        for chunk, kind in zip(rows, chunks):
            expected = positive[indices] if kind == 0 else negative.expand(len(indices), -1, -1)
            assert torch.equal(chunk, expected), (kind, window)


@pytest.fixture(scope="module")
def tiny(host):
    base = host.helpers.random_sd15(seed=51)
    handle = graph_utils.motion_handle(host, "animatelcm_t2v", seed=51)
    return base, handle, graph_utils.inflate(host, base, handle)


@pytest.mark.parametrize("mode", [None, "motion-only", "full"])
@pytest.mark.parametrize("cfg", [1.0, 2.0])
def test_every_frame_is_computed_with_its_own_embedding(host, tiny, cfg, mode):
    base, handle, inflated = tiny
    positive = _schedule(host, FakeClip(), SCHEDULE, FRAMES)
    negative = host.helpers.random_cond(9)
    model, seen = _record_cross_attention(_windows(host, inflated, mode))
    noise = torch.randn(FRAMES, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    out = _sample(model, noise, positive, negative, cfg)
    assert torch.isfinite(out).all()
    _check_rows(seen, positive[0][0], negative[0][0])
    if mode == "full":
        assert {len(w) for _, _, w in seen} == {8} and len(seen) >= 4  # windows of 8 frames, each seen
    assert {k for _, chunks, _ in seen for k in chunks} == ({0} if cfg == 1.0 else {0, 1})


def test_with_controlnet_and_i2v_in_full_windows(host):
    """The I2V reference and per-frame ControlNet hints together with per-frame prompts, in full-mode windows."""
    import nodes
    i2v = host.pack.nodes.i2v
    base = host.helpers.random_sd15(seed=52)
    handle = graph_utils.motion_handle(host, "animatelcm_i2v", seed=52)
    ref = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    model = i2v.attach_i2v(graph_utils.inflate(host, base, handle), handle, ref, i2v.I2VSettings())
    positive = _schedule(host, FakeClip(), SCHEDULE, FRAMES)
    negative = host.helpers.random_cond(9)
    hints = torch.rand(FRAMES, 64, 64, 3, generator=torch.Generator().manual_seed(3))
    pos, neg = nodes.ControlNetApplyAdvanced().apply_controlnet(positive, negative, graph_utils.tiny_controlnet(host),
                                                                hints, 1.0, 0.0, 1.0)
    model, seen = _record_cross_attention(_windows(host, model, "full"))
    out = _sample(model, torch.randn(FRAMES, 4, 8, 8, generator=torch.Generator().manual_seed(4)), pos, neg, 2.0)
    assert torch.isfinite(out).all()
    _check_rows(seen, positive[0][0], negative[0][0])


def _count_unet_calls(model):
    import comfy.patcher_extension
    calls = []

    def count(executor, *args, **kwargs):
        calls.append(1)
        return executor(*args, **kwargs)

    m = model.clone()
    m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "test_count", count)
    return m, calls


def test_schedule_length_must_match_the_latent_before_sampling(host, tiny):
    errors = host.pack.animatelcm_core.errors
    model, calls = _count_unet_calls(tiny[2])
    positive = _schedule(host, FakeClip(), SCHEDULE, 16)
    with pytest.raises(errors.PromptScheduleError, match="16 per-frame entries.*12 frames"):
        _sample(model, torch.randn(12, 4, 8, 8), positive, host.helpers.random_cond(9), 1.0)
    assert calls == []
    latent = {"samples": torch.zeros(12, 4, 8, 8)}
    node = host.nodes.NODE_CLASS_MAPPINGS["ALCM_PromptSchedule"]
    from_latent = run_node(node, clip=FakeClip(), text=SCHEDULE, frames=99, interpolation="linear", pre_text="",
                           app_text="", latent=latent)
    assert from_latent[0][0].shape[0] == 12  # the latent sets the length


@pytest.mark.parametrize("text,message", [
    ('"0": "a", "0": "b"', "both name frame 0"),
    ('"0": "a",\n"30": "b"', "line 2.*out of range for 24 frames"),
    ('"0": "a"\nthis is not an entry', "line 2"),
    ("", "empty"),
])
def test_bad_schedules_are_clear_errors(host, text, message):
    errors = host.pack.animatelcm_core.errors
    with pytest.raises(errors.PromptScheduleError, match=message):
        _schedule(host, FakeClip(), text, FRAMES)
