"""Sinusoidal position encodings (AnimateDiff `PositionalEncoding`, spec formats.md §2.5) and their adjustments."""
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


def sinusoidal_encoding(length: int, dim: int) -> torch.Tensor:
    """Table of shape (length, dim): pe[p, 2i] = sin(p*w_i), pe[p, 2i+1] = cos(p*w_i), w_i = 10000^(-2i/dim).

    Computed in fp32, as the original code does.
    """
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    omega = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim, dtype=torch.float32)
    pe[:, 0::2] = torch.sin(position * omega)
    pe[:, 1::2] = torch.cos(position * omega)
    return pe


# ---- position-encoding adjustments (ComfyUI-AnimateDiff-Evolved's "Adjust PE" options, same order and formulas)

class PEAdjustError(ValueError):
    """A position-encoding adjustment that leaves no positions or has a negative setting."""


@dataclass(frozen=True)
class PEAdjust:
    """One adjustment of a (1, L, C) table, applied in this order (each 0 = off): interpolate to L + pe_stretch
    positions; drop the first initial_pe_idx_offset positions; keep the first cap_initial_pe_length; interpolate to
    interpolate_pe_to_length positions; drop the first final_pe_idx_offset."""
    pe_stretch: int = 0
    initial_pe_idx_offset: int = 0
    cap_initial_pe_length: int = 0
    interpolate_pe_to_length: int = 0
    final_pe_idx_offset: int = 0

    def __post_init__(self):
        for name, value in vars(self).items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise PEAdjustError(f"position-encoding adjustment: {name} must be an integer >= 0, got {value!r}")

    @property
    def is_identity(self) -> bool:
        return not any(vars(self).values())


def sweetspot_stretch(sweetspot: int, new_sweetspot: int) -> PEAdjust:
    """The first `sweetspot` positions spread over `new_sweetspot` (e.g. 16 -> 18: 18 frames move like 16)."""
    return PEAdjust(cap_initial_pe_length=sweetspot, interpolate_pe_to_length=new_sweetspot)


def interpolate_positions(pe: torch.Tensor, length: int) -> torch.Tensor:
    """(1, L, C) -> (1, length, C), linear along the positions with half-pixel centres (position i of the new table
    samples the old one at (i + 0.5) * L / length - 0.5, clamped to the ends), computed in float32."""
    table = F.interpolate(pe.float().unsqueeze(0), size=(length, pe.shape[-1]), mode="bilinear", align_corners=False)
    return table.squeeze(0).to(pe.dtype)


def adjust_encoding(pe: torch.Tensor, adjusts, what: str = "position encodings") -> torch.Tensor:
    """A (1, L, C) table after `adjusts` (PEAdjust, in order). Errors name `what` when no position is left."""
    for adjust in adjusts:
        if adjust.pe_stretch:
            pe = interpolate_positions(pe, pe.shape[1] + adjust.pe_stretch)
        if adjust.initial_pe_idx_offset:
            pe = pe[:, adjust.initial_pe_idx_offset:]
        if adjust.cap_initial_pe_length:
            pe = pe[:, :adjust.cap_initial_pe_length]
        if adjust.interpolate_pe_to_length:
            pe = _nonempty(pe, what, adjust)
            pe = interpolate_positions(pe, adjust.interpolate_pe_to_length)
        if adjust.final_pe_idx_offset:
            pe = pe[:, adjust.final_pe_idx_offset:]
        _nonempty(pe, what, adjust)
    return pe


def _nonempty(pe: torch.Tensor, what: str, adjust: PEAdjust) -> torch.Tensor:
    if pe.shape[1] == 0:
        raise PEAdjustError(f"{what}: the adjustment {adjust} leaves no positions (offsets at least as long as the "
                            f"table); lower the offsets")
    return pe
