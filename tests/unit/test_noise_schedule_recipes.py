"""Noise schedules: the extra beta schedules and presets (ADE's names), LCM-distilled tables, combinations and zero
terminal SNR, each against a reference written here from the formulas (NumPy), spec figures or diffusers."""
import math

import numpy as np
import pytest
import torch

from animatelcm_core import noise_schedule as ns
from animatelcm_core.config import FAMILIES
from animatelcm_core.schedule_names import ADE_AUTOSELECT, ADE_BETA_NAMES, AUTO, AUTO_ADE, KEEP
from animatelcm_core.schedules import PRESETS, get_preset, make_betas, select_preset


def np_sigmas(betas: np.ndarray) -> np.ndarray:
    abar = np.cumprod(1.0 - betas)
    return np.sqrt((1 - abar) / abar)


def np_betas(name: str, start: float = 0.00085, end: float = 0.012, n: int = 1000) -> np.ndarray:
    if name == "linear":
        return np.linspace(start ** 0.5, end ** 0.5, n) ** 2
    if name == "sqrt_linear":
        return np.linspace(start, end, n)
    if name == "sqrt":
        return np.sqrt(np.linspace(start, end, n))
    f = lambda t: np.cos((t + 0.008) / 1.008 * np.pi / 2) ** 2  # noqa: E731  Nichol & Dhariwal eq. 17
    if name == "cosine":
        abar = f(np.arange(n + 1) / n) / f(0.0)
        return np.clip(1 - abar[1:] / abar[:-1], 0, 0.999)
    t = np.arange(n)
    return np.minimum(1 - f((t + 1) / n) / f(t / n), 0.999)


@pytest.mark.parametrize("name", ["sqrt", "cosine", "squaredcos_cap_v2", "linear", "sqrt_linear"])
def test_betas_match_formula(name):
    np.testing.assert_allclose(make_betas(name, 0.00085, 0.012).numpy(), np_betas(name), rtol=1e-12, atol=1e-15)


