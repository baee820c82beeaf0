"""Context windows for long animations, in two modes (window math in animatelcm_core.context):

- "full": the whole UNet runs per window. Our own handler on ComfyUI's stable context-handler interface
  (`model_options["context_handler"]`: `should_use_context` / `execute(calc_cond_batch, ...)`, unchanged from 0.3.64
  to 0.33): our schedules and fuse weights, frames on dim 0 (batch = frames), every per-frame conditioning tensor and
  ControlNet hint cut to the window's frames. ComfyUI's own `IndexListContextHandler` is not subclassed: it was
  rewritten between those releases (anchor frames, retained and split conditioning, multimodal latents).
- "motion-only": spatial layers see all frames at once; only the motion modules run in overlapping windows, fused the
  same way. Costs about 1.1x of independent clips instead of ~1.3x, at the memory of a full-length batch.
"""
from functools import lru_cache

import torch

import comfy.context_windows
import comfy.model_management
import comfy.patcher_extension

from ..animatelcm_core.context import ContextOptions, fuse, fuse_weights, get_windows, stretched_encodings
from .motion_model import MOTION_KEY
from .noise_init import add_freenoise

MOTION_WINDOWS = "animatelcm_motion_windows"  # transformer_options entry read by the injected motion modules
WINDOW = "context_window"  # transformer_options entry naming the current window (ComfyUI's own key)
MODES = ("motion-only", "full")


def step_index(transformer_options: dict, sigma: torch.Tensor | None) -> int:
    """Index of the current sampling step: where this call's sigma sits in the sampler's sigmas."""
    sample_sigmas = transformer_options.get("sample_sigmas")
    if sample_sigmas is None or sigma is None:
        return 0
    s = sigma.flatten()[0].to(sample_sigmas.device, sample_sigmas.dtype)
    return int(torch.argmin((sample_sigmas - s).abs()))


@lru_cache(maxsize=64)
def window_plan(opts: ContextOptions, frames: int, step: int):
    """Windows and normalised fuse weights of one step (the same for every call of that step, so computed once)."""
    windows = get_windows(opts, frames, step)
    return windows, fuse_weights(opts, windows, frames)


class FrameWindow(comfy.context_windows.ContextWindowABC):
    """One window of frame indices on dim 0, as ComfyUI's window objects expose it (`index_list`, `total_frames`)."""

    def __init__(self, index_list: list[int], total_frames: int):
        super().__init__()
        self.index_list = list(index_list)
        self.context_length = len(self.index_list)
        self.total_frames = total_frames

    def get_tensor(self, full: torch.Tensor, device=None, dim: int = 0) -> torch.Tensor:
        return full.index_select(dim, torch.tensor(self.index_list, device=full.device)).to(device or full.device)

    def add_window(self, full: torch.Tensor, to_add: torch.Tensor, dim: int = 0) -> torch.Tensor:
        return full.index_add_(dim, torch.tensor(self.index_list, device=full.device), to_add)


class FrameContextHandler(comfy.context_windows.ContextHandlerABC):
    """Full-mode windows: each window's frames, with their conditioning and ControlNet hints, through the whole
    model; outputs fused per frame with weights that sum to 1."""

    def __init__(self, opts: ContextOptions):
        super().__init__()
        self.opts = opts

    def should_use_context(self, model, conds, x_in, timestep, model_options) -> bool:
        return x_in.shape[0] > self.opts.length

    def execute(self, calc_cond_batch, model, conds, x_in, timestep, model_options):
        to = model_options.setdefault("transformer_options", {})
        frames = x_in.shape[0]
        windows, weights = window_plan(self.opts, frames, step_index(to, timestep))
        outputs = [[] for _ in conds]
        try:
            for index_list in windows:
                comfy.model_management.throw_exception_if_processing_interrupted()
                window = FrameWindow(index_list, frames)
                to[WINDOW] = window
                sub_conds = [self.get_resized_cond(c, x_in, window, model=model) for c in conds]
                sub_out = calc_cond_batch(model, sub_conds, window.get_tensor(x_in), window.get_tensor(timestep),
                                          model_options)
                for acc, out in zip(outputs, sub_out):
                    acc.append(out)
        finally:
            to.pop(WINDOW, None)
        return [fuse(outs, windows, weights, frames) for outs in outputs]

    def get_resized_cond(self, cond_in, x_in, window, device=None, model=None):
        """The conditioning of one window: per-frame tensors (dim 0 == frames) and hint images cut to its frames."""
        if cond_in is None:
            return None
        frames = x_in.shape[0]
        return [{key: _window_value(key, value, window, frames, model) for key, value in cond.items()}
                for cond in cond_in]


