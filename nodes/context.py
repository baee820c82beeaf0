"""Context windows for long animations, in two modes (window math in animatelcm_core.context):

- "full": the whole UNet runs per window. Built on ComfyUI's native IndexListContextHandler through a subclass that
  uses our schedules and fuse weights, works when batch = frames (the native `set_step` compares the per-sample
  timestep vector with the sigmas and fails there), and slices ControlNet hints to each window's frames.
- "motion-only": spatial layers see all frames at once; only the motion modules run in overlapping windows, fused the
  same way. Costs about 1.1x of independent clips instead of ~1.3x, at the memory of a full-length batch.
"""
from functools import lru_cache

import torch

import comfy.context_windows

from ..animatelcm_core.context import ContextOptions, fuse, fuse_weights, get_window_weights, get_windows, \
    stretched_encodings
from .motion_model import MOTION_KEY

MOTION_WINDOWS = "animatelcm_motion_windows"  # transformer_options entry read by the injected motion modules
MODES = ("motion-only", "full")


def step_index(transformer_options: dict, sigma: torch.Tensor | None) -> int:
    """Index of the current sampling step: where this call's sigma sits in the sampler's sigmas."""
    sample_sigmas = transformer_options.get("sample_sigmas")
    if sample_sigmas is None or sigma is None:
        return 0
    s = sigma.flatten()[0].to(sample_sigmas.device, sample_sigmas.dtype)
    return int(torch.argmin((sample_sigmas - s).abs()))


class FrameContextHandler(comfy.context_windows.IndexListContextHandler):
    """Native context handler with our schedules/fuse weights; frames on dim 0 (batch = frames)."""

    def __init__(self, opts: ContextOptions):
        schedule = comfy.context_windows.ContextSchedule(opts.schedule, self._windows)
        fuse_method = comfy.context_windows.ContextFuseMethod(opts.fuse_method, self._weights)
        super().__init__(schedule, fuse_method, context_length=opts.length, context_overlap=opts.overlap,
                         context_stride=opts.stride, closed_loop=opts.closed_loop, dim=0)
        self.opts = opts

    def set_step(self, timestep, model_options):
        self._step = step_index(model_options["transformer_options"], timestep)

    def _windows(self, num_frames, handler, model_options):
        return get_windows(self.opts, num_frames, self._step)

    def _weights(self, length, full_length, idxs, **kwargs):
        windows = get_windows(self.opts, full_length, self._step)
        return get_window_weights(self.opts, windows, windows.index(list(idxs))).tolist()

    def execute(self, calc_cond_batch, model, conds, x_in, timestep, model_options):
        self._model = model  # windowed ControlNet copies are prepared (pre_run) against it, as the sampler does
        return super().execute(calc_cond_batch, model, conds, x_in, timestep, model_options)

    def get_resized_cond(self, cond_in, x_in, window, device=None):
        resized = super().get_resized_cond(cond_in, x_in, window, device)
        for cond in resized or []:
            control = cond.get("control")
            if control is not None and _has_per_frame_hints(control, x_in.shape[0]):
                windowed = window_control(control, window.index_list, x_in.shape[0])
                windowed.pre_run(self._model, self._model.model_sampling.percent_to_sigma)
                cond["control"] = windowed
        return resized


def _has_per_frame_hints(control, num_frames: int) -> bool:
    while control is not None:
        hint = getattr(control, "cond_hint_original", None)
        if hint is not None and hint.shape[0] == num_frames:
            return True
        control = control.previous_controlnet
    return False


def window_control(control, index_list: list[int], num_frames: int):
    """A copy of a ControlNet chain whose per-frame hint images are cut to this window's frames."""
    c = control.copy()
    hint = getattr(control, "cond_hint_original", None)
    if hint is not None and hint.shape[0] == num_frames:
        c.cond_hint_original = hint[index_list]
    prev = control.previous_controlnet
    c.set_previous_controlnet(None if prev is None else window_control(prev, index_list, num_frames))
    return c


def attach_context(model, opts: ContextOptions, mode: str, max_length: int, stretch: bool = False):
    """Clone `model` with context windows in `mode` ("motion-only" or "full").

    With `stretch`, windows longer than the motion module's `max_length` are allowed: its position encodings are
    interpolated to the window length (as object patches on a clone of the motion model's patcher).
    """
    opts.validate(max_length=None if stretch else max_length)
    if mode not in MODES:
        raise ValueError(f"Unknown context mode '{mode}'; expected one of {', '.join(MODES)}.")
    m = model.clone()
    if stretch and opts.length > max_length:
        (motion,) = m.get_additional_models_with_key(MOTION_KEY)
        stretched = motion.clone()
        for key, table in stretched_encodings(motion.model, opts.length).items():
            stretched.add_object_patch(key, table)
        m.set_additional_models(MOTION_KEY, [stretched])
    if mode == "full":
        m.model_options["context_handler"] = FrameContextHandler(opts)
        comfy.context_windows.create_prepare_sampling_wrapper(m)
    else:
        m.model_options.setdefault("transformer_options", {})[MOTION_WINDOWS] = opts
    return m


@lru_cache(maxsize=64)
def _window_plan(opts: ContextOptions, frames: int, step: int):
    """Windows and fuse weights of one step: the same for all 21 motion modules of a UNet call, so computed once."""
    windows = get_windows(opts, frames, step)
    return windows, fuse_weights(opts, windows, frames)


def run_windowed(module, x: torch.Tensor, frames: int, opts: ContextOptions, transformer_options: dict, **kwargs):
    """Motion module over overlapping windows of the frame axis, outputs fused per frame (weights sum to 1)."""
    if frames <= opts.length:
        return module(x, frames, **kwargs)
    windows, weights = _window_plan(opts, frames, step_index(transformer_options, transformer_options.get("sigmas")))
    b = x.shape[0] // frames
    video = x.view(b, frames, *x.shape[1:])
    outputs = []
    for window in windows:
        part = video[:, window].reshape(b * len(window), *x.shape[1:])
        outputs.append(module(part, len(window), **kwargs).view(b, len(window), *x.shape[1:]))
    return fuse(outputs, windows, weights, frames, frame_dim=1).view(x.shape)
