"""SDXL end to end at reduced widths, fp32, CPU: an SDXL UNet inflated by our node against independent references.

- SDXL beta: ComfyUI's own SDXL model with seeded random weights (mapped from a diffusers `UNet2DConditionModel`
  through ComfyUI's `unet_to_diffusers` key map), inflated with an SDXL-beta motion module written in the published
  layout (`mm_sdxl_v10_beta.ckpt` keys, torch pickle), equals diffusers' `UNetMotionModel` (the model behind
  `AnimateDiffSDXLPipeline`) on the same weights, 16 frames, cond and uncond batched. SDXL beta normalises its motion
  modules across frames (spec formats.md §2.6), as diffusers does: nothing to align there, and swapping diffusers'
  motion norms to per frame shows that it matters. SDXL's `y` (pooled output + 6 size embeddings) is built by
  ComfyUI's SDXL model on one side and from `text_embeds` + `time_ids` by diffusers on the other.
- HotshotXL: diffusers has no HotshotXL. The reference is diffusers' `UNetMotionModel` holding the HotshotXL weights
  (renamed from HotshotXL's own key names in test code) with its GroupNorms set to HotshotXL's conventions by
  test-side wrappers: ResNet norms (and the output norm) across the frames of each video, temporal norms per frame
  (HotshotXL `resnet.py` / `transformer_temporal.py`). It shares no code with the pack: the pack's side uses its own
  loader, key conversion, placement, motion module and norm switching.
- A motion module for the other base model is refused with a clear error and leaves the input MODEL untouched.
"""
import contextlib

import pytest
import torch
from safetensors.torch import save_file

import sdxl_reference as ref
from diffusers_parity import injected, load_unet2d_into_comfy, one_sampler_call, rel, run_comfy_unet, to_comfy
from synth_weights import FAMILY_FILES, random_state_dict

diffusers = pytest.importorskip("diffusers")

TOLERANCE = 1e-4
TIMESTEP = 421.0
TOKENS, SIZE = 7, 8
FAMILIES = {  # frames: the family's usual clip length (SDXL beta 16, HotshotXL 8)
    "sdxl_beta": {"frames": 16, "pe": 32, "file": "sdxl_parity_mm_sdxl_beta.ckpt", "seed": 21},
    "hotshotxl": {"frames": 8, "pe": 24, "file": "sdxl_parity_hsxl_temporal_layers.safetensors", "seed": 22},
}


@pytest.fixture(scope="module")
def unet2d():
    return ref.diffusers_sdxl_unet2d(diffusers, seed=20)


@pytest.fixture(scope="module")
def base(host, unet2d):
    patcher = ref.comfy_sdxl()
    load_unet2d_into_comfy(patcher, unet2d)
    return patcher


def _motion_setup(host, base, unet2d, family: str) -> dict:
    """The family's file in its published layout and container, loaded by the pack; the same weights in diffusers."""
    spec = FAMILIES[family]
    sd = random_state_dict(FAMILY_FILES[family], seed=spec["seed"], std=0.1)
    path = f"{host.models}/animatediff_models/{spec['file']}"
    save_file(sd, path) if path.endswith(".safetensors") else torch.save(sd, path)
    handle = host.pack.nodes.motion_model.load_motion_model_handle(spec["file"])
    original = ref.hotshot_to_original(sd) if family == "hotshotxl" else sd
    adapter = ref.diffusers_motion_adapter(diffusers, original, spec["pe"])
    inflate = host.pack.nodes.inflate
    return {"handle": handle, "frames": spec["frames"], "unet_motion": ref.motion_unet(diffusers, unet2d, adapter),
            "inflated": inflate.inflate(base, handle, inflate.MotionSettings())}


@pytest.fixture(scope="module")
def beta(host, base, unet2d):
    setup = _motion_setup(host, base, unet2d, "sdxl_beta")
    config = setup["handle"].config
    assert (config.family, config.base, config.norm_across_frames, config.spatial_norm_across_frames) == \
        ("sdxl_beta", "sdxl", True, False)
    return setup


@pytest.fixture(scope="module")
def hotshot(host, base, unet2d):
    setup = _motion_setup(host, base, unet2d, "hotshotxl")
    config = setup["handle"].config
    assert (config.family, config.layout, config.norm_across_frames, config.spatial_norm_across_frames) == \
        ("hotshotxl", "hotshot", False, True)
    return setup


