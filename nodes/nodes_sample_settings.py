"""V3 nodes: sample settings (initial noise, custom CFG, noise schedule) on a MODEL, custom CFG keyframes, and an
empty latent for very long frame batches."""
import torch

import comfy.model_management
from comfy_api.latest import io

from ..animatelcm_core.custom_cfg import CFGKeyframe, add_keyframes, interpolated_keyframes, list_keyframes, \
    parse_cfg_list
from ..animatelcm_core.noise_schedule import INTERPOLATIONS
from ..animatelcm_core.noise_types import NOISE_TYPES, SEED_GENS, NoiseSettings
from .nodes_motion import CATEGORY
from .sample_settings import attach_sample_settings

CustomCFG = io.Custom("ALCM_CUSTOM_CFG")
NoiseSchedule = io.Custom("ALCM_NOISE_SCHEDULE")
BIG = 2 ** 53 - 1
MAX_RESOLUTION = 16384


class SampleSettings(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_SampleSettings", display_name="Sample Settings", category=CATEGORY,
            description="How the initial noise is made from the seed (per frame or for the whole batch, offsets, "
                        "patterns that repeat across the context windows), custom CFG and the noise schedule. Every "
                        "sampler node honours it. Connect after 'Apply Motion Module' and the context options.",
            inputs=[io.Model.Input("model", tooltip="The video MODEL to sample with these settings."),
                    io.Combo.Input("noise_type", options=list(NOISE_TYPES), default="default",
                                   tooltip="default: the seed's noise. constant: every frame the same noise. empty: no "
                                           "noise. repeated_context: the first context window's noise repeated. "
                                           "FreeNoise: the first window's noise frames, locally shuffled, in every "
                                           "window (the last two need context options)."),
                    io.Combo.Input("seed_gen", options=list(SEED_GENS), default="comfy",
                                   tooltip="comfy: one draw for the whole batch (ComfyUI's noise). auto1111: frame i "
                                           "drawn from seed + i. [gpu]: drawn on the GPU (different numbers)."),
                    io.Int.Input("batch_offset", default=0, min=0, max=BIG,
                                 tooltip="Skip this many frames of noise: the video starts at a later frame of the "
                                         "seed's noise."),
                    io.Int.Input("seed_offset", default=0, min=-BIG, max=BIG, tooltip="Added to the seed."),
                    io.Int.Input("seed_override", optional=True, force_input=True, min=0, max=0xffffffffffffffff,
                                 tooltip="Replaces the sampler's seed for the noise."),
                    CustomCFG.Input("custom_cfg", optional=True,
                                    tooltip="'Custom CFG' keyframes: replaces the sampler's cfg (per frame, over "
                                            "sampling)."),
                    NoiseSchedule.Input("noise_schedule", optional=True,
                                        tooltip="'Noise Schedule' nodes: replaces the MODEL's model sampling (the "
                                                "'model_sampling' of Apply Motion Module).")],
            outputs=[io.Model.Output(tooltip="The MODEL with these sample settings.")])

    @classmethod
    def execute(cls, model, noise_type, seed_gen, batch_offset, seed_offset, seed_override=None, custom_cfg=None,
                noise_schedule=None):
        noise = NoiseSettings(noise_type, seed_gen, batch_offset, seed_offset, seed_override)
        return io.NodeOutput(attach_sample_settings(model, noise, tuple(custom_cfg or ()), noise_schedule))


def prev_cfg_input():
    return CustomCFG.Input("prev_custom_cfg", optional=True, tooltip="Earlier keyframes to add these to.")


