"""SparseCtrl's sparse conditioning in frame terms: which frame each hint image conditions, where the hints of a
context window go, and the conditioning tensor (hints on their frames, zeros elsewhere, plus a mask channel).

AnimateDiff v3 (`pipeline_animation.py`): `controlnet_cond[:, :, index] = images`, `conditioning_mask[:, :, index] = 1`,
every other frame zero with mask 0; the mask is concatenated to the hint channels. The frame choices follow
Advanced-ControlNet's sparse methods so its workflows mean the same here: an index list (negative = from the end),
or a spread of the images over the video (uniform / starting / ending / center); in context windows, hints stay on
their own frames ("off") or, for a window holding none, the nearest hint is moved to the window's edge or centre
("nearest_hint").
"""
from dataclasses import dataclass

import numpy as np
import torch

SPREADS = ("uniform", "starting", "ending", "center")
CONTEXT_AWARE = ("off", "nearest_hint")


class SparseCtrlError(ValueError):
    """A SparseCtrl file, hint batch or frame choice that cannot work; the message says what was expected."""


@dataclass(frozen=True)
class SparseSettings:
    """How the hint images map to frames, and the strengths SparseCtrl applies."""
    indexes: tuple[int, ...] = ()  # frame of each hint image (negative: from the end); empty: `spread`
    spread: str = "uniform"
    context_aware: str = "off"
    motion_strength: float = 1.0  # effect of SparseCtrl's own motion modules (0: none)
    motion_scale: float = 1.0  # multiplies their attention keys
    hint_multiplier: float = 1.0  # scales the control residuals of frames with a hint
    nonhint_multiplier: float = 1.0  # ... and of frames without one
    mask_multiplier: float = 1.0  # value of the mask channel on hinted frames

    def __post_init__(self):
        if self.spread not in SPREADS:
            raise SparseCtrlError(f"Unknown spread '{self.spread}'; expected one of {', '.join(SPREADS)}.")
        if self.context_aware not in CONTEXT_AWARE:
            raise SparseCtrlError(f"Unknown context_aware '{self.context_aware}'; expected one of "
                                  f"{', '.join(CONTEXT_AWARE)}.")


def parse_indexes(text: str) -> tuple[int, ...]:
    """"0, 8, -1" -> (0, 8, -1); an empty string -> () (spread the images instead)."""
    parts = [p.strip() for p in text.replace(";", ",").split(",")]
    if parts == [""]:
        return ()
    out = []
    for part in parts:
        try:
            out.append(int(part))
        except ValueError:
            raise SparseCtrlError(f"indexes '{text}': '{part}' is not a whole number; expected frame numbers "
                                  "separated by commas, like '0, 15' (negative counts from the end).") from None
    if len(set(out)) != len(out):
        raise SparseCtrlError(f"indexes '{text}' lists a frame twice; each hint image needs its own frame.")
    return tuple(out)


def check_hint_count(settings: SparseSettings, count: int) -> None:
    """With an index list, one index per hint image."""
    if settings.indexes and len(settings.indexes) != count:
        raise SparseCtrlError(f"{count} hint image(s) but {len(settings.indexes)} index(es) "
                              f"({', '.join(map(str, settings.indexes))}); give one frame index per image.")


def hint_frames(settings: SparseSettings, count: int, frames: int) -> list[int]:
    """The video frame each of the `count` hint images conditions, in image order."""
    check_hint_count(settings, count)
    if settings.indexes:
        resolved = []
        for i in settings.indexes:
            if not -frames <= i < frames:
                raise SparseCtrlError(f"index {i} is outside the video's {frames} frames (0 to {frames - 1}, or "
                                      f"-{frames} to -1 from the end).")
            resolved.append(i % frames)
        if len(set(resolved)) != len(resolved):
            raise SparseCtrlError(f"indexes {list(settings.indexes)} name the same frame twice in a {frames}-frame "
                                  "video (a negative index counts from the end).")
        return resolved
    if count > frames:
        raise SparseCtrlError(f"{count} hint images for a {frames}-frame video; give at most one per frame.")
    return _spread(settings.spread, count, frames)


def _linspace(frames: int, n: int) -> list[int]:
    """n integer positions from 0 to frames-1, evenly spaced, rounded down."""
    return [int(v) for v in np.linspace(0, frames - 1, n, endpoint=True).astype(int)]


def _spread(spread: str, count: int, frames: int) -> list[int]:
    if count == frames:
        return list(range(frames))
    if count == 1:
        return {"uniform": [0], "starting": [0], "ending": [frames - 1],
                "center": [_linspace(frames, 3)[1]]}[spread]
    if spread == "uniform":
        return _linspace(frames, count)
    if spread == "ending":
        return _linspace(frames, count + 1)[1:]
    if spread == "center" and frames - count >= 3:
        return _linspace(frames, count + 2)[1:-1]
    return _linspace(frames, count + 1)[:-1]  # starting (and center when there is no room for margins)


def window_placement(frames_of_hints: list[int], window: list[int] | None, context_aware: str = "off"
                     ) -> list[tuple[int, int]]:
    """(hint image, position in this call's frames) pairs. `window`: the video frames this call holds (a context
    window), None for the whole video in order."""
    if window is None:
        return list(enumerate(frames_of_hints))
    position = {f: p for p, f in enumerate(window)}
    inside = [(h, position[f]) for h, f in enumerate(frames_of_hints) if f in position]
    if inside or context_aware == "off" or not frames_of_hints:
        return inside
    return _nearest_hints(frames_of_hints, window)


def _nearest_hints(frames_of_hints: list[int], window: list[int]) -> list[tuple[int, int]]:
    """No hint inside the window: the hint nearest its first frame goes there, the one nearest its last frame goes
    there; only the closer of the two unless they are equally far. A single hint equally far from both ends goes to
    the window's centre."""
    def nearest(target):
        h = min(range(len(frames_of_hints)), key=lambda i: (abs(frames_of_hints[i] - target), i))
        return h, abs(frames_of_hints[h] - target)
    (h0, d0), (h1, d1) = nearest(window[0]), nearest(window[-1])
    last = len(window) - 1
    if len(frames_of_hints) == 1 and d0 == d1:
        return [(h0, _linspace(len(window), 3)[1])]
    if d0 == d1:
        return [(h0, 0), (h1, last)]
    return [(h0, 0)] if d0 < d1 else [(h1, last)]


def sparse_condition(hints: torch.Tensor, placement: list[tuple[int, int]], length: int,
                     mask_value: float = 1.0) -> torch.Tensor:
    """(length, c + 1, h, w): hint image `i` on frame `p` for each (i, p), zeros elsewhere; the last channel is the
    mask, `mask_value` on hinted frames and 0 elsewhere. hints: (n, c, h, w)."""
    n, c, h, w = hints.shape
    cond = hints.new_zeros((length, c + 1, h, w))
    for i, p in placement:
        cond[p, :c] = hints[i]
        cond[p, c] = mask_value
    return cond


def frame_multipliers(placement: list[tuple[int, int]], length: int, hint: float, nonhint: float
                      ) -> torch.Tensor | None:
    """Per-frame factor for the control residuals (hinted frames `hint`, the others `nonhint`); None if all 1."""
    if hint == 1.0 and nonhint == 1.0:
        return None
    out = torch.full((length,), float(nonhint))
    for _, p in placement:
        out[p] = float(hint)
    return out