def window_frames(transformer_options: dict, frames: int) -> tuple[list[int] | None, int]:
    """The video frames this call holds: (their indices, the video's frame count) inside a context window (ours, or
    ComfyUI's own, whose later windows may start with one anchor frame), else (None, frames): all, in order."""
    window = transformer_options.get(WINDOW)
    indices = list(getattr(window, "index_list", None) or [])
    anchor = getattr(window, "causal_anchor_index", None)
    if indices and anchor is not None and anchor >= 0:
        indices = [anchor] + indices
    total = getattr(window, "total_frames", None)
    if not indices or len(indices) != frames or not total:
        return None, frames
    return indices, total


def _per_frame(t, frames: int) -> bool:
    return isinstance(t, torch.Tensor) and t.ndim > 0 and t.shape[0] == frames


def _window_value(key: str, value, window: FrameWindow, frames: int, model):
    if _per_frame(value, frames):
        return window.get_tensor(value)
    if key == "control" and value is not None and _has_per_frame_hints(value, frames):
        windowed = window_control(value, window.index_list, frames)
        windowed.pre_run(model, model.model_sampling.percent_to_sigma)  # as the sampler prepares its controls
        return windowed
    if isinstance(value, dict):  # model_conds: CONDRegular / CONDCrossAttn ... wrap the tensor in `.cond`
        return {k: _window_cond(v, window, frames) for k, v in value.items()}
    return value


def _window_cond(value, window: FrameWindow, frames: int):
    if _per_frame(value, frames):
        return window.get_tensor(value)
    if _per_frame(getattr(value, "cond", None), frames) and hasattr(value, "_copy_with"):
        return value._copy_with(window.get_tensor(value.cond))
    return value


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


def _window_memory(length: int):
    """PREPARE_SAMPLING wrapper: ComfyUI budgets memory for one window's frames, not the whole video."""
    def wrapper(executor, model, noise_shape, *args, **kwargs):
        return executor(model, [min(noise_shape[0], length), *noise_shape[1:]], *args, **kwargs)
    return wrapper


def attach_context(model, opts: ContextOptions, mode: str, max_length: int, stretch: bool = False,
                   freenoise: bool = False):
    """Clone `model` with context windows in `mode` ("motion-only" or "full").

    With `stretch`, windows longer than the motion module's `max_length` are allowed: its position encodings are
    interpolated to the window length (as object patches on a clone of the motion model's patcher). With
    `freenoise`, the sampler's noise is rescheduled for windows of this length and overlap (nodes/noise_init.py).
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
        m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.PREPARE_SAMPLING, MOTION_KEY,
                               _window_memory(opts.length))
    else:
        m.model_options.setdefault("transformer_options", {})[MOTION_WINDOWS] = opts
    return add_freenoise(m, opts.length, opts.overlap) if freenoise else m


def run_windowed(module, x: torch.Tensor, frames: int, opts: ContextOptions, transformer_options: dict, **kwargs):
    """Motion module over overlapping windows of the frame axis, outputs fused per frame (weights sum to 1)."""
    if frames <= opts.length:
        return module(x, frames, **kwargs)
    windows, weights = window_plan(opts, frames, step_index(transformer_options, transformer_options.get("sigmas")))
    b = x.shape[0] // frames
    video = x.view(b, frames, *x.shape[1:])
    outputs = []
    for window in windows:
        part = video[:, window].reshape(b * len(window), *x.shape[1:])
        window_kwargs = {k: v[window] if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
        outputs.append(module(part, len(window), **window_kwargs).view(b, len(window), *x.shape[1:]))
    return fuse(outputs, windows, weights, frames, frame_dim=1).view(x.shape)
