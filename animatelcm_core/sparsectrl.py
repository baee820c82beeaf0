"""SparseCtrl files (AnimateDiff v3's `v3_sd15_sparsectrl_rgb.ckpt` and `v3_sd15_sparsectrl_scribble.ckpt`):
what a file is, its ControlNet encoder's shape, and its motion modules, built with this pack's motion-module code.

A published file is the state dict of AnimateDiff's `SparseControlNetModel` (guoyww/AnimateDiff
`animatediff/models/sparse_controlnet.py`; key tables in tests/fixtures/keys/v3_sd15_sparsectrl_*.tsv), diffusers
names throughout:
- an SD1.5 ControlNet encoder: `conv_in`, `time_embedding`, `down_blocks.{0-3}.{resnets,attentions,downsamplers}`,
  `mid_block`, zero convolutions `controlnet_down_blocks.{0-11}` and `controlnet_mid_block`;
- the conditioning embedding, over the hint channels plus one mask channel: RGB uses a single 3x3 convolution
  `controlnet_cond_embedding` over 4 latent channels + mask ("simplified", the hints are VAE-encoded keyframes);
  scribble uses `controlnet_cond_embedding.{conv_in, blocks.0-5, conv_out}` over 3 image channels + mask;
- motion modules after each down-block layer, `down_blocks.{i}.motion_modules.{0,1}.temporal_transformer.*`, with
  one temporal attention block each (`attention_block_types: ["Temporal_Self"]`) and stored position encodings
  (length 32); none in the mid block.
"""
import re
from dataclasses import dataclass

import torch

from .build import build_motion_model
from .config import MotionModuleConfig, describe_non_motion_file, detect_layout, module_key_shapes, tensor_dtype
from .motion_module import TORCH_OPS, MotionModel
from .sparse_frames import SparseCtrlError

RGB, SCRIBBLE = "rgb", "scribble"
MOTION_MARK = ".motion_modules."
LATENT_CHANNELS, IMAGE_CHANNELS = 4, 3  # hint channels of the two kinds, before the mask channel
DEFAULT_PE_LENGTH = 32  # AnimateDiff's SparseCtrl configs: temporal_position_encoding_max_len
HEADS = 8  # SD1.5 (and AnimateDiff's configs): 8 attention heads in every spatial transformer
_COND = "controlnet_cond_embedding"


@dataclass(frozen=True)
class SparseCtrlConfig:
    """What a SparseCtrl file holds, read from its keys and shapes."""
    kind: str  # RGB (VAE latents as hints) or SCRIBBLE (images as hints)
    hint_channels: int  # channels of the conditioning input: hint channels + 1 mask channel
    model_channels: int
    channel_mult: tuple[int, ...]
    attention_levels: tuple[bool, ...]  # down levels with spatial transformers
    mid_attention: bool
    context_dim: int
    linear_projection: bool  # spatial transformers' proj_in/out are Linear (else 1x1 conv)
    res_blocks: int
    motion: MotionModuleConfig

    @property
    def latent_hints(self) -> bool:
        return self.kind == RGB

    @property
    def display_name(self) -> str:
        return "SparseCtrl RGB" if self.kind == RGB else "SparseCtrl scribble"


def split_state_dict(sd: dict) -> tuple[dict, dict]:
    """(ControlNet encoder part, motion-module part) of a SparseCtrl state dict, both with the file's key names."""
    motion = {k: v for k, v in sd.items() if MOTION_MARK in k}
    return {k: v for k, v in sd.items() if MOTION_MARK not in k}, motion


