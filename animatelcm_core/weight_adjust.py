"""Weight adjustments of a motion module: add to or multiply its tensors, all of them or by part.

Parts of a state-dict key (original AnimateDiff layout), as ComfyUI-AnimateDiff-Evolved classifies them:
every key is in "all"; a key of a temporal attention (`attention_blocks`) is "pe" (its `pos_encoder` table) or
"attn" plus one of "attn_q", "attn_k", "attn_v", "attn_out_weight", "attn_out_bias"; every other key (norms,
proj_in/out, feed-forward, an image encoder's weights) is "other". One adjustment applies "all" first, then the
key's own parts; adjustments apply in order.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

PARTS = ("all", "pe", "attn", "attn_q", "attn_k", "attn_v", "attn_out_weight", "attn_out_bias", "other")
OPS = {"add": 0.0, "multiply": 1.0}  # operation -> its identity value


class WeightAdjustError(ValueError):
    """A weight adjustment with an unknown operation or part, or a value that is not a finite number."""


@dataclass(frozen=True)
class WeightAdjust:
    """One adjustment: `op` ("add" or "multiply") with a value per part; parts left out keep the identity."""
    op: str
    values: tuple[tuple[str, float], ...] = ()

    @classmethod
    def of(cls, op: str, **parts: float) -> "WeightAdjust":
        if op not in OPS:
            raise WeightAdjustError(f"weight adjustment: unknown operation '{op}'; expected one of {', '.join(OPS)}")
        unknown = sorted(set(parts) - set(PARTS))
        if unknown:
            raise WeightAdjustError(f"weight adjustment: unknown part(s) {unknown}; expected {', '.join(PARTS)}")
        for part, value in parts.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise WeightAdjustError(f"weight adjustment: {part} must be a finite number, got {value!r}")
        return cls(op, tuple((p, float(parts[p])) for p in PARTS if p in parts and parts[p] != OPS[op]))

    @property
    def is_identity(self) -> bool:
        return not self.values

    def apply(self, key: str, tensor: torch.Tensor) -> torch.Tensor:
        """`tensor` (the value of `key`) after this adjustment; a new tensor, in float32."""
        out = tensor.float()
        wanted = dict(self.values)
        for part in key_parts(key):
            if part in wanted:
                out = out + wanted[part] if self.op == "add" else out * wanted[part]
        return out


def key_parts(key: str) -> tuple[str, ...]:
    """The parts a state-dict key belongs to, in the order they apply ("all" first)."""
    if ".attention_blocks." not in key:
        return ("all", "other")
    if ".pos_encoder." in key:
        return ("all", "pe")
    for name, part in ((".to_q.", "attn_q"), (".to_k.", "attn_k"), (".to_v.", "attn_v")):
        if name in key:
            return ("all", "attn", part)
    if ".to_out." in key:
        return ("all", "attn", "attn_out_weight" if key.endswith("weight") else "attn_out_bias")
    return ("all", "attn")


def adjust_tensor(key: str, tensor: torch.Tensor, adjusts) -> torch.Tensor:
    """`tensor` after every adjustment in `adjusts`, in order (float32)."""
    out = tensor.float()
    for adjust in adjusts:
        out = adjust.apply(key, out)
    return out


def touched_keys(keys, adjusts) -> list[str]:
    """The keys some adjustment in `adjusts` changes."""
    parts = {p for adjust in adjusts for p, _ in adjust.values}
    return [k for k in keys if parts.intersection(key_parts(k))]
