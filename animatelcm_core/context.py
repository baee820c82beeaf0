"""Context windows: cut a long video into overlapping frame windows and fuse the window outputs.

Window generation depends only on the options, the frame count and the step index (never on
tensors), so the same windows and weights serve both whole-model and motion-only context.
"""
from __future__ import annotations

import numbers
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import torch

from .errors import ContextOptionsError

SCHEDULES = ("static", "uniform", "looped")
FUSE_METHODS = ("flat", "pyramid", "overlap-linear")
SCHEDULE_ALIASES = {"standard_static": "static", "standard_uniform": "uniform", "looped_uniform": "looped"}

Window = list[int]
_MASK64 = (1 << 64) - 1


@dataclass(frozen=True)
class ContextOptions:
    """How frames are cut into windows (schedule) and how overlapping outputs are blended (fuse)."""

    length: int = 16
    overlap: int = 4
    schedule: str = "static"
    stride: int = 1
    closed_loop: bool = False
    fuse_method: str = "pyramid"

    def validate(self, num_frames: int | None = None, max_length: int | None = None) -> None:
        """Raise ContextOptionsError if these options cannot work (for this video / motion module)."""
        _check_int("context_length", self.length, 1)
        _check_int("context_overlap", self.overlap, 0)
        _check_int("context_stride", self.stride, 1)
        if self.overlap >= self.length:
            raise ContextOptionsError(
                f"context_overlap ({self.overlap}) must be smaller than context_length ({self.length})")
        _lookup(_SCHEDULE_FUNCS, self.schedule, "context schedule", SCHEDULE_ALIASES)
        _lookup(_FUSE_FUNCS, self.fuse_method, "context fuse method")
        if num_frames is not None:
            _check_int("num_frames", num_frames, 1)
        if max_length is not None:
            _check_int("max_length", max_length, 1)
            window = self.length if num_frames is None else min(self.length, num_frames)
            if window > max_length:
                raise ContextOptionsError(
                    f"context_length ({self.length}) gives {window}-frame windows, but the motion module's "
                    f"position encoding is limited to {max_length} frames; use a context_length of at most "
                    f"{max_length} or enable position-encoding stretch")


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


def ordered_halving(step: int) -> float:
    """Bit-reversal of the 64-bit step index, divided by 2**64 (0, 0.5, 0.25, 0.75, 0.125, ...)."""
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
        raise ContextOptionsError(f"step must be a non-negative integer, got {step!r}")
    bits = format(int(step) & _MASK64, "064b")
    return int(bits[::-1], 2) / (1 << 64)


def _dedupe(windows: list[Window]) -> list[Window]:
    """Drop repeated windows, keeping the first occurrence order."""
    seen: set[tuple[int, ...]] = set()
    out = []
    for window in windows:
        if tuple(window) not in seen:
            seen.add(tuple(window))
            out.append(window)
    return out


def _strides(opts: ContextOptions, num_frames: int, closed: bool) -> list[int]:
    """Strides 1, 2, 4, ... (opts.stride levels) whose windows hold distinct frames of this video."""
    strides: list[int] = []
    s = 1
    while len(strides) < opts.stride:
        fits = opts.length * s <= num_frames if closed else (opts.length - 1) * s + 1 <= num_frames
        if not fits:
            break
        strides.append(s)
        s *= 2
    return strides


def _line_windows(offset: int, hop: int, length: int, stride: int, num_frames: int) -> list[Window]:
    """Tile the line with windows at offset + k*hop, shifting the edge ones back inside [0, N)."""
    span = (length - 1) * stride + 1
    start = offset - hop if offset - hop + span > 0 else offset
    starts: list[int] = []
    while True:
        clamped = min(max(start, 0), num_frames - span)
        if not starts or starts[-1] != clamped:
            starts.append(clamped)
        if clamped + span >= num_frames:
            break
        start += hop
    return [list(range(b, b + span, stride)) for b in starts]


def _phase_start(num_frames: int, step: int, stride: int) -> tuple[int, int]:
    """(pad, first start) of the looped schedule for this step and stride."""
    phase = ordered_halving(step)
    pad = round(num_frames * phase)
    return pad, int(phase * stride) + pad


def _static_windows(opts: ContextOptions, num_frames: int, step: int) -> list[Window]:
    """Fixed windows from frame 0 every (length - overlap) frames; the last ends on the last frame."""
    return _line_windows(0, opts.length - opts.overlap, opts.length, 1, num_frames)


def _uniform_windows(opts: ContextOptions, num_frames: int, step: int) -> list[Window]:
    """Looped-schedule windows laid on the line instead of the circle: nothing wraps."""
    windows: list[Window] = []
    for s in _strides(opts, num_frames, closed=False):
        hop = s * (opts.length - opts.overlap)
        _, first = _phase_start(num_frames, step, s)
        windows += _line_windows(first % hop, hop, opts.length, s, num_frames)
    return _dedupe(windows)


def _looped_windows(opts: ContextOptions, num_frames: int, step: int) -> list[Window]:
    """animatediff-cli style uniform schedule; indices wrap modulo N only when closed_loop."""
    if not opts.closed_loop:
        return _uniform_windows(opts, num_frames, step)
    windows: list[Window] = []
    for s in _strides(opts, num_frames, closed=True):
        hop = s * (opts.length - opts.overlap)
        pad, first = _phase_start(num_frames, step, s)
        for j in range(first, pad + num_frames, hop):
            windows.append([(j + i * s) % num_frames for i in range(opts.length)])
    return _dedupe(windows)


