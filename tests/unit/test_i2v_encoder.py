"""Tests for animatelcm_core.i2v_encoder (AnimateLCM-I2V image encoder, spec formats.md §4.7)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from animatelcm_core.errors import MotionModelError
from animatelcm_core.i2v_encoder import (
    I2V_PREFIX,
    ImageEncoder,
    has_image_encoder,
    image_encoder_from_state_dict,
)

TSV = Path(__file__).resolve().parents[1] / "fixtures" / "keys" / "AnimateLCM_sd15_i2v.tsv"
SMALL = (32, 64, 128, 128)


def read_tsv_shapes(path: Path = TSV) -> dict[str, list[int]]:
    """All `key<TAB>[d0, d1, ...]` lines of a key table."""
    shapes = {}
    for line in path.read_text().splitlines():
        if line.strip():
            key, shape = line.split("\t")
            shapes[key] = json.loads(shape)
    return shapes


def meta_state_dict(prefix_only: bool = True) -> dict[str, torch.Tensor]:
    """Full-size state dict on the meta device from the TSV (only `img_encoder.` keys unless prefix_only=False)."""
    return {
        k: torch.empty(shape, device="meta")
        for k, shape in read_tsv_shapes().items()
        if not prefix_only or k.startswith(I2V_PREFIX)
    }


def random_state_dict(channels=SMALL, cin: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded fp32 encoder state dict with the `img_encoder.` key pattern, written from the spec (2 blocks/level)."""
    gen = torch.Generator().manual_seed(seed)

    def conv(prefix: str, c_out: int, c_in: int, k: int) -> dict[str, torch.Tensor]:
        scale = 1.0 / math.sqrt(c_in * k * k)
        return {
            f"{prefix}.weight": torch.randn(c_out, c_in, k, k, generator=gen) * scale,
            f"{prefix}.bias": torch.randn(c_out, generator=gen) * 0.1,
        }

    sd = conv(f"{I2V_PREFIX}conv_in", channels[0], cin, 3)
    for level, c in enumerate(channels):
        for r in range(2):
            p = f"{I2V_PREFIX}body.{2 * level + r}"
            if level > 0 and r == 0 and channels[level - 1] != c:
                sd.update(conv(f"{p}.in_conv", c, channels[level - 1], 1))
            sd.update(conv(f"{p}.block1", c, c, 3))
            sd.update(conv(f"{p}.block2", c, c, 1))
    return sd


def spec_pe(t: int, dim: int) -> torch.Tensor:
    """§2.5 sinusoid at position t, computed here with math: [sin(t*w0), cos(t*w0), sin(t*w1), ...]."""
    out = []
    for i in range(0, dim, 2):
        w = math.exp(i * (-math.log(10000.0) / dim))
        out += [math.sin(t * w), math.cos(t * w)]
    return torch.tensor(out, dtype=torch.float32)


def reference_forward(sd, x, motion_scale, frame_indices, level_weights=(1.0, 1.0, 1.0, 1.0)):
    """Independent functional re-implementation of the encoder forward on raw `img_encoder.` tensors."""
    g = lambda name: sd[I2V_PREFIX + name]  # noqa: E731
    h = F.conv2d(x, g("conv_in.weight"), g("conv_in.bias"), padding=1)
    pe = torch.stack([spec_pe(int(t), h.shape[1]) for t in frame_indices])
    h = h + motion_scale * pe[:, :, None, None]
    feats = []
    for level in range(4):
        for r in range(2):
            p = f"body.{2 * level + r}."
            if level > 0 and r == 0:
                h = F.pad(h, (0, h.shape[-1] % 2, 0, h.shape[-2] % 2), mode="replicate")
                h = F.avg_pool2d(h, 2, 2)
            if I2V_PREFIX + p + "in_conv.weight" in sd:
                h = F.conv2d(h, g(p + "in_conv.weight"), g(p + "in_conv.bias"))
            y = F.relu(F.conv2d(h, g(p + "block1.weight"), g(p + "block1.bias"), padding=1))
            h = h + F.conv2d(y, g(p + "block2.weight"), g(p + "block2.bias"))
        feats.append(h * level_weights[level])
    return feats


