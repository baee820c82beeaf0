"""End-to-end parity: a ComfyUI UNet inflated by our node equals diffusers' `UNetMotionModel` on identical weights.

Reduced widths (SD1.5 layout /10), fp32, CPU. The diffusers `UNet2DConditionModel` gets seeded random weights; they are
mapped into ComfyUI's own SD1.5 UNet with ComfyUI's `unet_to_diffusers` key map (every ComfyUI key filled). A diffusers
`MotionAdapter` (v2 layout, with mid block) gets random weights, is saved in diffusers' layout and loaded through our
motion-model loader; `inflate` then places it in the ComfyUI UNet, while diffusers builds `UNetMotionModel.from_unet2d`.
One UNet call on both sides must agree to 1e-4 of the output scale: this checks placement, reshapes and norms at once.

GroupNorm convention (spec formats.md §2.6): diffusers' motion module normalises across frames, AnimateDiff v2 (and
so our module) per frame. diffusers' motion-module norms are swapped for a per-frame wrapper to align the two.
"""
import pytest
import torch
from safetensors.torch import save_file
from diffusers_parity import injected as _injected, load_unet2d_into_comfy as _load_into_comfy, one_sampler_call, \
    rel as _rel, randomize as _randomize, run_comfy_unet, to_comfy as _to_comfy
from norm_alignment import PerFrameGroupNorm

diffusers = pytest.importorskip("diffusers")

WIDTHS = (32, 64, 128, 128)
CONTEXT_DIM = 64
FRAMES = 16
TOKENS = 7
SIZE = 8
TIMESTEP = 421.0
TOLERANCE = 1e-4
MOTION_FILE = "unet_parity_v2_diffusers.safetensors"


def _diffusers_unet2d() -> "diffusers.UNet2DConditionModel":
    """SD1.5's UNet structure at reduced widths (attention_head_dim=8 is the legacy name for 8 heads)."""
    unet = diffusers.UNet2DConditionModel(
        sample_size=SIZE, in_channels=4, out_channels=4, block_out_channels=WIDTHS, layers_per_block=2,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=CONTEXT_DIM, attention_head_dim=8, norm_num_groups=32)
    _randomize(unet, seed=10, std=0.05)
    return unet.eval()


def _diffusers_adapter() -> "diffusers.MotionAdapter":
    adapter = diffusers.MotionAdapter(block_out_channels=WIDTHS, motion_layers_per_block=2,
                                      motion_num_attention_heads=8, motion_norm_num_groups=32,
                                      motion_max_seq_length=32, use_motion_mid_block=True)
    _randomize(adapter, seed=11, std=0.1)
    return adapter.eval()


def _swap_motion_norms(unet_motion) -> list:
    """Replace every motion-module GroupNorm with its per-frame wrapper; returns what is needed to undo it."""
    from diffusers.models.unets.unet_motion_model import AnimateDiffTransformer3D
    swapped = []
    for module in unet_motion.modules():
        if isinstance(module, AnimateDiffTransformer3D):
            swapped.append((module, module.norm))
            module.norm = PerFrameGroupNorm(module.norm)
    assert len(swapped) == 21  # 8 down, 1 mid, 12 up motion modules
    return swapped


@pytest.fixture(scope="module")
def models(host):
    unet2d = _diffusers_unet2d()
    adapter = _diffusers_adapter()
    unet_motion = diffusers.UNetMotionModel.from_unet2d(unet2d, adapter).eval()

    base = host.helpers.random_sd15(seed=12)
    _load_into_comfy(base, unet2d)
    save_file({k: v.contiguous() for k, v in adapter.state_dict().items()},
              f"{host.models}/animatediff_models/{MOTION_FILE}")
    handle = host.pack.nodes.motion_model.load_motion_model_handle(MOTION_FILE)
    assert handle.config.family == "v2" and handle.config.layout == "diffusers"
    assert not handle.config.norm_across_frames and not handle.config.spatial_norm_across_frames
    inflate = host.pack.nodes.inflate
    inflated = inflate.inflate(base, handle, inflate.MotionSettings())
    return {"unet2d": unet2d, "unet_motion": unet_motion, "base": base, "inflated": inflated}


def _inputs(videos: int, seed: int = 0):
    """Noise of `videos` videos in diffusers' (b, c, f, h, w) layout and per-video text embeddings (b, tokens, dim)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(videos, 4, FRAMES, SIZE, SIZE, generator=g)
    ctx = torch.randn(videos, TOKENS, CONTEXT_DIM, generator=g)
    return x, ctx


def _run_comfy(patcher, x5, ctx):
    """One UNet call through ComfyUI's UNetModel, one chunk of FRAMES frames per video (cond, uncond)."""
    return run_comfy_unet(patcher, _to_comfy(x5), TIMESTEP, ctx.repeat_interleave(FRAMES, dim=0), videos=x5.shape[0])


