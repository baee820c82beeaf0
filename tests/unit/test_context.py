"""Tests for animatelcm_core.context: window schedules (AnimateDiff-Evolved's lists), fusing and option validation.

The reference schedules below are written here from ADE's documented behaviour (animatelcm_core/context_schedules.py
describes it); a few lists are pinned to what ADE 1.5.7 itself returned, and tests/packs/test_context_parity.py
compares against ADE's own functions in its worker.
"""
import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from animatelcm_core.context import (
    FUSE_METHODS,
    SCHEDULES,
    ContextOptions,
    fuse,
    fuse_weights,
    get_windows,
    is_active,
    ordered_halving,
    overlap_cost,
)
from animatelcm_core.errors import ContextOptionsError


def _rng(a: int, b: int) -> list[int]:
    """Inclusive range [a..b], as written in the hand-derived expectations."""
    return list(range(a, b + 1))


# ---------------------------------------------------------------- reference schedules (from the documentation)

def ref_phase(step: int) -> float:
    """The step's 64 bits read in reverse as a binary fraction: bit i of the step is worth 2**-(i+1)."""
    return sum(((step >> i) & 1) * 2.0 ** -(i + 1) for i in range(64))


def ref_looped(n, length, overlap, stride, closed, step):
    if n < length:
        return [list(range(n))]
    p = ref_phase(step)
    levels = min(stride, math.ceil(math.log2(n / length)) + 1)
    out = []
    for s in (2 ** k for k in range(levels)):
        pad = round(n * p)
        start, end = int(p * s) + pad, n + pad - (0 if closed else overlap)
        while start < end:
            out.append([(start + s * i) % n for i in range(length)])
            start += length * s - overlap
    return out


def ref_uniform(n, length, overlap, stride, closed, step):
    if n <= length:
        return [list(range(n))]
    pending, done = ref_looped(n, length, overlap, stride, False, step), []
    while pending:
        w = pending.pop(0)
        drops = [k for k in range(1, len(w)) if w[k] < w[k - 1]]
        if drops:
            wrapped_to = w[drops[0]]
            offsets = [(v - w[0]) % n for v in w]
            w = [o + n - 1 - offsets[-1] for o in offsets]
            following = pending[0] if pending else (done + [w])[0]
            if wrapped_to not in following:
                pending.insert(0, list(range(wrapped_to, wrapped_to + length)))
        done.append(w)
    return [w for i, w in enumerate(done) if w not in done[:i]]


def ref_static(n, length, overlap, stride, closed, step):
    if n <= length:
        return [list(range(n))]
    out = []
    for start in range(0, n, length - overlap):
        if start + length >= n:
            return out + [list(range(n - length, n))]
        out.append(list(range(start, start + length)))
    return out


def ref_batched(n, length, overlap, stride, closed, step):
    return [list(range(a, min(a + length, n))) for a in range(0, n, length)] if n > length else [list(range(n))]


REFERENCE = {"static": ref_static, "uniform": ref_uniform, "looped": ref_looped, "batched": ref_batched}


# ---------------------------------------------------------------- ordered_halving

def test_ordered_halving_is_bit_reversal():
    """ordered_halving reverses the 64 bits of the step: 1 -> 0.5, 2 -> 0.25, 2**63 -> 2**-64."""
    assert [ordered_halving(i) for i in range(8)] == [0.0, 0.5, 0.25, 0.75, 0.125, 0.625, 0.375, 0.875]
    assert ordered_halving(2**63) == 2.0**-64
    assert all(ordered_halving(s) == ref_phase(s) for s in range(0, 5000, 7))


def test_ordered_halving_rejects_negative_step():
    with pytest.raises(ContextOptionsError, match="step"):
        ordered_halving(-1)


# ---------------------------------------------------------------- schedules: pinned lists

def test_static_windows_hand_derived():
    """64 frames, length 16, overlap 4: five fixed windows, the same at every step."""
    opts = ContextOptions(length=16, overlap=4, schedule="static")
    expected = [_rng(0, 15), _rng(12, 27), _rng(24, 39), _rng(36, 51), _rng(48, 63)]
    for step in (0, 1, 7):
        assert get_windows(opts, 64, step) == expected
    assert get_windows(ContextOptions(), 20) == [_rng(0, 15), _rng(4, 19)]  # the last window moved back