_SCHEDULE_FUNCS: dict[str, Callable[[ContextOptions, int, int], list[Window]]] = {
    "static": _static_windows,
    "uniform": _uniform_windows,
    "looped": _looped_windows,
}


def get_windows(opts: ContextOptions, num_frames: int, step: int = 0) -> list[list[int]]:
    """Frame-index windows for this step; a single window [0..N-1] when N <= context length."""
    opts.validate(num_frames)
    ordered_halving(step)  # validates step
    if num_frames <= opts.length:
        return [list(range(num_frames))]
    schedule = _lookup(_SCHEDULE_FUNCS, opts.schedule, "context schedule", SCHEDULE_ALIASES)
    return schedule(opts, num_frames, step)


def _flat_weights(length: int, ramp_in: int, ramp_out: int) -> torch.Tensor:
    """All ones."""
    return torch.ones(length, dtype=torch.float64)


def _pyramid_weights(length: int, ramp_in: int, ramp_out: int) -> torch.Tensor:
    """Symmetric triangle min(i + 1, length - i): 1 at both ends, highest in the middle."""
    i = torch.arange(length, dtype=torch.float64)
    return torch.minimum(i + 1, length - i)


def _overlap_linear_weights(length: int, ramp_in: int, ramp_out: int) -> torch.Tensor:
    """Ones, with linear ramps (i+1)/(r+1) over the ramp_in first and ramp_out last frames."""
    i = torch.arange(length, dtype=torch.float64)
    weights = torch.ones(length, dtype=torch.float64)
    if ramp_in:
        weights = torch.minimum(weights, (i + 1) / (ramp_in + 1))
    if ramp_out:
        weights = torch.minimum(weights, (length - i) / (ramp_out + 1))
    return weights


_FUSE_FUNCS: dict[str, Callable[[int, int, int], torch.Tensor]] = {
    "flat": _flat_weights,
    "pyramid": _pyramid_weights,
    "overlap-linear": _overlap_linear_weights,
}


def _covered_run(window: Sequence[int], counts: Counter, limit: int) -> int:
    """How many leading frames of window (at most limit) are also in another window."""
    run = 0
    while run < min(limit, len(window)) and counts[window[run]] > 1:
        run += 1
    return run


def _raw_weights(opts: ContextOptions, window: Sequence[int], counts: Counter) -> torch.Tensor:
    """Unnormalised float64 weights of one window, given how many windows hold each frame."""
    fuser = _lookup(_FUSE_FUNCS, opts.fuse_method, "context fuse method")
    ramp_in = _covered_run(window, counts, opts.overlap)
    ramp_out = _covered_run(list(reversed(window)), counts, opts.overlap)
    return fuser(len(window), ramp_in, ramp_out)


def get_window_weights(opts: ContextOptions, windows: Sequence[Sequence[int]], index: int) -> torch.Tensor:
    """Unnormalised fp32 weights of windows[index] (ramps only where a frame is shared with another window)."""
    counts = Counter(f for window in windows for f in window)
    return _raw_weights(opts, windows[index], counts).float()


def fuse_weights(opts: ContextOptions, windows: Sequence[Sequence[int]], num_frames: int) -> list[torch.Tensor]:
    """Per-window fp32 weights normalised so that, on every frame, the weights over windows sum to 1."""
    counts = Counter(f for window in windows for f in window)
    bad = sorted(f for f in counts if not 0 <= f < num_frames)
    if bad:
        raise ContextOptionsError(f"window frame index {bad[0]} is outside [0, {num_frames})")
    missing = [f for f in range(num_frames) if counts[f] == 0]
    if missing:
        raise ContextOptionsError(f"the context windows do not cover frame {missing[0]} of {num_frames}")
    raw = [_raw_weights(opts, window, counts) for window in windows]
    total = torch.zeros(num_frames, dtype=torch.float64)
    for window, weights in zip(windows, raw):
        total.index_add_(0, torch.tensor(list(window), dtype=torch.long), weights)
    return [(weights / total[list(window)]).float() for window, weights in zip(windows, raw)]


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
    acc_dtype = torch.promote_types(ref.dtype, torch.float32)
    result = torch.zeros(shape, dtype=acc_dtype, device=ref.device)
    for out, window, w in zip(outputs, windows, weights):
        if out.shape[dim] != len(window) or w.numel() != len(window):
            raise ValueError(f"window of {len(window)} frames got an output with {out.shape[dim]} frames "
                             f"on dim {dim} and {w.numel()} weights")
        view = [1] * out.dim()
        view[dim] = len(window)
        index = torch.tensor(list(window), dtype=torch.long, device=ref.device)
        result.index_add_(dim, index, out.to(acc_dtype) * w.to(ref.device, acc_dtype).view(view))
    return result.to(ref.dtype)


def overlap_cost(opts: ContextOptions, num_frames: int, step: int = 0) -> float:
    """Frames processed per model call divided by num_frames (1.0 means no overhead)."""
    return sum(len(window) for window in get_windows(opts, num_frames, step)) / num_frames


def stretched_encodings(model, length: int) -> dict[str, torch.Tensor]:
    """Position-encoding stretch: {buffer name: table interpolated to `length` positions} for every attention of a
    MotionModel, for one window longer than the trained length. Nothing on the model changes."""
    from .motion_module import stretch_pe
    out = {}
    for name, module in model.named_motion_modules():
        for a, attn in enumerate(module.temporal_transformer.transformer_blocks[0].attention_blocks):
            key = f"{name}.temporal_transformer.transformer_blocks.0.attention_blocks.{a}.pos_encoder.pe"
            out[key] = stretch_pe(attn.pos_encoder.pe, length)
    return out
