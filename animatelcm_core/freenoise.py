"""FreeNoise noise rescheduling (Qiu et al., "FreeNoise: Tuning-Free Longer Video Diffusion via Noise Rescheduling",
ICLR 2024, arXiv 2310.15169, section 3.2).

The paper has two parts:

- Local noise shuffle unit, Eq. (7): N i.i.d. noise frames eps_1..eps_N are drawn for the first window, and every
  later frame re-uses one of them: [eps_1, ..., eps_N, shuffle(eps_1..eps_S), ..., shuffle(eps_S(i+1)..eps_S(i+S)),
  ...] with S(i) = i mod N and S the window stride. Every window of N frames then holds each of the N noises exactly
  once (requirement (ii) of section 3.2). This module implements that part.
- Window-based attention fusion, Eqs. (8)-(9): temporal attention runs per window of N frames (stride S) and a frame
  covered by several windows takes their outputs weighted by (N/2 - floor(|i - c_j|)), a triangle peaked at each
  window's centre c_j, normalised over the windows. That is this pack's context windows (animatelcm_core/context.py):
  the "motion-only" mode windows the motion modules only, as the paper does, and the "pyramid" fuse weights
  min(i + 1, N - i) are the paper's Eq. (9) weights for an even N (for an odd N they differ by a constant 0.5).
  The "full" mode, windowing the whole UNet, goes beyond the paper. Nothing here changes that fusion.

Construction (for any window layout, processed in its order; `source_map` gives frame -> base-noise frame):
the frames of the first window keep their own noise (the base). Each later window keeps the frames that earlier
windows already gave noise to; its new frames take a random permutation (torch.randperm from a CPU generator
seeded with `seed`, one draw per window that has new frames) of the base frames the window does not use yet, listed
by the frame where each was last used. For the static layout this is a shuffle of the noise N frames earlier,
which is Eq. (7) when S divides N (frame f copies a frame of the shuffle unit of f mod N), and extends it to any
overlap and to the last window that is shifted back to end on the last frame: every window still holds each base
frame exactly once. It is frame for frame what ComfyUI 0.33's own FreeNoise produces for its static windows.

A window whose already-filled frames come from two or more earlier windows could repeat a noise frame (closed-loop
windows that wrap to frame 0, context_stride > 1 windows): such a layout is refused with NoiseInitError, whatever
the seed. `freenoise_windows` gives the layout to use with any context options: the static windows of the same
length and overlap (uniform and looped windows move at every step, while the noise is drawn once). A video no
longer than one window is left unchanged.
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch

from .context import ContextOptions, get_windows
from .errors import ContextOptionsError, NoiseInitError

_SEED_MIN, _SEED_MAX = -(1 << 63), (1 << 64) - 1  # what torch.Generator.manual_seed accepts


def static_windows(num_frames: int, length: int, overlap: int) -> list[list[int]]:
    """The static context windows of `length` frames overlapping by `overlap` (one window when num_frames <= length)."""
    return freenoise_windows(ContextOptions(length=length, overlap=overlap, schedule="static"), num_frames)


def freenoise_windows(opts: ContextOptions, num_frames: int) -> list[list[int]]:
    """The layout FreeNoise reschedules for under `opts`: its static windows, whatever its schedule, stride or loop."""
    static = ContextOptions(length=opts.length, overlap=opts.overlap, schedule="static")
    try:
        return get_windows(static, num_frames)
    except ContextOptionsError as err:
        raise NoiseInitError(f"FreeNoise: {err}") from None


def source_map(windows: Sequence[Sequence[int]], num_frames: int, seed: int) -> list[int]:
    """For each of num_frames output frames, the base-noise frame (a frame of windows[0]) it copies: the local
    noise shuffle of Eq. (7), laid over `windows` (see the module docstring)."""
    layout = _checked_layout(windows, num_frames)
    generator = torch.Generator(device="cpu").manual_seed(_checked_seed(seed))
    source: list[int | None] = [None] * num_frames
    last_use: dict[int, int] = {}
    for frame in layout[0]:
        source[frame] = last_use[frame] = frame
    for index, window in enumerate(layout[1:], start=1):
        _check_shared_frames(layout, index, source)
        new = [f for f in window if source[f] is None]
        if not new:
            continue
        used = {source[f] for f in window if source[f] is not None}
        free = sorted((b for b in layout[0] if b not in used), key=last_use.__getitem__)
        # Eq. (7): the new frames are a shuffle of the base frames this window lacks (for the static layout, the
        # frames of the previous window that this one leaves behind, in frame order).
        for frame, pick in zip(new, torch.randperm(len(new), generator=generator).tolist(), strict=True):
            source[frame] = free[pick]
            last_use[free[pick]] = max(last_use[free[pick]], frame)
    return [int(s) for s in source]  # every frame is covered (checked), so none is None


def reschedule_noise(noise: torch.Tensor, windows: Sequence[Sequence[int]], seed: int,
                     frame_dim: int = 0) -> torch.Tensor:
    """A new tensor whose frame f (along frame_dim) is noise's frame source_map(...)[f]; `noise` is not modified."""
    dim = _checked_dim(frame_dim, _checked_noise(noise).dim())
    index = torch.tensor(source_map(windows, noise.shape[dim], seed), dtype=torch.long, device=noise.device)
    return noise.index_select(dim, index)


