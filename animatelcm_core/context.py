"""Context windows: cut a long video into overlapping frame windows and fuse the window outputs.

Window generation depends only on the options, the frame count and the step index (never on tensors), so the same
windows and weights serve whole-model, motion-only and view windows. Schedules: context_schedules.py; fuse weights:
context_fuse.py; chains of options over sampling: context_chain.py; windows inside the motion module: context_views.py.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import torch

from .context_fuse import FUSE_ALIASES, FUSE_FUNCS, SIGMA_METHODS, counted_positions, window_rng
from .context_schedules import SCHEDULE_ALIASES, SCHEDULE_FUNCS, Window, ordered_halving
from .errors import ContextOptionsError

SCHEDULES = ("static", "uniform", "looped", "batched")  # the existing node's schedule choices
FUSE_METHODS = tuple(FUSE_FUNCS)
FUSE_METHODS_STATIC = FUSE_METHODS  # standard static windows also offer `relative`
FUSE_METHODS_SLIDING = tuple(m for m in FUSE_METHODS if m != "relative")  # (ADE lists relative for static only)
VIEW_SCHEDULES = ("static", "uniform", "looped")

__all__ = ["ContextOptions", "SCHEDULES", "FUSE_METHODS", "get_windows", "fuse_weights", "fuse", "is_active",
           "ordered_halving", "overlap_cost"]


@dataclass(frozen=True)
class ContextOptions:
    """How frames are cut into windows (schedule) and how overlapping outputs are blended (fuse).

    `views`: options of the windows inside the motion module (attention only) within each of these windows.
    `use_on_equal_length`: windows also when the video is exactly `length` frames (matters for looped schedules
    and views, whose windows then rotate the frames)."""

    length: int = 16
    overlap: int = 4
    schedule: str = "static"
    stride: int = 1
    closed_loop: bool = False
    fuse_method: str = "pyramid"
    use_on_equal_length: bool = False
    views: "ContextOptions | None" = None

    @property
    def schedule_name(self) -> str:
        return SCHEDULE_ALIASES.get(self.schedule, self.schedule)

    @property
    def fuse_name(self) -> str:
        return FUSE_ALIASES.get(self.fuse_method, self.fuse_method)

    def validate(self, num_frames: int | None = None, max_length: int | None = None) -> None:
        """Raise ContextOptionsError if these options cannot work (for this video / motion module)."""
        _lookup(SCHEDULE_FUNCS, self.schedule, "context schedule", SCHEDULE_ALIASES)
        _lookup(FUSE_FUNCS, self.fuse_method, "context fuse method", FUSE_ALIASES)
        if self.schedule_name == "views_only":
            self._validate_views_only()
        else:
            self._validate_numbers()
        if self.views is not None:
            self._validate_views()
        if num_frames is not None:
            _check_int("num_frames", num_frames, 1)
        if max_length is not None:
            _check_int("max_length", max_length, 1)
            window = self.attended_length(num_frames)
            if window is not None and window > max_length:
                what, value = ("view_length", self.views.length) if self.views else ("context_length", self.length)
                raise ContextOptionsError(
                    f"{what} ({value}) gives {window}-frame windows, but the motion module's position encoding is "
                    f"limited to {max_length} frames; use a {what} of at most {max_length} or enable "
                    "position-encoding stretch")

    def _validate_numbers(self) -> None:
        _check_int("context_length", self.length, 1)
        _check_int("context_overlap", self.overlap, 0)
        _check_int("context_stride", self.stride, 1)
        if self.overlap >= self.length:
            raise ContextOptionsError(
                f"context_overlap ({self.overlap}) must be smaller than context_length ({self.length})")

    def _validate_views_only(self) -> None:
        if self.views is None:
            raise ContextOptionsError("views_only context options need view options (view_opts): the views do the "
                                      "windowing inside the motion module")

    def _validate_views(self) -> None:
        views = self.views
        if not isinstance(views, ContextOptions):
            raise ContextOptionsError(f"view options must be ContextOptions, got {type(views).__name__}")
        if views.schedule_name not in VIEW_SCHEDULES:
            raise ContextOptionsError(f"view options schedule {views.schedule!r} is not allowed; allowed: "
                                      + ", ".join(VIEW_SCHEDULES))
        if views.views is not None:
            raise ContextOptionsError("view options cannot have view options of their own")
        try:
            views.validate()
        except ContextOptionsError as err:
            raise ContextOptionsError(str(err).replace("context_", "view_")) from None

    def attended_length(self, num_frames: int | None = None) -> int | None:
        """The longest frame sequence a motion module attends over (views, else windows), None if unbounded."""
        if self.views is not None:
            return self.views.length if num_frames is None else min(self.views.length, num_frames)
        if self.schedule_name == "views_only":
            return num_frames
        return self.length if num_frames is None else min(self.length, num_frames)


def _check_int(name: str, value: object, minimum: int) -> None:
    """Raise ContextOptionsError unless value is an integer >= minimum."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ContextOptionsError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ContextOptionsError(f"{name} must be at least {minimum}, got {value}")


def _lookup(registry: Mapping[str, Callable], name: str, kind: str,
            aliases: Mapping[str, str] | None = None) -> Callable:
    """Return registry[name] (after alias resolution) or raise ContextOptionsError listing the choices."""
    key = (aliases or {}).get(name, name)
    if isinstance(key, str) and key in registry:
        return registry[key]
    allowed = ", ".join(list(registry) + list(aliases or {}))
    raise ContextOptionsError(f"unknown {kind} {name!r}; allowed: {allowed}")


def is_active(opts: ContextOptions, num_frames: int) -> bool:
    """Whether these options window a video of num_frames: longer than the context, or as long with
    use_on_equal_length (views_only: always)."""
    if opts.schedule_name == "views_only":
        return True
    return num_frames > opts.length or (num_frames == opts.length and opts.use_on_equal_length)


