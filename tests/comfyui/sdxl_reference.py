"""SDXL on both sides of the parity tests: ComfyUI's own SDXL model and diffusers' SDXL UNet at the same reduced
widths, motion adapters for SDXL beta and HotshotXL, and the SDXL size/crop conditioning.

Everything that describes the original models lives here, in test code: HotshotXL's key names (spec formats.md §2.3),
the GroupNorm conventions (§2.6, wrappers from tests/fixtures/norm_alignment.py), the order of SDXL's size
conditioning. Nothing here imports the pack.
"""
import contextlib
import re

import torch

from comfy_helpers import TINY_SDXL
from diffusers_parity import randomize
from norm_alignment import AcrossFramesGroupNorm, PerFrameGroupNorm
from synth_weights import to_diffusers_keys

WIDTHS = tuple(TINY_SDXL["model_channels"] * m for m in TINY_SDXL["channel_mult"])  # (32, 64, 128)
# ComfyUI's SDXL model config sets 64 channels per attention head whatever the UNet config says (SDXL's real head
# size), so the reduced levels have 1 and 2 heads; level 0 has no attention (1 is a placeholder for diffusers)
HEADS = tuple(max(w // 64, 1) for w in WIDTHS)
DEPTHS = tuple(TINY_SDXL["transformer_depth"][2 * i] for i in range(len(WIDTHS)))  # spatial transformers per level
CONTEXT_DIM = TINY_SDXL["context_dim"]
POOLED_DIM = 1280  # ComfyUI's SDXL embeds 6 sizes x 256 after the pooled output: adm_in_channels 2816 = 1280 + 1536
# SDXL size conditioning in ComfyUI's names; all different so that any swapped pair shows
SIZES = {"height": 768, "width": 1024, "crop_h": 32, "crop_w": 16, "target_height": 640, "target_width": 896}
# diffusers' `time_ids` order: original_size (h, w) + crops_coords_top_left (top, left) + target_size (h, w)
TIME_IDS = [SIZES[k] for k in ("height", "width", "crop_h", "crop_w", "target_height", "target_width")]


def comfy_sdxl():
    """ComfyUI's own SDXL BaseModel at the reduced widths, in a ModelPatcher (weights: load_unet2d_into_comfy)."""
    import comfy.model_base
    import comfy.model_management
    import comfy.model_patcher
    import comfy.supported_models
    model = comfy.model_base.SDXL(comfy.supported_models.SDXL(dict(TINY_SDXL)), device="cpu")
    return comfy.model_patcher.ModelPatcher(model, load_device=comfy.model_management.get_torch_device(),
                                            offload_device=comfy.model_management.unet_offload_device())


def diffusers_sdxl_unet2d(diffusers, seed: int):
    """diffusers' SDXL UNet (text_time additional embedding) at the same widths; attention_head_dim is the legacy
    name for the number of heads."""
    unet = diffusers.UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=WIDTHS, layers_per_block=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        transformer_layers_per_block=tuple(max(d, 1) for d in DEPTHS), cross_attention_dim=CONTEXT_DIM,
        attention_head_dim=HEADS, use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=256, projection_class_embeddings_input_dim=TINY_SDXL["adm_in_channels"],
        norm_num_groups=32)
    randomize(unet, seed=seed, std=0.05)
    return unet.eval()


def diffusers_motion_adapter(diffusers, original_sd: dict, pe_length: int):
    """A diffusers MotionAdapter for SDXL holding an original-layout (AnimateDiff names) state dict."""
    adapter = diffusers.MotionAdapter(block_out_channels=WIDTHS, motion_layers_per_block=2,
                                      motion_num_attention_heads=8, motion_norm_num_groups=32,
                                      motion_max_seq_length=pe_length, use_motion_mid_block=False)
    adapter.load_state_dict(to_diffusers_keys(original_sd), strict=True)
    return adapter.eval()


def hotshot_to_original(sd: dict) -> dict:
    """HotshotXL's names (`<block>.temporal_attentions.N.<suffix>`, `pos_encoder.positional_encoding`) to
    AnimateDiff's (`<block>.motion_modules.N.temporal_transformer.<suffix>`, `pos_encoder.pe`): spec §2.3."""
    out = {}
    for key, value in sd.items():
        key = re.sub(r"\.temporal_attentions\.(\d+)\.", r".motion_modules.\1.temporal_transformer.", key)
        out[key.replace(".pos_encoder.positional_encoding", ".pos_encoder.pe")] = value
    return out


def motion_unet(diffusers, unet2d, adapter):
    """UNetMotionModel.from_unet2d, plus the SDXL `add_embedding` that from_unet2d leaves at its initialisation;
    then every non-motion weight is checked to be the UNet2D's."""
    unet_motion = diffusers.UNetMotionModel.from_unet2d(unet2d, adapter).eval()
    unet_motion.add_embedding.load_state_dict(unet2d.add_embedding.state_dict())
    source = unet2d.state_dict()
    for key, value in unet_motion.state_dict().items():
        if "motion_modules" not in key:
            assert torch.equal(value, source[key]), key
    return unet_motion


def comfy_y(patcher, pooled: torch.Tensor) -> torch.Tensor:
    """SDXL's `y` as ComfyUI's SDXL model builds it (pooled output, then the 6 size embeddings), one row per row of
    `pooled`."""
    return patcher.model.encode_adm(pooled_output=pooled, **SIZES)


def added_cond(pooled: torch.Tensor) -> dict:
    """The same conditioning in diffusers' form, one row per video."""
    return {"text_embeds": pooled, "time_ids": torch.tensor([TIME_IDS] * pooled.shape[0], dtype=torch.float32)}


def size_embedding(dim: int = 256) -> torch.Tensor:
    """The 6 x 256 size embedding written out independently: for each size s, [cos(s w_i), sin(s w_i)] with
    w_i = 10000^(-i/128), i < 128 (the sinusoidal timestep embedding SDXL uses for its size conditioning)."""
    half = dim // 2
    w = torch.exp(-torch.log(torch.tensor(10000.0, dtype=torch.float64)) * torch.arange(half, dtype=torch.float64)
                  / half)
    parts = [torch.cat([torch.cos(s * w), torch.sin(s * w)]) for s in TIME_IDS]
    return torch.cat(parts).float()


# ------------------------------------------------------------------------------------------- GroupNorm conventions
def motion_norm_slots(unet_motion) -> list:
    from diffusers.models.unets.unet_motion_model import AnimateDiffTransformer3D
    return [(m, "norm") for m in unet_motion.modules() if isinstance(m, AnimateDiffTransformer3D)]


def resnet_norm_slots(unet_motion) -> list:
    """norm1/norm2 of every ResNet (down, mid, up) and the output norm."""
    from diffusers.models.resnet import ResnetBlock2D
    slots = [(m, n) for m in unet_motion.modules() if isinstance(m, ResnetBlock2D) for n in ("norm1", "norm2")]
    return slots + [(unet_motion, "conv_norm_out")]


@contextlib.contextmanager
def swapped(slots: list, wrap):
    """Replace each `(owner, attribute)` GroupNorm by `wrap(norm)` for the duration of the block."""
    originals = [(owner, name, getattr(owner, name)) for owner, name in slots]
    try:
        for owner, name, norm in originals:
            setattr(owner, name, wrap(norm))
        yield
    finally:
        for owner, name, norm in originals:
            setattr(owner, name, norm)


def per_frame(norm):
    return PerFrameGroupNorm(norm)


def across_frames(frames: int):
    return lambda norm: AcrossFramesGroupNorm(norm, frames)
