"""Tests for animatelcm_core.freenoise: FreeNoise noise rescheduling (Qiu et al., ICLR 2024, section 3.2, Eq. 7)."""
import pytest
import torch

from animatelcm_core.context import ContextOptions, get_windows
from animatelcm_core.errors import NoiseInitError
from animatelcm_core.freenoise import (
    freenoise_windows,
    reschedule_noise,
    reschedule_static,
    source_map,
    static_windows,
)

# (frames, window length N, overlap): aligned, shifted-back last window, S dividing N or not, no overlap, stride 1.
LAYOUTS = [(64, 16, 4), (36, 16, 4), (30, 8, 4), (20, 16, 4), (41, 16, 6), (50, 16, 0), (19, 16, 15), (77, 16, 8)]
SEEDS = (0, 1, 12345, 2**64 - 1)


def _noise(num_frames: int, seed: int = 7) -> torch.Tensor:
    """Small i.i.d. noise, frames first, whose frames are all different."""
    return torch.randn(num_frames, 2, 3, 3, generator=torch.Generator().manual_seed(seed))


def _base_frame_of(frame: torch.Tensor, base: torch.Tensor) -> int:
    """The one frame of `base` equal to `frame` (asserts there is exactly one)."""
    hits = [i for i in range(base.shape[0]) if torch.equal(frame, base[i])]
    assert len(hits) == 1, f"frame matches base frames {hits}"
    return hits[0]


def _shuffle_reference(noise: torch.Tensor, length: int, overlap: int, seed: int) -> torch.Tensor:
    """The in-place construction as described for ComfyUI 0.33 (and FreeNoise's official AnimateDiff code): one CPU
    generator seeded once; for start = 0, S, 2S, ... while start < F - N, the frames [start + N, start + N + d) take
    the frames start + randperm(d) of the noise as modified so far, d = min(S, F - N - start), S = N - overlap."""
    out = noise.clone()
    generator = torch.Generator(device="cpu").manual_seed(seed)
    num_frames, hop = out.shape[0], length - overlap
    for start in range(0, max(num_frames - length, 0), hop):
        count = min(hop, num_frames - length - start)
        out[start + length:start + length + count] = out[start + torch.randperm(count, generator=generator)]
    return out


# ---------------------------------------------------------------- the FreeNoise guarantee

@pytest.mark.parametrize("num_frames,length,overlap", LAYOUTS)
@pytest.mark.parametrize("seed", SEEDS)
def test_every_window_holds_each_first_window_frame_once(num_frames, length, overlap, seed):
    """Frame data check: every window's noise frames are the first window's frames, each exactly once."""
    noise = _noise(num_frames)
    windows = static_windows(num_frames, length, overlap)
    out = reschedule_static(noise, length, overlap, seed)
    base = noise[windows[0]]
    for window in windows:
        sources = [_base_frame_of(out[f], base) for f in window]
        assert sorted(sources) == list(range(len(windows[0]))), f"window {window[0]}..{window[-1]}: {sources}"
    assert torch.equal(out[windows[0]], base), "the first window's noise must be left as drawn"


@pytest.mark.parametrize("step", range(6))
def test_moving_uniform_windows_of_one_step_are_supported(step):
    """Uniform windows (stride 1) at a given step also get each first-window frame once per window."""
    windows = get_windows(ContextOptions(schedule="uniform"), 64, step)
    source = source_map(windows, 64, seed=3)
    for window in windows:
        assert sorted(source[f] for f in window) == sorted(windows[0])


@pytest.mark.parametrize("num_frames,length,overlap", LAYOUTS)
def test_source_map_describes_the_noise(num_frames, length, overlap):
    """reschedule_noise copies frame source_map[f] into frame f, and leaves its input untouched."""
    noise = _noise(num_frames)
    before = noise.clone()
    windows = static_windows(num_frames, length, overlap)
    out = reschedule_noise(noise, windows, seed=11)
    source = source_map(windows, num_frames, seed=11)
    assert all(torch.equal(out[f], noise[s]) for f, s in enumerate(source))
    assert set(source) <= set(windows[0])
    assert torch.equal(noise, before)


@pytest.mark.parametrize("num_frames,length,overlap", [(64, 8, 4), (30, 8, 4), (64, 16, 12), (50, 10, 5)])
def test_structure_of_paper_eq7(num_frames, length, overlap):
    """Eq. (7) with S = N - overlap dividing N: frames < N are eps_1..eps_N in order; the chunk of S frames from
    N + kS is a shuffle of the unit eps_{S(i+1)}..eps_{S(i+S)}, S(i) = i mod N, i.e. of the base frames
    [(kS) mod N, (kS) mod N + S); a last, shorter chunk takes distinct frames of its unit."""
    hop = length - overlap
    assert length % hop == 0
    source = source_map(static_windows(num_frames, length, overlap), num_frames, seed=5)
    assert source[:length] == list(range(length))
    for start in range(length, num_frames, hop):
        chunk = source[start:start + hop]
        unit_start = (start - length) % length
        unit = list(range(unit_start, unit_start + hop))
        assert len(set(chunk)) == len(chunk) and set(chunk) <= set(unit), (start, chunk, unit)
        if len(chunk) == hop:
            assert sorted(chunk) == unit


def test_chunks_are_shuffled_not_copied():
    """The rescheduled frames are really shuffled: over seeds, a chunk is not always in its unit's order."""
    orders = {tuple(source_map(static_windows(64, 16, 4), 64, seed)[16:28]) for seed in range(8)}
    assert len(orders) > 1
    assert all(sorted(order) == list(range(12)) for order in orders)


