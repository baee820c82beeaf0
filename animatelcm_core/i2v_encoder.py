"""AnimateLCM-I2V image encoder: a T2I-Adapter-like conv net under `img_encoder.` (spec formats.md §4.7).

Layout (SD1.5 file): `Adapter(cin=4, channels=[320,640,1280,1280], nums_rb=2, ksize=1, sk=True, use_conv=False)`.
`conv_in` 3x3; `body.{2*level+r}` resnet blocks (`block1` 3x3, `block2` 1x1, `in_conv` 1x1 where the width changes);
the first block of every level after the first starts with a replicate-pad-to-even + 2x2 average pool.
Forward adds `motion_scale * PE(frame index)` (sinusoid, d_model = channels[0]) after `conv_in` and returns
one feature map per level, each multiplied by its insertion weight.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .config import IMAGE_ENCODER_PREFIX
from .errors import MotionModelError
from .positional import sinusoidal_encoding

I2V_PREFIX = IMAGE_ENCODER_PREFIX  # one definition, in config
DEFAULT_CHANNELS: tuple[int, ...] = (320, 640, 1280, 1280)
DEFAULT_MOTION_SCALE = 0.8
_MAX_LISTED = 5


def downsample_2x(x: torch.Tensor) -> torch.Tensor:
    """Replicate-pad (right/bottom) to even H and W, then 2x2 average pool with stride 2."""
    pad_h, pad_w = x.shape[-2] % 2, x.shape[-1] % 2
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    return F.avg_pool2d(x, kernel_size=2, stride=2)


class ResnetBlock(nn.Module):
    """Adapter resnet block: `[down] -> [in_conv] -> x + block2(relu(block1(x)))`."""

    def __init__(self, in_channels: int, out_channels: int, down: bool) -> None:
        """Create `block1` (3x3), `block2` (1x1) and `in_conv` (1x1) only when the width changes."""
        super().__init__()
        self.down = down
        self.in_conv = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None
        self.block1 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.block2 = nn.Conv2d(out_channels, out_channels, 1, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block to a (N, C, H, W) tensor."""
        if self.down:
            x = downsample_2x(x)
        if self.in_conv is not None:
            x = self.in_conv(x)
        return x + self.block2(F.relu(self.block1(x)))


def frame_encoding(num_frames: int, dim: int, frame_indices: torch.Tensor | Sequence[int] | None) -> torch.Tensor:
    """fp32 CPU table (num_frames, dim) of the §2.5 sinusoid at the given absolute frame indices (default 0..N-1)."""
    if frame_indices is None:
        return sinusoidal_encoding(num_frames, dim)
    idx = torch.as_tensor(frame_indices).detach().to("cpu")
    if idx.dtype.is_floating_point or idx.dtype.is_complex or idx.dtype == torch.bool:
        raise ValueError(f"frame_indices must be integers, got dtype {idx.dtype}")
    idx = idx.reshape(-1).long()
    if idx.numel() != num_frames:
        raise ValueError(f"frame_indices has {idx.numel()} entries, expected one per frame ({num_frames})")
    if num_frames and int(idx.min()) < 0:
        raise ValueError(f"frame_indices must be >= 0, got minimum {int(idx.min())}")
    length = int(idx.max()) + 1 if num_frames else 0
    return sinusoidal_encoding(length, dim).index_select(0, idx)


class ImageEncoder(nn.Module):
    """AnimateLCM-I2V image encoder; state_dict keys are the `img_encoder.` keys without the prefix."""

    def __init__(
        self,
        channels: Sequence[int] = DEFAULT_CHANNELS,
        in_channels: int = 4,
        num_res_blocks: int = 2,
    ) -> None:
        """Build `conv_in` and `body` for the given per-level widths (SD1.5 defaults)."""
        super().__init__()
        if not channels or num_res_blocks < 1:
            raise ValueError(f"need at least one level and one res block, got {channels=} {num_res_blocks=}")
        self.channels = tuple(int(c) for c in channels)
        self.in_channels = int(in_channels)
        self.num_res_blocks = int(num_res_blocks)
        self.conv_in = nn.Conv2d(self.in_channels, self.channels[0], 3, padding=1)
        blocks = []
        for level, width in enumerate(self.channels):
            for r in range(self.num_res_blocks):
                c_in = self.channels[level - 1] if (level > 0 and r == 0) else width
                blocks.append(ResnetBlock(c_in, width, down=(level > 0 and r == 0)))
        self.body = nn.ModuleList(blocks)

    @property
    def num_levels(self) -> int:
        """Number of emitted feature levels."""
        return len(self.channels)

    def _level_weights(self, level_weights: Sequence[float] | None) -> list[float]:
        """Per-level insertion weights (default 1.0 each), validated against the level count."""
        if level_weights is None:
            return [1.0] * self.num_levels
        weights = [float(w) for w in level_weights]
        if len(weights) != self.num_levels:
            raise ValueError(f"level_weights has {len(weights)} entries, expected {self.num_levels}")
        return weights

    def forward(
        self,
        latents: torch.Tensor,
        motion_scale: float = DEFAULT_MOTION_SCALE,
        frame_indices: torch.Tensor | Sequence[int] | None = None,
        level_weights: Sequence[float] | None = None,
    ) -> list[torch.Tensor]:
        """Encode (N, in_channels, h, w) scaled latents of N frames into one feature map per level."""
        if latents.ndim != 4 or latents.shape[1] != self.in_channels:
            raise ValueError(f"latents must be (N, {self.in_channels}, h, w), got shape {tuple(latents.shape)}")
        weights = self._level_weights(level_weights)
        x = self.conv_in(latents)
        if motion_scale != 0:
            pe = frame_encoding(x.shape[0], self.channels[0], frame_indices) * float(motion_scale)
            x = x + pe.to(device=x.device, dtype=x.dtype)[:, :, None, None]
        elif frame_indices is not None:
            frame_encoding(x.shape[0], self.channels[0], frame_indices)  # validate even when unused
        features = []
        for level, weight in enumerate(weights):
            start = level * self.num_res_blocks
            for block in self.body[start:start + self.num_res_blocks]:
                x = block(x)
            features.append(x if weight == 1.0 else x * weight)
        return features


