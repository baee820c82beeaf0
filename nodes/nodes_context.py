"""V3 nodes that attach context windows to a MODEL: `AnimateLCM Context Options` (one set of options, widgets) and
`Apply Context Options` (a chain from the options nodes in nodes_context.py)."""
from comfy_api.latest import io

from ..animatelcm_core.context import FUSE_METHODS, SCHEDULES, ContextOptions
from .context import MODES, attach_context
from .motion_model import max_motion_frames
from .nodes_context_options import CONTEXT_CATEGORY, ContextOptionsType, ViewOptionsType
from .nodes_motion import CATEGORY
from .window_info import publish_window_info


def _max_length(model) -> int | None:
    """The frames every motion module on `model` takes at once (its position encodings, after adjustments), None
    for a MODEL without a motion module."""
    return max_motion_frames(model)


def stretch_input():
    return io.Boolean.Input("stretch_position_encoding", default=False, optional=True,
                            tooltip="Allow windows longer than the motion module's limit by interpolating its "
                                    "position encodings to that length (motion may get slower/blurrier).")


def freenoise_input():
    return io.Boolean.Input("freenoise", default=False, optional=True,
                            tooltip="FreeNoise: reschedule the initial noise so every window holds the first "
                                    "window's noise frames, locally shuffled (windows agree, less drift).")


class ContextWindows(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_ContextOptions", display_name="AnimateLCM Context Options", category=CATEGORY,
            description="Any number of frames: the video is processed in overlapping windows of context_length "
                        "frames, blended so every frame's weights sum to one. Connect after 'Apply Motion Module'.",
            inputs=[io.Model.Input("model", tooltip="The inflated MODEL (after 'Apply Motion Module')."),
                    io.Combo.Input("mode", options=list(MODES), default="motion-only",
                                   tooltip="motion-only: the image layers see all frames at once and only the motion "
                                           "modules work in windows: fastest (about 1.1x of separate 16-frame clips) "
                                           "but memory grows with the frame count. full: the whole UNet runs per "
                                           "window: memory of one window, about 1.3x the compute."),
                    io.Int.Input("context_length", default=16, min=1, max=128,
                                 tooltip="Frames per window; at most the motion module's limit (24 for v1/HotshotXL, "
                                         "32 for v2/v3/SDXL, 64 for AnimateLCM). 16 is the training length."),
                    io.Int.Input("context_overlap", default=4, min=0, max=127,
                                 tooltip="Frames shared by neighbouring windows; must be below context_length."),
                    io.Combo.Input("schedule", options=list(SCHEDULES), default="static",
                                   tooltip="static: fixed windows. uniform: windows shift every step, none wraps. "
                                           "looped: shifting windows that may wrap around (more with closed_loop). "
                                           "batched: consecutive windows, no overlap."),
                    io.Int.Input("stride", default=1, min=1, max=32,
                                 tooltip="uniform/looped: number of stride levels (1 = contiguous windows only)."),
                    io.Boolean.Input("closed_loop", default=False,
                                     tooltip="looped schedule: more wrapping windows, so the last frame flows into the "
                                             "first."),
                    io.Combo.Input("fuse_method", options=list(FUSE_METHODS), default="pyramid",
                                   tooltip="How overlapping windows are blended: pyramid favours window centres, flat "
                                           "averages, overlap-linear crossfades across the overlap."),
                    stretch_input(), freenoise_input(),
                    io.Boolean.Input("use_on_equal_length", default=False, optional=True,
                                     tooltip="Also window a video exactly context_length frames long."),
                    ViewOptionsType.Input("view_opts", optional=True,
                                          tooltip="Windows inside the motion modules' attention within each window.")],
            outputs=[io.Model.Output(tooltip="The MODEL with context windows.")])

    @classmethod
    def execute(cls, model, mode, context_length, context_overlap, schedule, stride, closed_loop, fuse_method,
                stretch_position_encoding=False, freenoise=False, use_on_equal_length=False, view_opts=None):
        max_length = _max_length(model)
        if max_length is None:
            raise ValueError("Connect the MODEL from 'Apply Motion Module': this MODEL has no motion module.")
        opts = ContextOptions(context_length, context_overlap, schedule, stride, closed_loop, fuse_method,
                              use_on_equal_length, view_opts)
        return io.NodeOutput(attach_context(model, opts, mode, max_length, stretch_position_encoding, freenoise))


class ApplyContextOptions(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_ApplyContextOptions", display_name="Apply Context Options", category=CONTEXT_CATEGORY,
            description="Attaches context options (a chain from the Context Options nodes) to a MODEL: windows for "
                        "videos longer than the context length. Connect after 'Apply Motion Module'; a MODEL without "
                        "a motion module works in full mode (e.g. batched windows).",
            inputs=[io.Model.Input("model", tooltip="The MODEL (usually after 'Apply Motion Module')."),
                    ContextOptionsType.Input("context_options", tooltip="From a Context Options node (or chain)."),
                    io.Combo.Input("mode", options=["full", "motion-only"], default="full",
                                   tooltip="full: the whole UNet runs per window (AnimateDiff-Evolved's windows; "
                                           "memory of one window). motion-only: the image layers see all frames and "
                                           "only the motion modules work in windows (faster, memory grows with "
                                           "the frames)."),
                    stretch_input(), freenoise_input()],
            outputs=[io.Model.Output(tooltip="The MODEL with context windows.")])

    @classmethod
    def execute(cls, model, context_options, mode="full", stretch_position_encoding=False, freenoise=False):
        if freenoise and context_options.first.schedule_name == "views_only":
            raise ValueError("FreeNoise needs context windows of a length: the first context options are Views "
                             "Only, which has none.")
        m = attach_context(model, context_options, mode, _max_length(model), stretch_position_encoding, freenoise)
        if mode == "full":  # a plain MODEL (no motion module, whose inflate() publishes it): each window's frames
            publish_window_info(m)  # for IPAdapter_plus / Advanced-ControlNet (ad_params); a no-op when present
        return io.NodeOutput(m)


NODES = [ContextWindows, ApplyContextOptions]