def _inputs(videos: int, frames: int, seed: int):
    """Noise (b, c, f, h, w), text embeddings (b, tokens, dim) and pooled outputs (b, 1280): one row per video."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(videos, 4, frames, SIZE, SIZE, generator=g),
            torch.randn(videos, TOKENS, ref.CONTEXT_DIM, generator=g), torch.randn(videos, ref.POOLED_DIM, generator=g))


def _run_comfy(patcher, x5, ctx, pooled):
    frames = x5.shape[2]
    y = ref.comfy_y(patcher, pooled).repeat_interleave(frames, dim=0)
    return run_comfy_unet(patcher, to_comfy(x5), TIMESTEP, ctx.repeat_interleave(frames, dim=0), x5.shape[0], y=y)


def _run_diffusers(unet_motion, x5, ctx, pooled, timestep=TIMESTEP):
    """diffusers' UNetMotionModel; text embeddings per frame (as its pipeline passes them), added conditions per
    video. Returns ComfyUI's (b f) c h w layout."""
    with torch.no_grad():
        out = unet_motion(x5, torch.as_tensor(timestep), encoder_hidden_states=ctx.repeat_interleave(x5.shape[2], 0),
                          added_cond_kwargs=ref.added_cond(pooled)).sample
    return to_comfy(out)


def _hotshot_reference(unet_motion, frames: int, resnets_across=True, motion_per_frame=True):
    """HotshotXL's GroupNorm conventions on diffusers' model (spec §2.6)."""
    stack = contextlib.ExitStack()
    if resnets_across:
        stack.enter_context(ref.swapped(ref.resnet_norm_slots(unet_motion), ref.across_frames(frames)))
    if motion_per_frame:
        stack.enter_context(ref.swapped(ref.motion_norm_slots(unet_motion), ref.per_frame))
    return stack


@pytest.fixture(scope="module")
def beta_outputs(beta, base):
    x5, ctx, pooled = _inputs(videos=2, frames=beta["frames"], seed=2)  # cond and uncond, batched
    return {"inputs": (x5, ctx, pooled), "base": _run_comfy(base, x5, ctx, pooled),
            "inflated": _run_comfy(beta["inflated"], x5, ctx, pooled)}


def test_plain_sdxl_matches_diffusers_unet2d(unet2d, beta_outputs):
    """Sanity of the weight mapping and of `y`: without motion modules, ComfyUI's SDXL UNet equals
    UNet2DConditionModel frame by frame."""
    x5, ctx, pooled = beta_outputs["inputs"]
    frames = x5.shape[2]
    with torch.no_grad():
        expected = unet2d(to_comfy(x5), torch.tensor(TIMESTEP), encoder_hidden_states=ctx.repeat_interleave(frames, 0),
                          added_cond_kwargs=ref.added_cond(pooled.repeat_interleave(frames, 0))).sample
    r = rel(beta_outputs["base"], expected)
    print(f"\nplain ComfyUI SDXL UNet vs UNet2DConditionModel: rel {r:.2e}")
    assert r <= TOLERANCE


def test_sdxl_beta_matches_unet_motion_model(beta, beta_outputs):
    expected = _run_diffusers(beta["unet_motion"], *beta_outputs["inputs"])
    r, motion_effect = rel(beta_outputs["inflated"], expected), rel(beta_outputs["base"], expected)
    print(f"\nSDXL beta, 16 frames, cond+uncond: inflated ComfyUI UNet vs UNetMotionModel rel {r:.2e} "
          f"(plain UNet vs it: {motion_effect:.2e})")
    assert r <= TOLERANCE
    assert motion_effect > 0.1  # the motion modules really change the output: the agreement is theirs too


def test_sdxl_beta_per_frame_motion_norm_is_far_off(beta, beta_outputs):
    """The across-frames motion-module norm matters: a per-frame reference is clearly different."""
    with ref.swapped(ref.motion_norm_slots(beta["unet_motion"]), ref.per_frame):
        expected = _run_diffusers(beta["unet_motion"], *beta_outputs["inputs"])
    r = rel(beta_outputs["inflated"], expected)
    print(f"\nSDXL beta against a per-frame motion-norm reference: rel {r:.2e}")
    assert r > 100 * TOLERANCE


