"""Model sampling (beta schedule + eps / v / LCM parameterisation) from a preset or a noise-schedule recipe, built
from ComfyUI's own classes, and the official LCM sigmas.

A recipe's base schedule is ComfyUI's ModelSamplingDiscrete (or its LCM-distilled variant) made from its beta
schedule; combinations (mean, interpolated mean, split) and the zero-terminal-SNR rescale are then applied to the
object's sigma table (animatelcm_core.noise_schedule), as ComfyUI-AnimateDiff-Evolved does, so its schedules give
the same sigmas here. ComfyUI cannot build "squaredcos_cap_v2" itself (its beta function returns a NumPy array its
schedule code cannot use): that table comes from the core's formula.
"""
import copy
from dataclasses import replace
from types import SimpleNamespace

import torch

import comfy.model_sampling
from comfy_extras.nodes_model_advanced import LCM, ModelSamplingDiscreteDistilled

from ..animatelcm_core.noise_schedule import BaseSchedule, SplitSchedule, combine, preset_schedule, sigma_table
from ..animatelcm_core.schedule_names import KEEP  # noqa: F401  (re-exported: "keep model's own")
from ..animatelcm_core.schedules import SamplingPreset, lcm_timesteps

PREDICTIONS = {"eps": comfy.model_sampling.EPS, "v_prediction": comfy.model_sampling.V_PREDICTION}
COMFY_BETAS = ("linear", "sqrt_linear", "sqrt", "cosine")  # the beta schedules ComfyUI builds itself


def make_model_sampling(preset: SamplingPreset, prediction: str | None = None):
    """A ComfyUI model_sampling object for `preset` (prediction: "eps" or "v_prediction" for an eps preset)."""
    sampling = build_model_sampling(preset_schedule(preset), prediction)
    sampling.preset = preset  # lets the sampler node find the official LCM timesteps
    return sampling


def build_model_sampling(recipe, prediction: str | None = None):
    """A ComfyUI model_sampling object for a noise-schedule recipe; `prediction` replaces the "eps" of its bases."""
    if isinstance(recipe, BaseSchedule):
        return _base_sampling(recipe, prediction)
    first, second = (recipe.start, recipe.end) if isinstance(recipe, SplitSchedule) else (recipe.a, recipe.b)
    a, b = build_model_sampling(first, prediction), build_model_sampling(second, prediction)
    sampling = copy.deepcopy(a)
    sampling.set_sigmas(combine(recipe, a.sigmas, b.sigmas))
    return sampling


def _base_sampling(recipe: BaseSchedule, prediction: str | None):
    own = recipe.beta_schedule not in COMFY_BETAS
    settings = SimpleNamespace(sampling_settings={"beta_schedule": "linear" if own else recipe.beta_schedule,
                                                  "linear_start": recipe.linear_start,
                                                  "linear_end": recipe.linear_end})
    if recipe.sampling == "lcm":
        ots = recipe.original_timesteps
        cls = type(f"AnimateLCMSampling{ots}", (ModelSamplingDiscreteDistilled, LCM), {"original_timesteps": ots})
    else:
        kind = prediction if prediction and recipe.sampling == "eps" else recipe.sampling
        cls = type(f"AnimateDiffSampling_{kind}", (comfy.model_sampling.ModelSamplingDiscrete, PREDICTIONS[kind]), {})
    sampling = cls(settings)
    if own:
        sampling.set_sigmas(sigma_table(replace(recipe, zsnr=False)))
    if recipe.zsnr:
        sampling.set_sigmas(comfy.model_sampling.rescale_zero_terminal_snr_sigmas(sampling.sigmas))
    return sampling


def apply_model_sampling(model, preset: SamplingPreset):
    m = model.clone()
    m.add_object_patch("model_sampling", make_model_sampling(preset))
    return m


def lcm_sigmas(model_sampling, steps: int, denoise: float = 1.0) -> torch.Tensor:
    """Sigmas at the official LCM timesteps (spec §6) for an LCM-distilled model_sampling, then 0."""
    original_timesteps = getattr(model_sampling, "original_timesteps", None)
    if not isinstance(model_sampling, LCM) or original_timesteps is None:
        raise ValueError("The MODEL does not use AnimateLCM sampling; set model_sampling on the 'Apply Motion Module' "
                         "node to an lcm preset, or use KSampler with the lcm sampler and sgm_uniform scheduler.")
    timesteps = lcm_timesteps(steps, original_timesteps, denoise)
    sigmas = model_sampling.sigma(torch.tensor(timesteps, dtype=torch.float32))
    return torch.cat([sigmas.float().cpu(), torch.zeros(1)])
