"""FreeInit spatio-temporal frequency filters and noise reinitialisation (Wu et al., "FreeInit: Bridging
Initialization Gap in Video Diffusion Models", ECCV 2024, arXiv 2312.07537, section "Noise Reinitialization").

Layout: a video latent is frames-first (F, C, H, W), as ComfyUI batches video (batch = frames); (B, F, C, H, W) and a
bare (F, H, W) volume work too. The 3D FFT runs over (frames, H, W) with the zero frequency shifted to the centre
(fftshift), as in the paper: FFT_3D(x) below means fftshift(fftn(x, dims=(frames, H, W))).

Frequencies: along an axis of n samples, the centred index k (0..n-1) has the normalised frequency
    f(k) = 2 (k - floor(n/2)) / n            (DC at k = floor(n/2) has f = 0; f spans [-1, 1))
and the filter distance, with spatial stop frequency d_s and temporal stop frequency d_t, is
    D^2 = (d_s / d_t * f_t)^2 + f_h^2 + f_w^2
so the stop "radius" is d_s along H and W and d_t along frames. Masks (values in [0, 1], 1 at DC):
    gaussian     H = exp(-D^2 / (2 d_s^2))                 (= exp(-f_t^2/(2 d_t^2) - (f_h^2 + f_w^2)/(2 d_s^2)))
    butterworth  H = 1 / (1 + (D^2 / d_s^2)^n)              (= 1 / (1 + (D/d_s)^(2n)); 1/2 at D = d_s)
    ideal        H = 1 where D <= d_s, else 0               (the n -> infinity limit of butterworth)
    box          H = 1 where |f_t| <= d_t and |f_h| <= d_s and |f_w| <= d_s, else 0
These are the official FreeInit formulas (its distance uses 2k/n - 1, which is f(k) for every even n) with three
deliberate differences: an odd-sized axis is centred on its DC sample (2k/n - 1 puts DC at -1/n, so the mask is
below 1 at DC and not symmetric); "ideal" tests D <= d_s (the official code compares D^2 with 2 d_s); "box" is
symmetric about DC (the official box spans [c - r, c + r)). Every mask is thus symmetric, H(f) = H(-f), so low_pass
and high_pass of a real signal are real and split it exactly.

Noise reinitialisation (paper, "Noise Reinitialization"):
    F_L = FFT_3D(z_T) * H,    F_H = FFT_3D(eta) * (1 - H),    z'_T = IFFT_3D(F_L + F_H)          -> freq_mix
with z_T the sampled latent diffused back to the first timestep (paper, DDPM forward, same noise eps as the first
pass): z_T = sqrt(abar_T) z_0 + sqrt(1 - abar_T) eps. ComfyUI's EPS models sample x = z / sqrt(abar) with
sigma = sqrt((1 - abar) / abar), so z_T / sqrt(abar_T) = z_0 + sigma eps -> renoise(z_0, eps, sigma), and
abar = 1 / (1 + sigma^2) -> alpha_bar. reinit_noise returns z'_T itself, unit-variance noise: ComfyUI starts a full
denoise (first sigma = sigma_max) at x_T = sqrt(1 + sigma^2) * noise (model_sampling noise_scaling with
max_denoise), which is exactly z'_T / sqrt(abar_T), the paper's next initial latent in ComfyUI's scale. (A pass
that is not a full denoise starts at latent + sigma * noise, i.e. renoise itself; the paper only covers full ones.)
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence

import torch

from .errors import NoiseInitError

Grid = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
FILTERS = ("gaussian", "butterworth", "ideal", "box")


def frequency_grid(size: int) -> torch.Tensor:
    """float64 normalised frequencies 2 (k - floor(size/2)) / size of the fftshift-ed axis (0 at the DC index)."""
    return 2.0 * (torch.arange(size, dtype=torch.float64) - size // 2) / size


def _distance_sq(grid: Grid, d_s: float, d_t: float) -> torch.Tensor:
    """D^2 = (d_s/d_t f_t)^2 + f_h^2 + f_w^2 over the (T, H, W) grid."""
    f_t, f_h, f_w = grid
    return (d_s / d_t * f_t) ** 2 + f_h ** 2 + f_w ** 2


def _gaussian(grid: Grid, d_s: float, d_t: float, order: int) -> torch.Tensor:
    """exp(-D^2 / (2 d_s^2))."""
    return torch.exp(-_distance_sq(grid, d_s, d_t) / (2 * d_s ** 2))


def _butterworth(grid: Grid, d_s: float, d_t: float, order: int) -> torch.Tensor:
    """1 / (1 + (D^2 / d_s^2)^order)."""
    return 1.0 / (1.0 + (_distance_sq(grid, d_s, d_t) / d_s ** 2) ** order)


def _ideal(grid: Grid, d_s: float, d_t: float, order: int) -> torch.Tensor:
    """1 inside the ellipsoid D <= d_s, 0 outside."""
    return (_distance_sq(grid, d_s, d_t) <= d_s ** 2).to(torch.float64)


def _box(grid: Grid, d_s: float, d_t: float, order: int) -> torch.Tensor:
    """1 inside the box |f_t| <= d_t, |f_h| <= d_s, |f_w| <= d_s, 0 outside."""
    f_t, f_h, f_w = grid
    return ((f_t.abs() <= d_t) & (f_h.abs() <= d_s) & (f_w.abs() <= d_s)).to(torch.float64)


_FILTER_FUNCS: dict[str, Callable[[Grid, float, float, int], torch.Tensor]] = {
    "gaussian": _gaussian,
    "butterworth": _butterworth,
    "ideal": _ideal,
    "box": _box,
}


def make_filter(kind: str, shape: Sequence[int], d_s: float, d_t: float, order: int = 4,
                dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> torch.Tensor:
    """Low-pass mask for a latent of `shape` ((F,C,H,W) -> (F,1,H,W); (B,F,C,H,W) -> (1,F,1,H,W); (F,H,W) -> same)."""
    func = _lookup_filter(kind)
    dims = _freq_dims(shape, "shape")
    d_s, d_t = _check_stop("d_s", d_s), _check_stop("d_t", d_t)
    if kind == "butterworth":
        _check_order(order)
    t, h, w = (int(shape[d]) for d in dims)
    grid = (frequency_grid(t).view(t, 1, 1), frequency_grid(h).view(1, h, 1), frequency_grid(w).view(1, 1, w))
    mask = func(grid, d_s, d_t, order)
    return mask.reshape(_mask_shape(shape)).to(dtype=dtype, device=device)


def low_pass(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """IFFT_3D(FFT_3D(x) * mask): the low frequencies of x, same shape and dtype."""
    dims = _check_pair(x, mask)
    return _inverse(_spectrum(x, dims) * _real_mask(mask, x), dims, x)


def high_pass(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """IFFT_3D(FFT_3D(x) * (1 - mask)): the high frequencies of x; low_pass + high_pass = x."""
    dims = _check_pair(x, mask)
    return _inverse(_spectrum(x, dims) * (1 - _real_mask(mask, x)), dims, x)


def freq_mix(noised_latent: torch.Tensor, fresh_noise: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """IFFT_3D(FFT_3D(noised_latent) * mask + FFT_3D(fresh_noise) * (1 - mask)): the paper's z'_T."""
    dims = _check_pair(noised_latent, mask)
    if not isinstance(fresh_noise, torch.Tensor) or fresh_noise.shape != noised_latent.shape:
        raise NoiseInitError(f"FreeInit: fresh_noise is {_describe(fresh_noise)}, expected a tensor of the noised "
                             f"latent's shape {tuple(noised_latent.shape)}")
    m = _real_mask(mask, noised_latent)
    mixed = _spectrum(noised_latent, dims) * m + _spectrum(fresh_noise.to(noised_latent.device), dims) * (1 - m)
    return _inverse(mixed, dims, noised_latent)


def alpha_bar(sigma: float) -> float:
    """DDPM abar for ComfyUI's EPS sigma: 1 / (1 + sigma^2) (sigma = sqrt((1 - abar) / abar))."""
    return 1.0 / (1.0 + _check_sigma(sigma) ** 2)


