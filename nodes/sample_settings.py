"""Sample settings on a MODEL: the initial noise (seed_gen, noise_type, offsets, seed override), custom CFG
(per frame and keyframed over sampling) and the noise schedule (math in animatelcm_core.noise_types,
animatelcm_core.custom_cfg, animatelcm_core.noise_schedule).

- Noise: an OUTER_SAMPLE wrapper placed first (outermost), so everything inside it (FreeInit's later passes
  included) starts from this noise, as in ComfyUI-AnimateDiff-Evolved. A sampler run with its noise disabled (all
  zeros) is left alone. Schedules that need the context windows (repeated_context, FreeNoise) read the MODEL's
  context options at sampling time.
- Custom CFG: the MODEL's sampler_cfg_function (any earlier one is kept and called with the custom cfg); a
  SAMPLER_SAMPLE wrapper starts the keyframe cursor of each sampling pass in its transformer_options. Per-frame
  schedules are checked against the latent's frame count before sampling starts.
- Noise schedule: the model_sampling object patch.
"""
import logging
from dataclasses import dataclass

import torch

import comfy.model_management
import comfy.patcher_extension

from ..animatelcm_core.custom_cfg import CFGKeyframe, KeyframeCursor, guidance
from ..animatelcm_core.errors import PromptScheduleError
from ..animatelcm_core.noise_types import NoiseSettings, make_noise
from .context import MOTION_WINDOWS
from .sampling import build_model_sampling

KEY = "animatelcm_sample_settings"
OUTER = comfy.patcher_extension.WrappersMP.OUTER_SAMPLE
SAMPLER = comfy.patcher_extension.WrappersMP.SAMPLER_SAMPLE


@dataclass
class _CFGRun:
    """One sampling pass: the keyframe cursor and each keyframe's cfg for this latent."""
    cursor: KeyframeCursor
    values: list


def attach_sample_settings(model, noise: NoiseSettings, cfg_keyframes: tuple = (), noise_schedule=None):
    """A clone of `model` that samples with these settings; the input MODEL is not changed. Noise and custom CFG
    of an earlier Sample Settings node on this MODEL are replaced (one set of sample settings, as in ADE)."""
    m = model.clone()
    _detach(m)
    if noise.changes_noise or cfg_keyframes:
        _add_outermost(m, _outer_wrapper(noise, cfg_keyframes))
    if cfg_keyframes:
        m.add_wrapper_with_key(SAMPLER, KEY, _cfg_run_wrapper(cfg_keyframes))
        previous = (m.model_options.get("sampler_cfg_function"), m.model_options.get("disable_cfg1_optimization"))
        cfg_function = _cfg_function(cfg_keyframes, previous[0])
        cfg_function.replaced = previous  # what _detach restores
        m.set_model_sampler_cfg_function(cfg_function, disable_cfg1_optimization=not all(k.is_one for k in cfg_keyframes))
    if noise_schedule is not None:
        m.add_object_patch("model_sampling", build_model_sampling(noise_schedule))
    return m


def _detach(m) -> None:
    """Remove what an earlier Sample Settings node attached to the clone `m` (its wrappers and cfg function)."""
    for kind in (OUTER, SAMPLER):
        m.remove_wrappers_with_key(kind, KEY)
    replaced = getattr(m.model_options.get("sampler_cfg_function"), "replaced", None)
    if replaced is not None:
        for key, value in zip(("sampler_cfg_function", "disable_cfg1_optimization"), replaced):
            if value is None:
                m.model_options.pop(key, None)
            else:
                m.model_options[key] = value


def _add_outermost(m, wrapper) -> None:
    """Register `wrapper` as the first OUTER_SAMPLE wrapper of the clone `m` (ComfyUI runs them in key order)."""
    wrappers = m.model_options.setdefault("transformer_options", {}).setdefault("wrappers", {})
    others = {k: v for k, v in wrappers.get(OUTER, {}).items() if k != KEY}
    wrappers[OUTER] = {KEY: [wrapper], **others}