def test_sdxl_beta_misplaced_modules_are_far_off(host, beta, beta_outputs, monkeypatch):
    """Placing the modules right after the ResBlock (before the spatial transformer) instead of after it: the
    parity figure becomes large, so the test above sees placement."""
    inflate = host.pack.nodes.inflate
    monkeypatch.setattr(inflate.placement, "insert_index", lambda kinds: kinds.index(inflate.placement.RESBLOCK) + 1)
    x5, ctx, pooled = beta_outputs["inputs"]
    misplaced = _run_comfy(beta["inflated"], x5, ctx, pooled)
    r = rel(misplaced, _run_diffusers(beta["unet_motion"], x5, ctx, pooled))
    print(f"\nSDXL beta with modules before the spatial transformers: rel {r:.2e}")
    assert r > 100 * TOLERANCE


@pytest.fixture(scope="module")
def hotshot_outputs(hotshot, base):
    x5, ctx, pooled = _inputs(videos=2, frames=hotshot["frames"], seed=4)
    return {"inputs": (x5, ctx, pooled), "base": _run_comfy(base, x5, ctx, pooled),
            "inflated": _run_comfy(hotshot["inflated"], x5, ctx, pooled)}


def test_hotshotxl_matches_reference(hotshot, hotshot_outputs):
    unet_motion = hotshot["unet_motion"]
    with _hotshot_reference(unet_motion, hotshot["frames"]):
        expected = _run_diffusers(unet_motion, *hotshot_outputs["inputs"])
    r, motion_effect = rel(hotshot_outputs["inflated"], expected), rel(hotshot_outputs["base"], expected)
    print(f"\nHotshotXL, 8 frames, cond+uncond: inflated ComfyUI UNet vs reference rel {r:.2e} "
          f"(plain UNet vs it: {motion_effect:.2e})")
    assert r <= TOLERANCE
    assert motion_effect > 0.1


@pytest.mark.parametrize("resnets_across,motion_per_frame", [(False, True), (True, False)],
                         ids=["resnet-norm-per-frame", "temporal-norm-across-frames"])
def test_hotshotxl_norm_conventions_matter(hotshot, hotshot_outputs, resnets_across, motion_per_frame):
    unet_motion = hotshot["unet_motion"]
    with _hotshot_reference(unet_motion, hotshot["frames"], resnets_across, motion_per_frame):
        expected = _run_diffusers(unet_motion, *hotshot_outputs["inputs"])
    r = rel(hotshot_outputs["inflated"], expected)
    print(f"\nHotshotXL against a reference with resnets_across={resnets_across}, "
          f"motion_per_frame={motion_per_frame}: rel {r:.2e}")
    assert r > 100 * TOLERANCE


@pytest.mark.parametrize("family", list(FAMILIES))
def test_through_comfy_sampler_cond_uncond_batch(host, base, beta, hotshot, family):
    """The same parity through ComfyUI's sampler: SDXL conditioning (pooled output and sizes in the cond dicts, as
    CLIPTextEncodeSDXL sets them), cond+uncond batched in one call, cfg 2. One model call at sigma 1, compared as
    the noise prediction implied by the denoised result."""
    setup = beta if family == "sdxl_beta" else hotshot
    frames = setup["frames"]
    x5, ctx, pooled = _inputs(videos=2, frames=frames, seed=3)  # row 0: positive, row 1: negative
    conds = [[[ctx[i:i + 1], {"pooled_output": pooled[i:i + 1], **ref.SIZES}]] for i in range(2)]
    sigma, cfg = 1.0, 2.0
    m, calls, x, denoised = one_sampler_call(setup["inflated"], to_comfy(x5[:1]), sigma, cfg, conds[0], conds[1],
                                             torch.zeros(frames, 4, SIZE, SIZE))
    assert injected(host, base) == 0
    assert calls == [(2 * frames, [0, 1])]
    got = (x - denoised) / sigma

    timestep = m.get_model_object("model_sampling").timestep(torch.tensor(sigma)).float()
    x_in = (x / (sigma ** 2 + 1) ** 0.5).view(1, frames, 4, SIZE, SIZE).permute(0, 2, 1, 3, 4)
    x_in = x_in.repeat(2, 1, 1, 1, 1)
    with _hotshot_reference(setup["unet_motion"], frames, family == "hotshotxl", family == "hotshotxl"):
        cond, uncond = _run_diffusers(setup["unet_motion"], x_in, ctx, pooled, timestep=timestep).split(frames)
    r = rel(got, uncond + cfg * (cond - uncond))
    print(f"\n{family} through ComfyUI's sampler, cond+uncond batched, cfg {cfg}: rel {r:.2e}")
    assert r <= TOLERANCE


