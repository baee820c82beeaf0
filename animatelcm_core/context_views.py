"""View windows: context windows inside the motion module, around its attention blocks only.

With view options (AnimateDiff-Evolved's "views", after FreeNoise's implementation), each temporal transformer block
runs its attention blocks (norm, attention, residual) on every view window of the frames it holds, fuses those
outputs per frame with the view fuse weights, and runs its feed-forward on all frames. Everything outside the
attention blocks (GroupNorm, projections, feed-forward) therefore sees the whole window the model runs on.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import torch

from .context import ContextOptions, add_window, fuse_weights, get_windows, is_active, needs_sigma


@dataclass(frozen=True)
class ViewPlan:
    """The view windows over `frames` frames (local indices, may repeat a frame) and their normalised weights."""

    windows: tuple[tuple[int, ...], ...]
    weights: tuple[torch.Tensor, ...]
    frames: int

    @property
    def max_length(self) -> int:
        return max(len(w) for w in self.windows)

    def run(self, h: torch.Tensor, attend: Callable[[torch.Tensor, list[int]], torch.Tensor]) -> torch.Tensor:
        """h: (N, F, C) tokens of F = self.frames frames; attend(h[:, window], window) -> same shape, per view.
        Returns the fused (N, F, C) tensor (newly allocated)."""
        if h.shape[1] != self.frames:
            raise ValueError(f"view plan for {self.frames} frames got tokens of {h.shape[1]} frames")
        result = torch.zeros(h.shape, dtype=torch.promote_types(h.dtype, torch.float32), device=h.device)
        for window, weights in zip(self.windows, self.weights):
            index = list(window)
            add_window(result, attend(h[:, index], index), index, weights, dim=1)
        return result.to(h.dtype)


def view_plan(views: ContextOptions, frames: int, step: int, sigma: float | None = None,
              seed: int = 0) -> ViewPlan | None:
    """The view windows of a motion-module call over `frames` frames, or None when views do not act (the call holds
    fewer frames than view_length, or as many without use_on_equal_length)."""
    if not is_active(views, frames):
        return None
    return _cached_plan(views, frames, step, sigma if needs_sigma(views) else None,
                        seed if views.fuse_name == "random" else 0)


@lru_cache(maxsize=256)
def _cached_plan(views: ContextOptions, frames: int, step: int, sigma: float | None, seed: int) -> ViewPlan:
    windows = get_windows(views, frames, step)
    weights = fuse_weights(views, windows, frames, sigma=sigma, seed=seed, step=step, in_views=True)
    return ViewPlan(tuple(tuple(w) for w in windows), tuple(weights), frames)