def has_image_encoder(sd: Mapping[str, object]) -> bool:
    """True when the state dict holds any `img_encoder.` key (AnimateLCM-I2V)."""
    return any(isinstance(k, str) and k.startswith(I2V_PREFIX) for k in sd)


def _majority_dim(sub: Mapping[str, object], keys: Sequence[str]) -> int | None:
    """Most common leading dimension among the present tensors (None if none is usable); one bad tensor cannot win."""
    dims = [int(v.shape[0]) for k in keys if isinstance(v := sub.get(k), torch.Tensor) and v.ndim >= 1]
    return Counter(dims).most_common(1)[0][0] if dims else None


def _infer_layout(sub: Mapping[str, object], num_res_blocks: int = 2) -> tuple[tuple[int, ...], int]:
    """Per-level widths and input channels read from the block weights (falls back to SD1.5 defaults)."""
    body_ids = [int(k.split(".")[1]) for k in sub if k.startswith("body.") and k.split(".")[1].isdigit()]
    num_levels = max(body_ids) // num_res_blocks + 1 if body_ids else len(DEFAULT_CHANNELS)
    channels = []
    for level in range(num_levels):
        ids = range(level * num_res_blocks, (level + 1) * num_res_blocks)
        keys = [f"body.{i}.{n}.{p}" for i in ids for n in ("block1", "block2") for p in ("weight", "bias")]
        width = _majority_dim(sub, keys + (["conv_in.weight", "conv_in.bias"] if level == 0 else []))
        if width is None:
            width = DEFAULT_CHANNELS[level] if level < len(DEFAULT_CHANNELS) else channels[-1]
        channels.append(width)
    conv_in = sub.get("conv_in.weight")
    in_channels = int(conv_in.shape[1]) if isinstance(conv_in, torch.Tensor) and conv_in.ndim == 4 else 4
    return tuple(channels), in_channels


def _listed(items: Sequence[str]) -> str:
    """First few items, comma-separated, with a count of the rest."""
    shown = ", ".join(items[:_MAX_LISTED])
    return shown + (f" (+{len(items) - _MAX_LISTED} more)" if len(items) > _MAX_LISTED else "")


def _layout_problems(sub: Mapping[str, object], expected: Mapping[str, torch.Size]) -> list[str]:
    """Human-readable missing / unexpected / wrong-shape findings (empty when the key set and shapes match)."""
    missing = [I2V_PREFIX + k for k in expected if k not in sub]
    unexpected = [I2V_PREFIX + k for k in sub if k not in expected]
    wrong = []
    for key, shape in expected.items():
        value = sub.get(key)
        if key in sub and not (isinstance(value, torch.Tensor) and value.shape == shape):
            found = list(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            wrong.append(f"{I2V_PREFIX}{key} found {found} expected {list(shape)}")
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys: {_listed(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys: {_listed(unexpected)}")
    if wrong:
        problems.append(f"{len(wrong)} wrong shapes: {_listed(wrong)}")
    return problems


def image_encoder_from_state_dict(sd: Mapping[str, object], source: str = "<state dict>") -> ImageEncoder:
    """Build and strictly load the image encoder from a full AnimateLCM-I2V state dict (dtype/device of the weights)."""
    sub = {k[len(I2V_PREFIX):]: v for k, v in sd.items() if isinstance(k, str) and k.startswith(I2V_PREFIX)}
    if not sub:
        raise MotionModelError(
            f"{source}: no '{I2V_PREFIX}*' keys found among {len(sd)} keys; expected the AnimateLCM-I2V image "
            f"encoder ({I2V_PREFIX}conv_in.weight, {I2V_PREFIX}body.0.block1.weight, ...; 38 tensors for SD1.5)")
    channels, in_channels = _infer_layout(sub)
    with torch.device("meta"):
        module = ImageEncoder(channels, in_channels).requires_grad_(False)
    expected = {k: v.shape for k, v in module.state_dict().items()}
    problems = _layout_problems(sub, expected)
    if problems:
        raise MotionModelError(
            f"{source}: image encoder does not match the AnimateLCM-I2V layout (channels {list(channels)}, "
            f"in_channels {in_channels}, {len(expected)} tensors expected): " + "; ".join(problems))
    ref = sub["conv_in.weight"]
    if not ref.dtype.is_floating_point:
        raise MotionModelError(f"{source}: {I2V_PREFIX}conv_in.weight has dtype {ref.dtype}, expected a float dtype")
    tensors = {k: v.to(device=ref.device, dtype=ref.dtype) for k, v in sub.items()}
    module.load_state_dict(tensors, strict=True, assign=True)
    return module