def reschedule_static(noise: torch.Tensor, length: int, overlap: int, seed: int, frame_dim: int = 0) -> torch.Tensor:
    """reschedule_noise over the static windows of (length, overlap): the paper's layout with stride length-overlap."""
    dim = _checked_dim(frame_dim, _checked_noise(noise).dim())
    return reschedule_noise(noise, static_windows(noise.shape[dim], length, overlap), seed, dim)


def _check_shared_frames(layout: list[list[int]], index: int, source: list[int | None]) -> None:
    """Raise unless the frames of layout[index] that already have noise all lie in one earlier window."""
    shared = {f for f in layout[index] if source[f] is not None}
    if not shared or any(shared <= set(earlier) for earlier in layout[:index]):
        return
    holders = [j for j, earlier in enumerate(layout[:index]) if shared & set(earlier)]
    raise NoiseInitError(
        f"FreeNoise cannot reschedule this window layout: window {index} {_short(layout[index])} shares frames "
        f"{_short(sorted(shared))} with windows {holders} at once, so its noise frames could repeat; expected the "
        f"frames a window shares with earlier windows to lie in one of them (wrapping closed-loop and "
        f"context_stride > 1 windows do not); use freenoise_windows(opts, num_frames), the static windows of the same length and overlap")


def _checked_layout(windows: Sequence[Sequence[int]], num_frames: int) -> list[list[int]]:
    """windows as lists of ints, after checking they are equal-length, in range, repeat-free and cover every frame."""
    if isinstance(num_frames, bool) or not isinstance(num_frames, numbers.Integral) or num_frames < 1:
        raise NoiseInitError(f"FreeNoise: num_frames must be a positive integer, got {num_frames!r}")
    if isinstance(windows, (str, bytes)) or not isinstance(windows, Sequence) or not windows:
        raise NoiseInitError(f"FreeNoise: windows must be a non-empty list of frame-index lists, got {windows!r}")
    layout = [_checked_window(w, j, num_frames) for j, w in enumerate(windows)]
    lengths = sorted({len(w) for w in layout})
    if len(lengths) > 1:
        raise NoiseInitError(f"FreeNoise: all windows must have the same length, found lengths {lengths}")
    missing = sorted(set(range(num_frames)).difference(*layout))
    if missing:
        raise NoiseInitError(f"FreeNoise: the windows must cover all {num_frames} frames; frames "
                             f"{_short(missing)} are in no window")
    return layout


def _checked_window(window: Sequence[int], index: int, num_frames: int) -> list[int]:
    """One window as a list of ints, or NoiseInitError naming it."""
    frames = list(window) if isinstance(window, Sequence) and not isinstance(window, (str, bytes)) else None
    if not frames or any(isinstance(f, bool) or not isinstance(f, numbers.Integral) for f in frames):
        raise NoiseInitError(f"FreeNoise: window {index} must be a non-empty list of frame indices, got {window!r}")
    frames = [int(f) for f in frames]
    bad = [f for f in frames if not 0 <= f < num_frames]
    if bad:
        raise NoiseInitError(f"FreeNoise: window {index} holds frame {bad[0]}, outside [0, {num_frames})")
    if len(set(frames)) != len(frames):
        raise NoiseInitError(f"FreeNoise: window {index} {_short(frames)} repeats a frame")
    return frames


def _checked_seed(seed: int) -> int:
    """seed as an int a torch.Generator accepts, or NoiseInitError."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not _SEED_MIN <= seed <= _SEED_MAX:
        raise NoiseInitError(f"FreeNoise: seed must be an integer in [{_SEED_MIN}, {_SEED_MAX}], got {seed!r}")
    return int(seed)


def _checked_noise(noise: torch.Tensor) -> torch.Tensor:
    """noise, or NoiseInitError unless it is a tensor with at least one dimension."""
    if not isinstance(noise, torch.Tensor) or noise.dim() == 0:
        found = "a 0-D tensor" if isinstance(noise, torch.Tensor) else type(noise).__name__
        raise NoiseInitError(f"FreeNoise: noise must be a tensor with a frame dimension, got {found}")
    return noise


def _checked_dim(frame_dim: int, ndim: int) -> int:
    """frame_dim normalised to [0, ndim), or NoiseInitError."""
    if isinstance(frame_dim, bool) or not isinstance(frame_dim, numbers.Integral) or not -ndim <= frame_dim < ndim:
        raise NoiseInitError(f"FreeNoise: frame_dim must be an integer in [{-ndim}, {ndim}) for a {ndim}-D noise "
                             f"tensor, got {frame_dim!r}")
    return int(frame_dim) % ndim


def _short(frames: Sequence[int], limit: int = 8) -> str:
    """A frame list for an error message, cut after `limit` entries."""
    items = list(frames)
    return str(items) if len(items) <= limit else f"[{', '.join(map(str, items[:limit]))}, ...]"

