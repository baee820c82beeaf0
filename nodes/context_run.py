"""What context options do at one model call of a sampling run: the sampler's step (for the moving schedules) and the
current entry of a chain of options (prev_context), as AnimateDiff-Evolved counts them.

A SAMPLER_SAMPLE wrapper starts a `ContextRun` for every sampling run (the start sigmas of the chain's entries come
from the MODEL's model_sampling then) and counts the sampler's completed steps through its progress callback, as
ADE does (a second model call within one step, as Heun makes, keeps the step). Model calls without a sampler run
(the UNet called directly) fall back to the first entry and to the position of their sigma in `sample_sigmas`.
"""
from functools import lru_cache

import torch

from ..animatelcm_core.context import ContextOptions, fuse_weights, get_windows, is_active, needs_sigma
from ..animatelcm_core.context_chain import ChainTracker, ContextChain

RUN = "animatelcm_context_run"  # transformer_options entry: {ContextSetup: ContextRun} during a sampling run


class ContextRun:
    """State of one sampling run: completed steps and the chain position."""

    def __init__(self, chain: ContextChain, start_sigmas: list[float], sample_sigmas, seed):
        self.tracker = ChainTracker(chain, start_sigmas)
        self.max_sigma = float(sample_sigmas.max()) if sample_sigmas is not None and len(sample_sigmas) else 1e9
        self.seed = int(seed or 0)
        self.step = 0

    def options(self, sigma: float) -> ContextOptions:
        self.tracker.update(sigma, self.max_sigma)
        return self.tracker.current()


def sampler_wrapper(setup):
    """SAMPLER_SAMPLE wrapper: a ContextRun for `setup` while the sampler runs."""
    def wrapper(executor, guider, sigmas, extra_args, callback, noise, *args, **kwargs):
        check_windows(setup.chain, noise.shape[0], len(sigmas) - 1)
        ms = guider.inner_model.model_sampling
        starts = [ms.percent_to_sigma(entry.start_percent) for entry in setup.chain.entries]
        run = ContextRun(setup.chain, starts, sigmas, extra_args.get("seed"))

        def counting_callback(step, *cb_args):
            run.step = step + 1
            if callback is not None:
                callback(step, *cb_args)

        runs = extra_args["model_options"].setdefault("transformer_options", {}).setdefault(RUN, {})
        runs[setup] = run
        try:
            return executor(guider, sigmas, extra_args, counting_callback, noise, *args, **kwargs)
        finally:
            runs.pop(setup, None)
    return wrapper


def check_windows(chain: ContextChain, frames: int, steps: int) -> None:
    """Before the first model call: every entry's windows (and views) for every step fit this video, else a clear
    ContextOptionsError (e.g. uniform windows whose strides are wider than a short video)."""
    if not is_active(chain.first, frames):
        return
    for entry in chain.entries:
        for step in range(max(1, steps)):
            windows = get_windows(entry.options, frames, step)
            views = entry.options.views
            for length in ({len(w) for w in windows} if views is not None else ()):
                if is_active(views, length):
                    get_windows(views, length, step)


def fallback_step(transformer_options: dict, sigma: float | None) -> int:
    """The step whose sigma is the last one of `sample_sigmas` at or above this call's sigma."""
    sample_sigmas = transformer_options.get("sample_sigmas")
    if sample_sigmas is None or sigma is None:
        return 0
    at_or_above = int((sample_sigmas.float() >= sigma * (1 - 1e-6)).sum())
    return max(0, at_or_above - 1)


def call_sigma(transformer_options: dict, timestep=None) -> float | None:
    t = timestep if timestep is not None else transformer_options.get("sigmas")
    return None if t is None else float(t.flatten()[0])


def current(setup, transformer_options: dict, sigma: float | None) -> tuple[ContextOptions, int, int]:
    """(current options, step, seed) of this model call."""
    run = transformer_options.get(RUN, {}).get(setup)
    if run is None:
        return setup.chain.first, fallback_step(transformer_options, sigma), 0
    return (run.options(sigma) if sigma is not None else run.tracker.current()), run.step, run.seed


def window_plan(opts: ContextOptions, frames: int, step: int, sigma: float | None, seed: int):
    """Windows and normalised fuse weights of one step (cached: the same for every call of that step)."""
    return _cached_plan(opts, frames, step, sigma if needs_sigma(opts) else None,
                        seed if opts.fuse_name == "random" else 0)


@lru_cache(maxsize=64)
def _cached_plan(opts: ContextOptions, frames: int, step: int, sigma: float | None, seed: int):
    windows = get_windows(opts, frames, step)
    return windows, fuse_weights(opts, windows, frames, sigma=sigma, seed=seed, step=step)


def as_index(window, device) -> torch.Tensor:
    return torch.tensor(list(window), dtype=torch.long, device=device)