def test_squaredcos_cap_v2_matches_diffusers():
    diffusers = pytest.importorskip("diffusers")
    ref = diffusers.DDPMScheduler(beta_schedule="squaredcos_cap_v2").betas
    torch.testing.assert_close(make_betas("squaredcos_cap_v2", 0.00085, 0.012).float(), ref, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("preset,first,last,length", [
    ("lcm_50", 0.13445, 14.6146, 50), ("lcm_100_linear", 0.09357, 14.6146, 100),
    ("lcm_50_sqrt_linear", 0.13897, 25.1461, 50)])
def test_distilled_tables_match_spec(preset, first, last, length):
    """Spec formats.md §7 'Distilled grids' (ADE lcm / lcm[100_ots] / lcm >> sqrt_linear)."""
    table = ns.sigma_table(ns.preset_schedule(get_preset(preset)))
    assert table.shape == (length,)
    assert table[0].item() == pytest.approx(first, rel=1e-4) and table[-1].item() == pytest.approx(last, rel=1e-4)


@pytest.mark.parametrize("preset,beta,ots", [("lcm_50", "linear", 50), ("lcm_25_linear", "linear", 25),
                                              ("lcm_100_linear", "linear", 100), ("lcm", "sqrt_linear", 100),
                                              ("lcm_50_sqrt_linear", "sqrt_linear", 50)])
def test_distilled_table_is_every_kth_training_sigma(preset, beta, ots):
    full = np_sigmas(np_betas(beta))
    expected = full[[999 - k * (1000 // ots) for k in reversed(range(ots))]]
    np.testing.assert_allclose(ns.sigma_table(ns.preset_schedule(get_preset(preset))).numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("preset,distilled", [("avg_sqrt_linear_linear", None), ("lcm_50_avg", 50)])
def test_averaged_presets(preset, distilled):
    a, b = np_sigmas(np_betas("linear")), np_sigmas(np_betas("sqrt_linear"))
    if distilled:
        index = [999 - k * 20 for k in reversed(range(50))]
        a, b = a[index], b[index]
    np.testing.assert_allclose(ns.sigma_table(ns.preset_schedule(get_preset(preset))).numpy(), (a + b) / 2, rtol=1e-6)


def ease(method: str, start: float, end: float, n: int) -> np.ndarray:
    u = np.linspace(0, 1, n)
    shape = {"linear": u, "ease_in": u ** 2, "ease_out": 1 - (1 - u) ** 2, "ease_in_out": (1 - np.cos(np.pi * u)) / 2}
    return start + (end - start) * shape[method]


@pytest.mark.parametrize("method", ns.INTERPOLATIONS)
def test_interpolation_weights(method):
    np.testing.assert_allclose(ns.interpolation_weights(0.2, 0.9, 7, method).numpy(), ease(method, 0.2, 0.9, 7),
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ns.interpolation_weights(0.2, 0.9, 7, method, reverse=True).numpy(),
                               ease(method, 0.2, 0.9, 7)[::-1], rtol=1e-6, atol=1e-7)


def test_combinations_against_numpy():
    lin = ns.BaseSchedule("linear")
    sq = ns.BaseSchedule("sqrt_linear")
    a, b = np_sigmas(np_betas("linear")), np_sigmas(np_betas("sqrt_linear"))
    mean = ns.sigma_table(ns.MeanSchedule(lin, sq, 0.3, 0.3)).numpy()
    np.testing.assert_allclose(mean, 0.3 * a + 0.7 * b, rtol=1e-6)
    interp = ns.sigma_table(ns.MeanSchedule(lin, sq, 0.9, 0.1, "ease_in", interpolated=True)).numpy()
    w = ease("ease_in", 0.9, 0.1, 1000)[::-1]  # 0.9 at the start of sampling = the largest sigma = the last entry
    np.testing.assert_allclose(interp, w * a + (1 - w) * b, rtol=1e-5)
    split = ns.sigma_table(ns.SplitSchedule(lin, sq, 0.25)).numpy()
    np.testing.assert_allclose(split[:750], b[:750], rtol=1e-6)  # the end of sampling (small sigmas) from `end`
    np.testing.assert_allclose(split[750:], a[750:], rtol=1e-6)


def test_zero_terminal_snr_matches_diffusers():
    """diffusers' rescale_zero_terminal_snr (Lin et al., Algorithm 1) on betas; the last abar is 0 there and
    ComfyUI's stand-in here (so the last sigma is finite)."""
    diffusers = pytest.importorskip("diffusers")
    from diffusers.schedulers.scheduling_ddpm import rescale_zero_terminal_snr
    betas = make_betas("linear", 0.00085, 0.012)
    abar = torch.cumprod(1 - rescale_zero_terminal_snr(betas.float()).double(), 0)
    ours = ns.sigma_table(ns.BaseSchedule("linear", zsnr=True)).double()
    torch.testing.assert_close(ours[:-1], ((1 - abar) / abar).sqrt()[:-1].double(), rtol=2e-4, atol=1e-6)
    assert ours[-1].item() == pytest.approx(math.sqrt((1 - ns.ZSNR_LAST_ALPHA_BAR) / ns.ZSNR_LAST_ALPHA_BAR), rel=1e-5)


def test_combining_tables_of_different_lengths_is_refused():
    with pytest.raises(ValueError, match="50 sigmas and schedule_b has 1000"):
        ns.MeanSchedule(ns.preset_schedule(get_preset("lcm_50")), ns.BaseSchedule("linear"), 0.5, 0.5)


@pytest.mark.parametrize("kwargs,match", [({"beta_schedule": "quadratic"}, "Unknown beta schedule"),
                                          ({"beta_schedule": "linear", "sampling": "x0"}, "Unknown sampling"),
                                          ({"beta_schedule": "linear", "sampling": "lcm", "original_timesteps": 0},
                                           "lcm_original_timesteps")])
def test_bad_recipes_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ns.BaseSchedule(**kwargs)


def test_ade_names_map_to_choices():
    for ade, ours in ADE_BETA_NAMES.items():
        assert ours in PRESETS or ours in (AUTO_ADE, KEEP), ade
    for recommended, pick in ADE_AUTOSELECT.items():
        assert recommended in PRESETS and pick in PRESETS


@pytest.mark.parametrize("family,ade_pick", [("animatelcm_t2v", "lcm_50"), ("animatelcm_i2v", "lcm_50"),
                                             ("v1", "sqrt_linear"), ("v2", "sqrt_linear"), ("v3", "sqrt_linear"),
                                             ("hotshotxl", "linear"), ("sdxl_beta", "linear_sdxl")])
def test_auto_ade_is_ades_autoselect(family, ade_pick):
    """ADE autoselect (spec formats.md §5.2 item 7): AnimateLCM -> lcm (= lcm_50 here), other SD1.5 -> sqrt_linear,
    HotshotXL -> linear, other SDXL -> linear (AnimateDiff-SDXL) (= linear_sdxl here)."""
    recommended = FAMILIES[family][3]
    assert select_preset(AUTO_ADE, recommended).name == ade_pick
    assert select_preset(AUTO, recommended).name == recommended
