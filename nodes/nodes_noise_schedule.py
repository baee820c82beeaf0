"""V3 nodes: noise schedules (beta schedule + parameterisation, and combinations of two) for 'Sample Settings' and
SamplerCustom, and a MODEL-in/MODEL-out node that sets a MODEL's schedule and latent scale factor (math in
animatelcm_core.noise_schedule; ComfyUI objects built in nodes/sampling.py)."""
import copy

import torch

import comfy.model_base
import comfy.samplers
from comfy_api.latest import io

from ..animatelcm_core.noise_schedule import INTERPOLATIONS, SAMPLINGS, BaseSchedule, MeanSchedule, SplitSchedule, \
    preset_schedule
from ..animatelcm_core.schedule_names import KEEP
from ..animatelcm_core.schedules import BETA_SCHEDULES, PRESETS, get_preset
from .nodes_motion import CATEGORY
from .nodes_sample_settings import NoiseSchedule
from .sampling import build_model_sampling

SCHEDULE_CATEGORY = f"{CATEGORY}/noise schedule"


def _output():
    return NoiseSchedule.Output(display_name="noise_schedule")


class NoiseSchedulePreset(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_NoiseSchedule", display_name="Noise Schedule", category=SCHEDULE_CATEGORY,
            description="A named noise schedule (beta schedule and parameterisation), ComfyUI-AnimateDiff-Evolved's "
                        "included: lcm_50 = its 'lcm', lcm_100_linear = 'lcm[100_ots]', lcm_50_sqrt_linear = "
                        "'lcm >> sqrt_linear', avg_sqrt_linear_linear, lcm_50_avg, sqrt, cosine, squaredcos_cap_v2.",
            inputs=[io.Combo.Input("schedule", options=list(PRESETS), default="sqrt_linear",
                                   tooltip="; ".join(f"{p.name}: {p.description}" for p in PRESETS.values()))],
            outputs=[_output()])

    @classmethod
    def execute(cls, schedule):
        return io.NodeOutput(preset_schedule(get_preset(schedule)))


class NoiseScheduleRaw(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_NoiseScheduleRaw", display_name="Noise Schedule (raw)", category=SCHEDULE_CATEGORY,
            description="A noise schedule from its parts: beta schedule and range, parameterisation, LCM grid, "
                        "zero terminal SNR.",
            inputs=[io.Combo.Input("beta_schedule", options=list(BETA_SCHEDULES), default="linear",
                                   tooltip="ComfyUI names: linear = scaled-linear (diffusers 'scaled_linear'), "
                                           "sqrt_linear = linear (diffusers 'linear')."),
                    io.Float.Input("linear_start", default=0.00085, min=0.0, max=1.0, step=0.000001),
                    io.Float.Input("linear_end", default=0.012, min=0.0, max=1.0, step=0.000001),
                    io.Combo.Input("sampling", options=list(SAMPLINGS), default="eps"),
                    io.Int.Input("lcm_original_timesteps", default=50, min=1, max=1000,
                                 tooltip="sampling lcm: the distilled grid's number of timesteps."),
                    io.Boolean.Input("zsnr", default=False, tooltip="Rescale to zero terminal SNR.")],
            outputs=[_output()])

    @classmethod
    def execute(cls, beta_schedule, linear_start, linear_end, sampling, lcm_original_timesteps, zsnr):
        ots = lcm_original_timesteps if sampling == "lcm" else None
        return io.NodeOutput(BaseSchedule(beta_schedule, linear_start, linear_end, sampling, ots, zsnr))


def _pair(first: str, second: str) -> list:
    return [NoiseSchedule.Input(first), NoiseSchedule.Input(second)]


class NoiseScheduleMean(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_NoiseScheduleMean", display_name="Noise Schedule Weighted Mean", category=SCHEDULE_CATEGORY,
            description="sigma = weight_a * sigma_a + (1 - weight_a) * sigma_b at every timestep.",
            inputs=[*_pair("schedule_a", "schedule_b"),
                    io.Float.Input("weight_a", default=0.5, min=0.0, max=1.0, step=0.001)],
            outputs=[_output()])

    @classmethod
    def execute(cls, schedule_a, schedule_b, weight_a):
        return io.NodeOutput(MeanSchedule(schedule_a, schedule_b, weight_a, weight_a))