def small_encoder(seed: int = 0) -> tuple[ImageEncoder, dict[str, torch.Tensor]]:
    """Reduced-width encoder loaded from a seeded random state dict."""
    sd = random_state_dict(seed=seed)
    enc = ImageEncoder(channels=SMALL)
    enc.load_state_dict({k[len(I2V_PREFIX):]: v for k, v in sd.items()}, strict=True)
    return enc, sd


def assert_close_rel(a: torch.Tensor, b: torch.Tensor, rel: float = 1e-5) -> None:
    """Max abs difference within rel times the output scale (at least 1)."""
    assert a.shape == b.shape
    scale = max(1.0, b.abs().max().item())
    assert (a - b).abs().max().item() <= rel * scale


# 1. full-size key set ---------------------------------------------------------------------------------------------


def test_full_size_meta_state_dict_loads_with_exact_key_set():
    sd = meta_state_dict()
    assert len(sd) == 38
    with torch.device("meta"):
        enc = ImageEncoder()
    stripped = {k[len(I2V_PREFIX):]: v for k, v in sd.items()}
    result = enc.load_state_dict(stripped, strict=False, assign=True)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert len(enc.state_dict()) == 38
    assert sum(v.numel() for v in enc.state_dict().values()) == 76_827_840  # spec §4.7 element count


def test_loader_on_full_meta_motion_state_dict_picks_img_encoder_keys():
    full = meta_state_dict(prefix_only=False)
    assert len(full) == 584 and has_image_encoder(full)
    enc = image_encoder_from_state_dict(full, source="AnimateLCM_sd15_i2v.ckpt")
    assert enc.channels == (320, 640, 1280, 1280) and enc.in_channels == 4
    sd = enc.state_dict()
    assert len(sd) == 38
    for key, shape in read_tsv_shapes().items():
        if key.startswith(I2V_PREFIX):
            assert list(sd[key[len(I2V_PREFIX):]].shape) == shape
    assert all(not p.requires_grad for p in enc.parameters())


def test_has_image_encoder():
    t2v = {k: v for k, v in meta_state_dict(prefix_only=False).items() if not k.startswith(I2V_PREFIX)}
    assert not has_image_encoder(t2v)
    assert has_image_encoder({"img_encoder.conv_in.weight": torch.zeros(1)})
    assert not has_image_encoder({})


# 2. against an independent reference ------------------------------------------------------------------------------


@pytest.mark.parametrize("hw", [(16, 12), (13, 11)])
def test_matches_functional_reference(hw):
    enc, sd = small_encoder()
    x = torch.randn(5, 4, *hw, generator=torch.Generator().manual_seed(1))
    idx = [7, 8, 9, 10, 11]
    got = enc(x, motion_scale=0.8, frame_indices=torch.tensor(idx))
    ref = reference_forward(sd, x, 0.8, idx)
    assert len(got) == 4
    for a, b in zip(got, ref):
        assert_close_rel(a, b)
    got_default = enc(x)  # default motion_scale 0.8 and frame indices 0..4
    for a, b in zip(got_default, reference_forward(sd, x, 0.8, range(5))):
        assert_close_rel(a, b)


def test_loader_reduced_width_matches_reference_and_keeps_dtype():
    sd = random_state_dict(seed=3)
    sd["down_blocks.0.motion_modules.0.temporal_transformer.norm.weight"] = torch.ones(32)  # non-encoder key is ignored
    enc = image_encoder_from_state_dict(sd, source="small.safetensors")
    assert enc.channels == SMALL
    x = torch.randn(3, 4, 10, 9, generator=torch.Generator().manual_seed(4))
    for a, b in zip(enc(x, 0.5, [2, 0, 5]), reference_forward(sd, x, 0.5, [2, 0, 5])):
        assert_close_rel(a, b)
    half = image_encoder_from_state_dict({k: v.half() for k, v in sd.items()})
    assert all(p.dtype == torch.float16 for p in half.parameters())


