"""V3 node: context windows for animations longer than the motion module's training length."""
from comfy_api.latest import io

from ..animatelcm_core.context import FUSE_METHODS, SCHEDULES, ContextOptions
from .context import MODES, attach_context
from .motion_model import MOTION_KEY
from .nodes_motion import CATEGORY


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
                                   tooltip="static: fixed windows. uniform: windows shift every step. looped: shifting "
                                           "windows with strides, optionally wrapping around (closed_loop)."),
                    io.Int.Input("stride", default=1, min=1, max=8,
                                 tooltip="looped schedule: number of stride levels (1 = contiguous windows only)."),
                    io.Boolean.Input("closed_loop", default=False,
                                     tooltip="looped schedule: let windows wrap so the last frame flows into the first."),
                    io.Combo.Input("fuse_method", options=list(FUSE_METHODS), default="pyramid",
                                   tooltip="How overlapping windows are blended: pyramid favours window centres, flat "
                                           "averages, overlap-linear crossfades only across the overlap."),
                    io.Boolean.Input("stretch_position_encoding", default=False, optional=True,
                                     tooltip="Allow a context_length above the motion module's limit by interpolating "
                                             "its position encodings to that length (motion may get slower/blurrier)."),
                    io.Boolean.Input("freenoise", default=False, optional=True,
                                     tooltip="FreeNoise: reschedule the initial noise so every window holds the first "
                                             "window's noise frames, locally shuffled (windows agree, less drift).")],
            outputs=[io.Model.Output(tooltip="The MODEL with context windows.")])

    @classmethod
    def execute(cls, model, mode, context_length, context_overlap, schedule, stride, closed_loop, fuse_method,
                stretch_position_encoding=False, freenoise=False):
        motion = model.get_additional_models_with_key(MOTION_KEY)
        if not motion:
            raise ValueError("Connect the MODEL from 'Apply Motion Module': this MODEL has no motion module.")
        opts = ContextOptions(context_length, context_overlap, schedule, stride, closed_loop, fuse_method)
        max_length = motion[0].model.config.pe_length
        return io.NodeOutput(attach_context(model, opts, mode, max_length, stretch_position_encoding, freenoise))


NODES = [ContextWindows]