def get_windows(opts: ContextOptions, num_frames: int, step: int = 0) -> list[Window]:
    """Frame-index windows of this step (context_schedules.py); a single window [0..N-1] for a short video."""
    opts.validate(num_frames)
    ordered_halving(step)  # validates step
    schedule = _lookup(SCHEDULE_FUNCS, opts.schedule, "context schedule", SCHEDULE_ALIASES)
    windows = schedule(num_frames, opts.length, opts.overlap, opts.stride, step, opts.closed_loop)
    outside = [f for window in windows for f in window if not 0 <= f < num_frames]
    if outside:  # ADE's uniform windows with strides wider than a short video; its sampling fails there too
        raise ContextOptionsError(
            f"{opts.schedule} context windows of length {opts.length}, stride {opts.stride} do not fit {num_frames} "
            f"frames (at step {step} a window reaches frame {outside[0]}); use context_stride 1 or a longer video")
    return windows


def _raw_weights(opts: ContextOptions, windows: Sequence[Sequence[int]], index: int, num_frames: int,
                 sigma: float | None, seed: int, step: int, in_views: bool) -> torch.Tensor:
    """Unnormalised float64 weights of windows[index], zero where a repeated frame does not count."""
    method = opts.fuse_name
    if in_views and method == "relative":  # ADE's views use the pyramid for `relative`
        method = "pyramid"
    window = list(windows[index])
    rng = window_rng(seed, step, index) if method == "random" else None
    weights = FUSE_FUNCS[method](len(window), window, num_frames, opts.overlap, sigma, rng)
    return torch.as_tensor(weights * counted_positions(window, method == "relative"), dtype=torch.float64)


def get_window_weights(opts: ContextOptions, windows: Sequence[Sequence[int]], index: int,
                       num_frames: int | None = None, sigma: float | None = None, seed: int = 0,
                       step: int = 0) -> torch.Tensor:
    """Unnormalised fp32 weights of windows[index]."""
    frames = num_frames if num_frames is not None else 1 + max(f for w in windows for f in w)
    return _raw_weights(opts, windows, index, frames, sigma, seed, step, False).float()


def needs_sigma(opts: ContextOptions) -> bool:
    return opts.fuse_name in SIGMA_METHODS


def fuse_weights(opts: ContextOptions, windows: Sequence[Sequence[int]], num_frames: int, sigma: float | None = None,
                 seed: int = 0, step: int = 0, in_views: bool = False) -> list[torch.Tensor]:
    """Per-window fp32 weights normalised so that, on every frame, the weights over windows sum to 1."""
    _check_coverage(windows, num_frames)
    raw = [_raw_weights(opts, windows, i, num_frames, sigma, seed, step, in_views) for i in range(len(windows))]
    total = torch.zeros(num_frames, dtype=torch.float64)
    for window, weights in zip(windows, raw):
        total.index_add_(0, torch.tensor(list(window), dtype=torch.long), weights)
    if not bool((total > 0).all()):
        frame = int((total <= 0).nonzero()[0])
        raise ContextOptionsError(f"fuse method {opts.fuse_method!r} gives frame {frame} a total weight of 0 (at sigma "
                                  f"{sigma}); use a shorter context_length or another fuse method")
    return [(weights / total[list(window)]).float() for window, weights in zip(windows, raw)]


def _check_coverage(windows: Sequence[Sequence[int]], num_frames: int) -> None:
    seen = {f for window in windows for f in window}
    bad = sorted(f for f in seen if not 0 <= f < num_frames)
    if bad:
        raise ContextOptionsError(f"window frame index {bad[0]} is outside [0, {num_frames})")
    missing = [f for f in range(num_frames) if f not in seen]
    if missing:
        raise ContextOptionsError(f"the context windows do not cover frame {missing[0]} of {num_frames}")


def fuse(outputs: Sequence[torch.Tensor], windows: Sequence[Sequence[int]], weights: Sequence[torch.Tensor],
         num_frames: int, frame_dim: int = 0) -> torch.Tensor:
    """Weighted sum of window outputs (window_len frames along frame_dim) into a num_frames tensor."""
    if not outputs or not len(outputs) == len(windows) == len(weights):
        raise ValueError(f"need one output and one weight per window, got {len(outputs)} outputs, "
                         f"{len(windows)} windows, {len(weights)} weights")
    ref = outputs[0]
    dim = frame_dim % ref.dim()
    shape = list(ref.shape)
    shape[dim] = num_frames
    result = torch.zeros(shape, dtype=torch.promote_types(ref.dtype, torch.float32), device=ref.device)
    for out, window, w in zip(outputs, windows, weights):
        add_window(result, out, window, w, dim)
    return result.to(ref.dtype)


def add_window(result: torch.Tensor, out: torch.Tensor, window: Sequence[int], weights: torch.Tensor,
               dim: int) -> None:
    """result[window] += out * weights along dim (in place; repeated frames add up, their weights say how)."""
    if out.shape[dim] != len(window) or weights.numel() != len(window):
        raise ValueError(f"window of {len(window)} frames got an output with {out.shape[dim]} frames "
                         f"on dim {dim} and {weights.numel()} weights")
    view = [1] * out.dim()
    view[dim] = len(window)
    index = torch.tensor(list(window), dtype=torch.long, device=result.device)
    result.index_add_(dim, index, out.to(result.dtype) * weights.to(result.device, result.dtype).view(view))


def overlap_cost(opts: ContextOptions, num_frames: int, step: int = 0) -> float:
    """Frames processed per model call divided by num_frames (1.0 means no overhead)."""
    return sum(len(window) for window in get_windows(opts, num_frames, step)) / num_frames