def test_lists_ade_returned():
    """Lists ADE 1.5.7 returned for 24 frames, length 8, overlap 4 (and a few others)."""
    u = ContextOptions(8, 4, "uniform")
    assert get_windows(u, 24, 1) == [_rng(12, 19), _rng(16, 23), _rng(0, 7), _rng(4, 11)]
    assert get_windows(u, 24, 2) == [_rng(6, 13), _rng(10, 17), _rng(14, 21), _rng(16, 23), _rng(0, 7)]
    lo = ContextOptions(8, 4, "looped")
    assert get_windows(lo, 24, 1) == [_rng(12, 19), _rng(16, 23), _rng(20, 23) + _rng(0, 3), _rng(0, 7), _rng(4, 11)]
    assert get_windows(lo, 24, 3) == [_rng(18, 23) + _rng(0, 1), _rng(22, 23) + _rng(0, 5), _rng(2, 9), _rng(6, 13),
                                     _rng(10, 17)]
    strided = [_rng(0, 7), _rng(6, 13), _rng(12, 19), list(range(0, 16, 2)), [14, 16, 18, 0, 2, 4, 6, 8]]
    assert get_windows(ContextOptions(8, 2, "looped", stride=2), 20, 0) == strided
    assert get_windows(ContextOptions(8, 0, "batched"), 20) == [_rng(0, 7), _rng(8, 15), _rng(16, 19)]
    rotated = ContextOptions(8, 2, "looped", use_on_equal_length=True)
    assert get_windows(rotated, 8, 1) == [_rng(4, 7) + _rng(0, 3)]


def test_looped_closed_windows_hand_derived():
    """Closed-loop windows at steps 0 and 1, derived by hand from pad = round(64 * phase)."""
    opts = ContextOptions(schedule="looped", closed_loop=True)
    wrap0 = _rng(60, 63) + _rng(0, 11)
    assert get_windows(opts, 64, 0) == [_rng(0, 15), _rng(12, 27), _rng(24, 39), _rng(36, 51), _rng(48, 63), wrap0]
    wrap1 = _rng(56, 63) + _rng(0, 7)
    assert get_windows(opts, 64, 1) == [_rng(32, 47), _rng(44, 59), wrap1, _rng(4, 19), _rng(16, 31), _rng(28, 43)]


def test_aliases_and_names():
    """ADE's long names are aliases; views_only is one window of all frames."""
    assert get_windows(ContextOptions(schedule="standard_static"), 64) == get_windows(ContextOptions(), 64)
    for alias, name in (("looped_uniform", "looped"), ("standard_uniform", "uniform")):
        assert get_windows(ContextOptions(schedule=alias), 64, 5) == get_windows(ContextOptions(schedule=name), 64, 5)
    views = ContextOptions(8, 2)
    assert get_windows(ContextOptions(schedule="view_as_context", views=views), 40, 3) == [list(range(40))]


# ---------------------------------------------------------------- schedules: against the reference

@settings(max_examples=400, deadline=None)
@given(schedule=st.sampled_from(SCHEDULES), n=st.integers(1, 130), length=st.integers(1, 32), data=st.data(),
       stride=st.integers(1, 5), closed=st.booleans(), step=st.one_of(st.integers(0, 60), st.integers(0, 2**64 - 1)))
def test_schedules_equal_reference(schedule, n, length, data, stride, closed, step):
    overlap = 0 if schedule == "batched" else data.draw(st.integers(0, length - 1))
    _assert_reference(ContextOptions(length, overlap, schedule, stride, closed), n, step)


def _assert_reference(opts, n, step):
    """The windows equal the reference's; where the reference leaves the video, a clear error instead."""
    expected = REFERENCE[opts.schedule](n, opts.length, opts.overlap, opts.stride, opts.closed_loop, step)
    if all(0 <= f < n for w in expected for f in w):
        assert get_windows(opts, n, step) == expected
    else:
        with pytest.raises(ContextOptionsError, match=f"do not fit {n} frames .*use context_stride 1"):
            get_windows(opts, n, step)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_schedules_grid(schedule):
    """Every (frames, length, overlap, stride, loop, step) of a grid equals the reference."""
    for n, length, overlap, stride, closed, step in itertools.product(
            (1, 7, 16, 17, 24, 31, 48, 64, 77), (4, 8, 16), (0, 1, 4), (1, 2, 3), (False, True), range(9)):
        if overlap < length:
            _assert_reference(ContextOptions(length, 0 if schedule == "batched" else overlap, schedule, stride, closed),
                              n, step)


def test_open_uniform_and_static_never_wrap():
    """static, uniform and batched windows are increasing runs (no wrap-around), unlike looped."""
    for schedule in ("static", "uniform", "batched"):
        strides = (1, 2) if schedule != "uniform" else (1,)
        for n, step, stride in itertools.product((20, 48, 64, 77), range(12), strides):
            for w in get_windows(ContextOptions(16, 0 if schedule == "batched" else 4, schedule, stride), n, step):
                assert all(b > a for a, b in zip(w, w[1:])), (schedule, n, step, w)
    assert any(any(b < a for a, b in zip(w, w[1:])) for step in range(8)
               for w in get_windows(ContextOptions(16, 4, "looped"), 64, step))


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("num_frames", (1, 5, 15))
def test_short_video_gives_one_window(schedule, num_frames):
    """A video shorter than the context gives the single window [0..N-1]."""
    opts = ContextOptions(schedule=schedule, closed_loop=True, stride=3, overlap=0 if schedule == "batched" else 4)
    assert get_windows(opts, num_frames, 3) == [list(range(num_frames))]


