"""Keyframes over sampling and keyframed numbers: (start_percent, value) pairs that each hold until the next, and a
value given either as one number or as a per-frame schedule ("0: 0.0, 8: 1.0", see prompt_schedule)."""
from __future__ import annotations

import bisect
import numbers
from typing import Sequence, TypeVar

import torch

from .errors import PromptScheduleError
from .prompt_schedule import ScheduleEntry, _NUMBER, check_num_frames, parse_value_schedule, value_schedule_of

V = TypeVar("V")


def number_or_schedule(text: str, what: str = "value") -> float | list[ScheduleEntry]:
    """One number ("0.8") or the parsed entries of a per-frame schedule ("0: 0.0, 8: 1.0"); errors name `what`."""
    if not isinstance(text, str):
        raise PromptScheduleError(f"{what} must be text, got {type(text).__name__}")
    stripped = text.strip()
    if _NUMBER.match(stripped):
        return float(stripped)
    return parse_value_schedule(text, what)


def per_frame_values(parsed: float | list[ScheduleEntry], num_frames: int, what: str = "value") -> float | torch.Tensor:
    """A number as is; a schedule resolved for `num_frames` and interpolated: a float32 tensor (num_frames,)."""
    if isinstance(parsed, float):
        return parsed
    check_num_frames(num_frames, what)
    return value_schedule_of(parsed, num_frames, what)


def check_percent_keyframes(keyframes: Sequence[tuple[float, V]], what: str = "percent keyframes"
                            ) -> list[tuple[float, V]]:
    """(start_percent, value) pairs sorted by percent; each percent a real in [0, 1], no two equal."""
    if not keyframes:
        raise PromptScheduleError(f"{what}: no keyframes")
    for item in keyframes:
        percent = item[0]
        if isinstance(percent, bool) or not isinstance(percent, numbers.Real) or not 0.0 <= percent <= 1.0:
            raise PromptScheduleError(f"{what}: start percent {percent!r} must be a number in [0, 1]")
    ordered = sorted(keyframes, key=lambda item: item[0])
    for (p, _), (q, _) in zip(ordered, ordered[1:]):
        if p == q:
            raise PromptScheduleError(f"{what}: two keyframes start at percent {p}; keep one of them")
    return [(float(p), value) for p, value in ordered]


def keyframe_at_percent(keyframes: Sequence[tuple[float, V]], percent: float) -> int:
    """Position (in percent order) of the keyframe active at percent: the last one starting at or before it.

    Before the first keyframe's start, the first keyframe holds.
    """
    ordered = check_percent_keyframes(keyframes)
    if isinstance(percent, bool) or not isinstance(percent, numbers.Real) or not 0.0 <= percent <= 1.0:
        raise PromptScheduleError(f"sampling percent {percent!r} must be a number in [0, 1]")
    return max(bisect.bisect_right([p for p, _ in ordered], percent) - 1, 0)


def value_at_percent(keyframes: Sequence[tuple[float, V]], percent: float) -> V:
    """Value of the keyframe active at percent (each holds until the next one starts)."""
    return check_percent_keyframes(keyframes)[keyframe_at_percent(keyframes, percent)][1]


def values_at_percents(keyframes: Sequence[tuple[float, V]], percents: Sequence[float]) -> list[V]:
    """Active value for each step's percent (e.g. one percent per sampling step)."""
    return [value_at_percent(keyframes, percent) for percent in percents]
