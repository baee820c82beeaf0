"""V3 node classes: load motion modules and MotionLoRAs, inflate a MODEL, sample with the AnimateLCM schedule."""
import comfy.sample
import comfy.samplers
import comfy.utils
import folder_paths
import latent_preview
from comfy_api.latest import io

from ..animatelcm_core.schedule_names import AUTO_ADE
from ..animatelcm_core.schedules import AUTO, PRESETS, select_preset
from .inflate import MotionSettings, inflate
from .motion_model import MOTION_LORAS, MOTION_MODELS, load_motion_lora_file, load_motion_model_handle
from .sampling import KEEP, apply_model_sampling, lcm_sigmas

CATEGORY = "AnimateLCM"
MotionModel = io.Custom("ALCM_MOTION_MODEL")
MotionKeyframes = io.Custom("ALCM_MOTION_KEYFRAMES")
Multival = io.Custom("ALCM_MULTIVAL")
SAMPLING_CHOICES = [AUTO, AUTO_ADE, *PRESETS, KEEP]


def percent_range_inputs(what: str) -> list:
    """start_percent / end_percent inputs: the part of sampling during which `what` acts."""
    return [io.Float.Input("start_percent", default=0.0, min=0.0, max=1.0, step=0.001,
                           tooltip=f"Fraction of sampling after which {what} starts acting."),
            io.Float.Input("end_percent", default=1.0, min=0.0, max=1.0, step=0.001,
                           tooltip=f"Fraction of sampling after which {what} stops acting.")]


def check_percent_range(start_percent: float, end_percent: float) -> None:
    if start_percent > end_percent:
        raise ValueError(f"start_percent ({start_percent}) must not be above end_percent ({end_percent}).")


class LoadMotionModel(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_LoadMotionModel", display_name="Load Motion Module", category=CATEGORY,
            description="Loads an AnimateDiff / AnimateLCM motion module (v1, v2, v3, SDXL beta, HotshotXL, AnimateLCM "
                        "T2V/I2V, diffusers MotionAdapter) from models/animatediff_models and detects its family.",
            inputs=[io.Combo.Input("model_name", options=folder_paths.get_filename_list(MOTION_MODELS),
                                   tooltip="Motion-module file in models/animatediff_models (or this pack's models/ folder).")],
            outputs=[MotionModel.Output(display_name="motion_model", tooltip="The motion module and its detected family.")])

    @classmethod
    def execute(cls, model_name):
        return io.NodeOutput(load_motion_model_handle(model_name))


class ApplyMotionLoRA(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_ApplyMotionLoRA", display_name="Apply MotionLoRA", category=CATEGORY,
            description="Adds a MotionLoRA (camera motion such as zoom, pan, tilt, roll) to a motion module. Chain "
                        "several to combine them; each keeps its own strength. The input motion module is not changed.",
            inputs=[MotionModel.Input("motion_model", tooltip="Motion module to add the MotionLoRA to."),
                    io.Combo.Input("lora_name", options=folder_paths.get_filename_list(MOTION_LORAS),
                                   tooltip="MotionLoRA file in models/animatediff_motion_lora."),
                    io.Float.Input("strength", default=1.0, min=-10.0, max=10.0, step=0.01,
                                   tooltip="Weight of the LoRA: W + strength * up @ down. 0 disables it.")],
            outputs=[MotionModel.Output(display_name="motion_model", tooltip="The motion module with the LoRA added.")])

    @classmethod
    def execute(cls, motion_model, lora_name, strength):
        return io.NodeOutput(motion_model.with_lora(load_motion_lora_file(lora_name), strength))