def _outer_wrapper(noise: NoiseSettings, cfg_keyframes: tuple):
    def wrapper(executor, noise_in, latent_image, sampler, sigmas, denoise_mask=None, callback=None,
                disable_pbar=False, seed=None, **kwargs):
        check_cfg_frames(cfg_keyframes, latent_image.shape[0])
        if noise.changes_noise and torch.count_nonzero(noise_in):
            window = noise_window(executor.class_obj.model_options)
            device = comfy.model_management.get_torch_device() if noise.on_gpu else "cpu"
            noise_in = make_noise(noise, seed, tuple(latent_image.shape), latent_image.dtype, device, window)
            noise_in = noise_in.to(latent_image.device)
        return executor(noise_in, latent_image, sampler, sigmas, denoise_mask, callback, disable_pbar, seed, **kwargs)
    return wrapper


def check_cfg_frames(cfg_keyframes: tuple, frames: int) -> None:
    """Every keyframe's cfg must fit a latent of `frames` frames; the error names the node input."""
    for keyframe in cfg_keyframes:
        try:
            keyframe.values(frames)
        except PromptScheduleError as err:
            raise PromptScheduleError(f"Custom CFG (input cfg = {keyframe.cfg!r}): {err}") from None


def noise_window(model_options: dict) -> tuple[int, int] | None:
    """(length, overlap) of the MODEL's context windows for the noise patterns, or None without windows: those of
    the first context options of the chain (its view options' when it has views), ComfyUI's own context windows'
    otherwise."""
    first = _first_context_options(model_options)
    if first is not None:
        views = getattr(first, "views", None) or first
        return views.length, views.overlap
    handler = model_options.get("context_handler")
    if hasattr(handler, "context_length"):  # ComfyUI's own context windows
        return handler.context_length, handler.context_overlap
    return None


def _first_context_options(model_options: dict):
    """The first context options of this pack's windows on the MODEL (motion-only or full mode), or None."""
    motion = model_options.get("transformer_options", {}).get(MOTION_WINDOWS)
    handler = model_options.get("context_handler")
    for holder in (motion, handler):
        setup = getattr(holder, "setup", None)
        if setup is not None:
            return setup.chain.first
        if hasattr(holder, "length") and hasattr(holder, "overlap"):
            return holder
        if hasattr(getattr(holder, "opts", None), "length"):
            return holder.opts
    return None


def _cfg_run_wrapper(cfg_keyframes: tuple):
    def wrapper(executor, guider, sigmas, extra_args, callback, noise, *args, **kwargs):
        sampling = guider.model_patcher.get_model_object("model_sampling")
        starts = [_start_sigma(sampling, k) for k in cfg_keyframes]
        cursor = KeyframeCursor(starts, [k.guarantee_steps for k in cfg_keyframes], float(sigmas.max()))
        run = _CFGRun(cursor, [k.values(noise.shape[0]) for k in cfg_keyframes])
        extra_args["model_options"].setdefault("transformer_options", {})[KEY] = run
        return executor(guider, sigmas, extra_args, callback, noise, *args, **kwargs)
    return wrapper


def _start_sigma(sampling, keyframe: CFGKeyframe) -> float:
    """The sigma at which a keyframe starts (float32, as sigmas are compared during sampling); the largest sigma
    for a keyframe at 0."""
    sigma = sampling.percent_to_sigma(keyframe.start_percent)
    if keyframe.start_percent == 0.0 and sigma > float(sampling.sigma_max):
        sigma = float(sampling.sigma_max)
    return float(torch.tensor(sigma, dtype=torch.float32))


def _cfg_function(cfg_keyframes: tuple, previous):
    def cfg_function(args):
        run = args["model_options"].get("transformer_options", {}).get(KEY)
        if run is None:  # the UNet sampled without a sampler pass (no SAMPLER_SAMPLE): first keyframe, whole video
            logging.warning("Custom CFG: no sampling pass found; using the first keyframe's cfg")
            cfg = cfg_keyframes[0].values(args["cond"].shape[0])
        else:
            cfg = run.values[run.cursor.step(float(args["sigma"].flatten()[0]))]
        if previous is not None:
            return previous({**args, "cond_scale": _frames_first(cfg, args["cond"])})
        return guidance(args["cond"], args["uncond"], cfg)
    return cfg_function


def _frames_first(cfg, like: torch.Tensor):
    """A per-frame cfg shaped to broadcast over (frames, C, H, W); a number as is."""
    return cfg.to(like).view(-1, *([1] * (like.dim() - 1))) if isinstance(cfg, torch.Tensor) else cfg
