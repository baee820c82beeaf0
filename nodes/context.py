"""Context windows for long animations (window math in animatelcm_core.context*, per-run state in context_run.py).

Two modes:
- "full": the whole UNet runs per window. Our own handler on ComfyUI's stable context-handler interface
  (`model_options["context_handler"]`: `should_use_context` / `execute(calc_cond_batch, ...)`, unchanged from 0.3.64
  to 0.33): our schedules and fuse weights, frames on dim 0 (batch = frames), every per-frame conditioning tensor and
  ControlNet hint cut to the window's frames. ComfyUI's own `IndexListContextHandler` is not subclassed: it was
  rewritten between those releases (anchor frames, retained and split conditioning, multimodal latents).
  This is AnimateDiff-Evolved's context windowing.
- "motion-only": spatial layers see all frames at once; only the motion modules run in overlapping windows, fused the
  same way. Costs about 1.1x of independent clips instead of ~1.3x, at the memory of a full-length batch.
View options (ADE's views) window the motion modules' attention blocks inside whatever frames a call holds: all
frames (views only), one full-mode window, or one motion-only window (windows of windows).

transformer_options entries: `context_window` (FrameWindow, full mode, around each window's model call: what other
code reads to know the window), `animatelcm_motion_windows` (MotionWindowing: what the motion modules window; read
by nodes/inflate.py, which calls run_windowed), `animatelcm_context_run` (context_run.py).
"""
from dataclasses import dataclass

import torch

import comfy.context_windows
import comfy.model_management
import comfy.patcher_extension

from ..animatelcm_core.context import ContextOptions, fuse, is_active
from ..animatelcm_core.context_chain import ContextChain
from ..animatelcm_core.context_views import view_plan
from ..animatelcm_core.motion_module import stretch_pe
from .context_run import call_sigma, current, sampler_wrapper, window_plan
from .motion_model import motion_models, position_encodings, replace_motion_patchers
from .noise_init import add_freenoise

MOTION_WINDOWS = "animatelcm_motion_windows"  # transformer_options entry read by the injected motion modules
WINDOW = "context_window"  # transformer_options entry naming the current window (ComfyUI's own key)
CONTEXT_KEY = "animatelcm_context"  # key of this file's wrappers
MODES = ("motion-only", "full")


@dataclass(frozen=True)
class ContextSetup:
    """The context options attached to a MODEL: a chain of options and the mode its windows run in."""
    chain: ContextChain
    mode: str


@dataclass(frozen=True)
class MotionWindowing:
    """What the motion modules window at a call: `setup` (motion-only mode: windows of the whole module from the
    current chain entry, and its views inside each), or `views` alone (inside one full-mode window, at the step and
    with the seed its handler chose)."""
    setup: ContextSetup | None = None
    views: ContextOptions | None = None
    step: int = 0
    seed: int = 0


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

    def __init__(self, setup: ContextSetup):
        super().__init__()
        self.setup = setup

    @property
    def opts(self) -> ContextOptions:  # the first entry (decides whether windows are used)
        return self.setup.chain.first

    def should_use_context(self, model, conds, x_in, timestep, model_options) -> bool:
        return is_active(self.opts, x_in.shape[0])

    def execute(self, calc_cond_batch, model, conds, x_in, timestep, model_options):
        to = model_options.setdefault("transformer_options", {})
        frames, sigma = x_in.shape[0], call_sigma(to, timestep)
        opts, step, seed = current(self.setup, to, sigma)
        windows, weights = window_plan(opts, frames, step, sigma, seed)
        outputs = [[] for _ in conds]
        saved = {key: to[key] for key in (WINDOW, MOTION_WINDOWS) if key in to}
        try:
            if opts.views is not None:
                to[MOTION_WINDOWS] = MotionWindowing(views=opts.views, step=step, seed=seed)
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
            for key in (WINDOW, MOTION_WINDOWS):
                to.pop(key, None)
            to.update(saved)
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


def cuts_own_window(control) -> bool:
    """Advanced-ControlNet's controls cut their hints, masks and latent keyframes to the window themselves, from
    transformer_options["ad_params"] (nodes/window_info.py)."""
    return hasattr(control, "sub_idxs") and hasattr(control, "full_latent_length")


def window_control(control, index_list: list[int], num_frames: int):
    """A copy of a ControlNet chain whose per-frame hint images are cut to this window's frames."""
    c = control.copy()
    hint = getattr(control, "cond_hint_original", None)
    if hint is not None and hint.shape[0] == num_frames and not cuts_own_window(control):
        c.cond_hint_original = hint[index_list]
    prev = control.previous_controlnet
    c.set_previous_controlnet(None if prev is None else window_control(prev, index_list, num_frames))
    return c


def _window_memory(length: int):
    """PREPARE_SAMPLING wrapper: ComfyUI budgets memory for one window's frames, not the whole video."""
    def wrapper(executor, model, noise_shape, *args, **kwargs):
        return executor(model, [min(noise_shape[0], length), *noise_shape[1:]], *args, **kwargs)
    return wrapper


