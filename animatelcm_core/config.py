"""Motion-module configuration: detected from a state dict's keys and shapes, separate from construction.

Families and their facts follow spec formats.md §1, §2.3, §2.6, §4 and §5.
"""
import re
from dataclasses import dataclass

import torch

from .errors import MotionModelError

SD15_DOWN = (320, 640, 1280, 1280)
SDXL_DOWN = (320, 640, 1280)
COMPUTED_PE_LENGTH = 64  # AnimateLCM ships no encodings; its official code builds 64 positions
DIFFUSERS_DEFAULT_PE_LENGTH = 32  # MotionAdapter `motion_max_seq_length` default
IMAGE_ENCODER_PREFIX = "img_encoder."

# Family -> (display name, motion-module GroupNorm across frames, spatial ResNet/out GroupNorm across frames,
# recommended sampling preset of animatelcm_core.schedules).
FAMILIES = {
    "v1": ("AnimateDiff v1", False, True, "sqrt_linear"),
    "v2": ("AnimateDiff v2", False, False, "sqrt_linear"),
    "v3": ("AnimateDiff v3", False, False, "sqrt_linear"),
    "sdxl_beta": ("AnimateDiff SDXL beta", True, False, "linear_sdxl"),
    "hotshotxl": ("HotshotXL", False, True, "linear"),
    "animatelcm_t2v": ("AnimateLCM T2V", False, False, "lcm"),
    "animatelcm_i2v": ("AnimateLCM-I2V", False, False, "lcm_i2v"),
}


@dataclass(frozen=True)
class MotionModuleConfig:
    family: str
    base: str  # "sd15" or "sdxl"
    down_channels: tuple[int, ...]
    has_mid: bool
    pe_length: int
    pe_stored: bool
    norm_across_frames: bool  # the motion module's own GroupNorm (spec §2.6)
    spatial_norm_across_frames: bool  # the UNet's ResNet/out GroupNorms, applied by the host glue (spec §2.6)
    sampling: str  # recommended preset in animatelcm_core.schedules.PRESETS
    layout: str = "original"  # key layout of the source file: "original", "hotshot" or "diffusers"
    has_image_encoder: bool = False
    heads: int = 8
    attention_blocks: int = 2
    down_modules: int = 2  # motion modules per down block
    up_modules: int = 3  # motion modules per up block

    @property
    def up_channels(self) -> tuple[int, ...]:
        return tuple(reversed(self.down_channels))

    @property
    def display_name(self) -> str:
        return FAMILIES[self.family][0] + (" (diffusers layout)" if self.layout == "diffusers" else "")

    def module_names(self) -> list[tuple[str, int]]:
        """(prefix, channels) of every motion module, e.g. ("down_blocks.0.motion_modules.1", 320)."""
        names = [(f"down_blocks.{i}.motion_modules.{j}", c)
                 for i, c in enumerate(self.down_channels) for j in range(self.down_modules)]
        if self.has_mid:
            names.append(("mid_block.motion_modules.0", self.down_channels[-1]))
        names += [(f"up_blocks.{i}.motion_modules.{j}", c)
                  for i, c in enumerate(self.up_channels) for j in range(self.up_modules)]
        return names


def module_key_shapes(prefix: str, c: int, pe_length: int | None) -> dict[str, tuple[int, ...]]:
    """Every key of one motion module (spec §2.2) and its shape; pe keys only when `pe_length` is given."""
    p = prefix + ".temporal_transformer."
    shapes = {"norm.weight": (c,), "norm.bias": (c,), "proj_in.weight": (c, c), "proj_in.bias": (c,),
              "proj_out.weight": (c, c), "proj_out.bias": (c,)}
    b = "transformer_blocks.0."
    for a in range(2):
        att = f"{b}attention_blocks.{a}."
        shapes.update({att + "to_q.weight": (c, c), att + "to_k.weight": (c, c), att + "to_v.weight": (c, c),
                       att + "to_out.0.weight": (c, c), att + "to_out.0.bias": (c,),
                       f"{b}norms.{a}.weight": (c,), f"{b}norms.{a}.bias": (c,)})
        if pe_length is not None:
            shapes[att + "pos_encoder.pe"] = (1, pe_length, c)
    shapes.update({b + "ff.net.0.proj.weight": (8 * c, c), b + "ff.net.0.proj.bias": (8 * c,),
                   b + "ff.net.2.weight": (c, 4 * c), b + "ff.net.2.bias": (c,),
                   b + "ff_norm.weight": (c,), b + "ff_norm.bias": (c,)})
    return {p + k: v for k, v in shapes.items()}