def test_uniform_strides_that_do_not_fit():
    """ADE's uniform windows with stride 2 do not fit videos shorter than 2 * length - 1: a clear error."""
    with pytest.raises(ContextOptionsError, match=r"uniform context windows of length 16, stride 2 do not fit 20 "
                                                  r"frames \(at step 0 a window reaches frame 2[0-9]\)"):
        get_windows(ContextOptions(16, 4, "uniform", stride=2), 20, 0)
    assert get_windows(ContextOptions(16, 4, "uniform", stride=2), 31, 0)


def test_activation():
    """Windows act on longer videos; on equally long ones only with use_on_equal_length; views_only always."""
    assert not is_active(ContextOptions(16), 16) and is_active(ContextOptions(16), 17)
    assert is_active(ContextOptions(16, use_on_equal_length=True), 16)
    assert not is_active(ContextOptions(16, use_on_equal_length=True), 15)
    assert is_active(ContextOptions(schedule="views_only", views=ContextOptions(8, 2)), 4)


def test_overlap_cost():
    assert overlap_cost(ContextOptions(), 64) == 80 / 64
    assert overlap_cost(ContextOptions(), 16) == 1.0
    assert overlap_cost(ContextOptions(overlap=0), 64) == 1.0


# ---------------------------------------------------------------- fuse

def test_flat_weights_average_overlaps():
    opts = ContextOptions(fuse_method="flat")
    weights = fuse_weights(opts, get_windows(opts, 64), 64)
    assert weights[0][:12].tolist() == [1.0] * 12
    assert weights[0][12:].tolist() == [0.5] * 4


@pytest.mark.parametrize("fuse_method", FUSE_METHODS)
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_fuse_weights_sum_to_one(schedule, fuse_method):
    """Normalised weights are fp32, >= 0 and sum to 1 on every frame, for every schedule and method."""
    for n, step, stride, closed in itertools.product((16, 20, 64, 77), range(0, 21, 4), (1, 2), (False, True)):
        opts = ContextOptions(16, 0 if schedule == "batched" else 4, schedule, stride, closed, fuse_method)
        if schedule == "uniform" and stride > 1 and n < 31:
            continue  # those windows do not fit (test_uniform_strides_that_do_not_fit)
        windows = get_windows(opts, n, step)
        total = torch.zeros(n)
        for window, w in zip(windows, fuse_weights(opts, windows, n, sigma=1.5, seed=3, step=step)):
            assert w.dtype == torch.float32 and (w >= 0).all()
            total.index_add_(0, torch.tensor(window), w)
        torch.testing.assert_close(total, torch.ones(n), atol=1e-5, rtol=0)


def test_fuse_weights_reject_uncovered_frames():
    with pytest.raises(ContextOptionsError, match="do not cover frame 4"):
        fuse_weights(ContextOptions(length=4, overlap=0), [_rng(0, 3)], 6)


def test_fuse_weights_reject_frames_outside():
    with pytest.raises(ContextOptionsError, match="index 17 is outside"):
        fuse_weights(ContextOptions(length=4, overlap=0), [_rng(0, 16), [17]], 17)


@pytest.mark.parametrize("frame_dim", (0, 2, -1))
def test_fuse_of_constant_outputs_is_constant(frame_dim):
    """Fusing identical constant outputs returns that constant, on any frame dim (repeated frames included)."""
    opts = ContextOptions(schedule="looped", closed_loop=True, stride=2, fuse_method="pyramid")
    windows = get_windows(opts, 24, 3)
    assert any(len(set(w)) < len(w) for w in windows)  # stride-2 windows wider than the video repeat frames
    weights = fuse_weights(opts, windows, 24)
    shape = [2, 3, 5]
    shape[frame_dim] = 16
    fused = fuse([torch.full(shape, 0.7) for _ in windows], windows, weights, 24, frame_dim=frame_dim)
    expected_shape = list(shape)
    expected_shape[frame_dim] = 24
    torch.testing.assert_close(fused, torch.full(expected_shape, 0.7), atol=1e-6, rtol=0)


