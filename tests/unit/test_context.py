"""Tests for animatelcm_core.context: window schedules, fuse weights and option validation."""
import itertools

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
    get_window_weights,
    get_windows,
    ordered_halving,
    overlap_cost,
)
from animatelcm_core.errors import ContextOptionsError

FRAME_COUNTS = (1, 15, 16, 17, 20, 31, 48, 64, 77, 100)
OPTION_GRID = [
    ContextOptions(schedule=s, stride=stride, closed_loop=closed)
    for s, stride, closed in itertools.product(SCHEDULES, (1, 2, 3), (False, True))
]


def _rng(a: int, b: int) -> list[int]:
    """Inclusive range [a..b], as written in the hand-derived expectations."""
    return list(range(a, b + 1))


def _wraps(window: list[int]) -> bool:
    """True when the indices of a window are not increasing (it went past the end to the start)."""
    return any(b <= a for a, b in zip(window, window[1:]))


def _check_windows(opts: ContextOptions, num_frames: int, step: int) -> list[list[int]]:
    """Assert the structural invariants of get_windows and return the windows."""
    windows = get_windows(opts, num_frames, step)
    assert windows, "no windows"
    covered = set()
    for window in windows:
        assert len(window) == min(opts.length, num_frames)
        assert all(0 <= f < num_frames for f in window)
        assert len(set(window)) == len(window), f"repeated frame in {window}"
        covered.update(window)
    assert covered == set(range(num_frames)), f"uncovered: {set(range(num_frames)) - covered}"
    assert len({tuple(w) for w in windows}) == len(windows), "duplicate windows"
    return windows


# ---------------------------------------------------------------- ordered_halving

def test_ordered_halving_is_bit_reversal():
    """ordered_halving reverses the 64 bits of the step: 1 -> 0.5, 2 -> 0.25, 2**63 -> 2**-64."""
    assert [ordered_halving(i) for i in range(8)] == [0.0, 0.5, 0.25, 0.75, 0.125, 0.625, 0.375, 0.875]
    assert ordered_halving(2**63) == 2.0**-64


def test_ordered_halving_rejects_negative_step():
    """A negative step is an options error."""
    with pytest.raises(ContextOptionsError, match="step"):
        ordered_halving(-1)


# ---------------------------------------------------------------- schedules

@pytest.mark.parametrize("opts", OPTION_GRID, ids=repr)
def test_every_schedule_covers_every_frame_at_every_step(opts):
    """Every schedule/stride/loop combination covers all frames, in range, for steps 0..20."""
    for num_frames, step in itertools.product(FRAME_COUNTS, range(21)):
        _check_windows(opts, num_frames, step)


def test_static_windows_hand_derived():
    """64 frames, length 16, overlap 4: five fixed windows, the same at every step."""
    opts = ContextOptions(length=16, overlap=4, schedule="static")
    expected = [_rng(0, 15), _rng(12, 27), _rng(24, 39), _rng(36, 51), _rng(48, 63)]
    for step in (0, 1, 7):
        assert get_windows(opts, 64, step) == expected


def test_static_last_window_is_shifted_back():
    """The last static window is moved back to end on the last frame."""
    # 20 frames, hop 12: [0..15], then [12..27] would overrun, so it becomes [4..19].
    assert get_windows(ContextOptions(), 20) == [_rng(0, 15), _rng(4, 19)]


def test_uniform_windows_hand_derived_step1():
    """Uniform at step 1 follows the looped phase but clamps windows inside the video."""
    # step 1: phase 0.5, pad = 32, windows every 12 frames through frame 32 -> offset 32 % 12 = 8.
    # [-4..11] is shifted to [0..15]; [56..71] is shifted back to [48..63].
    opts = ContextOptions(schedule="uniform")
    expected = [_rng(0, 15), _rng(8, 23), _rng(20, 35), _rng(32, 47), _rng(44, 59), _rng(48, 63)]
    assert get_windows(opts, 64, 1) == expected


def test_uniform_windows_change_with_step():
    """Uniform windows move with the step index."""
    opts = ContextOptions(schedule="uniform")
    distinct = {tuple(map(tuple, get_windows(opts, 64, step))) for step in range(8)}
    assert len(distinct) > 1


