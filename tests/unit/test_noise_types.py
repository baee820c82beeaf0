"""Initial noise from a seed (animatelcm_core.noise_types): seed_gen comfy / auto1111, noise_type default /
constant / empty / repeated_context / FreeNoise, batch_offset, seed_offset, seed_override. References are built
here from the definitions (one generator per batch or per frame, FreeNoise's Eq. 7 property)."""
import pytest
import torch

from animatelcm_core.errors import NoiseInitError
from animatelcm_core.freenoise import reschedule_static, static_windows
from animatelcm_core.noise_types import NoiseSettings, make_noise

SHAPE = (20, 4, 3, 3)


def randn(shape, seed):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def test_default_is_comfyuis_noise():
    """ComfyUI's prepare_noise: torch.manual_seed(seed) then one randn of the latent's shape."""
    torch.manual_seed(5)
    expected = torch.randn(SHAPE)
    assert torch.equal(make_noise(NoiseSettings(), 5, SHAPE), expected)
    assert not NoiseSettings().changes_noise and NoiseSettings(seed_override=5).changes_noise


def test_comfy_batch_offset_and_seed_offset():
    noise = make_noise(NoiseSettings(batch_offset=3, seed_offset=-2), 7, SHAPE)
    assert torch.equal(noise, randn((23, *SHAPE[1:]), 5)[3:])
    assert torch.equal(make_noise(NoiseSettings(seed_override=11, seed_offset=1), 7, SHAPE), randn(SHAPE, 12))


def test_auto1111_draws_each_frame_from_its_own_seed():
    noise = make_noise(NoiseSettings(seed_gen="auto1111", batch_offset=2), 10, SHAPE)
    for i in range(SHAPE[0]):
        assert torch.equal(noise[i:i + 1], randn((1, *SHAPE[1:]), 10 + 2 + i))


@pytest.mark.parametrize("seed_gen,first", [("comfy", lambda s: randn((3, *SHAPE[1:]), s)[2:3]),
                                            ("auto1111", lambda s: randn((1, *SHAPE[1:]), s + 2))])
def test_constant_repeats_one_frame(seed_gen, first):
    noise = make_noise(NoiseSettings("constant", seed_gen, batch_offset=2), 4, SHAPE)
    assert torch.equal(noise, first(4).expand(SHAPE))


def test_empty_is_zeros():
    assert torch.equal(make_noise(NoiseSettings("empty"), 4, SHAPE), torch.zeros(SHAPE))


def test_repeated_context_repeats_the_first_window():
    noise = make_noise(NoiseSettings("repeated_context"), 3, SHAPE, window=(8, 2))
    base = randn(SHAPE, 3)
    for f in range(SHAPE[0]):
        assert torch.equal(noise[f], base[f % 8])


def test_freenoise_is_eq7_over_static_windows():
    """Every static window holds each base (first-window) frame exactly once, and the frames a window adds are a
    permutation of the frames `length` earlier (FreeNoise Eq. 7); the shuffle is FreeNoise's own with this seed."""
    length, overlap, seed = 8, 2, 9
    noise = make_noise(NoiseSettings("FreeNoise", seed_offset=1), seed - 1, SHAPE, window=(length, overlap))
    base = randn(SHAPE, seed)  # seed - 1 + seed_offset
    assert torch.equal(noise, reschedule_static(base, length, overlap, seed))
    source = [next(i for i in range(length) if torch.equal(noise[f], base[i])) for f in range(SHAPE[0])]
    for window in static_windows(SHAPE[0], length, overlap):
        assert sorted(source[f] for f in window) == list(range(length))
    for f in range(length, SHAPE[0] - 4):  # inside the aligned part: a shuffle of the frames one window earlier
        start = f - (f - length) % (length - overlap)
        block = range(start, start + length - overlap)
        assert source[f] in {source[g - length] for g in block}


@pytest.mark.parametrize("noise_type", ["repeated_context", "FreeNoise"])
def test_window_patterns_need_windows(noise_type):
    plain = make_noise(NoiseSettings(), 3, SHAPE)
    assert torch.equal(make_noise(NoiseSettings(noise_type), 3, SHAPE, window=None), plain)
    assert torch.equal(make_noise(NoiseSettings(noise_type), 3, SHAPE, window=(32, 4)), plain)
    assert not torch.equal(make_noise(NoiseSettings(noise_type), 3, SHAPE, window=(8, 4)), plain)


@pytest.mark.parametrize("kwargs,match", [({"noise_type": "pink"}, "noise_type"), ({"seed_gen": "nv"}, "seed_gen"),
                                          ({"batch_offset": -1}, "batch_offset"),
                                          ({"seed_override": 2 ** 64}, "seed_override")])
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(NoiseInitError, match=match):
        NoiseSettings(**kwargs)


def test_seed_out_of_range_is_refused():
    with pytest.raises(NoiseInitError, match="outside"):
        make_noise(NoiseSettings(seed_offset=1, seed_override=2 ** 64 - 1), 3, SHAPE)
