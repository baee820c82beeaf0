"""The window information an inflated MODEL publishes for other packs (nodes/window_info.py), read where they read
it: IPAdapter_plus in its attention patch (extra_options["ad_params"]), Advanced-ControlNet in its control's
get_control(transformer_options) before the model runs. Expected values written from the windows' definitions
(static windows of 8 frames overlapping by 4 over 16 frames), not from the code under test."""
import pytest
import torch

import graph_utils
from host_features import comfy_windows_take_frame_batches

FRAMES, LENGTH, OVERLAP = 16, 8, 4
WINDOWS = [list(range(0, 8)), list(range(4, 12)), list(range(8, 16))]


@pytest.fixture(scope="module")
def inflated(host):
    base = host.helpers.random_sd15(seed=61)
    return graph_utils.inflate(host, base, graph_utils.motion_handle(host, "animatelcm_t2v", seed=61))


def _recording_control():
    import comfy.controlnet

    class Recording(comfy.controlnet.ControlBase):
        """A control that only records what ComfyUI hands it (as Advanced-ControlNet reads it) and adds nothing."""
        def __init__(self, seen):
            super().__init__()
            self.seen = seen

        def get_control(self, x_noisy, t, cond, batched_number, transformer_options):
            self.seen.append(("control", x_noisy.shape[0] // batched_number, transformer_options.get("ad_params")))
            return None

        def copy(self):
            c = Recording(self.seen)
            self.copy_to(c)
            return c
    return Recording


def _sample(model, cfg=2.0):
    """Two Euler steps, with an attention patch and a control that record the published dict."""
    import comfy.sample
    import comfy.samplers
    import comfy_helpers
    seen = []
    m = model.clone()

    def attn2_patch(n, context_attn2, value_attn2, extra_options):  # where IPAdapter_plus reads it (extra_options)
        seen.append(("attn2", n.shape[0] // len(extra_options["cond_or_uncond"]), extra_options.get("ad_params")))
        return n, context_attn2, value_attn2
    m.set_model_attn2_patch(attn2_patch)
    positive = [[c, {**d, "control": _recording_control()(seen)}] for c, d in comfy_helpers.random_cond(0)]
    noise = torch.randn(FRAMES, 4, 8, 8, generator=torch.Generator().manual_seed(62))
    comfy.sample.sample_custom(m, noise, cfg, comfy.samplers.sampler_object("euler"), torch.tensor([6.0, 2.0, 0.0]),
                               positive, comfy_helpers.random_cond(1), torch.zeros_like(noise), disable_pbar=True,
                               seed=0)
    return seen


def _windows(host, model, mode):
    opts = host.pack.animatelcm_core.context.ContextOptions(LENGTH, OVERLAP)
    return host.pack.nodes.context.attach_context(model, opts, mode, max_length=64)


def _whole_video(entry) -> bool:
    _, frames, params = entry
    return frames == FRAMES and params == {"full_length": FRAMES, "sub_idxs": None, "context_length": FRAMES}


def test_whole_video_without_windows_and_in_motion_only_mode(host, inflated):
    """No windows, or motion-only windows (the spatial layers, IPAdapter's and the ControlNet's calls, hold every
    frame): full_length is the video, sub_idxs None."""
    for model in (inflated, _windows(host, inflated, "motion-only")):
        seen = _sample(model)
        assert {kind for kind, _, _ in seen} == {"attn2", "control"}
        assert all(_whole_video(entry) for entry in seen), seen[:3]


def test_full_mode_windows_publish_each_windows_frames(host, inflated):
    seen = _sample(_windows(host, inflated, "full"))
    for kind in ("attn2", "control"):
        published = [params for k, frames, params in seen if k == kind]
        assert all(p["full_length"] == FRAMES and p["context_length"] == LENGTH for p in published)
        assert sorted({tuple(p["sub_idxs"]) for p in published}) == [tuple(w) for w in WINDOWS], kind
    assert all(frames == LENGTH for _, frames, _ in seen)


def test_full_mode_windows_on_a_plain_model_publish_each_windows_frames(host):
    """Apply Context Options in full mode on a MODEL without a motion module (batched windows of an image model)
    publishes the windows' frames too; without it, no ad_params at all."""
    base = host.helpers.random_sd15(seed=61)
    node = host.nodes.NODE_CLASS_MAPPINGS["ALCM_ApplyContextOptions"]
    core = host.pack.animatelcm_core
    chain = core.context_chain.ContextChain.single(core.context.ContextOptions(LENGTH, OVERLAP))
    seen = _sample(graph_utils.node_output(node.execute(base, chain, "full")))
    for kind in ("attn2", "control"):
        published = [params for k, frames, params in seen if k == kind]
        assert published and all(p["full_length"] == FRAMES and p["context_length"] == LENGTH for p in published)
        assert sorted({tuple(p["sub_idxs"]) for p in published}) == [tuple(w) for w in WINDOWS], kind
    assert all(params is None for _, _, params in _sample(base))


def test_comfyui_own_context_windows_publish_each_windows_frames(host, inflated):
    """ComfyUI's own node on this pack's MODEL: IPAdapter_plus and Advanced-ControlNet read the same dict there.
    0.33's handler prepends the frame before each later window (its causal anchor), which the call holds too."""
    node = host.nodes.NODE_CLASS_MAPPINGS.get("ContextWindowsManual")
    if node is None or not comfy_windows_take_frame_batches():
        pytest.skip("this ComfyUI's own context-window handler cannot sample frame batches (0.3.64's set_step)")
    model = graph_utils.node_output(node.execute(inflated, LENGTH, OVERLAP, "standard_static", 1, False, "pyramid", 0,
                                                 False))  # freenoise off; causal_window_fix at its default (on)
    seen = _sample(model)
    expected = {tuple(WINDOWS[0])} | {tuple([w[0] - 1] + w) for w in WINDOWS[1:]}
    for kind in ("attn2", "control"):
        published = [params for k, frames, params in seen if k == kind]
        assert all(p["full_length"] == FRAMES and p["context_length"] == len(p["sub_idxs"]) for p in published)
        assert {tuple(p["sub_idxs"]) for p in published} == expected, kind
    assert all(frames == len(params["sub_idxs"]) for _, frames, params in seen)


def test_a_pack_that_published_first_is_left_alone(host, inflated):
    """ADE's evolved sampling publishes its own dict; without a window named by ComfyUI or this pack, ours stays out
    of its way."""
    model = inflated.clone()
    theirs = {"full_length": 99, "sub_idxs": None, "context_length": None}
    model.model_options.setdefault("transformer_options", {})["ad_params"] = theirs
    seen = _sample(model)
    assert seen and all(params == theirs for _, _, params in seen)