# ------------------------------------------------------------------------------------ wrong base model: refused
HELD_MODELS: dict = {}


@pytest.fixture(scope="module")
def held_model_node(host):
    """A test source node that outputs a MODEL object held by the test, so its state can be compared afterwards."""

    class HeldModel:
        CATEGORY, FUNCTION, RETURN_TYPES = "testing", "get", ("MODEL",)

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"key": ("STRING", {"default": ""})}}

        def get(self, key):
            return (HELD_MODELS[key],)

    host.nodes.NODE_CLASS_MAPPINGS["ALCMTest_HeldModel"] = HeldModel
    yield
    host.nodes.NODE_CLASS_MAPPINGS.pop("ALCMTest_HeldModel", None)


def _apply_prompt(host, key: str, motion_file: str) -> dict:
    """Held MODEL + motion module -> Apply Motion Module (every other input at its default) -> KSampler."""
    from tools.workflow_api import node_definition
    spec = node_definition(host.nodes.NODE_CLASS_MAPPINGS["ALCM_ApplyMotionModel"])["input"]["required"]
    apply = {name: s[1]["default"] for name, s in spec.items() if len(s) > 1 and "default" in s[1]}
    apply.update(model=["1", 0], motion_model=["2", 0])
    return {
        "1": {"class_type": "ALCMTest_HeldModel", "inputs": {"key": key}},
        "2": {"class_type": "ALCM_LoadMotionModel", "inputs": {"model_name": motion_file}},
        "3": {"class_type": "ALCM_ApplyMotionModel", "inputs": apply},
        "4": {"class_type": "ALCMTest_RandomCond", "inputs": {"seed": 0}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 8}},
        "6": {"class_type": "KSampler", "inputs": {"model": ["3", 0], "positive": ["4", 0], "negative": ["4", 0],
                                                   "latent_image": ["5", 0], "seed": 0, "steps": 1, "cfg": 1.0,
                                                   "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}},
        "7": {"class_type": "ALCMTest_LatentStats", "inputs": {"samples": ["6", 0]}},
    }


def _state(patcher) -> dict:
    """Everything a node could attach to a MODEL, and the layers of its UNet."""
    return {name: repr(getattr(patcher, name)) for name in ("model_options", "patches", "object_patches",
                                                             "injections", "additional_models", "wrappers",
                                                             "callbacks")} | \
        {"layers": [type(m).__name__ for m in patcher.model.diffusion_model.modules()]}


@pytest.mark.parametrize("model_kind,family,message", [
    ("sdxl", "v2", r"is a SD15 motion module .* but the MODEL is SDXL"),
    ("sd15", "sdxl_beta", r"is a SDXL motion module .* but the MODEL is SD15"),
    ("sd15", "hotshotxl", r"is a SDXL motion module \(HotshotXL\) but the MODEL is SD15"),
])
def test_motion_module_for_the_other_base_is_refused(host, held_model_node, beta, hotshot, model_kind, family,
                                                     message):
    import re
    key = f"{model_kind}-{family}"
    HELD_MODELS[key] = ref.comfy_sdxl() if model_kind == "sdxl" else host.helpers.random_sd15(seed=40)
    before = _state(HELD_MODELS[key])
    motion_file = FAMILIES[family]["file"] if family in FAMILIES else host.helpers.write_motion_module(
        host.models, "v2", name="sdxl_refusal_v2.safetensors")
    success, _, messages = host.helpers.run_prompt(_apply_prompt(host, key, motion_file))
    errors = [d for e, d in messages if e == "execution_error"]
    assert not success and len(errors) == 1
    assert errors[0]["node_type"] == "ALCM_ApplyMotionModel"
    assert re.search(message, errors[0]["exception_message"]), errors[0]["exception_message"]
    print(f"\n{family} on {model_kind}: {errors[0]['exception_message']}")
    assert _state(HELD_MODELS.pop(key)) == before  # nothing attached: the input MODEL is unchanged
