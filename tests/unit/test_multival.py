"""Multivals (number, per-frame list, mask) and per-pixel effect / scale in the motion module, against references
written here: NumPy bilinear resizing with half-pixel centres, the blend formula, and per-pixel scale equal to the
per-frame scale of that pixel's frames."""
import numpy as np
import pytest
import torch

from animatelcm_core.build import motion_model_from_state_dict
from animatelcm_core.multival import MultivalError, combine, from_floats, from_text, resize_spatial, scaled_mask
from synth_weights import FAMILY_FILES, random_state_dict


def bilinear_half_pixel(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """(H, W) -> (h, w): output pixel i samples input row (i + 0.5) * H / h - 0.5, clamped to [0, H - 1]."""
    def axis(n_in, n_out):
        src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, src - lo
    r0, r1, fr = axis(a.shape[0], h)
    c0, c1, fc = axis(a.shape[1], w)
    top = a[r0][:, c0] * (1 - fc) + a[r0][:, c1] * fc
    bottom = a[r1][:, c0] * (1 - fc) + a[r1][:, c1] * fc
    return top * (1 - fr[:, None]) + bottom * fr[:, None]


@pytest.mark.parametrize("size,to", [((8, 8), (4, 4)), ((5, 7), (16, 9)), ((64, 48), (8, 6)), ((3, 3), (3, 3))])
def test_resize_spatial_is_half_pixel_bilinear(size, to):
    a = np.random.default_rng(0).random((2, *size))
    got = resize_spatial(torch.tensor(a), *to).numpy()
    for f in range(2):
        np.testing.assert_allclose(got[f], bilinear_half_pixel(a[f], *to), rtol=0, atol=1e-6)


def test_number_schedule_list_and_mask_resolve_per_video_length():
    assert from_text(" 0.8 ").resolve(16) == 0.8
    assert from_text("0: 0.0, 3: 1.0").resolve(4).tolist() == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0])
    assert from_floats([1.0, 0.5, 0.25]).resolve(3).tolist() == [1.0, 0.5, 0.25]
    assert from_floats(np.float64(0.3)).resolve(5) == pytest.approx(0.3)
    mask = torch.rand(4, 6, 5)
    got = from_text("0.5", mask).resolve(4)
    torch.testing.assert_close(got, 0.5 * mask)
    per_frame = from_floats([1.0, 2.0, 3.0, 4.0], mask).resolve(4)
    torch.testing.assert_close(per_frame, mask * torch.tensor([1.0, 2.0, 3.0, 4.0]).view(4, 1, 1))
    single = from_text("2.0", torch.rand(6, 5)).resolve(3)  # one (H, W) mask for every frame
    assert single.shape == (3, 6, 5) and torch.equal(single[0], single[2])


def test_wrong_frame_counts_name_what_and_expect():
    with pytest.raises(MultivalError, match=r"Apply: the mask has 5 frames but the latent has 16; give 1 .* or "
                                            r"exactly 16"):
        from_text("1.0", torch.ones(5, 4, 4), source="Apply").resolve(16)
    with pytest.raises(MultivalError, match="the per-frame list has 3 frames but the latent has 8"):
        from_floats([1.0, 2.0, 3.0]).resolve(8)
    with pytest.raises(MultivalError, match=r"expected a MASK of shape \(frames, height, width\), got \(1, 2, 3, 4\)"):
        from_text("1.0", torch.ones(1, 2, 3, 4))
    with pytest.raises(MultivalError, match="expected a number or a list of numbers"):
        from_floats(["fast"])


def test_scaled_mask_absolute_and_relative():
    mask = torch.tensor([[[0.2, 0.6], [1.0, 0.4]], [[0.3, 0.3], [0.5, 0.9]]])
    absolute = scaled_mask(mask, 0.5, 1.5).resolve(2)
    torch.testing.assert_close(absolute, 0.5 + mask * 1.0)
    relative = scaled_mask(mask, -1.0, 3.0, "relative").resolve(2)
    torch.testing.assert_close(relative, -1.0 + (mask - 0.2) / 0.8 * 4.0)
    assert relative.min() == -1.0 and relative.max() == 3.0
    with pytest.raises(MultivalError, match="relative scaling needs a mask with at least two different values"):
        scaled_mask(torch.full((1, 4, 4), 0.7), 0.0, 1.0, "relative")
    with pytest.raises(MultivalError, match="unknown scaling 'linear'"):
        scaled_mask(mask, 0.0, 1.0, "linear")


def test_combine_broadcasts_per_frame_against_mask():
    per_frame, mask = torch.tensor([1.0, 2.0]), torch.ones(2, 3, 3)
    assert torch.equal(combine(per_frame, mask)[1], torch.full((3, 3), 2.0))
    assert combine(0.5, 4.0) == 2.0


@pytest.fixture(scope="module")
def module():
    model, _ = motion_model_from_state_dict(random_state_dict(FAMILY_FILES["v2"], seed=4), "v2")
    return model.get_module("down_blocks.1.motion_modules.0")


def test_per_pixel_effect_blends_each_pixel(module):
    frames, x = 6, torch.randn(2 * 6, 64, 4, 6)
    effect = torch.rand(frames, 7, 9)  # another resolution: resized to (4, 6)
    full = module(x, frames)
    got = module(x, frames, effect=effect)
    e = torch.tensor(np.stack([bilinear_half_pixel(f, 4, 6) for f in effect.numpy()]), dtype=torch.float32)
    e = e.repeat(2, 1, 1).unsqueeze(1)  # (videos * frames, 1, h, w)
    torch.testing.assert_close(got, x * (1 - e) + full * e, rtol=1e-5, atol=1e-5)


def test_per_pixel_scale_equals_each_pixels_per_frame_scale(module):
    frames, x = 5, torch.randn(2 * 5, 64, 3, 4)
    scale = 0.5 + torch.rand(frames, 3, 4)  # already at the module's resolution
    got = module(x, frames, scale=scale, chunk_tokens=5 * 64 * 5)  # blocks of 5 sequences: cuts across pixels
    for row, col in [(0, 0), (1, 2), (2, 3)]:
        ref = module(x, frames, scale=scale[:, row, col].clone())
        torch.testing.assert_close(got[:, :, row, col], ref[:, :, row, col], rtol=1e-5, atol=1e-5)
    assert (got - module(x, frames)).abs().amax() > 1e-2  # the scale visibly acts
