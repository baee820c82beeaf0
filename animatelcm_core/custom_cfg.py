"""Custom CFG: the guidance scale as one number or a per-frame schedule, in keyframes over sampling.

A keyframe holds a cfg (a number, or a per-frame schedule "0: 8.0, 15: 4.0" interpolated and held at the ends; see
prompt_schedule) from its start_percent on. Keyframes are kept sorted by start_percent, keyframes of equal percent in
the order they were added. Which keyframe acts follows the rule of ComfyUI-AnimateDiff-Evolved's Custom CFG
keyframes, so converted workflows sample the same:

- the first keyframe acts from the first model call on, whatever its start_percent;
- a "step" is a model call at a sigma different from the previous call's;
- once the acting keyframe has acted for its guarantee_steps steps, each later keyframe whose start sigma is at or
  above the current sigma (its start has been reached) takes over in turn, with a fresh count; the search stops at
  the first one with guarantee_steps > 0 or the first one not yet started;
- a keyframe that starts before the sampled range (start sigma above the largest sigma being sampled, e.g. with
  denoise < 1 or a later KSampler (Advanced) start step) is guaranteed 0 steps.

Guidance: uncond + (cond - uncond) * cfg, with a per-frame cfg broadcast over each frame (frames on dim 0).
"""
from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass

import torch

from .errors import PromptScheduleError
from .keyframes import number_or_schedule, per_frame_values
from .noise_schedule import INTERPOLATIONS, interpolation_weights

_LIST_ITEM = re.compile(r"\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*\Z")


@dataclass(frozen=True)
class CFGKeyframe:
    cfg: str  # "7.5" or a per-frame schedule
    start_percent: float = 0.0
    guarantee_steps: int = 1

    def check(self) -> "CFGKeyframe":
        """Parse now, so a typo is an error when the node runs, not during sampling."""
        what = self.what
        if isinstance(self.start_percent, bool) or not isinstance(self.start_percent, numbers.Real) \
                or not 0.0 <= self.start_percent <= 1.0:
            raise PromptScheduleError(f"{what}: start_percent must be a number in [0, 1], got {self.start_percent!r}")
        if isinstance(self.guarantee_steps, bool) or not isinstance(self.guarantee_steps, numbers.Integral) \
                or self.guarantee_steps < 0:
            raise PromptScheduleError(f"{what}: guarantee_steps must be an integer >= 0, got {self.guarantee_steps!r}")
        value = number_or_schedule(self.cfg, what)
        if isinstance(value, float) and not math.isfinite(value):
            raise PromptScheduleError(f"{what}: cfg must be a finite number, got {self.cfg!r}")
        return self

    @property
    def what(self) -> str:
        return f"custom cfg keyframe at {self.start_percent:g}"

    def values(self, num_frames: int) -> float | torch.Tensor:
        """The cfg for a video of num_frames: a float, or a float32 tensor (num_frames,)."""
        return per_frame_values(number_or_schedule(self.cfg, self.what), num_frames, self.what)

    @property
    def is_one(self) -> bool:
        """A plain cfg of 1: the negative prediction is not needed."""
        value = number_or_schedule(self.cfg, self.what)
        return isinstance(value, float) and math.isclose(value, 1.0)


def add_keyframes(chain: tuple, *keyframes: CFGKeyframe) -> tuple:
    """A new chain with the keyframes added: sorted by start_percent, equal percents in the order added."""
    return tuple(sorted(tuple(chain or ()) + tuple(k.check() for k in keyframes), key=lambda k: k.start_percent))