def _run_motion(unet_motion, x5, ctx, per_frame_norm: bool, timestep=TIMESTEP):
    """diffusers' UNetMotionModel on (b, c, f, h, w); the text embeddings go per frame, as its pipeline passes them.
    Returns ComfyUI's (b f) c h w layout."""
    swapped = _swap_motion_norms(unet_motion) if per_frame_norm else []
    try:
        with torch.no_grad():
            out = unet_motion(x5, torch.as_tensor(timestep),
                              encoder_hidden_states=ctx.repeat_interleave(FRAMES, dim=0)).sample
    finally:
        for module, norm in swapped:
            module.norm = norm
    return _to_comfy(out)


@pytest.fixture(scope="module")
def one_video(models):
    """One video of FRAMES frames: ComfyUI outputs (plain and inflated), computed once for the tests below."""
    x5, ctx = _inputs(videos=1, seed=2)
    return {"x5": x5, "ctx": ctx, "base": _run_comfy(models["base"], x5, ctx),
            "inflated": _run_comfy(models["inflated"], x5, ctx)}


def test_base_unet_matches_diffusers_unet2d(models, one_video):
    """Sanity of the weight mapping: without motion modules, ComfyUI's UNet equals UNet2DConditionModel per frame."""
    x5, ctx = one_video["x5"], one_video["ctx"]
    with torch.no_grad():
        expected = models["unet2d"](_to_comfy(x5), torch.tensor(TIMESTEP),
                                    encoder_hidden_states=ctx.repeat_interleave(FRAMES, dim=0)).sample
    rel = _rel(one_video["base"], expected)
    print(f"\nplain ComfyUI UNet vs UNet2DConditionModel: rel {rel:.2e}")
    assert rel <= TOLERANCE


def test_inflated_unet_matches_unet_motion_model(models, one_video):
    """Our inflated ComfyUI UNet equals diffusers' UNetMotionModel (motion-module norms per frame on both sides)."""
    expected = _run_motion(models["unet_motion"], one_video["x5"], one_video["ctx"], per_frame_norm=True)
    rel = _rel(one_video["inflated"], expected)
    motion_effect = _rel(one_video["base"], expected)
    print(f"\ninflated ComfyUI UNet vs UNetMotionModel: rel {rel:.2e} (plain UNet vs it: {motion_effect:.2e})")
    assert rel <= TOLERANCE
    assert motion_effect > 0.1  # the motion modules really change the output: the agreement is theirs too


def test_groupnorm_alignment_is_needed(models, one_video):
    """Without swapping diffusers' motion-module norms to per frame, the two clearly differ."""
    expected = _run_motion(models["unet_motion"], one_video["x5"], one_video["ctx"], per_frame_norm=False)
    rel = _rel(one_video["inflated"], expected)
    print(f"\ninflated ComfyUI UNet vs UNetMotionModel without norm alignment: rel {rel:.2e}")
    assert rel > 100 * TOLERANCE


def test_through_comfy_sampler_cond_uncond_batch(host, models):
    """The same parity through ComfyUI's sampler: model loading, conditioning, cond+uncond of 2 x FRAMES frames
    batched in one call, cfg 2. One model call at sigma 1, compared as the noise prediction implied by the
    denoised result."""
    x5, ctx = _inputs(videos=2, seed=3)  # ctx[0]: positive, ctx[1]: negative
    sigma, cfg = 1.0, 2.0
    m, calls, x, denoised = one_sampler_call(models["inflated"], _to_comfy(x5[:1]), sigma, cfg, [[ctx[:1], {}]],
                                             [[ctx[1:], {}]], torch.zeros(FRAMES, 4, SIZE, SIZE))
    assert _injected(host, models["base"]) == 0
    assert calls == [(2 * FRAMES, [0, 1])]
    got = (x - denoised) / sigma

    timestep = m.get_model_object("model_sampling").timestep(torch.tensor(sigma)).float()
    x_in = (x / (sigma ** 2 + 1) ** 0.5).view(1, FRAMES, 4, SIZE, SIZE).permute(0, 2, 1, 3, 4).repeat(2, 1, 1, 1, 1)
    cond, uncond = _run_motion(models["unet_motion"], x_in, ctx, per_frame_norm=True, timestep=timestep).split(FRAMES)
    rel = _rel(got, uncond + cfg * (cond - uncond))
    print(f"\nthrough ComfyUI's sampler, cond+uncond batched, cfg {cfg}: rel {rel:.2e}")
    assert rel <= TOLERANCE
