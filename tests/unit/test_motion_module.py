"""Position encodings, identity cases, effect and scale of one motion module."""
import math

import pytest
import torch

from animatelcm_core.build import motion_model_from_state_dict
from animatelcm_core.positional import sinusoidal_encoding
from synth_weights import FAMILY_FILES, random_state_dict


@pytest.fixture(scope="module")
def v2_model():
    model, _ = motion_model_from_state_dict(random_state_dict(FAMILY_FILES["v2"], seed=1), "v2")
    return model


@pytest.fixture(scope="module")
def lcm_model():
    model, _ = motion_model_from_state_dict(random_state_dict(FAMILY_FILES["animatelcm_t2v"], seed=2), "lcm")
    return model


@pytest.mark.parametrize("length,dim", [(24, 320), (32, 1280), (64, 640), (7, 10)])
def test_positional_table_equals_formula(length, dim):
    pe = sinusoidal_encoding(length, dim)
    for p in range(length):
        for i in range(0, dim, 2):
            w = math.exp(i * -math.log(10000.0) / dim)
            assert abs(pe[p, i].item() - math.sin(p * w)) < 1e-5
            assert abs(pe[p, i + 1].item() - math.cos(p * w)) < 1e-5


def test_computed_and_stored_encodings(v2_model, lcm_model):
    stored = v2_model.get_module("down_blocks.0.motion_modules.0").temporal_transformer.transformer_blocks[0]
    assert stored.attention_blocks[0].pos_encoder.pe.shape == (1, 32, 32)
    computed = lcm_model.get_module("up_blocks.3.motion_modules.2").temporal_transformer.transformer_blocks[0]
    pe = computed.attention_blocks[1].pos_encoder.pe
    assert pe.shape == (1, 64, 32)
    assert torch.allclose(pe[0], sinusoidal_encoding(64, 32))
    # not saved back: AnimateLCM files have no pe keys
    assert not any("pos_encoder" in k for k in lcm_model.state_dict())


def test_stored_encodings_are_used_not_recomputed():
    sd = random_state_dict(FAMILY_FILES["v3"], seed=3)
    key = "down_blocks.0.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0.pos_encoder.pe"
    sd[key] = torch.randn_like(sd[key])
    model, _ = motion_model_from_state_dict(sd, "v3")
    loaded = model.get_module("down_blocks.0.motion_modules.0").temporal_transformer.transformer_blocks[0]
    assert torch.equal(loaded.attention_blocks[0].pos_encoder.pe, sd[key])


def test_zero_proj_out_is_identity(v2_model):
    module = v2_model.get_module("down_blocks.1.motion_modules.1")
    saved = {k: v.clone() for k, v in module.state_dict().items()}
    with torch.no_grad():
        module.temporal_transformer.proj_out.weight.zero_()
        module.temporal_transformer.proj_out.bias.zero_()
    x = torch.randn(2 * 16, 64, 5, 3)
    try:
        assert torch.equal(module(x, num_frames=16), x)
    finally:
        module.load_state_dict(saved)


def test_effect_zero_and_blend(v2_model):
    module = v2_model.get_module("mid_block.motion_modules.0")
    x = torch.randn(16, 128, 4, 4)
    assert torch.equal(module(x, 16, effect=0.0), x)
    assert torch.equal(module(x, 16, effect=torch.zeros(16)), x)
    full = module(x, 16)
    assert not torch.allclose(full, x)
    half = module(x, 16, effect=0.5)
    torch.testing.assert_close(half, 0.5 * x + 0.5 * full)
    per_frame = torch.zeros(16)
    per_frame[3] = 1.0
    out = module(x, 16, effect=per_frame)
    assert torch.equal(out[:3], x[:3]) and torch.equal(out[4:], x[4:])
    torch.testing.assert_close(out[3], full[3])


def test_scale_multiplies_keys(v2_model):
    module = v2_model.get_module("up_blocks.1.motion_modules.0")
    x = torch.randn(8, 128, 2, 2)
    assert torch.equal(module(x, 8, scale=1.0), module(x, 8))
    assert not torch.allclose(module(x, 8, scale=0.3), module(x, 8))
    torch.testing.assert_close(module(x, 8, scale=torch.full((8,), 0.3)), module(x, 8, scale=0.3))


def test_frames_are_independent_per_video_and_batch_chunking(v2_model):
    """Two videos in one batch do not mix, and chunking the token axis changes nothing."""
    module = v2_model.get_module("down_blocks.0.motion_modules.0")
    a, b = torch.randn(16, 32, 6, 6), torch.randn(16, 32, 6, 6)
    both = module(torch.cat([a, b]), 16)
    torch.testing.assert_close(both[:16], module(a, 16), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(module(a, 16, chunk_tokens=16 * 32 * 5), module(a, 16), atol=1e-6, rtol=1e-5)


def test_too_many_frames_is_clear_error(v2_model):
    module = v2_model.get_module("down_blocks.0.motion_modules.0")
    with pytest.raises(ValueError, match="33 frames exceed .* 32 position encodings.*context windows"):
        module(torch.randn(33, 32, 2, 2), 33)
