"""Tests for animatelcm_core.freq_filter: FreeInit 3D low-pass filters and noise reinitialisation (Wu et al.,
ECCV 2024), against an independent NumPy FFT reference written from the documented formulas."""
import math

import numpy as np
import pytest
import torch

from animatelcm_core.errors import NoiseInitError
from animatelcm_core.freq_filter import (
    FILTERS,
    alpha_bar,
    freq_mix,
    high_pass,
    low_pass,
    make_filter,
    reinit_noise,
    renoise,
)

SHAPES = [(6, 2, 8, 10), (5, 3, 7, 9), (1, 2, 6, 6)]  # (F, C, H, W): even, odd, a single frame
PARAMS = [(0.25, 0.25, 4), (0.5, 0.3, 1), (0.4, 0.8, 2)]  # (d_s, d_t, butterworth order)
AXES = (0, 2, 3)  # frames, H, W of (F, C, H, W)


def _np_freqs(n: int) -> np.ndarray:
    """Normalised frequencies of the fftshift-ed axis: 2 (k - n//2) / n."""
    return 2.0 * (np.arange(n) - n // 2) / n


def _np_mask(kind: str, t: int, h: int, w: int, d_s: float, d_t: float, order: int) -> np.ndarray:
    """(T, H, W) mask from the formulas in the module docstring, in NumPy."""
    ft, fh, fw = np.meshgrid(_np_freqs(t), _np_freqs(h), _np_freqs(w), indexing="ij")
    dist = (d_s / d_t * ft) ** 2 + fh ** 2 + fw ** 2
    if kind == "gaussian":
        return np.exp(-dist / (2 * d_s ** 2))
    if kind == "butterworth":
        return 1.0 / (1.0 + (dist / d_s ** 2) ** order)
    if kind == "ideal":
        return (dist <= d_s ** 2).astype(np.float64)
    return ((np.abs(ft) <= d_t) & (np.abs(fh) <= d_s) & (np.abs(fw) <= d_s)).astype(np.float64)


def _np_spectrum(x: np.ndarray) -> np.ndarray:
    """Centred 3D spectrum over (frames, H, W) of an (F, C, H, W) array."""
    return np.fft.fftshift(np.fft.fftn(x, axes=AXES), axes=AXES)


def _np_inverse(spectrum: np.ndarray) -> np.ndarray:
    """Complex inverse of _np_spectrum."""
    return np.fft.ifftn(np.fft.ifftshift(spectrum, axes=AXES), axes=AXES)


def _latent(shape, seed: int, dtype=torch.float32) -> torch.Tensor:
    """Seeded Gaussian latent."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _mask_pair(kind, shape, d_s, d_t, order):
    """(torch float64 mask from make_filter, NumPy reference mask broadcastable to (F, C, H, W))."""
    mask = make_filter(kind, shape, d_s, d_t, order, dtype=torch.float64)
    ref = _np_mask(kind, shape[0], shape[2], shape[3], d_s, d_t, order)[:, None]
    return mask, ref


# ---------------------------------------------------------------- against NumPy

@pytest.mark.parametrize("kind", FILTERS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("d_s,d_t,order", PARAMS)
def test_mask_matches_the_formula(kind, shape, d_s, d_t, order):
    """make_filter equals the documented formula evaluated in NumPy, with the (F, 1, H, W) layout."""
    mask, ref = _mask_pair(kind, shape, d_s, d_t, order)
    assert mask.shape == (shape[0], 1, shape[2], shape[3])
    np.testing.assert_allclose(mask.numpy(), ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", FILTERS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("d_s,d_t,order", PARAMS[:2])
def test_low_and_high_pass_match_numpy_fft(kind, shape, d_s, d_t, order):
    """low_pass / high_pass of an fp32 latent equal the NumPy FFT reference within 1e-5; the reference's
    imaginary part vanishes, as the masks are symmetric about DC."""
    x = _latent(shape, seed=1)
    mask = make_filter(kind, shape, d_s, d_t, order)
    ref_mask = _np_mask(kind, shape[0], shape[2], shape[3], d_s, d_t, order)[:, None]
    spectrum = _np_spectrum(x.double().numpy())
    for ours, ref_filter in ((low_pass(x, mask), ref_mask), (high_pass(x, mask), 1 - ref_mask)):
        ref = _np_inverse(spectrum * ref_filter)
        assert np.abs(ref.imag).max() < 1e-9
        assert ours.dtype == torch.float32 and ours.shape == x.shape
        assert np.abs(ours.double().numpy() - ref.real).max() < 1e-5


@pytest.mark.parametrize("kind", FILTERS)
@pytest.mark.parametrize("shape", SHAPES)
def test_low_plus_high_is_the_signal(kind, shape):
    """low_pass(x) + high_pass(x) = x (max error 1e-5 in fp32)."""
    x = _latent(shape, seed=2)
    mask = make_filter(kind, shape, 0.3, 0.4, order=3)
    assert (low_pass(x, mask) + high_pass(x, mask) - x).abs().max() < 1e-5


@pytest.mark.parametrize("kind", FILTERS)
@pytest.mark.parametrize("shape", SHAPES[:2])
def test_freq_mix_takes_low_from_the_latent_and_high_from_the_noise(kind, shape):
    """In the frequency domain the mix is mask * FFT(latent) + (1 - mask) * FFT(noise); for the binary masks,
    its spectrum equals the latent's inside the pass band and the fresh noise's outside it."""
    latent, noise = _latent(shape, 3, torch.float64), _latent(shape, 4, torch.float64)
    mask, ref_mask = _mask_pair(kind, shape, 0.4, 0.5, 2)
    mixed = _np_spectrum(freq_mix(latent, noise, mask).numpy())
    s_latent, s_noise = _np_spectrum(latent.numpy()), _np_spectrum(noise.numpy())
    np.testing.assert_allclose(mixed, ref_mask * s_latent + (1 - ref_mask) * s_noise, rtol=0, atol=1e-9)
    if kind in ("ideal", "box"):
        inside = np.broadcast_to(ref_mask == 1, mixed.shape)
        assert inside.any() and (~inside).any()
        np.testing.assert_allclose(mixed[inside], s_latent[inside], rtol=0, atol=1e-9)
        np.testing.assert_allclose(mixed[~inside], s_noise[~inside], rtol=0, atol=1e-9)
        assert (low_pass(freq_mix(latent, noise, mask), mask) - low_pass(latent, mask)).abs().max() < 1e-9
        assert (high_pass(freq_mix(latent, noise, mask), mask) - high_pass(noise, mask)).abs().max() < 1e-9


def test_batched_layout_filters_each_video():
    """A (B, F, C, H, W) latent is filtered like each of its (F, C, H, W) videos; the mask is (1, F, 1, H, W)."""
    x = _latent((2, 6, 2, 8, 8), seed=5)
    mask = make_filter("butterworth", x.shape, 0.25, 0.25)
    assert mask.shape == (1, 6, 1, 8, 8)
    single = make_filter("butterworth", x.shape[1:], 0.25, 0.25)
    for b in range(2):
        torch.testing.assert_close(low_pass(x, mask)[b], low_pass(x[b], single), rtol=0, atol=1e-6)


def test_half_precision_is_filtered_in_fp32():
    """An fp16 latent comes back fp16, equal to the fp32 result rounded."""
    x = _latent((4, 2, 8, 8), seed=6)
    mask = make_filter("gaussian", x.shape, 0.25, 0.25)
    out = low_pass(x.half(), mask)
    assert out.dtype == torch.float16
    torch.testing.assert_close(out.float(), low_pass(x.half().float(), mask), rtol=1e-3, atol=1e-3)


# ---------------------------------------------------------------- mask shapes and cut-offs

@pytest.mark.parametrize("kind", FILTERS)
@pytest.mark.parametrize("shape", [(16, 4, 8, 8), (5, 4, 7, 9), (1, 4, 1, 1), (3, 1, 4, 5)])
def test_mask_is_one_at_dc_and_symmetric(kind, shape):
    """Every mask is 1 at the centre (DC after fftshift), within [0, 1], and symmetric: H(f) = H(-f)."""
    mask = make_filter(kind, shape, 0.25, 0.25, dtype=torch.float64)[:, 0]
    assert mask[shape[0] // 2, shape[2] // 2, shape[3] // 2] == 1.0
    assert mask.min() >= 0 and mask.max() <= 1
    mirrored = mask
    for axis, n in enumerate(mask.shape):  # k -> (2 * (n // 2) - k) mod n is f -> -f
        index = torch.tensor([(2 * (n // 2) - k) % n for k in range(n)])
        mirrored = mirrored.index_select(axis, index)
    assert torch.equal(mirrored, mask)


def test_ideal_hand_derived():
    """Along H (8 samples: f = -1, -.75, -.5, -.25, 0, .25, .5, .75), ideal with d_s = 0.5 passes |f| <= 0.5."""
    mask = make_filter("ideal", (1, 1, 8, 1), d_s=0.5, d_t=0.5)
    assert mask.flatten().tolist() == [0, 0, 1, 1, 1, 1, 1, 0]


def test_ideal_is_zero_outside_the_radius():
    """ideal is 1 on the ellipsoid (f_t / d_t)^2 + (f_h^2 + f_w^2) / d_s^2 <= 1 and 0 outside."""
    mask = make_filter("ideal", (8, 1, 16, 16), d_s=0.3, d_t=0.6, dtype=torch.float64)[:, 0]
    f = [torch.tensor(_np_freqs(n)) for n in (8, 16, 16)]
    radius = (f[0].view(-1, 1, 1) / 0.6) ** 2 + (f[1].view(1, -1, 1) ** 2 + f[2].view(1, 1, -1) ** 2) / 0.3 ** 2
    assert torch.equal(mask, (radius <= 1 + 1e-12).double())
    assert 0 < mask.sum() < mask.numel()


def test_box_hand_derived():
    """box, d_s = 0.25 and d_t = 0.5: frames pass f_t in {-.5, 0, .5} of (-1, -.5, 0, .5); H and W pass
    f in {-.25, 0, .25}; the mask is the outer product of these indicators (edges included)."""
    mask = make_filter("box", (4, 3, 8, 8), d_s=0.25, d_t=0.5)
    t = torch.tensor([0.0, 1, 1, 1])
    s = torch.tensor([0.0, 0, 0, 1, 1, 1, 0, 0])
    assert torch.equal(mask[:, 0], t.view(4, 1, 1) * s.view(1, 8, 1) * s.view(1, 1, 8))


@pytest.mark.parametrize("order", (1, 2, 4, 8))
def test_butterworth_cutoff(order):
    """butterworth along H (16 samples, d_s = 0.25): 1 / (1 + (|f| / d_s)^(2n)), 1/2 exactly at |f| = d_s."""
    mask = make_filter("butterworth", (1, 1, 16, 1), d_s=0.25, d_t=0.5, order=order, dtype=torch.float64)
    f = torch.tensor(_np_freqs(16))
    torch.testing.assert_close(mask.flatten(), 1 / (1 + (f.abs() / 0.25) ** (2 * order)), rtol=0, atol=1e-15)
    assert mask.flatten()[8 + 2] == 0.5  # f = 2 * 2 / 16 = 0.25


def test_butterworth_sharpens_towards_ideal():
    """A higher order passes more below the cut-off and less above it."""
    low, high = (make_filter("butterworth", (1, 1, 16, 1), 0.25, 0.5, order=n).flatten() for n in (2, 8))
    f = torch.tensor(_np_freqs(16)).abs()
    assert (high[f < 0.25] >= low[f < 0.25]).all() and (high[f > 0.25] <= low[f > 0.25]).all()


def test_gaussian_stop_frequencies():
    """gaussian falls to exp(-1/2) at f_h = d_s on the spatial axes and at f_t = d_t on the frame axis."""
    mask = make_filter("gaussian", (8, 1, 16, 16), d_s=0.25, d_t=0.5, dtype=torch.float64)[:, 0]
    assert math.isclose(mask[4, 8 + 2, 8], math.exp(-0.5), rel_tol=1e-12)  # f_h = 0.25
    assert math.isclose(mask[4, 8, 8 + 2], math.exp(-0.5), rel_tol=1e-12)  # f_w = 0.25
    assert math.isclose(mask[4 + 2, 8, 8], math.exp(-0.5), rel_tol=1e-12)  # f_t = 2 * 2 / 8 = 0.5


# ---------------------------------------------------------------- diffuse back and reinitialise

@pytest.mark.parametrize("sigma", (0.0, 0.5, 14.6146))
def test_renoise_is_the_ddpm_forward_in_comfy_scale(sigma):
    """renoise(x0, eps, sigma) = x0 + sigma eps, and sqrt(abar) times it is sqrt(abar) x0 + sqrt(1 - abar) eps with
    abar = 1 / (1 + sigma^2)."""
    x0, eps = _latent((4, 2, 4, 4), 7, torch.float64), _latent((4, 2, 4, 4), 8, torch.float64)
    abar = alpha_bar(sigma)
    assert abar == 1 / (1 + sigma ** 2)
    torch.testing.assert_close(renoise(x0, eps, sigma), x0 + sigma * eps, rtol=0, atol=0)
    ddpm = math.sqrt(abar) * x0 + math.sqrt(1 - abar) * eps
    scaled = math.sqrt(abar) * renoise(x0, eps, torch.tensor(sigma, dtype=torch.float64))
    torch.testing.assert_close(scaled, ddpm, rtol=0, atol=1e-12)


def test_reinit_noise_is_the_paper_mix_in_numpy():
    """reinit_noise = IFFT(FFT(z_T) H + FFT(eta) (1 - H)) with z_T = sqrt(abar) x0 + sqrt(1 - abar) eps, and
    ComfyUI's full-denoise start sqrt(1 + sigma^2) * it = low(x0 + sigma eps) + high(sqrt(1 + sigma^2) eta)."""
    shape, sigma = (6, 2, 8, 8), 14.6146
    x0, eps, eta = (_latent(shape, s, torch.float64) for s in (9, 10, 11))
    mask, ref_mask = _mask_pair("gaussian", shape, 0.25, 0.25, 4)
    out = reinit_noise(x0, eps, eta, sigma, mask)
    abar = 1 / (1 + sigma ** 2)
    z_t = math.sqrt(abar) * x0.numpy() + math.sqrt(1 - abar) * eps.numpy()
    ref = _np_inverse(_np_spectrum(z_t) * ref_mask + _np_spectrum(eta.numpy()) * (1 - ref_mask))
    np.testing.assert_allclose(out.numpy(), ref.real, rtol=0, atol=1e-12)
    scale = math.sqrt(1 + sigma ** 2)
    start = low_pass(renoise(x0, eps, sigma), mask) + high_pass(scale * eta, mask)
    torch.testing.assert_close(scale * out, start, rtol=0, atol=1e-10)


def test_pass_everything_mask_returns_the_renoised_latent():
    """With a mask of ones (ideal, huge stop frequencies) nothing of the fresh noise is kept."""
    shape = (4, 2, 6, 6)
    x0, eps, eta = (_latent(shape, s, torch.float64) for s in (12, 13, 14))
    mask = make_filter("ideal", shape, 10.0, 10.0, dtype=torch.float64)
    assert bool((mask == 1).all())
    expected = renoise(x0, eps, 3.0) / math.sqrt(10.0)
    torch.testing.assert_close(reinit_noise(x0, eps, eta, 3.0, mask), expected, rtol=0, atol=1e-12)


# ---------------------------------------------------------------- errors

def test_unknown_filter_lists_the_choices():
    """An unknown filter name is a ValueError that lists every filter."""
    with pytest.raises(ValueError, match="unknown filter 'lanczos'; allowed: gaussian, butterworth, ideal, box"):
        make_filter("lanczos", (4, 1, 8, 8), 0.25, 0.25)


@pytest.mark.parametrize("kwargs,match", [
    ({"d_s": 0.0}, "d_s must be a positive"),
    ({"d_t": -0.5}, "d_t must be a positive"),
    ({"d_t": float("nan")}, "d_t must be a positive"),
    ({"kind": "butterworth", "order": 0}, "order must be an integer >= 1"),
    ({"shape": (8, 8)}, r"shape must be \(F, H, W\), \(F, C, H, W\) or \(B, F, C, H, W\)"),
    ({"shape": (4, 0, 8, 8)}, "positive sizes"),
])
def test_bad_filter_parameters(kwargs, match):
    """Bad stop frequencies, orders and shapes raise NoiseInitError naming the input."""
    args = {"kind": "gaussian", "shape": (4, 1, 8, 8), "d_s": 0.25, "d_t": 0.25, "order": 4} | kwargs
    with pytest.raises(NoiseInitError, match=match):
        make_filter(**args)


def test_mismatched_tensors_are_refused():
    """A mask for another shape, fresh noise of another shape, or a negative sigma is refused."""
    x = _latent((4, 2, 8, 8), 15)
    with pytest.raises(NoiseInitError, match=r"mask has shape \(4, 1, 8, 6\), expected \(4, 1, 8, 8\)"):
        low_pass(x, make_filter("box", (4, 2, 8, 6), 0.25, 0.25))
    mask = make_filter("box", x.shape, 0.25, 0.25)
    with pytest.raises(NoiseInitError, match="fresh_noise is a tensor of shape"):
        freq_mix(x, x[:2], mask)
    with pytest.raises(NoiseInitError, match="sigma must be a finite number >= 0"):
        renoise(x, x, -1.0)
