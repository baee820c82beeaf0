"""Model sampling (beta schedule + eps/LCM parameterisation) from a preset, and the official LCM sigmas."""
from types import SimpleNamespace

import torch

import comfy.model_sampling
from comfy_extras.nodes_model_advanced import LCM, ModelSamplingDiscreteDistilled

from ..animatelcm_core.schedules import SamplingPreset, lcm_timesteps

KEEP = "keep model's own"


def make_model_sampling(preset: SamplingPreset):
    """A ComfyUI model_sampling object for `preset`, built from ComfyUI's own EPS / LCM classes."""
    settings = SimpleNamespace(sampling_settings={"beta_schedule": preset.beta_schedule,
                                                  "linear_start": preset.linear_start,
                                                  "linear_end": preset.linear_end})
    if preset.sampling == "lcm":
        cls = type(f"AnimateLCMSampling{preset.original_timesteps}", (ModelSamplingDiscreteDistilled, LCM),
                   {"original_timesteps": preset.original_timesteps})
    else:
        cls = type("AnimateDiffSampling", (comfy.model_sampling.ModelSamplingDiscrete, comfy.model_sampling.EPS), {})
    sampling = cls(settings)
    sampling.preset = preset  # lets the sampler node find the official LCM timesteps
    return sampling


def apply_model_sampling(model, preset: SamplingPreset):
    m = model.clone()
    m.add_object_patch("model_sampling", make_model_sampling(preset))
    return m


def lcm_sigmas(model_sampling, steps: int, denoise: float = 1.0) -> torch.Tensor:
    """Sigmas at the official LCM timesteps (spec §6) for an LCM-distilled model_sampling, then 0."""
    preset = getattr(model_sampling, "preset", None)
    if preset is None or preset.sampling != "lcm":
        raise ValueError("The MODEL does not use AnimateLCM sampling; set model_sampling on the 'Apply Motion Module' "
                         "node to an lcm preset, or use KSampler with the lcm sampler and sgm_uniform scheduler.")
    timesteps = lcm_timesteps(steps, preset.original_timesteps, denoise)
    sigmas = model_sampling.sigma(torch.tensor(timesteps, dtype=torch.float32))
    return torch.cat([sigmas.float().cpu(), torch.zeros(1)])
