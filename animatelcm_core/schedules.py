"""Beta schedules and LCM sampling math (spec formats.md §6, §7).

Naming follows ComfyUI: "linear" = linspace(sqrt(start), sqrt(end))**2 (diffusers "scaled_linear");
"sqrt_linear" = linspace(start, end) (diffusers "linear").
"""
from dataclasses import dataclass

import torch

SIGMA_DATA = 0.5
TIMESTEP_SCALING = 10.0


@dataclass(frozen=True)
class SamplingPreset:
    name: str
    beta_schedule: str  # ComfyUI naming
    linear_start: float
    linear_end: float
    sampling: str  # "eps" or "lcm"
    original_timesteps: int = 1000  # LCM distilled grid size (only for "lcm")
    description: str = ""


PRESETS = {p.name: p for p in [
    SamplingPreset("sqrt_linear", "sqrt_linear", 0.00085, 0.012, "eps",
                   description="AnimateDiff v1/v2/v3 (diffusers 'linear' betas)"),
    SamplingPreset("linear", "linear", 0.00085, 0.012, "eps",
                   description="ComfyUI SD1.5/SDXL default; HotshotXL"),
    SamplingPreset("linear_sdxl", "linear", 0.00085, 0.020, "eps",
                   description="AnimateDiff SDXL beta (scaled-linear betas ending at 0.020)"),
    SamplingPreset("lcm", "sqrt_linear", 0.00085, 0.012, "lcm", 100,
                   description="AnimateLCM T2V official: sqrt_linear betas, 100 original timesteps"),
    SamplingPreset("lcm_i2v", "sqrt_linear", 0.00085, 0.014, "lcm", 200,
                   description="AnimateLCM-I2V official: sqrt_linear betas ending at 0.014, 200 original timesteps"),
    SamplingPreset("lcm_50", "linear", 0.00085, 0.012, "lcm", 50,
                   description="ComfyUI's built-in LCM (scaled-linear betas, 50 original timesteps)"),
    SamplingPreset("lightning", "sqrt_linear", 0.00085, 0.012, "eps",
                   description="AnimateDiff-Lightning (distilled from AnimateDiff v2): its model card's betas "
                               "(diffusers 'linear'); sample with LIGHTNING_SAMPLER"),
]}
AUTO = "auto"


@dataclass(frozen=True)
class SamplerSettings:
    """KSampler settings a distilled motion module expects (ComfyUI names)."""
    sampler: str
    scheduler: str
    cfg: float
    steps: tuple[int, ...]  # the step counts that have a distilled file each; use the file's own count
    description: str = ""


# AnimateDiff-Lightning model card (ByteDance/AnimateDiff-Lightning): diffusers EulerDiscreteScheduler with
# timestep_spacing="trailing" and beta_schedule="linear", guidance_scale 1.0, num_inference_steps = the file's step
# count (files for 1, 2, 4, 8 steps); its ComfyUI workflow: KSampler euler + sgm_uniform, cfg 1, sqrt_linear betas.
# A Lightning file has the v2 key layout, so "auto" cannot recognise it: pick the "lightning" preset explicitly.
LIGHTNING_SAMPLER = SamplerSettings("euler", "sgm_uniform", 1.0, (1, 2, 4, 8),
                                    description="AnimateDiff-Lightning: euler, trailing timesteps (sgm_uniform), "
                                                "cfg 1, steps = the file's step count")


def get_preset(name: str) -> SamplingPreset:
    if name not in PRESETS:
        raise ValueError(f"Unknown sampling preset '{name}'; expected one of {', '.join(PRESETS)} or '{AUTO}'.")
    return PRESETS[name]


def select_preset(choice: str, recommended: str) -> SamplingPreset:
    """`choice` "auto" picks the motion model's recommended preset; any other name overrides it."""
    return get_preset(recommended if choice == AUTO else choice)


def make_betas(schedule: str, start: float, end: float, steps: int = 1000) -> torch.Tensor:
    """Betas in float64, ComfyUI naming."""
    if schedule == "linear":
        return torch.linspace(start ** 0.5, end ** 0.5, steps, dtype=torch.float64) ** 2
    if schedule == "sqrt_linear":
        return torch.linspace(start, end, steps, dtype=torch.float64)
    raise ValueError(f"Unknown beta schedule '{schedule}'; expected 'linear' or 'sqrt_linear'.")


def alphas_cumprod(betas: torch.Tensor) -> torch.Tensor:
    return torch.cumprod(1.0 - betas, dim=0)


def sigmas_from_alphas_cumprod(acp: torch.Tensor) -> torch.Tensor:
    """sigma = sqrt((1 - abar) / abar), the EPS-parameterised noise level."""
    return ((1 - acp) / acp) ** 0.5


def lcm_timesteps(steps: int, original_steps: int, denoise: float = 1.0, train_steps: int = 1000) -> list[int]:
    """LCM scheduler timesteps: the distilled grid `[1..ots]*k - 1` (its first `ots*denoise` entries for img2img),
    reversed, then `steps` entries picked at `floor(linspace(0, len, steps, endpoint=False))`."""
    k = train_steps // original_steps
    grid = [(i + 1) * k - 1 for i in range(int(original_steps * denoise))][::-1]
    if not 1 <= steps <= len(grid):
        raise ValueError(f"steps must be between 1 and {len(grid)} ({original_steps} original timesteps at "
                         f"denoise {denoise:g}), got {steps}.")
    return [grid[int(i * len(grid) / steps)] for i in range(steps)]


def lcm_boundary_scalings(timestep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Consistency-model boundary conditions c_skip, c_out (LCM, sigma_data 0.5, timestep scaling 10)."""
    s = timestep * TIMESTEP_SCALING
    c_skip = SIGMA_DATA ** 2 / (s ** 2 + SIGMA_DATA ** 2)
    c_out = s / (s ** 2 + SIGMA_DATA ** 2) ** 0.5
    return c_skip, c_out