# ---------------------------------------------------------------- seeds

def test_deterministic_in_the_seed_and_independent_of_the_global_rng():
    """The same seed gives the same noise whatever the global RNG state, which is left alone."""
    noise = _noise(64)
    torch.manual_seed(1)
    first = reschedule_static(noise, 16, 4, seed=42)
    torch.manual_seed(2)
    state = torch.get_rng_state()
    second = reschedule_static(noise, 16, 4, seed=42)
    assert torch.equal(first, second)
    assert torch.equal(torch.get_rng_state(), state)


def test_different_seeds_give_different_shuffles():
    """Eight seeds give eight different source maps (the first window itself never changes)."""
    windows = static_windows(64, 16, 4)
    maps = [tuple(source_map(windows, 64, seed)) for seed in range(8)]
    assert len(set(maps)) == len(maps)
    assert {m[:16] for m in maps} == {tuple(range(16))}


# ---------------------------------------------------------------- ComfyUI 0.33 agreement

@pytest.mark.parametrize("num_frames,length,overlap", LAYOUTS + [(16, 16, 4), (5, 16, 4)])
@pytest.mark.parametrize("seed", (0, 99, 2**63 + 5))
def test_static_layout_equals_the_in_place_shuffle(num_frames, length, overlap, seed):
    """For the static layout and a seed, the result is bit-identical to the described in-place construction."""
    noise = _noise(num_frames)
    expected = _shuffle_reference(noise, length, overlap, seed)
    assert torch.equal(reschedule_static(noise, length, overlap, seed), expected)


def test_frame_dim_of_a_batched_tensor():
    """frame_dim=1 reschedules (B, F, C, H, W) noise along its frames, each batch entry alike."""
    noise = torch.randn(2, 40, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    out = reschedule_static(noise, 16, 4, seed=3, frame_dim=1)
    for b in range(2):
        assert torch.equal(out[b], _shuffle_reference(noise[b], 16, 4, 3))


# ---------------------------------------------------------------- short videos and layouts

@pytest.mark.parametrize("num_frames", (1, 8, 16))
def test_video_no_longer_than_a_window_is_unchanged(num_frames):
    """F <= N: the noise comes back unchanged and the source map is the identity."""
    noise = _noise(num_frames)
    assert torch.equal(reschedule_static(noise, 16, 4, seed=1), noise)
    assert source_map(static_windows(num_frames, 16, 4), num_frames, 1) == list(range(num_frames))


@pytest.mark.parametrize("schedule,stride,closed", [("uniform", 1, False), ("uniform", 2, False),
                                                    ("looped", 1, True), ("looped", 3, True), ("static", 1, True)])
def test_freenoise_windows_are_the_static_windows(schedule, stride, closed):
    """Whatever the schedule, FreeNoise reschedules for the static windows of the same length and overlap."""
    opts = ContextOptions(length=16, overlap=6, schedule=schedule, stride=stride, closed_loop=closed)
    assert freenoise_windows(opts, 64) == get_windows(ContextOptions(length=16, overlap=6), 64)


@pytest.mark.parametrize("opts", [ContextOptions(schedule="looped", closed_loop=True),
                                  ContextOptions(schedule="uniform", stride=2)], ids=("closed-loop", "stride-2"))
def test_layouts_that_could_repeat_a_frame_are_refused_for_every_seed(opts):
    """Wrapping closed-loop windows and stride-2 windows are refused with a clear error, whatever the seed."""
    windows = get_windows(opts, 64, 0)
    for seed in range(4):
        with pytest.raises(NoiseInitError, match="cannot reschedule this window layout.*freenoise_windows"):
            source_map(windows, 64, seed)


@pytest.mark.parametrize("windows,num_frames,match", [
    ([[0, 1, 2], [3, 4]], 5, "same length"),
    ([[0, 1, 2], [2, 3, 4]], 6, r"frames \[5\] are in no window"),
    ([[0, 1, 2], [1, 2, 7]], 5, r"frame 7, outside \[0, 5\)"),
    ([[0, 1, 1]], 3, "repeats a frame"),
    ([], 3, "non-empty list"),
    ([[0, 1.5]], 2, "frame indices"),
])
def test_bad_layouts_are_named(windows, num_frames, match):
    """A malformed window layout raises NoiseInitError saying what is wrong."""
    with pytest.raises(NoiseInitError, match=match):
        source_map(windows, num_frames, seed=0)


@pytest.mark.parametrize("seed", (True, 1.0, -(2**63) - 1, 2**64, "1"))
def test_bad_seed(seed):
    """A seed must be an integer a torch.Generator accepts."""
    with pytest.raises(NoiseInitError, match="seed must be an integer"):
        source_map([[0, 1]], 2, seed)


def test_bad_tensor_arguments():
    """Non-tensors, 0-D tensors and out-of-range frame_dim are refused with the input named."""
    with pytest.raises(NoiseInitError, match="noise must be a tensor"):
        reschedule_static([[0.0]], 16, 4, seed=0)
    with pytest.raises(NoiseInitError, match="0-D tensor"):
        reschedule_noise(torch.tensor(1.0), [[0]], seed=0)
    with pytest.raises(NoiseInitError, match="frame_dim"):
        reschedule_static(_noise(20), 16, 4, seed=0, frame_dim=4)
    with pytest.raises(NoiseInitError, match="context_overlap"):
        reschedule_static(_noise(20), 16, 16, seed=0)
