"""V3 nodes: directed animations (prompt travel and keyframed motion strength)."""
from comfy_api.latest import io

from ..animatelcm_core.prompt_schedule import BLEND_METHODS
from .motion_keyframes import MotionKeyframe, add_keyframe
from .nodes_motion import CATEGORY, MotionKeyframes
from .prompt_travel import schedule_conditioning

EXAMPLE = '"0": "a rose bud, closed petals",\n"24": "a blooming red rose",\n"-1": "a wilted rose, fallen petals"'
SCHEDULE_HELP = ('One entry per line or comma-separated: "frame": "prompt" or frame = "prompt". A frame is an integer, '
                 'negative from the end (-1 = last), or a fraction in [0, 1) of the length (0.5 = middle). Frames between '
                 'two keyframes get an interpolated embedding; before the first and after the last they hold.')
VALUE_HELP = ('One number for every frame, or a per-frame schedule in the prompt-schedule syntax, e.g. "0: 0.0, 8: 1.0" '
              '(interpolated between keyframes, held before the first and after the last).')


class PromptSchedule(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_PromptSchedule", display_name="Prompt Schedule (prompt travel)", category=CATEGORY,
            description="Prompt travel: one text embedding per frame from keyframed prompts, interpolated between "
                        "keyframes. Connect it as the positive (or negative) conditioning of the sampler; works with "
                        "cfg above 1, ControlNet, the I2V reference, SDXL and context windows.",
            inputs=[io.Clip.Input("clip", tooltip="The CLIP text encoder (as for CLIPTextEncode)."),
                    io.String.Input("text", multiline=True, default=EXAMPLE, tooltip=SCHEDULE_HELP),
                    io.Int.Input("frames", default=16, min=1, max=10000,
                                 tooltip="Number of frames, when no latent is connected."),
                    io.Combo.Input("interpolation", options=list(BLEND_METHODS), default="linear",
                                   tooltip="How embeddings blend between keyframes: linear, or spherical (slerp of "
                                           "each token vector, lengths interpolated linearly)."),
                    io.String.Input("pre_text", multiline=True, default="",
                                    tooltip="Text put before every prompt (joined with a comma)."),
                    io.String.Input("app_text", multiline=True, default="",
                                    tooltip="Text put after every prompt (joined with a comma)."),
                    io.Latent.Input("latent", optional=True,
                                    tooltip="The latent you will sample: its batch size (frames) sets the length.")],
            outputs=[io.Conditioning.Output(tooltip="Conditioning with one embedding per frame (batch = frames).")])

    @classmethod
    def execute(cls, clip, text, frames, interpolation, pre_text, app_text, latent=None):
        num_frames = latent["samples"].shape[0] if latent is not None else frames
        return io.NodeOutput(schedule_conditioning(clip, text, num_frames, interpolation, pre_text, app_text))


class MotionKeyframeNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_MotionKeyframe", display_name="Motion Keyframe", category=CATEGORY,
            description="From start_percent of sampling on (until the next keyframe starts), the motion module uses "
                        "this effect and scale, per frame. Chain keyframes, then connect the chain to 'Apply Motion "
                        "Module' (they multiply that node's effect and scale).",
            inputs=[io.Float.Input("start_percent", default=0.0, min=0.0, max=1.0, step=0.001,
                                   tooltip="Fraction of sampling at which this keyframe takes over."),
                    io.String.Input("effect", default="1.0", tooltip="Motion blend (0 = still image model, 1 = full "
                                                                     "motion). " + VALUE_HELP),
                    io.String.Input("scale", default="1.0", tooltip="Multiplies the temporal attention keys. " +
                                                                    VALUE_HELP),
                    MotionKeyframes.Input("prev_keyframes", optional=True, tooltip="Keyframes to add this one to.")],
            outputs=[MotionKeyframes.Output(display_name="keyframes", tooltip="The keyframe chain.")])

    @classmethod
    def execute(cls, start_percent, effect, scale, prev_keyframes=None):
        return io.NodeOutput(add_keyframe(prev_keyframes, MotionKeyframe(start_percent, effect, scale)))


NODES = [PromptSchedule, MotionKeyframeNode]