def expected_motion_keys(config: MotionModuleConfig) -> dict[str, tuple[int, ...]]:
    """All motion-module keys (original layout) a file of this config holds, with shapes."""
    pe = config.pe_length if config.pe_stored else None
    out = {}
    for prefix, c in config.module_names():
        out.update(module_key_shapes(prefix, c, pe))
    return out


# ---- key layouts -------------------------------------------------------------------------------------------

_DIFFUSERS_RENAMES = [(".norm1.", ".norms.0."), (".norm2.", ".norms.1."), (".norm3.", ".ff_norm."),
                      (".attn1.", ".attention_blocks.0."), (".attn2.", ".attention_blocks.1.")]
_MM_RE = re.compile(r"^((?:down_blocks|up_blocks)\.\d+|mid_block)\.motion_modules\.\d+\.")


def detect_layout(keys) -> str:
    keys = list(keys)
    if any(".temporal_attentions." in k for k in keys):
        return "hotshot"
    if any(".temporal_transformer." in k for k in keys):
        return "original"
    if any(_MM_RE.match(k) for k in keys):
        return "diffusers"
    return "none"


def to_original_layout(sd: dict, layout: str) -> dict:
    """Rename HotshotXL or diffusers MotionAdapter keys to the original AnimateDiff layout (spec §2.3, §4.9)."""
    if layout == "hotshot":
        return {re.sub(r"\.temporal_attentions\.(\d+)\.", r".motion_modules.\1.temporal_transformer.", k)
                .replace("pos_encoder.positional_encoding", "pos_encoder.pe"): v for k, v in sd.items()}
    if layout != "diffusers":
        return dict(sd)
    out = {}
    for k, v in sd.items():
        m = _MM_RE.match(k)
        if not m:
            out[k] = v
            continue
        rest = "." + k[m.end():]
        if rest.startswith(".transformer_blocks.0.pos_embed.pe"):
            # diffusers keeps one table per transformer block, shared by both attentions
            for a in range(2):
                out[f"{m.group(0)}temporal_transformer.transformer_blocks.0.attention_blocks.{a}.pos_encoder.pe"] = v
            continue
        for old, new in _DIFFUSERS_RENAMES:
            rest = rest.replace(old, new)
        out[m.group(0) + "temporal_transformer" + rest] = v
    return out


# ---- detection -----------------------------------------------------------------------------------------------

def describe_non_motion_file(keys) -> str | None:
    """Name what a file is when it is clearly not a motion module, else None."""
    keys = list(keys)
    has = lambda s: any(s in k for k in keys)  # noqa: E731
    if has("_lora.down.weight") or has("_lora.up.weight") or has(".lora_down.") or has(".lora.down"):
        if has("motion_modules") or has("temporal"):
            return "a MotionLoRA (LoRA weights for a motion module); load it with the MotionLoRA node instead"
        return ("a spatial LoRA for the image model (e.g. the AnimateDiff v3 domain adapter or the AnimateLCM "
                "spatial LoRA); load it with ComfyUI's LoRA loader instead")
    if has("model.diffusion_model.") or has("input_blocks.") and has("out.2.weight"):
        return "a Stable Diffusion checkpoint (UNet weights); load it with ComfyUI's checkpoint loader instead"
    if has("control_model.") or has("input_hint_block"):
        return "a ControlNet; load it with ComfyUI's ControlNet loader instead"
    if has("text_model.") or has("transformer.resblocks"):
        return "a text encoder"
    if has("decoder.conv_in") or has("encoder.conv_in") and has("quant_conv"):
        return "a VAE"
    return None


