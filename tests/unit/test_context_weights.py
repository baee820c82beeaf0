"""Fuse weights of context windows: every method against its formula (written here from ADE's documented
behaviour), values ADE 1.5.7 returned, repeated frames, relative, random, and zero-weight errors."""
import math

import numpy as np
import pytest
import torch

from animatelcm_core.context import FUSE_METHODS, ContextOptions, fuse, fuse_weights, get_window_weights, get_windows
from animatelcm_core.errors import ContextOptionsError

SIGMAS = (0.1, 1.5, 3.99, 4.0, 14.6)


def ref(method, window, n, overlap, sigma):
    """The formula of each method for one window (L frames, m = ceil(L / 2))."""
    length = len(window)
    m = (length + 1) // 2
    pyr = [min(i + 1, length - i) for i in range(length)]
    c = min(4.0, sigma) / 4.0
    spike = [m if i in ((length - 1) // 2, length // 2) else -m for i in range(length)]
    if method == "flat":
        return [1.0] * length
    if method == "pyramid":
        return pyr
    if method == "relative":
        a, b = window[0], window[-1]
        return [max(0.01, 1 - abs(f - (a + b) / 2) / ((b - a + 0.01) / 2)) for f in window]
    if method == "overlap-linear":
        w = [1.0] * length
        up = [1e-37 + (1 - 1e-37) * k / (overlap - 1) if overlap > 1 else 1e-37 for k in range(overlap)]
        down = [1 - (1 - 1e-37) * k / (overlap - 1) if overlap > 1 else 1.0 for k in range(overlap)]
        if overlap and min(window) > 0:  # linspace(1e-37, 1, overlap): a single point is its start
            w[:overlap] = up
        if overlap and max(window) < n - 1:
            w[length - overlap:] = down
        return w
    if method == "delayed reverse sawtooth":
        return [0.01] * (m - 1) + [m] + list(range(m if length % 2 == 0 else m - 1, 0, -1))
    if method in ("pyramid-sigma", "pyramid-sigma inverse"):
        a, b = (pyr, spike) if method == "pyramid-sigma" else (spike, pyr)
        return [min(max(c * x + (1 - c) * y, 0.001), m) for x, y in zip(a, b)]
    if method in ("gauss-sigma", "gauss-sigma inverse"):
        s = 1 + 8 * (c if method == "gauss-sigma" else 1 - c)
        g = [math.exp(-((i - (length - 1) / 2) ** 2) / (2 * s * s)) for i in range(length)]
        norm = math.sqrt(sum(x * x for x in g))
        return [x * m / norm for x in g]
    raise KeyError(method)


@pytest.mark.parametrize("method", [m for m in FUSE_METHODS if m != "random"])
@pytest.mark.parametrize("length", (1, 2, 5, 8, 16, 17))
def test_methods_equal_their_formula(method, length):
    for start, sigma, overlap in ((0, 1.5, 3), (5, 0.1, 1), (40 - length, 14.6, 4), (7, 4.0, 0)):
        window = list(range(start, start + length))
        opts = ContextOptions(max(length, 2), min(overlap, length - 1), fuse_method=method)
        got = get_window_weights(opts, [window], 0, num_frames=40, sigma=sigma).double()
        expected = torch.tensor(ref(method, window, 40, opts.overlap, sigma), dtype=torch.float64)
        torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-30)


def test_values_ade_returned():
    """Weights ADE 1.5.7 returned for frames 4..11 of 24, overlap 3, sigma 1.5 (rounded to 6 places)."""
    ade = {
        "gauss-sigma": [1.114536, 1.344387, 1.52339, 1.62164, 1.62164, 1.52339, 1.344387, 1.114536],
        "gauss-sigma inverse": [1.278123, 1.389197, 1.468559, 1.509924, 1.509924, 1.468559, 1.389197, 1.278123],
        "pyramid-sigma": [0.001, 0.001, 0.001, 4.0, 4.0, 0.001, 0.001, 0.001],
        "pyramid-sigma inverse": [0.001, 0.001, 0.375, 4.0, 4.0, 0.375, 0.001, 0.001],
        "delayed reverse sawtooth": [0.01, 0.01, 0.01, 4.0, 4.0, 3.0, 2.0, 1.0],
        "overlap-linear": [0.0, 0.5, 1.0, 1.0, 1.0, 1.0, 0.5, 0.0],
    }
    for method, values in ade.items():
        for spelling in (method, "\N{MICROSCOPE}" + method):  # ADE's experimental names are accepted too
            if spelling.endswith("overlap-linear") and spelling != method:
                continue
            opts = ContextOptions(8, 3, fuse_method=spelling)
            got = get_window_weights(opts, [list(range(4, 12))], 0, num_frames=24, sigma=1.5)
            assert [round(float(x), 6) for x in got] == values, method


def test_relative_fuses_as_a_running_bias_average():
    """relative: each frame is the bias-weighted mean of the windows holding it (ADE's running average)."""
    opts = ContextOptions(8, 3, fuse_method="relative")
    windows = get_windows(opts, 20)
    outputs = [torch.randn(8, 3, generator=torch.Generator().manual_seed(i)) for i in range(len(windows))]
    fused = fuse(outputs, windows, fuse_weights(opts, windows, 20), 20)
    expected = torch.zeros(20, 3, dtype=torch.float64)
    total = [0.0] * 20
    for window, out in zip(windows, outputs):  # the running form: x <- x * t / (t + b) + y * b / (t + b)
        for pos, f in enumerate(window):
            b = max(0.01, 1 - abs(f - (window[0] + window[-1]) / 2) / ((window[-1] - window[0] + 0.01) / 2))
            expected[f] = expected[f] * total[f] / (total[f] + b) + out[pos].double() * b / (total[f] + b)
            total[f] += b
    torch.testing.assert_close(fused.double(), expected, rtol=1e-5, atol=1e-6)


def test_repeated_frames_count_once_at_their_last_position():
    """A window holding a frame twice contributes its last occurrence only (ADE's indexed accumulation)."""
    opts = ContextOptions(16, 4, "looped", stride=2, closed_loop=True, fuse_method="pyramid")
    windows = get_windows(opts, 24, 3)
    weights = fuse_weights(opts, windows, 24)
    outputs = [torch.randn(16, 2, generator=torch.Generator().manual_seed(i)) for i in range(len(windows))]
    value = torch.zeros(24, 2, dtype=torch.float64)
    count = torch.zeros(24, 1, dtype=torch.float64)
    for window, out in zip(windows, outputs):
        w = torch.tensor([min(i + 1, 16 - i) for i in range(16)], dtype=torch.float64).view(-1, 1)
        for pos, f in enumerate(window):  # sequential assignment: the last write of a frame wins
            last = max(p for p, g in enumerate(window) if g == f)
            if pos == last:
                value[f] += out[pos].double() * w[pos]
                count[f] += w[pos]
    repeated = [w for w in windows if len(set(w)) < len(w)]
    assert repeated
    torch.testing.assert_close(fuse(outputs, windows, weights, 24).double(), value / count, rtol=1e-5, atol=1e-6)


def test_random_is_reproducible_and_seeded():
    """random: U[0,1) * m + 0.001 from a generator of (seed, step, window); the same seed gives the same weights."""
    opts = ContextOptions(8, 3, fuse_method="random")
    windows = get_windows(opts, 20)
    a = fuse_weights(opts, windows, 20, seed=7, step=2)
    assert all(torch.equal(x, y) for x, y in zip(a, fuse_weights(opts, windows, 20, seed=7, step=2)))
    assert not torch.equal(a[0], fuse_weights(opts, windows, 20, seed=8, step=2)[0])
    assert not torch.equal(a[0], fuse_weights(opts, windows, 20, seed=7, step=3)[0])
    raw = get_window_weights(opts, windows, 1, 20, seed=7, step=2).double()
    expected = np.random.default_rng([7, 2, 1]).random(8) * 4 + 0.001
    torch.testing.assert_close(raw, torch.tensor(expected), rtol=1e-6, atol=0)


def test_sigma_methods_need_a_sigma():
    with pytest.raises(ValueError, match="needs the sampling sigma"):
        get_window_weights(ContextOptions(fuse_method="gauss-sigma"), [list(range(16))], 0, 16)


def test_zero_total_weight_is_an_error():
    """gauss-sigma over 128-frame windows at a low sigma underflows to 0 on shared edge frames: a clear error."""
    opts = ContextOptions(128, 100, fuse_method="gauss-sigma")
    with pytest.raises(ContextOptionsError, match="total weight of 0"):
        fuse_weights(opts, get_windows(opts, 400), 400, sigma=0.01)


def test_views_use_pyramid_for_relative():
    opts = ContextOptions(8, 3, fuse_method="relative")
    windows = get_windows(opts, 20)
    pyramid = fuse_weights(ContextOptions(8, 3), windows, 20)
    in_views = fuse_weights(opts, windows, 20, in_views=True)
    assert all(torch.equal(a, b) for a, b in zip(pyramid, in_views))
    assert not torch.equal(fuse_weights(opts, windows, 20)[0], pyramid[0])