def renoise(x0: torch.Tensor, noise: torch.Tensor, sigma: float) -> torch.Tensor:
    """x0 diffused to sigma in ComfyUI's EPS scale: x0 + sigma * noise (= the paper's z_T / sqrt(abar_T))."""
    if not isinstance(x0, torch.Tensor) or not isinstance(noise, torch.Tensor) or noise.shape != x0.shape:
        raise NoiseInitError(f"FreeInit: x0 and noise must be tensors of one shape, got {_describe(x0)} and "
                             f"{_describe(noise)}")
    return x0 + _check_sigma(sigma) * noise.to(x0.device, x0.dtype)


def reinit_noise(x0: torch.Tensor, noise: torch.Tensor, fresh_noise: torch.Tensor, sigma: float,
                 mask: torch.Tensor) -> torch.Tensor:
    """Unit-variance initial noise of the next FreeInit pass: freq_mix(sqrt(abar) * renoise(x0, noise, sigma), ...)."""
    z_t = renoise(x0, noise, sigma) * math.sqrt(alpha_bar(sigma))
    return freq_mix(z_t, fresh_noise, mask)


def _lookup_filter(kind: str) -> Callable[[Grid, float, float, int], torch.Tensor]:
    """The mask function of `kind`, or ValueError listing the choices."""
    if isinstance(kind, str) and kind in _FILTER_FUNCS:
        return _FILTER_FUNCS[kind]
    raise NoiseInitError(f"FreeInit: unknown filter {kind!r}; allowed: {', '.join(FILTERS)}")


