"""Noise schedules as recipes: a beta schedule with its parameterisation, and the ways ComfyUI-AnimateDiff-Evolved
lets users combine two of them (weighted mean, interpolated mean, split), applied to the model-sampling sigma table.

The sigma table of a schedule is what a ComfyUI model_sampling holds: sigma_t = sqrt((1 - abar_t) / abar_t) for the
1000 training timesteps, or, for an LCM-distilled schedule with N original timesteps, the N sigmas at timesteps
999 - k * (1000 // N), k = N-1 .. 0 (ascending). Combinations act on those tables entry by entry, so both tables must
have the same length. `sigma_table` computes a recipe's table here from the formulas; the ComfyUI glue builds the
same table with ComfyUI's own model-sampling classes and applies the combinations with the functions below.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .schedules import BETA_SCHEDULES, SamplingPreset, alphas_cumprod, make_betas, sigmas_from_alphas_cumprod

SAMPLINGS = ("eps", "v_prediction", "lcm")
INTERPOLATIONS = ("linear", "ease_in", "ease_out", "ease_in_out")
ZSNR_LAST_ALPHA_BAR = 4.8973451890853435e-08  # ComfyUI's stand-in for abar_T = 0, so that sigma_T stays finite


@dataclass(frozen=True)
class BaseSchedule:
    beta_schedule: str
    linear_start: float = 0.00085
    linear_end: float = 0.012
    sampling: str = "eps"
    original_timesteps: int | None = None  # LCM distilled grid (sampling "lcm" only)
    zsnr: bool = False  # rescaled to zero terminal SNR (applied to the final table, distilled or not)

    def __post_init__(self):
        if self.beta_schedule not in BETA_SCHEDULES:
            raise ValueError(f"Unknown beta schedule '{self.beta_schedule}'; expected one of {', '.join(BETA_SCHEDULES)}.")
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"Unknown sampling '{self.sampling}'; expected one of {', '.join(SAMPLINGS)}.")
        if self.sampling == "lcm" and not (isinstance(self.original_timesteps, int) and 1 <= self.original_timesteps <= 1000):
            raise ValueError(f"lcm_original_timesteps must be an integer in [1, 1000], got {self.original_timesteps!r}.")
        if not (0.0 <= self.linear_start <= 1.0 and 0.0 <= self.linear_end <= 1.0):
            raise ValueError(f"linear_start and linear_end must lie in [0, 1], got {self.linear_start}, {self.linear_end}.")

    @property
    def table_length(self) -> int:
        return self.original_timesteps if self.sampling == "lcm" else 1000


@dataclass(frozen=True)
class MeanSchedule:
    """a * w + b * (1 - w) entry by entry: w = weight_start everywhere, or (`interpolated`) w runs from weight_start
    at the start of sampling (the largest sigma) to weight_end at its end (`interpolation`)."""
    a: "Schedule"
    b: "Schedule"
    weight_start: float
    weight_end: float
    interpolation: str = "linear"
    interpolated: bool = False

    def __post_init__(self):
        check_same_length(self.a, self.b, "schedule_a", "schedule_b")
        check_interpolation(self.interpolation)

    @property
    def sampling(self) -> str:
        return self.a.sampling

    @property
    def table_length(self) -> int:
        return self.a.table_length


@dataclass(frozen=True)
class SplitSchedule:
    """The largest sigmas (the start of sampling) from `start`, the rest from `end`, split at `percent` of the table."""
    start: "Schedule"
    end: "Schedule"
    percent: float

    def __post_init__(self):
        check_same_length(self.start, self.end, "schedule_start", "schedule_end")

    @property
    def sampling(self) -> str:
        return self.start.sampling

    @property
    def table_length(self) -> int:
        return self.start.table_length


Schedule = BaseSchedule | MeanSchedule | SplitSchedule


def preset_schedule(preset: SamplingPreset) -> Schedule:
    """The recipe of a sampling preset (an averaged preset is the plain mean of two tables)."""
    ots = preset.original_timesteps if preset.sampling == "lcm" else None
    base = BaseSchedule(preset.beta_schedule, preset.linear_start, preset.linear_end, preset.sampling, ots)
    if preset.average_with is None:
        return base
    other = BaseSchedule(preset.average_with, preset.linear_start, preset.linear_end, preset.sampling, ots)
    return MeanSchedule(base, other, 0.5, 0.5)


def check_same_length(a: Schedule, b: Schedule, name_a: str, name_b: str) -> None:
    if a.table_length != b.table_length:
        raise ValueError(f"{name_a} has {a.table_length} sigmas and {name_b} has {b.table_length}: schedules can "
                         f"only be combined when their sigma tables have the same length (an LCM schedule has one "
                         f"sigma per original timestep, any other 1000).")


def check_interpolation(method: str) -> None:
    if method not in INTERPOLATIONS:
        raise ValueError(f"Unknown interpolation '{method}'; expected one of {', '.join(INTERPOLATIONS)}.")


def full_sigmas(beta_schedule: str, linear_start: float, linear_end: float) -> torch.Tensor:
    """The 1000 training sigmas (float64) of a beta schedule."""
    return sigmas_from_alphas_cumprod(alphas_cumprod(make_betas(beta_schedule, linear_start, linear_end)))


def distill(sigmas: torch.Tensor, original_timesteps: int) -> torch.Tensor:
    """The sigmas of an LCM-distilled grid: timesteps T-1 - k * (T // N) for k = N-1 .. 0 (ascending)."""
    total = sigmas.shape[0]
    skip = total // original_timesteps
    index = torch.tensor([total - 1 - k * skip for k in reversed(range(original_timesteps))])
    return sigmas[index]


def zero_terminal_snr(sigmas: torch.Tensor) -> torch.Tensor:
    """Lin et al. 2024 ("Common Diffusion Noise Schedules and Sample Steps are Flawed"), Algorithm 1, on sigmas:
    sqrt(abar) shifted so its last entry is 0 and scaled so its first is unchanged; the last abar is then set to a
    tiny positive number (as ComfyUI does) so the largest sigma stays finite."""
    root = (1 / (sigmas * sigmas + 1)).sqrt()
    first, last = root[0].clone(), root[-1].clone()
    root = (root - last) * (first / (first - last))
    abar = root ** 2
    abar[-1] = ZSNR_LAST_ALPHA_BAR
    return ((1 - abar) / abar) ** 0.5


def interpolation_weights(start: float, end: float, length: int, method: str, reverse: bool = False) -> torch.Tensor:
    """`length` float32 values from `start` to `end`: linear, or eased over u = linspace(0, 1): ease_in u**2,
    ease_out 1 - (1 - u)**2, ease_in_out (1 - cos(pi u)) / 2. `reverse` gives them last to first."""
    check_interpolation(method)
    if method == "linear":
        weights = torch.linspace(start, end, length)
    else:
        u = torch.linspace(0, 1, length)
        eased = {"ease_in": lambda: u ** 2, "ease_out": lambda: 1 - (1 - u) ** 2,
                 "ease_in_out": lambda: (1 - torch.cos(u * math.pi)) / 2}[method]()
        weights = (end - start) * eased + start
    return weights.flip(0) if reverse else weights


def weighted_mean(a: torch.Tensor, b: torch.Tensor, weight: float) -> torch.Tensor:
    return a * weight + b * (1 - weight)


def interpolated_mean(a: torch.Tensor, b: torch.Tensor, weight_start: float, weight_end: float,
                      method: str) -> torch.Tensor:
    """weight_start applies at the start of sampling (the largest sigma, the table's last entry), weight_end at
    its end."""
    weights = interpolation_weights(weight_start, weight_end, a.shape[0], method, reverse=True).to(a)
    return a * weights + b * (1.0 - weights)


def split_combine(start: torch.Tensor, end: torch.Tensor, percent: float) -> torch.Tensor:
    """`end`'s first int((1 - percent) * len) entries (small sigmas: the end of sampling), `start`'s after them."""
    index = int((1.0 - percent) * start.shape[0])
    return torch.cat([end[:index], start[index:]])


def combine(recipe: MeanSchedule | SplitSchedule, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """The table of a combination from the tables of its two schedules (a, b or start, end)."""
    if isinstance(recipe, SplitSchedule):
        return split_combine(first, second, recipe.percent)
    if recipe.interpolated:
        return interpolated_mean(first, second, recipe.weight_start, recipe.weight_end, recipe.interpolation)
    return weighted_mean(first, second, recipe.weight_start)


def sigma_table(recipe: Schedule) -> torch.Tensor:
    """A recipe's sigma table (float32), from the formulas alone."""
    if isinstance(recipe, BaseSchedule):
        sigmas = full_sigmas(recipe.beta_schedule, recipe.linear_start, recipe.linear_end).float()
        if recipe.sampling == "lcm":
            sigmas = distill(sigmas, recipe.original_timesteps)
        return zero_terminal_snr(sigmas) if recipe.zsnr else sigmas
    first, second = (recipe.start, recipe.end) if isinstance(recipe, SplitSchedule) else (recipe.a, recipe.b)
    return combine(recipe, sigma_table(first), sigma_table(second)).float()
