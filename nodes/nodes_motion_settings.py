"""V3 nodes: multivals (effect/scale as a number, per frame or per pixel) and motion-model settings (position-encoding
and weight adjustments of a MOTION_MODEL)."""
from comfy_api.latest import io

from ..animatelcm_core.multival import SCALINGS, from_floats, from_text, scaled_mask
from ..animatelcm_core.positional import PEAdjust, sweetspot_stretch
from ..animatelcm_core.weight_adjust import PARTS, WeightAdjust
from .motion_adjust import with_pe_adjust, with_weight_adjust
from .nodes_motion import CATEGORY, MotionModel, Multival

SETTINGS = CATEGORY + "/motion settings"
PE_HELP = " 0 = off. Position-encoding adjustments act before weight adjustments, each in chain order."
PART_HELP = {
    "all": "every tensor of the motion module (position encodings included where the file stores them)",
    "pe": "the position-encoding tables (files that store them)",
    "attn": "every temporal-attention weight and bias (q, k, v, out)",
    "attn_q": "the attention query weights", "attn_k": "the attention key weights",
    "attn_v": "the attention value weights", "attn_out_weight": "the attention output weights",
    "attn_out_bias": "the attention output biases",
    "other": "everything outside the attentions: norms, proj_in/out, feed-forward (and an I2V image encoder)",
}


class MultivalNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_Multival", display_name="Multival", category=SETTINGS,
            description="A value for the motion module's effect or scale: one number, one per frame, or one per "
                        "pixel and frame (value x mask). Connect to 'Apply Motion Module' (effect_multival / "
                        "scale_multival).",
            inputs=[io.String.Input("value", default="1.0",
                                    tooltip="One number, or a per-frame schedule such as \"0: 1.0, 8: 0.5\" "
                                            "(interpolated between keyframes, held before the first and after the "
                                            "last)."),
                    io.Mask.Input("mask", optional=True,
                                  tooltip="Per-pixel values (1 frame for all frames, or one per latent frame), "
                                          "multiplied by the value; resized to each block's resolution."),
                    io.Float.Input("floats", optional=True, force_input=True,
                                   tooltip="A per-frame list of numbers from another node (e.g. a batch value "
                                           "schedule); used instead of `value`.")],
            outputs=[Multival.Output(display_name="multival")])

    @classmethod
    def execute(cls, value, mask=None, floats=None):
        if floats is not None:
            return io.NodeOutput(from_floats(floats, mask, source="Multival (floats)"))
        return io.NodeOutput(from_text(value, mask, source="Multival (value)"))


class MultivalScaledMaskNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_MultivalScaledMask", display_name="Multival from Mask", category=SETTINGS,
            description="Per-pixel values from a mask mapped onto min_value..max_value, e.g. motion scale 0.5 in the "
                        "background and 1.2 on the subject.",
            inputs=[io.Float.Input("min_value", default=0.0, min=-100.0, max=100.0, step=0.001,
                                   tooltip="The value where the mask is at its low end."),
                    io.Float.Input("max_value", default=1.0, min=-100.0, max=100.0, step=0.001,
                                   tooltip="The value where the mask is at its high end."),
                    io.Mask.Input("mask", tooltip="1 frame (for all frames) or one per latent frame."),
                    io.Combo.Input("scaling", options=list(SCALINGS), default="absolute",
                                   tooltip="absolute: mask 0 -> min_value, 1 -> max_value. relative: the mask's own "
                                           "lowest value -> min_value, highest -> max_value (over all frames).")],
            outputs=[Multival.Output(display_name="multival")])

    @classmethod
    def execute(cls, min_value, max_value, mask, scaling="absolute"):
        return io.NodeOutput(scaled_mask(mask, min_value, max_value, scaling, source="Multival from Mask"))


def _pe_int(name: str, tooltip: str, default: int = 0) -> io.Int.Input:
    return io.Int.Input(name, default=default, min=0, max=1024, tooltip=tooltip)


