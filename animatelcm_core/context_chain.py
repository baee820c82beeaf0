"""Chains of context options over sampling: different windows for different parts of sampling.

A chain holds entries (options, start_percent, guarantee_steps), kept sorted by start_percent (entries with the same
start keep the order they were added in). The switching rule is AnimateDiff-Evolved's, so a chained workflow made
there windows the same steps the same way:

- the first entry is current from the first step on, whatever its start_percent;
- at each new sigma (a repeated sigma changes nothing), once the current entry has been used for its
  guarantee_steps (counted as 0 when its start sigma lies above the sampling's largest sigma), the entries after it
  are scanned in order: each whose start sigma is >= the current sigma becomes current (its use count restarts), and
  the scan stops at the first one that is not reached yet or whose guarantee_steps (so counted) are above 0;
- then the current entry's use count goes up by one.

Whether windows are used at all is decided once, with the first entry (context.is_active).
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

from .context import ContextOptions
from .errors import ContextOptionsError


@dataclass(frozen=True)
class ContextEntry:
    options: ContextOptions
    start_percent: float = 0.0
    guarantee_steps: int = 1

    def validate(self) -> None:
        self.options.validate()
        p = self.start_percent
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= float(p) <= 1.0:
            raise ContextOptionsError(f"start_percent must be a number in [0, 1], got {p!r}")
        g = self.guarantee_steps
        if isinstance(g, bool) or not isinstance(g, numbers.Integral) or g < 0:
            raise ContextOptionsError(f"guarantee_steps must be an integer >= 0, got {g!r}")


@dataclass(frozen=True)
class ContextChain:
    entries: tuple[ContextEntry, ...] = ()

    def then(self, entry: ContextEntry) -> "ContextChain":
        """A new chain with `entry` added (and the entries sorted by start_percent, stable)."""
        entry.validate()
        return ContextChain(tuple(sorted(self.entries + (entry,), key=lambda e: e.start_percent)))

    @property
    def first(self) -> ContextOptions:
        if not self.entries:
            raise ContextOptionsError("the context options chain is empty")
        return self.entries[0].options

    @classmethod
    def single(cls, options: ContextOptions) -> "ContextChain":
        return cls().then(ContextEntry(options))


class ChainTracker:
    """Which entry of a chain is current, followed over the sigmas of one sampling run."""

    def __init__(self, chain: ContextChain, start_sigmas: list[float]):
        if len(start_sigmas) != len(chain.entries):
            raise ValueError(f"need one start sigma per entry, got {len(start_sigmas)} for {len(chain.entries)}")
        self.chain, self.start_sigmas = chain, [float(s) for s in start_sigmas]
        self.index, self.used, self.previous = 0, 0, None

    def _guarantee(self, index: int, max_sigma: float) -> int:
        return 0 if self.start_sigmas[index] > max_sigma else self.chain.entries[index].guarantee_steps

    def update(self, sigma: float, max_sigma: float) -> int:
        """The index of the current entry at this sigma (max_sigma: the largest sigma of this sampling)."""
        sigma = float(sigma)
        if sigma == self.previous:
            return self.index
        if self.used >= self._guarantee(self.index, max_sigma):
            for i in range(self.index + 1, len(self.chain.entries)):
                if self.start_sigmas[i] < sigma:
                    break
                self.index, self.used = i, 0
                if self._guarantee(i, max_sigma) > 0:
                    break
        self.used += 1
        self.previous = sigma
        return self.index

    def current(self) -> ContextOptions:
        return self.chain.entries[self.index].options


def replay(chain: ContextChain, start_sigmas: list[float], sigmas: list[float], max_sigma: float) -> int:
    """The current entry after the given sequence of sigmas (for a model call that has no run state)."""
    tracker = ChainTracker(chain, start_sigmas)
    for sigma in sigmas:
        tracker.update(sigma, max_sigma)
    return tracker.index