def _freq_dims(shape: Sequence[int], name: str) -> tuple[int, int, int]:
    """The (frames, H, W) dims of a 3-, 4- or 5-D shape, or NoiseInitError."""
    dims = {3: (0, 1, 2), 4: (0, 2, 3), 5: (1, 3, 4)}.get(len(shape))
    if dims is None or any(isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1 for n in shape):
        raise NoiseInitError(f"FreeInit: {name} must be (F, H, W), (F, C, H, W) or (B, F, C, H, W) with positive "
                             f"sizes, got {tuple(shape)}")
    return dims


def _mask_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """Shape of the mask for a latent of `shape`: its (frames, H, W) sizes, 1 elsewhere."""
    dims = _freq_dims(shape, "shape")
    return tuple(int(n) if d in dims else 1 for d, n in enumerate(shape))


def _check_pair(x: torch.Tensor, mask: torch.Tensor) -> tuple[int, int, int]:
    """x's (frames, H, W) dims, after checking mask has the shape make_filter gives for x."""
    for name, value in (("latent", x), ("mask", mask)):
        if not isinstance(value, torch.Tensor):
            raise NoiseInitError(f"FreeInit: the {name} must be a tensor, got {type(value).__name__}")
    dims = _freq_dims(tuple(x.shape), "the latent's shape")
    if tuple(mask.shape) != _mask_shape(tuple(x.shape)):
        raise NoiseInitError(f"FreeInit: mask has shape {tuple(mask.shape)}, expected {_mask_shape(tuple(x.shape))} "
                             f"for a latent of shape {tuple(x.shape)} (make the mask with make_filter)")
    return dims


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    """float64 for float64 input, float32 otherwise (torch.fft needs float32 for half types)."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _spectrum(x: torch.Tensor, dims: tuple[int, int, int]) -> torch.Tensor:
    """FFT_3D(x): centred 3D spectrum over dims."""
    return torch.fft.fftshift(torch.fft.fftn(x.to(_compute_dtype(x)), dim=dims), dim=dims)


def _inverse(spectrum: torch.Tensor, dims: tuple[int, int, int], like: torch.Tensor) -> torch.Tensor:
    """Real part of IFFT_3D of a centred spectrum, in like's dtype."""
    return torch.fft.ifftn(torch.fft.ifftshift(spectrum, dim=dims), dim=dims).real.to(like.dtype)


def _real_mask(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """mask on like's device in the real compute dtype (broadcasts against the complex spectrum)."""
    return mask.to(device=like.device, dtype=_compute_dtype(like))


def _describe(value: object) -> str:
    """'a tensor of shape (...)' or the type name, for error messages."""
    return f"a tensor of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__


def _check_stop(name: str, value: float) -> float:
    """A stop frequency as a positive finite float, or NoiseInitError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise NoiseInitError(f"FreeInit: {name} must be a positive normalised frequency (e.g. 0.25), got {value!r}")
    return float(value)


def _check_order(order: int) -> None:
    """Raise unless the Butterworth order is an integer >= 1."""
    if isinstance(order, bool) or not isinstance(order, numbers.Integral) or order < 1:
        raise NoiseInitError(f"FreeInit: butterworth order must be an integer >= 1, got {order!r}")


def _check_sigma(sigma: float) -> float:
    """sigma (a number or a one-element tensor) as a finite float >= 0, or NoiseInitError."""
    value = float(sigma) if isinstance(sigma, torch.Tensor) and sigma.numel() == 1 else sigma
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise NoiseInitError(f"FreeInit: sigma must be a finite number >= 0, got {sigma!r}")
    return float(value)