class CustomCFGKeyframe(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_CustomCFG", display_name="Custom CFG", category=CATEGORY,
            description="The guidance scale from start_percent of sampling on (chain several for keyframes), as one "
                        "number or per frame. Replaces the sampler's cfg through 'Sample Settings'.",
            inputs=[io.String.Input("cfg", default="8.0",
                                    tooltip="One number (7.5), or a per-frame schedule interpolated between its "
                                            "frames: 0: 8.0, 15: 4.0 (negative frames count from the end)."),
                    io.Float.Input("start_percent", default=0.0, min=0.0, max=1.0, step=0.001,
                                   tooltip="Fraction of sampling from which this cfg acts (the first keyframe acts "
                                           "from the start)."),
                    io.Int.Input("guarantee_steps", default=1, min=0, max=BIG,
                                 tooltip="Steps this keyframe acts at least before a later one takes over."),
                    prev_cfg_input()],
            outputs=[CustomCFG.Output(display_name="custom_cfg")])

    @classmethod
    def execute(cls, cfg, start_percent, guarantee_steps, prev_custom_cfg=None):
        return io.NodeOutput(add_keyframes(prev_custom_cfg, CFGKeyframe(cfg, start_percent, guarantee_steps)))


class CustomCFGInterpolated(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_CustomCFGInterpolated", display_name="Custom CFG Keyframes (interpolated)",
            category=CATEGORY,
            description="`intervals` cfg keyframes from cfg_start at start_percent to cfg_end at end_percent.",
            inputs=[io.Float.Input("start_percent", default=0.0, min=0.0, max=1.0, step=0.001),
                    io.Float.Input("end_percent", default=1.0, min=0.0, max=1.0, step=0.001),
                    io.Float.Input("cfg_start", default=8.0, min=0.0, max=100.0, step=0.1),
                    io.Float.Input("cfg_end", default=8.0, min=0.0, max=100.0, step=0.1),
                    io.Combo.Input("interpolation", options=list(INTERPOLATIONS), default="linear"),
                    io.Int.Input("intervals", default=50, min=2, max=100, tooltip="Number of keyframes."),
                    prev_cfg_input()],
            outputs=[CustomCFG.Output(display_name="custom_cfg")])

    @classmethod
    def execute(cls, start_percent, end_percent, cfg_start, cfg_end, interpolation, intervals, prev_custom_cfg=None):
        keyframes = interpolated_keyframes(start_percent, end_percent, cfg_start, cfg_end, interpolation, intervals)
        return io.NodeOutput(add_keyframes(prev_custom_cfg, *keyframes))


class CustomCFGFromList(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_CustomCFGFromList", display_name="Custom CFG Keyframes From List", category=CATEGORY,
            description="One cfg keyframe per listed value, spread evenly from start_percent to end_percent.",
            inputs=[io.String.Input("cfgs", default="8.0, 7.0", tooltip="cfg values, e.g. 8.0, 7.5, 7.0."),
                    io.Float.Input("start_percent", default=0.0, min=0.0, max=1.0, step=0.001),
                    io.Float.Input("end_percent", default=1.0, min=0.0, max=1.0, step=0.001),
                    prev_cfg_input()],
            outputs=[CustomCFG.Output(display_name="custom_cfg")])

    @classmethod
    def execute(cls, cfgs, start_percent, end_percent, prev_custom_cfg=None):
        keyframes = list_keyframes(parse_cfg_list(cfgs, "Custom CFG Keyframes From List: cfgs"), start_percent,
                                   end_percent)
        return io.NodeOutput(add_keyframes(prev_custom_cfg, *keyframes))


class EmptyLatentBigBatch(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_EmptyLatentBigBatch", display_name="Empty Latent (Big Batch)", category=CATEGORY,
            description="An empty 4-channel latent of up to 262144 frames (ComfyUI's Empty Latent Image stops at "
                        "4096).",
            inputs=[io.Int.Input("width", default=512, min=16, max=MAX_RESOLUTION, step=8),
                    io.Int.Input("height", default=512, min=16, max=MAX_RESOLUTION, step=8),
                    io.Int.Input("batch_size", default=1, min=1, max=262144, tooltip="Number of frames.")],
            outputs=[io.Latent.Output()])

    @classmethod
    def execute(cls, width, height, batch_size):
        return io.NodeOutput({"samples": torch.zeros([batch_size, 4, height // 8, width // 8],
                                                     device=comfy.model_management.intermediate_device())})


NODES = [SampleSettings, CustomCFGKeyframe, CustomCFGInterpolated, CustomCFGFromList, EmptyLatentBigBatch]