def test_pe_added_after_conv_in_matches_spec_values():
    # Zero every weight and bias: conv_in gives 0, each block is the identity, so level 0 = motion_scale * PE(t).
    sd = {k: torch.zeros_like(v) for k, v in random_state_dict().items()}
    enc = image_encoder_from_state_dict(sd)
    feats = enc(torch.randn(3, 4, 4, 4), motion_scale=0.8, frame_indices=[0, 1, 20])
    level0 = feats[0][:, :, 0, 0]
    frame0 = torch.tensor([0.0, 0.8] * (SMALL[0] // 2))
    assert torch.allclose(level0[0], frame0, atol=1e-6)
    assert torch.allclose(level0[1], 0.8 * spec_pe(1, SMALL[0]), atol=1e-6)
    assert torch.allclose(level0[2], 0.8 * spec_pe(20, SMALL[0]), atol=1e-6)
    assert torch.equal(feats[0], feats[0][:, :, :1, :1].expand_as(feats[0]))  # broadcast over h, w


# 3. shapes ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hw", [(64, 64), (96, 64), (63, 47)])
def test_feature_shapes_full_width_meta(hw):
    with torch.device("meta"):
        enc = ImageEncoder()
    feats = enc(torch.empty(2, 4, *hw, device="meta"))
    h, w = hw
    expected = []
    for c in (320, 640, 1280, 1280):
        expected.append((2, c, h, w))
        h, w = -(-h // 2), -(-w // 2)  # ceil halving
    assert [tuple(f.shape) for f in feats] == expected
    if hw == (96, 64):
        assert [tuple(f.shape[2:]) for f in feats] == [(96, 64), (48, 32), (24, 16), (12, 8)]
    if hw == (63, 47):
        assert [tuple(f.shape[2:]) for f in feats] == [(63, 47), (32, 24), (16, 12), (8, 6)]


def test_module_moved_to_meta_runs():
    enc = ImageEncoder(channels=SMALL).to("meta")
    feats = enc(torch.empty(1, 4, 9, 7, device="meta"), frame_indices=[3])
    assert [tuple(f.shape[2:]) for f in feats] == [(9, 7), (5, 4), (3, 2), (2, 1)]


def test_odd_size_real_compute_shapes():
    enc, _ = small_encoder()
    feats = enc(torch.randn(2, 4, 63, 47))
    assert [tuple(f.shape) for f in feats] == [(2, 32, 63, 47), (2, 64, 32, 24), (2, 128, 16, 12), (2, 128, 8, 6)]


# 4. motion scale, frame indices, level weights --------------------------------------------------------------------


def repeated_latent(frames: int = 5) -> torch.Tensor:
    """One latent repeated over `frames` frames, like the official pipeline."""
    return torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(2)).expand(frames, -1, -1, -1)


def test_motion_scale_zero_gives_identical_frames():
    enc, _ = small_encoder()
    for f in enc(repeated_latent(), motion_scale=0.0):
        assert all(torch.equal(f[0], f[i]) for i in range(1, f.shape[0]))


def test_motion_scale_positive_gives_distinct_frames():
    enc, _ = small_encoder()
    for f in enc(repeated_latent(), motion_scale=0.8):
        for i in range(f.shape[0]):
            for j in range(i + 1, f.shape[0]):
                assert (f[i] - f[j]).abs().max().item() > 1e-4


def test_window_frame_indices_match_full_sequence():
    enc, _ = small_encoder()
    x = torch.randn(12, 4, 6, 6, generator=torch.Generator().manual_seed(5))
    full = enc(x)
    window = enc(x[8:12], frame_indices=torch.arange(8, 12))
    for a, b in zip(window, full):
        assert torch.allclose(a, b[8:12], atol=1e-5)
    assert all(torch.equal(a, b) for a, b in zip(enc(x[8:12], frame_indices=[8, 9, 10, 11]), window))  # no state


def test_level_weights_scale_features():
    enc, sd = small_encoder()
    x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(6))
    weights = (0.5, 2.0, 0.0, 1.5)
    plain = enc(x)
    weighted = enc(x, level_weights=weights)
    for w, a, b in zip(weights, weighted, plain):
        assert torch.allclose(a, b * w, atol=1e-6)
    assert torch.count_nonzero(weighted[2]) == 0
    for a, b in zip(weighted, reference_forward(sd, x, 0.8, range(2), weights)):
        assert_close_rel(a, b)


def test_bad_forward_arguments():
    enc, _ = small_encoder()
    with pytest.raises(ValueError, match="level_weights"):
        enc(torch.randn(1, 4, 8, 8), level_weights=(1.0, 1.0))
    with pytest.raises(ValueError, match="frame_indices"):
        enc(torch.randn(2, 4, 8, 8), frame_indices=[0])
    with pytest.raises(ValueError, match="latents"):
        enc(torch.randn(1, 3, 8, 8))


# 5. bad state dicts ------------------------------------------------------------------------------------------------


def test_no_img_encoder_keys_raises():
    t2v = {"down_blocks.0.motion_modules.0.temporal_transformer.norm.weight": torch.ones(320)}
    with pytest.raises(MotionModelError) as err:
        image_encoder_from_state_dict(t2v, source="AnimateLCM_sd15_t2v.ckpt")
    msg = str(err.value)
    assert "AnimateLCM_sd15_t2v.ckpt" in msg and "img_encoder." in msg


def test_wrong_shape_raises_naming_key():
    sd = meta_state_dict()
    sd["img_encoder.body.5.block1.weight"] = torch.empty(1280, 1280, 1, 1, device="meta")
    with pytest.raises(MotionModelError) as err:
        image_encoder_from_state_dict(sd, source="broken_i2v.ckpt")
    msg = str(err.value)
    assert "broken_i2v.ckpt" in msg and "img_encoder.body.5.block1.weight" in msg
    assert "[1280, 1280, 1, 1]" in msg and "[1280, 1280, 3, 3]" in msg


def test_wrong_leading_dim_is_reported_on_that_key_only():
    sd = meta_state_dict()
    sd["img_encoder.body.2.block1.weight"] = torch.empty(600, 640, 3, 3, device="meta")
    with pytest.raises(MotionModelError) as err:
        image_encoder_from_state_dict(sd, source="x.ckpt")
    msg = str(err.value)
    assert "img_encoder.body.2.block1.weight found [600, 640, 3, 3] expected [640, 640, 3, 3]" in msg
    assert "1 wrong shapes" in msg


def test_missing_key_raises_naming_key():
    sd = meta_state_dict()
    del sd["img_encoder.body.4.in_conv.bias"]
    with pytest.raises(MotionModelError) as err:
        image_encoder_from_state_dict(sd, source="missing_i2v.ckpt")
    msg = str(err.value)
    assert "missing_i2v.ckpt" in msg and "img_encoder.body.4.in_conv.bias" in msg and "missing" in msg


def test_unexpected_key_raises_naming_key():
    sd = meta_state_dict()
    sd["img_encoder.body.0.skep.weight"] = torch.empty(320, 320, 3, 3, device="meta")
    with pytest.raises(MotionModelError) as err:
        image_encoder_from_state_dict(sd, source="extra_i2v.ckpt")
    msg = str(err.value)
    assert "extra_i2v.ckpt" in msg and "img_encoder.body.0.skep.weight" in msg and "unexpected" in msg