def test_looped_closed_windows_hand_derived():
    """Closed-loop windows at steps 0 and 1, derived by hand from pad = round(64 * phase)."""
    opts = ContextOptions(schedule="looped", closed_loop=True)
    wrap0 = _rng(60, 63) + _rng(0, 11)
    assert get_windows(opts, 64, 0) == [_rng(0, 15), _rng(12, 27), _rng(24, 39), _rng(36, 51), _rng(48, 63), wrap0]
    wrap1 = _rng(56, 63) + _rng(0, 7)
    assert get_windows(opts, 64, 1) == [_rng(32, 47), _rng(44, 59), wrap1, _rng(4, 19), _rng(16, 31), _rng(28, 43)]


def test_looped_stride_two_takes_every_other_frame():
    """context_stride 2 adds stride-2 windows (every other frame, hop 2*12)."""
    opts = ContextOptions(schedule="looped", closed_loop=True, stride=2)
    strided = [w for w in get_windows(opts, 64, 0) if w[1] - w[0] not in (1, 1 - 64)]
    assert strided[0] == list(range(0, 32, 2))
    assert strided[1] == list(range(24, 56, 2))
    assert strided[2] == list(range(48, 64, 2)) + list(range(0, 16, 2))


def test_closed_loop_wraps_for_some_step():
    """A closed loop has some window that runs from frame N-1 into frame 0."""
    opts = ContextOptions(schedule="looped", closed_loop=True)
    for num_frames in (20, 48, 64, 77):
        assert any(num_frames - 1 in w and 0 in w and _wraps(w)
                   for step in range(21) for w in get_windows(opts, num_frames, step))


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_open_loop_never_wraps(schedule):
    """Without closed_loop no window wraps and every window keeps a constant stride."""
    for stride in (1, 2, 3):
        opts = ContextOptions(schedule=schedule, stride=stride, closed_loop=False)
        for num_frames, step in itertools.product(FRAME_COUNTS, range(21)):
            for window in get_windows(opts, num_frames, step):
                assert not _wraps(window), window
                assert len({b - a for a, b in zip(window, window[1:])}) <= 1  # constant stride


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("num_frames", (1, 5, 16))
def test_short_video_gives_one_window(schedule, num_frames):
    """A video no longer than the context gives the single window [0..N-1]."""
    opts = ContextOptions(schedule=schedule, closed_loop=True, stride=3)
    assert get_windows(opts, num_frames, 3) == [list(range(num_frames))]


def test_schedule_aliases():
    """The long schedule names are aliases of the short ones."""
    assert get_windows(ContextOptions(schedule="standard_static"), 64) == get_windows(ContextOptions(), 64)
    looped = ContextOptions(schedule="looped", closed_loop=True)
    alias = ContextOptions(schedule="looped_uniform", closed_loop=True)
    assert get_windows(alias, 64, 5) == get_windows(looped, 64, 5)


def test_overlap_cost():
    """Cost is frames processed per frame of video."""
    assert overlap_cost(ContextOptions(), 64) == 80 / 64
    assert overlap_cost(ContextOptions(), 16) == 1.0
    assert overlap_cost(ContextOptions(overlap=0), 64) == 1.0


# ---------------------------------------------------------------- weights and fuse

def test_pyramid_weights_shape():
    """Pyramid weights are min(i+1, L-i)."""
    windows = [_rng(0, 4), _rng(3, 7)]
    assert get_window_weights(ContextOptions(length=5, overlap=2), windows, 0).tolist() == [1, 2, 3, 2, 1]
    assert get_window_weights(ContextOptions(length=4, overlap=1), [_rng(0, 3)], 0).tolist() == [1, 2, 2, 1]


def test_overlap_linear_static_hand_derived():
    """overlap-linear ramps only over shared edges: a linear crossfade over 4 frames."""
    opts = ContextOptions(fuse_method="overlap-linear")
    weights = fuse_weights(opts, get_windows(opts, 64), 64)
    ramp = [0.2, 0.4, 0.6, 0.8]
    torch.testing.assert_close(weights[0], torch.tensor([1.0] * 12 + ramp[::-1]))
    torch.testing.assert_close(weights[2], torch.tensor(ramp + [1.0] * 8 + ramp[::-1]))
    torch.testing.assert_close(weights[4], torch.tensor(ramp + [1.0] * 12))