def interpolated_keyframes(start_percent: float, end_percent: float, cfg_start: float, cfg_end: float,
                           interpolation: str, intervals: int) -> list[CFGKeyframe]:
    """`intervals` keyframes at percents linspace(start, end) (float32) with cfgs eased from cfg_start to cfg_end;
    the first guarantees 1 step, the others 0 (so several may pass within one step)."""
    if start_percent > end_percent:
        raise PromptScheduleError(f"start_percent ({start_percent}) must not be above end_percent ({end_percent}).")
    if interpolation not in INTERPOLATIONS:
        raise PromptScheduleError(f"Unknown interpolation '{interpolation}'; expected one of {', '.join(INTERPOLATIONS)}.")
    percents = torch.linspace(start_percent, end_percent, intervals).tolist()
    cfgs = interpolation_weights(cfg_start, cfg_end, intervals, interpolation).tolist()
    return [CFGKeyframe(repr(cfg), percent, 1 if i == 0 else 0) for i, (percent, cfg) in enumerate(zip(percents, cfgs))]


def parse_cfg_list(text: str, what: str = "cfgs") -> list[float]:
    """"8.0, 7.5, 7" -> [8.0, 7.5, 7.0] (commas or whitespace between numbers)."""
    items = [item for item in re.split(r"[,\s]+", text.strip()) if item] if isinstance(text, str) else None
    if not items or any(not _LIST_ITEM.match(item) for item in items):
        raise PromptScheduleError(f"{what}: expected numbers separated by commas such as \"8.0, 7.5, 7.0\", "
                                  f"got {text!r}")
    return [float(item) for item in items]


def list_keyframes(cfgs: list[float], start_percent: float, end_percent: float) -> list[CFGKeyframe]:
    """One keyframe per cfg at percents linspace(start, end) (float32); the first guarantees 1 step, the others 0."""
    if start_percent > end_percent:
        raise PromptScheduleError(f"start_percent ({start_percent}) must not be above end_percent ({end_percent}).")
    percents = torch.linspace(start_percent, end_percent, len(cfgs)).tolist()
    return [CFGKeyframe(repr(float(cfg)), percent, 1 if i == 0 else 0) for i, (percent, cfg) in enumerate(zip(percents, cfgs))]


def guarantee_applies(start_sigma: float, max_sigma: float) -> bool:
    """A keyframe's guarantee counts unless it starts before the sampled range (start sigma above max_sigma;
    equal within 1e-5 relative / 1e-8 absolute counts as inside)."""
    return start_sigma < max_sigma or abs(start_sigma - max_sigma) <= 1e-8 + 1e-5 * abs(max_sigma)


class KeyframeCursor:
    """The acting keyframe of one sampling run (module docstring); `start_sigmas` are the keyframes' start sigmas in
    chain order, `max_sigma` the largest sigma of the run."""

    def __init__(self, start_sigmas: list[float], guarantee_steps: list[int], max_sigma: float):
        self.starts = list(start_sigmas)
        self.guarantees = [g if guarantee_applies(s, max_sigma) else 0 for s, g in zip(self.starts, guarantee_steps)]
        self.index, self.used, self.previous = 0, 0, None

    def step(self, sigma: float) -> int:
        """Index of the keyframe acting at a model call at `sigma`."""
        if sigma == self.previous:
            return self.index
        if self.used >= self.guarantees[self.index]:
            for i in range(self.index + 1, len(self.starts)):
                if self.starts[i] < sigma:
                    break
                self.index, self.used = i, 0
                if self.guarantees[i] > 0:
                    break
        self.used += 1
        self.previous = sigma
        return self.index


def guidance(cond: torch.Tensor, uncond: torch.Tensor, cfg: float | torch.Tensor) -> torch.Tensor:
    """uncond + (cond - uncond) * cfg; a per-frame cfg (frames,) scales each frame (dim 0) of the batch."""
    if isinstance(cfg, torch.Tensor):
        if cfg.shape[0] != cond.shape[0]:
            raise PromptScheduleError(f"custom cfg: a per-frame cfg for {cfg.shape[0]} frames cannot guide a batch of "
                                      f"{cond.shape[0]} frames")
        cfg = cfg.to(cond).view(-1, *([1] * (cond.dim() - 1)))
    return uncond + (cond - uncond) * cfg
