"""Multivals: a motion module's effect or scale as one number, a per-frame list, or a mask (per frame, spatial).

A Multival resolves, for a video of `total` frames, to a float, a float32 tensor (total,) of per-frame values, or a
float32 tensor (total, H, W) of per-pixel values; the motion module resizes the last kind to each block's resolution
(`resize_spatial`, bilinear with half-pixel centres, as ComfyUI-AnimateDiff-Evolved resizes its masks). A per-frame
list or a mask holds 1 frame (used for every frame) or exactly `total`; anything else is an error before sampling.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .keyframes import number_or_schedule, per_frame_values

SCALINGS = ("absolute", "relative")


class MultivalError(ValueError):
    """A multival (number, per-frame list or mask) that cannot be used for this video."""


@dataclass(frozen=True, eq=False)
class Multival:
    """number x per-frame values x mask, each optional (None = 1). `per_frame` is a parsed schedule (list of
    entries, resolved for the video's length) or a tensor (N,); `mask` a tensor (N, H, W). `source` names the
    node or input in errors."""
    number: float = 1.0
    per_frame: object = None
    mask: torch.Tensor | None = None
    source: str = "multival"

    def resolve(self, total: int) -> float | torch.Tensor:
        """The values for a video of `total` frames: float, (total,) or (total, H, W), float32."""
        values = self.number
        if self.per_frame is not None:
            values = values * _frames_of(self._per_frame_tensor(total), total, f"{self.source}: the per-frame list")
        if self.mask is not None:
            mask = _frames_of(self.mask, total, f"{self.source}: the mask")
            values = mask * (values.view(-1, 1, 1) if torch.is_tensor(values) else values)
        return values

    def _per_frame_tensor(self, total: int) -> torch.Tensor:
        if torch.is_tensor(self.per_frame):
            return self.per_frame
        resolved = per_frame_values(self.per_frame, total, self.source)
        return resolved if torch.is_tensor(resolved) else torch.tensor([resolved])


def from_text(text: str, mask: torch.Tensor | None = None, source: str = "multival") -> Multival:
    """One number ("0.8") or a per-frame schedule ("0: 1.0, 8: 0.5"), times an optional MASK."""
    parsed = number_or_schedule(text, source)
    if isinstance(parsed, float):
        return Multival(number=parsed, mask=_as_mask(mask, source), source=source)
    return Multival(per_frame=parsed, mask=_as_mask(mask, source), source=source)


def from_floats(values, mask: torch.Tensor | None = None, source: str = "multival") -> Multival:
    """A number or a per-frame list (list, tuple, numpy array, pandas Series, tensor) from another node."""
    if isinstance(values, numbers.Real) and not isinstance(values, bool):
        return Multival(number=float(values), mask=_as_mask(mask, source), source=source)
    try:
        tensor = torch.as_tensor([float(v) for v in values], dtype=torch.float32)
    except (TypeError, ValueError) as e:
        raise MultivalError(f"{source}: expected a number or a list of numbers, got {type(values).__name__} ({e})")
    if tensor.numel() == 0:
        raise MultivalError(f"{source}: the list of values is empty")
    return Multival(per_frame=tensor, mask=_as_mask(mask, source), source=source)


def scaled_mask(mask: torch.Tensor, min_value: float, max_value: float, scaling: str = "absolute",
                source: str = "multival") -> Multival:
    """A mask mapped onto [min_value, max_value]: absolute maps mask values 0..1, relative the mask's own min..max
    (over all of its frames)."""
    if scaling not in SCALINGS:
        raise MultivalError(f"{source}: unknown scaling '{scaling}'; expected one of {', '.join(SCALINGS)}")
    m = _as_mask(mask, source)
    if scaling == "relative":
        lo, hi = m.min(), m.max()
        if hi == lo:
            raise MultivalError(f"{source}: relative scaling needs a mask with at least two different values; this "
                                f"mask is {float(lo):g} everywhere (use absolute scaling)")
        m = (m - lo) / (hi - lo)
    return Multival(mask=m * (max_value - min_value) + min_value, source=source)


def combine(a: float | torch.Tensor, b: float | torch.Tensor) -> float | torch.Tensor:
    """Product of two resolved values for the same frames; a per-frame (F,) times a mask (F, H, W) broadcasts."""
    if torch.is_tensor(a) and torch.is_tensor(b) and a.dim() != b.dim():
        a, b = (a.view(-1, 1, 1), b) if a.dim() == 1 else (a, b.view(-1, 1, 1))
    return a * b


def resize_spatial(values: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(F, H, W) per-pixel values at another resolution (F, height, width): bilinear, half-pixel centres, no
    antialiasing; computed in float32."""
    return F.interpolate(values.unsqueeze(1).float(), size=(height, width), mode="bilinear",
                         align_corners=False).squeeze(1)


def _as_mask(mask: torch.Tensor | None, source: str) -> torch.Tensor | None:
    """A ComfyUI MASK (H, W) or (N, H, W) as float32 (N, H, W)."""
    if mask is None:
        return None
    if not torch.is_tensor(mask) or mask.dim() not in (2, 3) or 0 in mask.shape:
        shape = tuple(mask.shape) if torch.is_tensor(mask) else type(mask).__name__
        raise MultivalError(f"{source}: expected a MASK of shape (frames, height, width), got {shape}")
    return (mask.unsqueeze(0) if mask.dim() == 2 else mask).detach().float().cpu()


def _frames_of(t: torch.Tensor, total: int, what: str) -> torch.Tensor:
    """t with `total` entries on dim 0: as is, or its single entry for every frame."""
    if t.shape[0] == total:
        return t
    if t.shape[0] == 1:
        return t.expand(total, *t.shape[1:])
    raise MultivalError(f"{what} has {t.shape[0]} frames but the latent has {total}; give 1 (used for every "
                        f"frame) or exactly {total}")