def test_flat_weights_average_overlaps():
    """Flat weights average the windows that share a frame."""
    opts = ContextOptions(fuse_method="flat")
    weights = fuse_weights(opts, get_windows(opts, 64), 64)
    assert weights[0][:12].tolist() == [1.0] * 12
    assert weights[0][12:].tolist() == [0.5] * 4


@pytest.mark.parametrize("fuse_method", FUSE_METHODS)
@pytest.mark.parametrize("opts", OPTION_GRID, ids=repr)
def test_fuse_weights_sum_to_one(opts, fuse_method):
    """Normalised weights are positive fp32 and sum to 1 on every frame."""
    opts = ContextOptions(schedule=opts.schedule, stride=opts.stride, closed_loop=opts.closed_loop,
                          fuse_method=fuse_method)
    for num_frames, step in itertools.product((16, 20, 64, 77), range(0, 21, 4)):
        windows = get_windows(opts, num_frames, step)
        total = torch.zeros(num_frames)
        for window, w in zip(windows, fuse_weights(opts, windows, num_frames)):
            assert w.dtype == torch.float32 and (w > 0).all()
            total.index_add_(0, torch.tensor(window), w)
        torch.testing.assert_close(total, torch.ones(num_frames), atol=1e-6, rtol=0)


def test_fuse_weights_reject_uncovered_frames():
    """Windows that leave a frame uncovered cannot be fused."""
    with pytest.raises(ContextOptionsError, match="do not cover frame 4"):
        fuse_weights(ContextOptions(length=4, overlap=0), [_rng(0, 3)], 6)


@pytest.mark.parametrize("frame_dim", (0, 2, -1))
def test_fuse_of_constant_outputs_is_constant(frame_dim):
    """Fusing identical constant outputs returns that constant, on any frame dim."""
    opts = ContextOptions(schedule="looped", closed_loop=True, stride=2, fuse_method="pyramid")
    windows = get_windows(opts, 64, 3)
    weights = fuse_weights(opts, windows, 64)
    shape = [2, 3, 5]
    shape[frame_dim] = 16
    outputs = [torch.full(shape, 0.7) for _ in windows]
    fused = fuse(outputs, windows, weights, 64, frame_dim=frame_dim)
    expected_shape = list(shape)
    expected_shape[frame_dim] = 64
    assert list(fused.shape) == expected_shape
    torch.testing.assert_close(fused, torch.full(expected_shape, 0.7), atol=1e-6, rtol=0)


def test_fuse_places_frames_by_index():
    """Each window output lands on its own frame indices."""
    # Each window outputs its own frame indices: the fused result must be the identity ramp.
    opts = ContextOptions(schedule="uniform", fuse_method="overlap-linear")
    windows = get_windows(opts, 50, 2)
    outputs = [torch.tensor(w, dtype=torch.float32).view(-1, 1) for w in windows]
    fused = fuse(outputs, windows, fuse_weights(opts, windows, 50), 50)
    torch.testing.assert_close(fused.squeeze(1), torch.arange(50, dtype=torch.float32), atol=1e-4, rtol=0)


def test_fuse_keeps_half_precision_dtype():
    """fp16 outputs are accumulated in fp32 and returned as fp16."""
    opts = ContextOptions()
    windows = get_windows(opts, 20)
    outputs = [torch.ones(16, 4, dtype=torch.float16) for _ in windows]
    fused = fuse(outputs, windows, fuse_weights(opts, windows, 20), 20)
    assert fused.dtype == torch.float16 and fused.shape == (20, 4)
    assert torch.allclose(fused.float(), torch.ones(20, 4), atol=1e-3)


