"""Beta schedules, sampling presets and LCM sampling math (spec formats.md §6, §7).

Naming follows ComfyUI: "linear" = linspace(sqrt(start), sqrt(end))**2 (diffusers "scaled_linear");
"sqrt_linear" = linspace(start, end) (diffusers "linear"); "sqrt" = linspace(start, end)**0.5; "cosine" = Nichol &
Dhariwal's cosine schedule (s = 0.008); "squaredcos_cap_v2" = the same alpha-bar discretised per step with betas
capped at 0.999 (diffusers' name). The presets cover ComfyUI-AnimateDiff-Evolved's beta schedules too (its names:
schedule_names.ADE_BETA_NAMES).
"""
import math
from dataclasses import dataclass

import torch

from .schedule_names import ADE_AUTOSELECT, AUTO, AUTO_ADE

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
    average_with: str | None = None  # a second beta schedule: the sigma tables of both are averaged


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
    # ComfyUI-AnimateDiff-Evolved's other beta schedules (its "lcm" is lcm_50 above)
    SamplingPreset("lcm_100_linear", "linear", 0.00085, 0.012, "lcm", 100,
                   description="scaled-linear betas, LCM with 100 original timesteps (ADE 'lcm[100_ots]')"),
    SamplingPreset("lcm_25_linear", "linear", 0.00085, 0.012, "lcm", 25,
                   description="scaled-linear betas, LCM with 25 original timesteps (ADE 'lcm[25_ots]')"),
    SamplingPreset("lcm_50_sqrt_linear", "sqrt_linear", 0.00085, 0.012, "lcm", 50,
                   description="sqrt_linear betas, LCM with 50 original timesteps (ADE 'lcm >> sqrt_linear')"),
    SamplingPreset("avg_sqrt_linear_linear", "linear", 0.00085, 0.012, "eps", average_with="sqrt_linear",
                   description="mean of the linear and sqrt_linear sigma tables (ADE 'avg(sqrt_linear,linear)')"),
    SamplingPreset("lcm_50_avg", "linear", 0.00085, 0.012, "lcm", 50, average_with="sqrt_linear",
                   description="mean of the lcm_50 and lcm_50_sqrt_linear sigma tables "
                               "(ADE 'lcm avg(sqrt_linear,linear)')"),
    SamplingPreset("sqrt", "sqrt", 0.00085, 0.012, "eps", description="betas linspace(start, end)**0.5 (ADE 'sqrt')"),
    SamplingPreset("cosine", "cosine", 0.00085, 0.012, "eps",
                   description="Nichol & Dhariwal cosine schedule, s = 0.008 (ADE 'cosine')"),
    SamplingPreset("squaredcos_cap_v2", "squaredcos_cap_v2", 0.00085, 0.012, "eps",
                   description="cosine alpha-bar discretised per step, betas capped at 0.999"),
]}
BETA_SCHEDULES = ("linear", "sqrt_linear", "sqrt", "cosine", "squaredcos_cap_v2")
COSINE_S = 0.008
MAX_BETA = 0.999


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
        raise ValueError(f"Unknown sampling preset '{name}'; expected one of {', '.join(PRESETS)}, '{AUTO}' or "
                         f"'{AUTO_ADE}'.")
    return PRESETS[name]


def select_preset(choice: str, recommended: str) -> SamplingPreset:
    """`choice` "auto" picks the motion model's recommended preset, "auto (ADE)" the one ComfyUI-AnimateDiff-Evolved's
    autoselect picks for that family; any other name overrides it."""
    if choice == AUTO:
        return get_preset(recommended)
    if choice == AUTO_ADE:
        return get_preset(ADE_AUTOSELECT.get(recommended, recommended))
    return get_preset(choice)


def make_betas(schedule: str, start: float, end: float, steps: int = 1000) -> torch.Tensor:
    """Betas in float64, ComfyUI naming (module docstring)."""
    if schedule == "linear":
        return torch.linspace(start ** 0.5, end ** 0.5, steps, dtype=torch.float64) ** 2
    if schedule == "sqrt_linear":
        return torch.linspace(start, end, steps, dtype=torch.float64)
    if schedule == "sqrt":
        return torch.linspace(start, end, steps, dtype=torch.float64) ** 0.5
    if schedule == "cosine":
        return _cosine_betas(steps)
    if schedule == "squaredcos_cap_v2":
        return _alpha_bar_betas(steps)
    raise ValueError(f"Unknown beta schedule '{schedule}'; expected one of {', '.join(BETA_SCHEDULES)}.")


def _cosine_betas(steps: int) -> torch.Tensor:
    """Nichol & Dhariwal 2021, eq. 17: abar(t) = f(t)/f(0), f(t) = cos(((t/T + s)/(1 + s)) * pi/2)**2 on t = 0..T;
    beta_t = 1 - abar(t)/abar(t-1), clipped to [0, 0.999]."""
    f = torch.cos((torch.arange(steps + 1, dtype=torch.float64) / steps + COSINE_S) / (1 + COSINE_S) * math.pi / 2) ** 2
    abar = f / f[0]
    return (1 - abar[1:] / abar[:-1]).clamp(0, MAX_BETA)


def _alpha_bar_betas(steps: int) -> torch.Tensor:
    """diffusers' squaredcos_cap_v2: beta_i = min(1 - f((i+1)/T) / f(i/T), 0.999), f the cosine alpha-bar above."""
    def f(t: float) -> float:
        return math.cos((t + COSINE_S) / (1 + COSINE_S) * math.pi / 2) ** 2
    return torch.tensor([min(1 - f((i + 1) / steps) / f(i / steps), MAX_BETA) for i in range(steps)],
                        dtype=torch.float64)


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