class ApplyMotionModel(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_ApplyMotionModel", display_name="Apply Motion Module", category=CATEGORY,
            description="Inflates an SD1.5/SDXL MODEL into a video model: temporal attention over the frames of a "
                        "frame-batched latent (batch = frames). Returns a new MODEL; the input MODEL is not changed. "
                        "Apply it again to the result to stack another motion module (each with its own settings; "
                        "they run in the order applied).",
            inputs=[io.Model.Input("model", tooltip="SD1.5 or SDXL model (any personalized checkpoint)."),
                    MotionModel.Input("motion_model", tooltip="From 'Load Motion Module' (optionally with MotionLoRAs)."),
                    io.Combo.Input("model_sampling", options=SAMPLING_CHOICES, default=AUTO,
                                   tooltip="Beta schedule and parameterisation. 'auto' picks the motion module's own: "
                                           "lcm (AnimateLCM T2V: sqrt_linear, 100 original steps), lcm_i2v "
                                           "(sqrt_linear to 0.014, 200 steps), sqrt_linear (AnimateDiff SD1.5), "
                                           "linear_sdxl (SDXL beta), linear (HotshotXL)."),
                    io.Float.Input("effect", default=1.0, min=0.0, max=1.0, step=0.01,
                                   tooltip="Blend of motion: 0 = plain image model, 1 = full motion module. "
                                           "Multiplied by effect_multival and the keyframes' effect."),
                    io.Float.Input("scale", default=1.0, min=0.0, max=10.0, step=0.01,
                                   tooltip="Multiplies the temporal attention keys; below 1 gives softer, above 1 "
                                           "sharper frame-to-frame attention. Multiplied by scale_multival and the "
                                           "keyframes' scale."),
                    *percent_range_inputs("the motion module"),
                    MotionKeyframes.Input("keyframes", optional=True,
                                          tooltip="'Motion Keyframe' chain: effect and scale per frame and over "
                                                  "sampling; they multiply the effect and scale above."),
                    Multival.Input("scale_multival", optional=True,
                                   tooltip="'Multival' node: scale as one number, per frame, or per pixel from a "
                                           "mask; multiplies the scale above."),
                    Multival.Input("effect_multival", optional=True,
                                   tooltip="'Multival' node: effect as one number, per frame, or per pixel from a "
                                           "mask; multiplies the effect above.")],
            outputs=[io.Model.Output(tooltip="The inflated MODEL; use it with KSampler (sampler lcm for AnimateLCM) "
                                             "or the AnimateLCM Sampler.")])

    @classmethod
    def execute(cls, model, motion_model, model_sampling, effect, scale, start_percent, end_percent, keyframes=None,
                scale_multival=None, effect_multival=None):
        check_percent_range(start_percent, end_percent)
        settings = MotionSettings(effect, scale, start_percent, end_percent, tuple(keyframes or ()),
                                  effect_multival=effect_multival, scale_multival=scale_multival)
        m = inflate(model, motion_model, settings)
        if model_sampling != KEEP:
            m = apply_model_sampling(m, select_preset(model_sampling, motion_model.config.sampling))
        return io.NodeOutput(m)


class LCMSigmas(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_LCMSigmas", display_name="AnimateLCM Sigmas", category=CATEGORY,
            description="Sigmas at the official AnimateLCM timesteps (e.g. 999, 749, 499, 249 for 4 steps), for "
                        "SamplerCustom with the lcm sampler.",
            inputs=[io.Model.Input("model", tooltip="A MODEL with AnimateLCM model sampling (from Apply Motion Module)."),
                    io.Int.Input("steps", default=4, min=1, max=50, tooltip="Number of LCM steps (4 is typical)."),
                    io.Float.Input("denoise", default=1.0, min=0.0, max=1.0, step=0.01,
                                   tooltip="Below 1 starts from a partly noised input (video-to-video).")],
            outputs=[io.Sigmas.Output()])

    @classmethod
    def execute(cls, model, steps, denoise):
        return io.NodeOutput(lcm_sigmas(model.get_model_object("model_sampling"), steps, denoise))


class AnimateLCMSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_Sampler", display_name="AnimateLCM Sampler", category=CATEGORY,
            description="One-node AnimateLCM sampling: the lcm sampler at the official LCM timesteps, 4 steps, cfg 1.",
            inputs=[io.Model.Input("model", tooltip="The inflated MODEL with AnimateLCM model sampling."),
                    io.Int.Input("seed", default=0, min=0, max=0xffffffffffffffff, control_after_generate=True,
                                 tooltip="Seed of the initial noise."),
                    io.Int.Input("steps", default=4, min=1, max=50, tooltip="LCM steps: 4 usually, 6-8 for more detail."),
                    io.Float.Input("cfg", default=1.0, min=0.0, max=10.0, step=0.1,
                                   tooltip="Guidance; 1 skips the negative pass (half the cost). AnimateLCM works at 1-2."),
                    io.Conditioning.Input("positive", tooltip="Prompt conditioning."),
                    io.Conditioning.Input("negative", tooltip="Negative conditioning (unused at cfg 1)."),
                    io.Latent.Input("latent_image", tooltip="Frame-batched latent: batch size = number of frames."),
                    io.Float.Input("denoise", default=1.0, min=0.0, max=1.0, step=0.01,
                                   tooltip="Below 1 keeps part of the input latent (video-to-video).")],
            outputs=[io.Latent.Output()])

    @classmethod
    def execute(cls, model, seed, steps, cfg, positive, negative, latent_image, denoise):
        latent = comfy.sample.fix_empty_latent_channels(model, latent_image["samples"])
        sigmas = lcm_sigmas(model.get_model_object("model_sampling"), steps, denoise)
        noise = comfy.sample.prepare_noise(latent, seed, latent_image.get("batch_index"))
        samples = comfy.sample.sample_custom(
            model, noise, cfg, comfy.samplers.sampler_object("lcm"), sigmas, positive, negative, latent,
            noise_mask=latent_image.get("noise_mask"), callback=latent_preview.prepare_callback(model, steps),
            disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=seed)
        return io.NodeOutput({**latent_image, "samples": samples})


NODES = [LoadMotionModel, ApplyMotionLoRA, ApplyMotionModel, LCMSigmas, AnimateLCMSampler]