def test_fuse_rejects_mismatched_window_output():
    """An output whose frame count differs from its window is rejected."""
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
    ({"schedule": "spiral"}, "unknown context schedule 'spiral'; allowed: static, uniform, looped"),
    ({"fuse_method": "gauss"}, "unknown context fuse method 'gauss'; allowed: flat, pyramid, overlap-linear"),
])
def test_bad_options_raise(kwargs, words):
    """Each bad option raises ContextOptionsError with the documented words."""
    opts = ContextOptions(**kwargs)
    with pytest.raises(ContextOptionsError, match=words):
        opts.validate()
    with pytest.raises(ContextOptionsError, match=words):
        get_windows(opts, 64)


def test_length_above_motion_module_limit():
    """Windows longer than the position-encoding limit are refused with a fix suggested."""
    opts = ContextOptions(length=32)
    with pytest.raises(ContextOptionsError, match="limited to 24 frames") as info:
        opts.validate(num_frames=64, max_length=24)
    assert "position-encoding stretch" in str(info.value) and "at most 24" in str(info.value)
    opts.validate(num_frames=20, max_length=24)  # a 20-frame video only needs 20-frame windows
    ContextOptions(length=24).validate(max_length=24)


def test_bad_frame_count_and_step():
    """Zero frames and negative steps are refused."""
    with pytest.raises(ContextOptionsError, match="num_frames must be at least 1"):
        get_windows(ContextOptions(), 0)
    with pytest.raises(ContextOptionsError, match="step"):
        get_windows(ContextOptions(), 64, -1)


def test_options_are_frozen():
    """ContextOptions is immutable (safe to share and cache)."""
    with pytest.raises(AttributeError):
        ContextOptions().length = 8  # type: ignore[misc]


# ---------------------------------------------------------------- property test

@st.composite
def _options(draw):
    """Any valid ContextOptions within the property-test ranges."""
    length = draw(st.integers(1, 32))
    return ContextOptions(
        length=length,
        overlap=draw(st.integers(0, length - 1)),
        schedule=draw(st.sampled_from(SCHEDULES)),
        stride=draw(st.integers(1, 4)),
        closed_loop=draw(st.booleans()),
        fuse_method=draw(st.sampled_from(FUSE_METHODS)),
    )


@settings(max_examples=200, deadline=None)
@given(opts=_options(), num_frames=st.integers(1, 200), step=st.integers(0, 50))
def test_property_windows_and_weights(opts, num_frames, step):
    """Windows cover all frames, never wrap unless closed looped, and fuse weights sum to 1."""
    windows = _check_windows(opts, num_frames, step)
    if not (opts.schedule == "looped" and opts.closed_loop):
        assert not any(_wraps(w) for w in windows)
    weights = fuse_weights(opts, windows, num_frames)
    total = torch.zeros(num_frames)
    for window, w in zip(windows, weights):
        assert w.shape == (len(window),) and (w > 0).all()
        total.index_add_(0, torch.tensor(window), w)
    torch.testing.assert_close(total, torch.ones(num_frames), atol=1e-5, rtol=0)
    fused = fuse([torch.full((len(w), 2), 3.0) for w in windows], windows, weights, num_frames)
    torch.testing.assert_close(fused, torch.full((num_frames, 2), 3.0), atol=1e-5, rtol=0)
    assert overlap_cost(opts, num_frames, step) >= 1.0


def test_stretched_encodings_interpolate_without_touching_the_model():
    """Position-encoding stretch: tables of the new length whose end points are the original first/last rows."""
    from animatelcm_core.build import motion_model_from_state_dict
    from animatelcm_core.context import stretched_encodings
    from synth_weights import FAMILY_FILES, random_state_dict
    model, _ = motion_model_from_state_dict(random_state_dict(FAMILY_FILES["v3"], seed=0), "v3")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    tables = stretched_encodings(model, 48)
    assert len(tables) == 40
    key = "up_blocks.1.motion_modules.2.temporal_transformer.transformer_blocks.0.attention_blocks.1.pos_encoder.pe"
    original = before[key]
    assert tables[key].shape == (1, 48, 128)
    for j in range(48):  # linear interpolation, end points aligned: new position j sits at old position j*31/47
        p = j * 31 / 47
        lo = int(p)
        w = p - lo
        expected = (1 - w) * original[0, lo] + w * original[0, min(lo + 1, 31)]
        torch.testing.assert_close(tables[key][0, j], expected, rtol=1e-5, atol=1e-6)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
