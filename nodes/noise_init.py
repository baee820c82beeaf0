"""FreeNoise and FreeInit on a MODEL, through public sampler wrappers (math in animatelcm_core.freenoise and
animatelcm_core.freq_filter).

- FreeNoise (Qiu et al., ICLR 2024): a SAMPLER_SAMPLE wrapper reschedules the noise the sampler receives, from the
  sampler's own noise and seed, so overlapping windows share noise frames. Applies to every sampler node.
- FreeInit (Wu et al., ECCV 2024): an OUTER_SAMPLE wrapper runs the whole sampling `iterations` times; after each
  pass the result is diffused back to the first sigma and its low spatio-temporal frequencies are joined with the
  high frequencies of noise, which starts the next pass. One iteration is plain sampling, untouched.

When both are on, FreeNoise reschedules the first pass's noise only: later passes start from FreeInit's noise,
whose low frequencies carry the previous result (shuffling its frames would scramble them); FreeInit's high-frequency
noise is the rescheduled noise (or fresh noise rescheduled the same way).
"""
import contextvars
import logging
import math
from dataclasses import dataclass
from functools import partial

import torch

import comfy.patcher_extension
import comfy.utils

from ..animatelcm_core.freenoise import reschedule_static
from ..animatelcm_core.freq_filter import freq_mix, make_filter

KEY = "animatelcm_noise_init"


@dataclass
class _Run:
    """One FreeInit sampling: set while it runs, so FreeNoise knows a later pass and can lend its rescheduling."""
    later_pass: bool = False
    reschedule: object = None  # FreeNoise's rescheduling of this run (noise -> noise), once the first pass ran


_RUN = contextvars.ContextVar("animatelcm_freeinit_run", default=None)


@dataclass(frozen=True)
class FreeInitSettings:
    iterations: int = 3
    filter: str = "butterworth"
    d_s: float = 0.25
    d_t: float = 0.25
    order: int = 4
    same_noise: bool = True  # later passes reuse the first pass's noise for the high frequencies


def add_freenoise(model, length: int, overlap: int):
    """A clone of `model` whose samplers get FreeNoise-rescheduled noise (static windows of length/overlap)."""
    m = model.clone()
    m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.SAMPLER_SAMPLE, KEY, _freenoise(length, overlap))
    return m


def _freenoise(length: int, overlap: int):
    def wrapper(executor, guider, sigmas, extra_args, callback, noise, *args, **kwargs):
        reschedule = partial(reschedule_static, length=length, overlap=overlap, seed=extra_args.get("seed") or 0)
        run = _RUN.get()
        if run is not None:
            run.reschedule = reschedule
            if run.later_pass:
                return executor(guider, sigmas, extra_args, callback, noise, *args, **kwargs)
        return executor(guider, sigmas, extra_args, callback, reschedule(noise), *args, **kwargs)
    return wrapper


def add_freeinit(model, settings: FreeInitSettings):
    """A clone of `model` that every sampler node runs with FreeInit."""
    m = model.clone()
    m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.OUTER_SAMPLE, KEY, _freeinit(settings))
    return m


def _freeinit(settings: FreeInitSettings):
    def wrapper(executor, noise, latent_image, sampler, sigmas, denoise_mask=None, callback=None, disable_pbar=False,
                seed=None, **kwargs):
        if settings.iterations <= 1:
            return executor(noise, latent_image, sampler, sigmas, denoise_mask, callback, disable_pbar, seed, **kwargs)
        guider, steps = executor.class_obj, len(sigmas) - 1
        progress = comfy.utils.ProgressBar(settings.iterations * steps)
        run = _Run()
        token = _RUN.set(run)
        try:
            start = noise
            for i in range(settings.iterations):
                logging.info("FreeInit: sampling pass %d of %d", i + 1, settings.iterations)
                out = executor(start, latent_image, sampler, sigmas, denoise_mask,
                               _pass_callback(callback, progress, i * steps), disable_pbar, seed, **kwargs)
                if i + 1 < settings.iterations:
                    start = reinit_noise(guider, out, latent_image, sigmas, noise, run, settings, (seed or 0) + i + 1)
                    run.later_pass = True
        finally:
            _RUN.reset(token)
        return out
    return wrapper


def _pass_callback(callback, progress, offset: int):
    """The sampler's callback (previews, its own bar), then the bar over all passes."""
    def on_step(step, x0, x, total_steps):
        if callback is not None:
            callback(step, x0, x, total_steps)
        progress.update_absolute(offset + step + 1)
    return on_step


def reinit_noise(guider, out, latent_image, sigmas, noise, run: _Run, settings: FreeInitSettings, seed: int):
    """The noise of the next pass, such that the sampler starts from
        x' = LP(x0 + sigma0 * eps) + HP(latent + s * eta)
    (x0 the last result, latent the input latent, both in model space; s the scale the sampler gives noise at
    sigma0; eps fresh noise; eta the first pass's noise or fresh noise). For text-to-video (latent 0, sigma0 the
    largest sigma, s = sqrt(1 + sigma0^2)) this is the paper's z'_T = LP(sqrt(abar) (x0 + sigma0 eps)) + HP(eta)."""
    model = guider.model_patcher.model
    ms = guider.model_patcher.get_model_object("model_sampling")
    sigma0 = float(sigmas[0])
    max_denoise = math.isclose(float(ms.sigma_max), sigma0, rel_tol=1e-05) or sigma0 > float(ms.sigma_max)
    scale = ms.noise_scaling(torch.tensor(sigma0), torch.ones(1), torch.zeros(1), max_denoise).item()
    x0 = model.process_latent_in(out.float())
    latent = model.process_latent_in(latent_image) if torch.count_nonzero(latent_image) else torch.zeros_like(x0)
    g = torch.Generator().manual_seed(seed)
    eps = torch.randn(x0.shape, generator=g).to(x0)
    eta = noise if settings.same_noise else torch.randn(x0.shape, generator=g).to(x0)
    if run.reschedule is not None:
        eta = run.reschedule(eta)  # the high frequencies keep FreeNoise's structure
    mask = make_filter(settings.filter, x0.shape, settings.d_s, settings.d_t, settings.order, device=x0.device)
    return freq_mix((x0 - latent.to(x0) + sigma0 * eps) / scale, eta.to(x0), mask).to(noise.dtype)