def detect_sparsectrl(sd: dict, source: str = "<state dict>") -> SparseCtrlConfig:
    """The config of a SparseCtrl state dict from keys and shapes alone; a clear error for any other file."""
    encoder, motion = split_state_dict(sd)
    if "controlnet_down_blocks.0.weight" not in encoder:
        raise SparseCtrlError(f"{source}: not a SparseCtrl model: {_what_else(sd)}. Expected AnimateDiff v3 "
                              "SparseCtrl keys like 'controlnet_cond_embedding.*' and "
                              "'down_blocks.0.motion_modules.0.temporal_transformer.*' (v3_sd15_sparsectrl_rgb.ckpt "
                              "or v3_sd15_sparsectrl_scribble.ckpt).")
    if not motion:
        raise SparseCtrlError(f"{source}: a ControlNet without motion modules, not a SparseCtrl model; load it with "
                              "ComfyUI's ControlNet loader.")
    if not any(".temporal_transformer." in k for k in motion):
        raise SparseCtrlError(f"{source}: its motion modules are in diffusers' layout (e.g. {next(iter(motion))!r}); "
                              "expected the original AnimateDiff file with '.temporal_transformer.' keys "
                              "(v3_sd15_sparsectrl_rgb.ckpt / v3_sd15_sparsectrl_scribble.ckpt from "
                              "guoyww/animatediff).")
    kind, hint_channels = _conditioning(encoder, source)
    conv_in = _tensor(encoder, "conv_in.weight", source)
    if conv_in.shape[1] != LATENT_CHANNELS:
        raise SparseCtrlError(f"{source}: conv_in takes {conv_in.shape[1]} channels; expected {LATENT_CHANNELS} "
                              "(an SD1.5 latent).")
    model_channels = int(conv_in.shape[0])
    widths = _level_widths(encoder, source)
    levels = len(widths)
    to_k = [v for k, v in encoder.items() if k.endswith("attn2.to_k.weight")]
    proj = [v for k, v in encoder.items() if re.search(r"attentions\.\d+\.proj_in\.weight$", k)]
    if not to_k or not proj:
        raise SparseCtrlError(f"{source}: no cross-attention layers found; the file may be truncated.")
    return SparseCtrlConfig(
        kind=kind, hint_channels=hint_channels, model_channels=model_channels,
        channel_mult=tuple(w // model_channels for w in widths),
        attention_levels=tuple(any(k.startswith(f"down_blocks.{i}.attentions.") for k in encoder)
                               for i in range(levels)),
        mid_attention=any(k.startswith("mid_block.attentions.") for k in encoder),
        context_dim=int(to_k[0].shape[1]), linear_projection=proj[0].ndim == 2,
        res_blocks=len({k.split(".")[3] for k in encoder if k.startswith("down_blocks.0.resnets.")}),
        motion=_motion_config(motion, widths, source))


def _what_else(sd: dict) -> str:
    if detect_layout(sd.keys()) != "none":
        return "it is a motion module; load it with 'Load Motion Module'"
    what = describe_non_motion_file(sd.keys())
    if what:
        return "it looks like " + what
    keys = list(sd)
    return f"found {len(keys)} keys such as {', '.join(repr(k) for k in keys[:3])}"


def _tensor(sd: dict, key: str, source: str) -> torch.Tensor:
    if key not in sd:
        raise SparseCtrlError(f"{source}: missing '{key}'; the file may be truncated.")
    return sd[key]


def _conditioning(encoder: dict, source: str) -> tuple[str, int]:
    """Kind and conditioning-input channels (hint + mask) from the conditioning embedding."""
    if f"{_COND}.weight" in encoder:
        kind, channels, expected = RGB, int(encoder[f"{_COND}.weight"].shape[1]), LATENT_CHANNELS + 1
    elif f"{_COND}.conv_in.weight" in encoder:
        kind, channels, expected = SCRIBBLE, int(encoder[f"{_COND}.conv_in.weight"].shape[1]), IMAGE_CHANNELS + 1
    else:
        raise SparseCtrlError(f"{source}: no conditioning embedding ('{_COND}.weight' for RGB or "
                              f"'{_COND}.conv_in.weight' for scribble); the file may be truncated.")
    if channels != expected:
        raise SparseCtrlError(f"{source}: the conditioning embedding takes {channels} channels; a {kind} SparseCtrl "
                              f"takes {expected} ({expected - 1} hint channels + 1 mask channel).")
    return kind, channels


def _level_widths(encoder: dict, source: str) -> list[int]:
    widths = {}
    for k, v in encoder.items():
        m = re.match(r"^down_blocks\.(\d+)\.resnets\.0\.conv1\.weight$", k)
        if m:
            widths[int(m.group(1))] = int(v.shape[0])
    if sorted(widths) != list(range(4)):
        raise SparseCtrlError(f"{source}: found encoder down blocks {sorted(widths)}; expected 0-3 (SD1.5). "
                              "The file may be truncated or for another base model.")
    return [widths[i] for i in range(4)]


def _motion_config(motion: dict, widths: list[int], source: str) -> MotionModuleConfig:
    norm = {int(m.group(1)): int(v.shape[0]) for k, v in motion.items()
            if (m := re.match(r"^down_blocks\.(\d+)\.motion_modules\.0\.temporal_transformer\.norm\.weight$", k))}
    if sorted(norm) != list(range(len(widths))) or [norm[i] for i in sorted(norm)] != widths:
        raise SparseCtrlError(f"{source}: motion modules in down blocks {sorted(norm)}; expected one pair per "
                              f"encoder level 0-{len(widths) - 1}. The file may be truncated.")
    if any(not k.startswith("down_blocks.") for k in motion):
        raise SparseCtrlError(f"{source}: motion modules outside the down blocks (e.g. "
                              f"{next(k for k in motion if not k.startswith('down_blocks.'))!r}); SparseCtrl has "
                              "them in the down blocks only.")
    per_level = len({k.split(".")[3] for k in motion if k.startswith("down_blocks.0.")})
    attention = 1 + max(int(m.group(1)) for k in motion if (m := re.search(r"\.attention_blocks\.(\d+)\.", k)))
    pe = [v for k, v in motion.items() if k.endswith("pos_encoder.pe")]
    return MotionModuleConfig(
        family="v3", base="sd15", down_channels=tuple(widths), has_mid=False,
        pe_length=int(pe[0].shape[1]) if pe else DEFAULT_PE_LENGTH, pe_stored=bool(pe), norm_across_frames=False,
        spatial_norm_across_frames=False, sampling="sqrt_linear", attention_blocks=attention,
        down_modules=per_level, up_modules=0)


def motion_key_shapes(config: MotionModuleConfig) -> dict[str, tuple[int, ...]]:
    """Every motion-module key a SparseCtrl file with this config holds (attention blocks 0..n-1 only)."""
    pe = config.pe_length if config.pe_stored else None
    out = {}
    for prefix, c in config.module_names():
        out.update({k: s for k, s in module_key_shapes(prefix, c, pe).items()
                    if not _extra_block(k, config.attention_blocks)})
    return out


def _extra_block(key: str, blocks: int) -> bool:
    m = re.search(r"\.(?:attention_blocks|norms)\.(\d+)\.", key)
    return m is not None and int(m.group(1)) >= blocks


def check_motion_state_dict(motion: dict, config: MotionModuleConfig, source: str) -> None:
    expected = motion_key_shapes(config)
    missing = [k for k in expected if k not in motion]
    unexpected = [k for k in motion if k not in expected]
    wrong = [k for k in expected if k in motion and tuple(motion[k].shape) != expected[k]]
    if missing or unexpected or wrong:
        detail = (f"{len(missing)} missing (e.g. {missing[:1]})" if missing else
                  f"{len(unexpected)} unknown (e.g. {unexpected[:1]})" if unexpected else
                  f"{wrong[0]!r} is {list(motion[wrong[0]].shape)}, expected {list(expected[wrong[0]])}")
        raise SparseCtrlError(f"{source}: SparseCtrl motion-module keys do not fit: {detail}; expected exactly "
                              f"{len(expected)} tensors. The file may be truncated.")


def build_sparse_motion(config: SparseCtrlConfig, motion: dict, source: str = "<state dict>",
                        dtype: torch.dtype | None = None, ops=TORCH_OPS) -> MotionModel:
    """SparseCtrl's motion modules as this pack's MotionModel (down blocks only), loaded strictly."""
    check_motion_state_dict(motion, config.motion, source)
    return build_motion_model(config.motion, motion, dtype=dtype or tensor_dtype(motion), ops=ops)