def detect_config(sd: dict, source: str = "<state dict>") -> MotionModuleConfig:
    """Return the config of a motion-module state dict (any supported layout) from keys and shapes alone."""
    layout = detect_layout(sd.keys())
    if layout == "none":
        what = describe_non_motion_file(sd.keys())
        found = f"it looks like {what}" if what else f"found {len(sd)} keys such as {_sample(sd.keys())}"
        raise MotionModelError(f"{source}: not a motion module: {found}. Expected AnimateDiff/AnimateLCM motion-module "
                               "keys like 'down_blocks.0.motion_modules.0.temporal_transformer.proj_in.weight'.")
    if any("_lora." in k or ".lora_" in k for k in sd):
        raise MotionModelError(f"{source}: not a motion module: it is "
                               f"{describe_non_motion_file(sd.keys())}.")
    osd = to_original_layout(sd, layout)
    mm_keys = [k for k in osd if _MM_RE.match(k)]
    down_channels = _down_channels(osd, source)
    base = "sd15" if len(down_channels) == 4 else "sdxl"
    has_mid = any(k.startswith("mid_block.motion_modules.") for k in mm_keys)
    pe_keys = [k for k in mm_keys if k.endswith("pos_encoder.pe")]
    has_img = any(k.startswith(IMAGE_ENCODER_PREFIX) for k in osd)
    family, pe_length = _family(base, has_mid, pe_keys, osd, has_img, layout, source)
    _, mm_norm_xf, spatial_xf, sampling = FAMILIES[family]
    return MotionModuleConfig(family=family, base=base, down_channels=down_channels, has_mid=has_mid,
                              pe_length=pe_length, pe_stored=bool(pe_keys), norm_across_frames=mm_norm_xf,
                              spatial_norm_across_frames=spatial_xf, sampling=sampling, layout=layout,
                              has_image_encoder=has_img)


def _down_channels(osd: dict, source: str) -> tuple[int, ...]:
    widths = {}
    for k, v in osd.items():
        m = re.match(r"^down_blocks\.(\d+)\.motion_modules\.0\.temporal_transformer\.norm\.weight$", k)
        if m:
            widths[int(m.group(1))] = int(v.shape[0])
    n = len(widths)
    if sorted(widths) != list(range(n)) or n not in (3, 4):
        raise MotionModelError(f"{source}: found motion modules in down blocks {sorted(widths)}; expected blocks 0-3 "
                               "(SD1.5) or 0-2 (SDXL). The file may be truncated or from an unsupported model.")
    return tuple(widths[i] for i in range(n))


def _family(base, has_mid, pe_keys, osd, has_img, layout, source) -> tuple[str, int]:
    if not pe_keys:
        if layout == "diffusers":  # diffusers may not store its table; formula, default length
            return _stored_family(base, has_mid, DIFFUSERS_DEFAULT_PE_LENGTH), DIFFUSERS_DEFAULT_PE_LENGTH
        if base != "sd15":
            raise MotionModelError(f"{source}: SDXL motion module without position encodings; expected "
                                   "'pos_encoder.pe' (AnimateDiff SDXL) or 'pos_encoder.positional_encoding' (HotshotXL).")
        return ("animatelcm_i2v" if has_img else "animatelcm_t2v"), COMPUTED_PE_LENGTH
    lengths = {int(osd[k].shape[1]) for k in pe_keys}
    if len(lengths) != 1:
        raise MotionModelError(f"{source}: position encodings of different lengths {sorted(lengths)}; expected one.")
    length = lengths.pop()
    if has_img:
        return "animatelcm_i2v", length
    if layout == "hotshot":
        return "hotshotxl", length
    return _stored_family(base, has_mid, length), length


def _stored_family(base: str, has_mid: bool, pe_length: int) -> str:
    if base == "sdxl":
        return "sdxl_beta"
    if has_mid:
        return "v2"
    return "v1" if pe_length == 24 else "v3"


def _sample(keys, n: int = 3) -> str:
    keys = list(keys)
    return ", ".join(repr(k) for k in keys[:n]) + (", ..." if len(keys) > n else "")


def check_state_dict(osd: dict, config: MotionModuleConfig, source: str) -> None:
    """Raise unless the motion-module keys match the config exactly (names and shapes)."""
    expected = expected_motion_keys(config)
    found = {k: tuple(v.shape) for k, v in osd.items() if not k.startswith(IMAGE_ENCODER_PREFIX)}
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {_sample(missing)}): the file may be truncated")
        if unexpected:
            parts.append(f"{len(unexpected)} unknown keys (e.g. {_sample(unexpected)})")
        raise MotionModelError(f"{source}: detected {config.display_name} but found " + "; ".join(parts) +
                               f". Expected exactly {len(expected)} motion-module tensors.")
    wrong = [(k, found[k], s) for k, s in expected.items() if found[k] != s]
    if wrong:
        k, got, want = wrong[0]
        raise MotionModelError(f"{source}: {len(wrong)} tensors with unexpected shapes, e.g. {k!r} is {list(got)}, "
                               f"expected {list(want)} for {config.display_name}.")


def tensor_dtype(sd: dict) -> torch.dtype:
    """The floating dtype most of the weights are stored in."""
    counts: dict[torch.dtype, int] = {}
    for v in sd.values():
        if v.is_floating_point():
            counts[v.dtype] = counts.get(v.dtype, 0) + v.numel()
    return max(counts, key=counts.get) if counts else torch.float32