def attach_context(model, opts: ContextOptions | ContextChain, mode: str, max_length: int | None,
                   stretch: bool = False, freenoise: bool = False):
    """Clone `model` with context windows in `mode` ("motion-only" or "full"): one set of options or a chain.

    `max_length`: the motion module's position-encoding length (None: no motion module, full mode only). With
    `stretch`, windows longer than that are allowed: its position encodings are interpolated to the window length
    (as object patches on a clone of the motion model's patcher). With `freenoise`, the sampler's noise is
    rescheduled for windows of the first entry's length and overlap (nodes/noise_init.py). Context options attached
    earlier to this MODEL are replaced.
    """
    chain = opts if isinstance(opts, ContextChain) else ContextChain.single(opts)
    if mode not in MODES:
        raise ValueError(f"Unknown context mode '{mode}'; expected one of {', '.join(MODES)}.")
    _check_chain(chain, mode, max_length, stretch)
    setup = ContextSetup(chain, mode)
    m = model.clone()
    _detach(m)
    attended = max(e.options.attended_length() or 0 for e in chain.entries)
    if stretch and max_length is not None and attended > max_length:
        _stretch_position_encodings(m, attended)
    m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.SAMPLER_SAMPLE, CONTEXT_KEY, sampler_wrapper(setup))
    if mode == "full":
        m.model_options["context_handler"] = FrameContextHandler(setup)
        lengths = [e.options.length for e in chain.entries if e.options.schedule_name != "views_only"]
        if len(lengths) == len(chain.entries):
            m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.PREPARE_SAMPLING, CONTEXT_KEY,
                                   _window_memory(max(lengths)))
    else:
        m.model_options.setdefault("transformer_options", {})[MOTION_WINDOWS] = MotionWindowing(setup=setup)
    first = chain.first
    return add_freenoise(m, first.length, first.overlap) if freenoise else m


def _check_chain(chain: ContextChain, mode: str, max_length: int | None, stretch: bool) -> None:
    for entry in chain.entries:
        entry.options.validate(max_length=None if stretch or max_length is None else max_length)
        if mode == "motion-only" and entry.options.schedule_name == "views_only":
            raise ValueError("Views-only context options window the motion modules' attention already; use mode "
                             "'full' with them (motion-only windows would cut the frames first).")
        if max_length is None and (mode == "motion-only" or entry.options.views is not None):
            raise ValueError("This MODEL has no motion module: connect the MODEL from 'Apply Motion Module' to use "
                             "motion-only windows or view options (they act inside motion modules).")


def _detach(m) -> None:
    """Remove context options an earlier node attached to this clone (the newest context options win)."""
    if isinstance(m.model_options.get("context_handler"), FrameContextHandler):
        m.model_options.pop("context_handler")
    m.model_options.get("transformer_options", {}).pop(MOTION_WINDOWS, None)
    kinds = comfy.patcher_extension.WrappersMP
    for kind in (kinds.SAMPLER_SAMPLE, kinds.PREPARE_SAMPLING):
        m.remove_wrappers_with_key(kind, CONTEXT_KEY)


def _stretch_position_encodings(m, length: int) -> None:
    """Every motion model's position encodings (as they run on this MODEL) interpolated to `length` positions, as
    object patches on clones of their patchers."""
    patchers = []
    for attached in motion_models(m):
        stretched = attached.patcher.clone()
        for key, table in position_encodings(attached.patcher).items():
            if table.shape[1] < length:
                stretched.add_object_patch(key, stretch_pe(table, length))
        patchers.append(stretched)
    replace_motion_patchers(m, patchers)


def run_windowed(module, x: torch.Tensor, frames: int, windowing: MotionWindowing, transformer_options: dict,
                 **kwargs):
    """The motion module on one call's frames under `windowing`: motion-only windows of the whole module (fused per
    frame, weights sum to 1) and/or view windows of its attention blocks."""
    sigma = call_sigma(transformer_options)
    if windowing.setup is None:  # inside a full-mode window: views only
        return _run_module(module, x, frames, windowing.views, windowing.step, sigma, windowing.seed, kwargs)
    setup = windowing.setup
    if not is_active(setup.chain.first, frames):
        return module(x, frames, **kwargs)
    opts, step, seed = current(setup, transformer_options, sigma)
    windows, weights = window_plan(opts, frames, step, sigma, seed)
    b = x.shape[0] // frames
    video = x.view(b, frames, *x.shape[1:])
    outputs = []
    for window in windows:
        part = video[:, window].reshape(b * len(window), *x.shape[1:])
        window_kwargs = {k: v[window] if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
        out = _run_module(module, part, len(window), opts.views, step, sigma, seed, window_kwargs)
        outputs.append(out.view(b, len(window), *x.shape[1:]))
    return fuse(outputs, windows, weights, frames, frame_dim=1).view(x.shape)


def _run_module(module, x, frames, views, step, sigma, seed, kwargs):
    plan = None if views is None else view_plan(views, frames, step, sigma, seed)
    if plan is None:
        return module(x, frames, **kwargs)
    return module(x, frames, views=plan, **kwargs)