class PESweetspotStretch(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_PESweetspotStretch", display_name="Position Encoding: Sweetspot Stretch", category=SETTINGS,
            description="Spreads the motion module's first `sweetspot` position encodings over `new_sweetspot` "
                        "positions, so that many frames move like `sweetspot` did (16 -> 18 is common). Returns a new "
                        "motion module; files without stored encodings (AnimateLCM) are left as they are.",
            inputs=[MotionModel.Input("motion_model"),
                    _pe_int("sweetspot", "Positions kept from the start of the table (the trained length).", 16),
                    _pe_int("new_sweetspot", "Positions they are interpolated to.", 16)],
            outputs=[MotionModel.Output(display_name="motion_model")])

    @classmethod
    def execute(cls, motion_model, sweetspot, new_sweetspot):
        return io.NodeOutput(with_pe_adjust(motion_model, sweetspot_stretch(sweetspot, new_sweetspot)))


class AdjustPE(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_AdjustPE", display_name="Position Encoding: Adjust", category=SETTINGS,
            description="Manual position-encoding adjustments, applied in this order: stretch by pe_stretch "
                        "positions, drop initial_pe_idx_offset, cap to cap_initial_pe_length, interpolate to "
                        "interpolate_pe_to_length, drop final_pe_idx_offset." + PE_HELP,
            inputs=[MotionModel.Input("motion_model"),
                    _pe_int("cap_initial_pe_length", "Keep only the first N positions."),
                    _pe_int("interpolate_pe_to_length", "Interpolate the table to N positions."),
                    _pe_int("initial_pe_idx_offset", "Drop the first N positions (before the cap)."),
                    _pe_int("final_pe_idx_offset", "Drop the first N positions (after the interpolation)."),
                    _pe_int("pe_stretch", "Full stretch: interpolate the whole table to N more positions (first).")],
            outputs=[MotionModel.Output(display_name="motion_model")])

    @classmethod
    def execute(cls, motion_model, cap_initial_pe_length, interpolate_pe_to_length, initial_pe_idx_offset,
                final_pe_idx_offset, pe_stretch):
        adjust = PEAdjust(pe_stretch, initial_pe_idx_offset, cap_initial_pe_length, interpolate_pe_to_length,
                          final_pe_idx_offset)
        return io.NodeOutput(with_pe_adjust(motion_model, adjust))


def _weight_node(node_id: str, display: str, op: str, default: float, lo: float, hi: float, verb: str):
    class WeightNode(io.ComfyNode):
        @classmethod
        def define_schema(cls):
            return io.Schema(
                node_id=node_id, display_name=display, category=SETTINGS,
                description=f"{verb} the motion module's weights, all of them or by part (`all` applies first, then "
                            "each tensor's own part; several nodes apply in chain order, after position-encoding "
                            "adjustments). Returns a new motion module; MotionLoRAs add on top.",
                inputs=[MotionModel.Input("motion_model")] +
                       [io.Float.Input(p, default=default, min=lo, max=hi, step=0.0001, round=False,
                                       tooltip=f"{verb}: {PART_HELP[p]}.") for p in PARTS],
                outputs=[MotionModel.Output(display_name="motion_model")])

        @classmethod
        def execute(cls, motion_model, **parts):
            return io.NodeOutput(with_weight_adjust(motion_model, WeightAdjust.of(op, **parts)))

    WeightNode.__name__ = WeightNode.__qualname__ = node_id.removeprefix("ALCM_")
    return WeightNode


MultiplyMotionWeights = _weight_node("ALCM_MultiplyMotionWeights", "Motion Weights: Multiply", "multiply", 1.0,
                                     -10.0, 10.0, "Multiply")
AddMotionWeights = _weight_node("ALCM_AddMotionWeights", "Motion Weights: Add", "add", 0.0, -10.0, 10.0, "Add to")

NODES = [MultivalNode, MultivalScaledMaskNode, PESweetspotStretch, AdjustPE, MultiplyMotionWeights, AddMotionWeights]
