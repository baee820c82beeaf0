"""Fuse weights of one context window: how much each of its frames counts where windows overlap.

The methods and their formulas are AnimateDiff-Evolved's (L = window length, m = ceil(L / 2), i = 0..L-1):
- flat: 1.
- pyramid: min(i + 1, L - i) (highest in the middle, 1 at both ends; FreeNoise's weighted average).
- relative (whole-model windows only; in views it is pyramid): for the frame index f at i of a window that runs
  from frame a to frame b: max(0.01, 1 - |f - (a + b) / 2| / ((b - a + 0.01) / 2)); every occurrence counts.
- overlap-linear: 1, with linspace(1e-37, 1, overlap) over the first `overlap` frames unless the window holds frame
  0, and linspace(1, 1e-37, overlap) over the last ones unless it holds frame N - 1 (no ramps for overlap 0).
- delayed reverse sawtooth: 0.01 over the first half, then m down to 1 (odd L: m - 1 leading 0.01, then m, m - 1
  .. 1; ADE's list is one entry too long there and fails).
- pyramid-sigma / pyramid-sigma inverse: with c = min(4, sigma) / 4 and the "spike" q = -m everywhere but m on the
  middle frame(s): clip(c * pyramid + (1 - c) * q, 0.001, m), resp. clip(c * q + (1 - c) * pyramid, 0.001, m)
  (odd L: one middle frame; ADE fails there).
- gauss-sigma / gauss-sigma inverse: exp(-x^2 / (2 s^2)) over x = linspace(-(L-1)/2, (L-1)/2, L), scaled to norm m,
  with s = 1 + 8 * min(4, sigma) / 4, resp. s = 1 + 8 * (1 - min(4, sigma) / 4).
- random: uniform [0, 1) * m + 0.001. ADE draws from numpy's global generator, so its results are not repeatable;
  here the generator is seeded by (sampler seed, step, window), so a run can be repeated.

Where a window holds a frame more than once (strided windows wider than the video), only its last occurrence
counts, as in ADE's indexed accumulation (relative: every occurrence, as ADE's per-frame loop).
"""
from __future__ import annotations

import numpy as np
import torch

FUSE_ALIASES = {f"\N{MICROSCOPE}{name}": name for name in (
    "random", "gauss-sigma", "gauss-sigma inverse", "delayed reverse sawtooth", "pyramid-sigma",
    "pyramid-sigma inverse")}
SIGMA_METHODS = ("pyramid-sigma", "pyramid-sigma inverse", "gauss-sigma", "gauss-sigma inverse")


def _half(length: int) -> int:
    return (length + 1) // 2


def _pyramid(length: int) -> np.ndarray:
    i = np.arange(length, dtype=np.float64)
    return np.minimum(i + 1, length - i)


def _sigma_fraction(sigma: float | None) -> float:
    if sigma is None:
        raise ValueError("this fuse method needs the sampling sigma")
    return min(4.0, float(sigma)) / 4.0


def flat(length, window, num_frames, overlap, sigma, rng):
    return np.ones(length)


def pyramid(length, window, num_frames, overlap, sigma, rng):
    return _pyramid(length)


def relative(length, window, num_frames, overlap, sigma, rng):
    first, last = window[0], window[-1]
    middle, half = (first + last) / 2, (last - first + 1e-2) / 2
    return np.array([max(1e-2, 1 - abs(f - middle) / half) for f in window])


def overlap_linear(length, window, num_frames, overlap, sigma, rng):
    weights = torch.ones(length)
    if overlap > 0 and min(window) > 0:
        weights[:overlap] = torch.linspace(1e-37, 1, overlap)
    if overlap > 0 and max(window) < num_frames - 1:
        weights[-overlap:] = torch.linspace(1, 1e-37, overlap)
    return weights.double().numpy()


def delayed_reverse_sawtooth(length, window, num_frames, overlap, sigma, rng):
    m = _half(length)
    rest = list(range(m, 0, -1)) if length % 2 == 0 else list(range(m - 1, 0, -1))
    return np.array([0.01] * (m - 1) + [m] + rest, dtype=np.float64)


def _spike(length: int) -> np.ndarray:
    m = _half(length)
    q = np.full(length, -float(m))
    q[(length - 1) // 2:length // 2 + 1] = m
    return q


def pyramid_sigma(length, window, num_frames, overlap, sigma, rng):
    c = _sigma_fraction(sigma)
    return np.clip(c * _pyramid(length) + (1 - c) * _spike(length), 0.001, _half(length))


def pyramid_sigma_inverse(length, window, num_frames, overlap, sigma, rng):
    c = _sigma_fraction(sigma)
    return np.clip(c * _spike(length) + (1 - c) * _pyramid(length), 0.001, _half(length))


def _gauss(length: int, s: float) -> np.ndarray:
    x = np.linspace(-(length - 1) / 2.0, (length - 1) / 2.0, length)
    w = np.exp(-0.5 * np.square(x) / np.square(s))
    return w * (_half(length) / np.linalg.norm(w))


def gauss_sigma(length, window, num_frames, overlap, sigma, rng):
    return _gauss(length, 1.0 + 8.0 * _sigma_fraction(sigma))


def gauss_sigma_inverse(length, window, num_frames, overlap, sigma, rng):
    return _gauss(length, 1.0 + 8.0 * (1.0 - _sigma_fraction(sigma)))


def random(length, window, num_frames, overlap, sigma, rng):
    return rng.random(length) * _half(length) + 0.001


FUSE_FUNCS = {
    "pyramid": pyramid,
    "relative": relative,
    "flat": flat,
    "overlap-linear": overlap_linear,
    "delayed reverse sawtooth": delayed_reverse_sawtooth,
    "pyramid-sigma": pyramid_sigma,
    "pyramid-sigma inverse": pyramid_sigma_inverse,
    "gauss-sigma": gauss_sigma,
    "gauss-sigma inverse": gauss_sigma_inverse,
    "random": random,
}


def counted_positions(window, every_occurrence: bool) -> np.ndarray:
    """1.0 where a position of the window counts, 0.0 at earlier occurrences of a repeated frame."""
    if every_occurrence:
        return np.ones(len(window))
    last = {f: i for i, f in enumerate(window)}
    return np.array([1.0 if last[f] == i else 0.0 for i, f in enumerate(window)])


def window_rng(seed: int, step: int, index: int) -> np.random.Generator:
    """The generator of the `random` method for one window of one step."""
    return np.random.default_rng([int(seed) & ((1 << 64) - 1), int(step), int(index)])
