"""Context-window schedules: the frame indices each window holds at a sampling step.

The lists are those of AnimateDiff-Evolved's context options (which ComfyUI core's context windows also use), so a
workflow made there gets the same windows here:

- static (ADE standard_static): windows every (length - overlap) frames from frame 0; the first window that reaches
  the end is moved back to end on the last frame, and the list stops there.
- looped (ADE looped_uniform, from animatediff-cli): per step a phase p = ordered_halving(step) and pad round(N*p);
  for each stride level s = 1, 2, 4, ... windows start at int(p*s) + pad and every length*s - overlap frames
  until N + pad (closed loop) or N + pad - overlap (open), each taking `length` frames s apart, modulo N (so windows
  may wrap, and strided windows wider than the video repeat frames).
- uniform (ADE standard_uniform): the open looped windows, then each window that wraps is slid to end on the last
  frame (keeping its spacing); if the next window lacks the frame where it wrapped, a contiguous window starting
  at that frame is inserted after it; windows equal to an earlier one are dropped.
- batched: consecutive windows of `length` frames without overlap, the last one shorter.
- views_only (ADE view_as_context): one window of all frames (view options then window inside the motion module).

Stride levels: min(stride, ceil(log2(N / length)) + 1). A video no longer than the context (static, uniform,
batched) or shorter than it (looped) is one window of all frames.
"""
from __future__ import annotations

import numbers

from .errors import ContextOptionsError

Window = list[int]
_MASK64 = (1 << 64) - 1


def ordered_halving(step: int) -> float:
    """Bit-reversal of the 64-bit step index, divided by 2**64 (0, 0.5, 0.25, 0.75, 0.125, ...)."""
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
        raise ContextOptionsError(f"step must be a non-negative integer, got {step!r}")
    bits = format(int(step) & _MASK64, "064b")
    return int(bits[::-1], 2) / (1 << 64)


def stride_levels(stride: int, num_frames: int, length: int) -> int:
    """How many stride levels (1, 2, 4, ...) are used: at most ceil(log2(N / length)) + 1."""
    k = 0
    while length << k < num_frames:  # smallest k with length * 2**k >= N, i.e. ceil(log2(N / length)) for N > length
        k += 1
    return min(stride, k + 1)


def _all(num_frames: int) -> list[Window]:
    return [list(range(num_frames))]


def _phase_windows(num_frames: int, length: int, overlap: int, stride: int, step: int, closed: bool) -> list[Window]:
    """The looped windows (indices modulo N), stride level by stride level."""
    phase = ordered_halving(step)
    pad = int(round(num_frames * phase))
    stop = num_frames + pad + (0 if closed else -overlap)
    windows = []
    for level in range(stride_levels(stride, num_frames, length)):
        s = 1 << level
        for start in range(int(phase * s) + pad, stop, length * s - overlap):
            windows.append([i % num_frames for i in range(start, start + length * s, s)])
    return windows


def static_windows(num_frames: int, length: int, overlap: int, stride: int = 1, step: int = 0,
                   closed: bool = False) -> list[Window]:
    if num_frames <= length:
        return _all(num_frames)
    windows = []
    for start in range(0, num_frames, length - overlap):
        if start + length >= num_frames:
            windows.append(list(range(num_frames - length, num_frames)))
            break
        windows.append(list(range(start, start + length)))
    return windows


def looped_windows(num_frames: int, length: int, overlap: int, stride: int = 1, step: int = 0,
                   closed: bool = False) -> list[Window]:
    if num_frames < length:
        return _all(num_frames)
    return _phase_windows(num_frames, length, overlap, stride, step, closed)


def _wrap_position(window: Window, num_frames: int) -> int | None:
    """Position of the first index that is smaller than the one before it (where the window wraps), or None."""
    previous = -1
    for position, index in enumerate(window):
        if index % num_frames < previous:
            return position
        previous = index % num_frames
    return None


def _slid_to_end(window: Window, num_frames: int) -> Window:
    """The window's offsets from its first frame (modulo N), moved so that the last one is frame N - 1."""
    offsets = [(index - window[0] + num_frames) % num_frames for index in window]
    shift = num_frames - offsets[-1] - 1
    return [offset + shift for offset in offsets]


def uniform_windows(num_frames: int, length: int, overlap: int, stride: int = 1, step: int = 0,
                    closed: bool = False) -> list[Window]:
    if num_frames <= length:
        return _all(num_frames)
    windows = _phase_windows(num_frames, length, overlap, stride, step, closed=False)
    repeated = set()
    i = 0
    while i < len(windows):
        at = _wrap_position(windows[i], num_frames)
        if at is not None:
            wrapped_to = windows[i][at]
            windows[i] = _slid_to_end(windows[i], num_frames)
            if wrapped_to not in windows[(i + 1) % len(windows)]:
                windows.insert(i + 1, list(range(wrapped_to, wrapped_to + length)))
        if windows[i] in windows[:i]:
            repeated.add(i)
        i += 1
    return [window for i, window in enumerate(windows) if i not in repeated]


def batched_windows(num_frames: int, length: int, overlap: int = 0, stride: int = 1, step: int = 0,
                    closed: bool = False) -> list[Window]:
    if num_frames <= length:
        return _all(num_frames)
    return [list(range(start, min(start + length, num_frames))) for start in range(0, num_frames, length)]


def views_only_windows(num_frames: int, length: int = 0, overlap: int = 0, stride: int = 1, step: int = 0,
                       closed: bool = False) -> list[Window]:
    return _all(num_frames)


SCHEDULE_FUNCS = {
    "static": static_windows,
    "uniform": uniform_windows,
    "looped": looped_windows,
    "batched": batched_windows,
    "views_only": views_only_windows,
}
SCHEDULE_ALIASES = {"standard_static": "static", "standard_uniform": "uniform", "looped_uniform": "looped",
                    "view_as_context": "views_only"}