def test_fuse_places_frames_by_index():
    """Each window output lands on its own frame indices: windows that output their indices fuse to the ramp."""
    for opts in (ContextOptions(schedule="uniform", fuse_method="overlap-linear"),
                 ContextOptions(schedule="looped", stride=2, fuse_method="gauss-sigma")):
        windows = get_windows(opts, 50, 2)
        outputs = [torch.tensor(w, dtype=torch.float32).view(-1, 1) for w in windows]
        fused = fuse(outputs, windows, fuse_weights(opts, windows, 50, sigma=2.0), 50)
        torch.testing.assert_close(fused.squeeze(1), torch.arange(50, dtype=torch.float32), atol=1e-4, rtol=0)


def test_fuse_keeps_half_precision_dtype():
    opts = ContextOptions()
    windows = get_windows(opts, 20)
    outputs = [torch.ones(16, 4, dtype=torch.float16) for _ in windows]
    fused = fuse(outputs, windows, fuse_weights(opts, windows, 20), 20)
    assert fused.dtype == torch.float16 and fused.shape == (20, 4)
    assert torch.allclose(fused.float(), torch.ones(20, 4), atol=1e-3)


def test_fuse_rejects_mismatched_window_output():
    opts = ContextOptions()
    windows = get_windows(opts, 20)
    with pytest.raises(ValueError, match="16 frames"):
        fuse([torch.ones(15), torch.ones(16)], windows, fuse_weights(opts, windows, 20), 20)


# ---------------------------------------------------------------- validation

@pytest.mark.parametrize(("kwargs", "words"), [
    ({"length": 0}, "context_length must be at least 1"),
    ({"overlap": -1}, "context_overlap must be at least 0"),
    ({"length": 4, "overlap": 4}, r"context_overlap \(4\) must be smaller than context_length \(4\)"),
    ({"stride": 0}, "context_stride must be at least 1"),
    ({"length": 16.0}, "context_length must be an integer"),
    ({"schedule": "spiral"}, "unknown context schedule 'spiral'; allowed: static, uniform, looped, batched"),
    ({"fuse_method": "gauss"}, "unknown context fuse method 'gauss'; allowed: pyramid, relative, flat"),
    ({"schedule": "views_only"}, "views_only context options need view options"),
    ({"views": ContextOptions(8, 8)}, r"view_overlap \(8\) must be smaller than view_length \(8\)"),
    ({"views": ContextOptions(8, 2, "batched")}, "view options schedule 'batched' is not allowed"),
    ({"views": ContextOptions(8, 2, views=ContextOptions(4, 1))}, "view options cannot have view options"),
])
def test_bad_options_raise(kwargs, words):
    """Each bad option raises ContextOptionsError with the documented words."""
    opts = ContextOptions(**kwargs)
    with pytest.raises(ContextOptionsError, match=words):
        opts.validate()
    with pytest.raises(ContextOptionsError, match=words):
        get_windows(opts, 64)


def test_length_above_motion_module_limit():
    """Windows (or views) longer than the position-encoding limit are refused with a fix suggested."""
    opts = ContextOptions(length=32)
    with pytest.raises(ContextOptionsError, match="limited to 24 frames") as info:
        opts.validate(num_frames=64, max_length=24)
    assert "position-encoding stretch" in str(info.value) and "at most 24" in str(info.value)
    opts.validate(num_frames=20, max_length=24)  # a 20-frame video only needs 20-frame windows
    ContextOptions(length=24).validate(max_length=24)
    ContextOptions(length=32, views=ContextOptions(16, 4)).validate(max_length=24)  # views bound the attention
    with pytest.raises(ContextOptionsError, match=r"view_length \(32\) gives 32-frame windows"):
        ContextOptions(schedule="views_only", views=ContextOptions(32, 4)).validate(max_length=24)


def test_bad_frame_count_and_step():
    with pytest.raises(ContextOptionsError, match="num_frames must be at least 1"):
        get_windows(ContextOptions(), 0)
    with pytest.raises(ContextOptionsError, match="step"):
        get_windows(ContextOptions(), 64, -1)


def test_options_are_frozen():
    with pytest.raises(AttributeError):
        ContextOptions().length = 8  # type: ignore[misc]


def test_position_encoding_stretch_interpolates_with_aligned_end_points():
    """Position-encoding stretch (nodes/context.py stretches every table with it): a table of the new length whose
    end points are the original first/last rows; the input table is left as it was."""
    from animatelcm_core.motion_module import stretch_pe
    original = torch.randn(1, 32, 128, generator=torch.Generator().manual_seed(0))
    before = original.clone()
    table = stretch_pe(original, 48)
    assert table.shape == (1, 48, 128)
    for j in range(48):  # linear interpolation, end points aligned: new position j sits at old position j*31/47
        p = j * 31 / 47
        lo = int(p)
        w = p - lo
        expected = (1 - w) * original[0, lo] + w * original[0, min(lo + 1, 31)]
        torch.testing.assert_close(table[0, j], expected, rtol=1e-5, atol=1e-5)
    assert torch.equal(original, before) and stretch_pe(original, 32) is original