class NoiseScheduleInterpMean(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_NoiseScheduleInterpMean", display_name="Noise Schedule Interpolated Mean",
            category=SCHEDULE_CATEGORY,
            description="A weighted mean whose weight of schedule_a runs from weight_a_start (start of sampling, the "
                        "largest sigma) to weight_a_end.",
            inputs=[*_pair("schedule_a", "schedule_b"),
                    io.Float.Input("weight_a_start", default=0.5, min=0.0, max=1.0, step=0.001),
                    io.Float.Input("weight_a_end", default=0.5, min=0.0, max=1.0, step=0.001),
                    io.Combo.Input("interpolation", options=list(INTERPOLATIONS), default="linear")],
            outputs=[_output()])

    @classmethod
    def execute(cls, schedule_a, schedule_b, weight_a_start, weight_a_end, interpolation):
        return io.NodeOutput(MeanSchedule(schedule_a, schedule_b, weight_a_start, weight_a_end, interpolation, True))


class NoiseScheduleSplit(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_NoiseScheduleSplit", display_name="Noise Schedule Split", category=SCHEDULE_CATEGORY,
            description="The large sigmas (the start of sampling) from schedule_start, the small ones from "
                        "schedule_end, split at split_percent of the timesteps.",
            inputs=[*_pair("schedule_start", "schedule_end"),
                    io.Float.Input("split_percent", default=0.5, min=0.0, max=1.0, step=0.001)],
            outputs=[_output()])

    @classmethod
    def execute(cls, schedule_start, schedule_end, split_percent):
        return io.NodeOutput(SplitSchedule(schedule_start, schedule_end, split_percent))


class NoiseScheduleToSigmas(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_NoiseScheduleToSigmas", display_name="Noise Schedule To Sigmas", category=SCHEDULE_CATEGORY,
            description="SIGMAS of a noise schedule for SamplerCustom, with one of ComfyUI's schedulers.",
            inputs=[NoiseSchedule.Input("noise_schedule"),
                    io.Combo.Input("scheduler", options=list(comfy.samplers.SCHEDULER_NAMES)),
                    io.Int.Input("steps", default=20, min=1, max=10000),
                    io.Float.Input("denoise", default=1.0, min=0.0, max=1.0, step=0.01)],
            outputs=[io.Sigmas.Output()])

    @classmethod
    def execute(cls, noise_schedule, scheduler, steps, denoise):
        total = steps
        if denoise < 1.0:
            if denoise <= 0.0:
                return io.NodeOutput(torch.FloatTensor([]))
            total = int(steps / denoise)
        sigmas = comfy.samplers.calculate_sigmas(build_model_sampling(noise_schedule), scheduler, total).cpu()
        return io.NodeOutput(sigmas[-(steps + 1):])


class ModelSampling(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_ModelSampling", display_name="Model Sampling (noise schedule)", category=CATEGORY,
            description="Sets a MODEL's noise schedule (e.g. right after Load Checkpoint) and optionally the scale "
                        "factor of its latents during sampling. Eps presets follow the model's own prediction type.",
            inputs=[io.Model.Input("model"),
                    io.Combo.Input("schedule", options=[KEEP, *PRESETS], default=KEEP),
                    io.Boolean.Input("use_custom_scale_factor", default=False),
                    io.Float.Input("scale_factor", default=0.18215, min=0.0, max=1.0, step=0.00001,
                                   tooltip="Latent scale factor used inside sampling (SD1.5: 0.18215)."),
                    NoiseSchedule.Input("noise_schedule", optional=True,
                                        tooltip="A noise schedule; wins over the schedule combo.")],
            outputs=[io.Model.Output()])

    @classmethod
    def execute(cls, model, schedule, use_custom_scale_factor, scale_factor, noise_schedule=None):
        m = model.clone()
        if noise_schedule is not None:
            m.add_object_patch("model_sampling", build_model_sampling(noise_schedule))
        elif schedule != KEEP:
            prediction = "v_prediction" if model.model.model_type == comfy.model_base.ModelType.V_PREDICTION else "eps"
            m.add_object_patch("model_sampling", build_model_sampling(preset_schedule(get_preset(schedule)),
                                                                      prediction))
        if use_custom_scale_factor:
            latent_format = copy.copy(m.get_model_object("latent_format"))
            latent_format.scale_factor = scale_factor
            m.add_object_patch("latent_format", latent_format)
        return io.NodeOutput(m)


NODES = [NoiseSchedulePreset, NoiseScheduleRaw, NoiseScheduleMean, NoiseScheduleInterpMean, NoiseScheduleSplit,
         NoiseScheduleToSigmas, ModelSampling]
