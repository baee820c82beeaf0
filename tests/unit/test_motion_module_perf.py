"""Correctness of the motion module's fast paths (blocking, in-place work, layouts, dtypes). No timings here: those are
in bench/bench_temporal.py."""
import dataclasses

import pytest
import torch

from animatelcm_core.build import build_motion_model, motion_model_from_state_dict
from animatelcm_core.config import to_original_layout
from animatelcm_core.motion_module import (ACCELERATOR_CHUNK_TOKENS, CPU_BLOCK_TOKENS, DEFAULT_CHUNK_TOKENS,
                                           SDPA_BATCH_LIMIT, _chunk_rows)
from synth_weights import FAMILY_FILES, random_state_dict

FRAMES = 16
UNCHUNKED = 1 << 40


@pytest.fixture(scope="module")
def per_frame():
    model, _ = motion_model_from_state_dict(random_state_dict(FAMILY_FILES["v2"], seed=11), "v2")
    assert not model.config.norm_across_frames
    return model


@pytest.fixture(scope="module")
def across_frames():
    sd = random_state_dict(FAMILY_FILES["v2"], seed=11)
    model, _ = motion_model_from_state_dict(sd, "v2")
    return build_motion_model(dataclasses.replace(model.config, norm_across_frames=True),
                              to_original_layout(sd, "original"))


@pytest.fixture(params=["per_frame", "across_frames"])
def model(request):
    return request.getfixturevalue(request.param)


def _module(model, width_index=0):
    return model.get_module(f"down_blocks.{width_index}.motion_modules.0")


@pytest.mark.parametrize("chunk_tokens", [FRAMES * 32, FRAMES * 32 * 5, FRAMES * 32 * 7, FRAMES * 32 * 36,
                                          FRAMES * 32 * 37, FRAMES * 32 * 71])
def test_blocking_does_not_change_the_result(model, chunk_tokens):
    """Blocks of 1, 5, 7, 36 (one video), 37 (crossing a video boundary) and 71 rows equal one unblocked pass."""
    module = _module(model)
    x = torch.randn(2 * FRAMES, 32, 6, 6)
    with torch.no_grad():
        whole = module(x, FRAMES, chunk_tokens=UNCHUNKED)
        torch.testing.assert_close(module(x, FRAMES, chunk_tokens=chunk_tokens), whole, atol=1e-6, rtol=1e-5)


def test_videos_do_not_mix_at_any_blocking(model):
    module = _module(model)
    a, b = torch.randn(FRAMES, 32, 5, 5), torch.randn(FRAMES, 32, 5, 5)
    with torch.no_grad():
        alone = module(b, FRAMES, chunk_tokens=UNCHUNKED)
        for chunk in (FRAMES * 32 * 3, FRAMES * 32 * 24, UNCHUNKED):  # blocks straddle the two videos
            torch.testing.assert_close(module(torch.cat([a, b]), FRAMES, chunk_tokens=chunk)[FRAMES:], alone,
                                       atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("kwargs", [{}, {"effect": 0.4}, {"effect": torch.linspace(0, 1, FRAMES)},
                                    {"scale": 0.7}, {"scale": torch.linspace(0.5, 1.5, FRAMES)},
                                    {"chunk_tokens": FRAMES * 64 * 3}])
def test_input_is_never_modified(model, kwargs):
    module = _module(model, 1)
    x = torch.randn(2 * FRAMES, 64, 4, 5)
    saved = x.clone()
    with torch.no_grad():
        out = module(x, FRAMES, **kwargs)
    assert torch.equal(x, saved)
    assert out.data_ptr() != x.data_ptr() and out.shape == x.shape and out.dtype == x.dtype


def test_non_contiguous_input(model):
    """channels-last and sliced inputs give the contiguous result."""
    module = _module(model)
    x = torch.randn(FRAMES, 32, 6, 7)
    with torch.no_grad():
        expected = module(x, FRAMES)
        torch.testing.assert_close(module(x.to(memory_format=torch.channels_last), FRAMES), expected,
                                   atol=1e-6, rtol=1e-5)
        wide = torch.randn(FRAMES, 32, 6, 9)
        wide[..., 1:8] = x
        torch.testing.assert_close(module(wide[..., 1:8], FRAMES), expected, atol=1e-6, rtol=1e-5)


def test_effect_matches_the_blend_formula(model):
    module = _module(model)
    x = torch.randn(2 * FRAMES, 32, 3, 3)
    e = torch.rand(FRAMES)
    with torch.no_grad():
        full = module(x, FRAMES)
        blended = module(x, FRAMES, effect=e)
    w = e.repeat(2).view(-1, 1, 1, 1)
    torch.testing.assert_close(blended, x * (1 - w) + full * w, atol=1e-6, rtol=1e-5)


def test_host_attention_callback_sees_token_tensors(model):
    module = _module(model)
    x = torch.randn(FRAMES, 32, 4, 4)
    seen = []

    def attention(q, k, v, heads):
        seen.append(q.shape)
        n, f, c = q.shape
        q, k, v = (t.reshape(n, f, heads, c // heads).transpose(1, 2) for t in (q, k, v))
        return torch.nn.functional.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, f, c)

    with torch.no_grad():
        torch.testing.assert_close(module(x, FRAMES, attention=attention), module(x, FRAMES), atol=1e-6, rtol=1e-5)
    assert seen and all(s[1:] == (FRAMES, 32) for s in seen)


def test_weights_changed_between_calls_are_used(per_frame):
    """Nothing derived from the weights is kept between calls (MotionLoRA patches weights in place)."""
    module = _module(per_frame)
    x = torch.randn(FRAMES, 32, 3, 3)
    attn = module.temporal_transformer.transformer_blocks[0].attention_blocks[0]
    ff = module.temporal_transformer.transformer_blocks[0].ff.net[0].proj
    with torch.no_grad():
        before = module(x, FRAMES)
        saved_q, saved_ff = attn.to_q.weight.clone(), ff.weight.clone()
        try:
            attn.to_q.weight.mul_(1.5)
            ff.weight.add_(0.01)
            changed = module(x, FRAMES)
        finally:
            attn.to_q.weight.copy_(saved_q)
            ff.weight.copy_(saved_ff)
        assert not torch.allclose(changed, before)
        assert torch.equal(module(x, FRAMES), before)


def test_autograd_through_input_and_weights(per_frame):
    """With gradients wanted the in-place shortcuts are off: backward works and the forward value is the same."""
    module = _module(per_frame)
    x = torch.randn(FRAMES, 32, 3, 3)
    with torch.no_grad():
        expected = module(x, FRAMES, chunk_tokens=FRAMES * 32 * 4)
    xg = x.clone().requires_grad_(True)
    out = module(xg, FRAMES, chunk_tokens=FRAMES * 32 * 4)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-5)
    out.square().mean().backward()
    assert xg.grad is not None and torch.isfinite(xg.grad).all()

    weight = module.temporal_transformer.transformer_blocks[0].ff.net[0].proj.weight
    weight.requires_grad_(True)
    try:
        out = module(x, FRAMES)
        torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-5)
        out.square().mean().backward()
        assert weight.grad is not None and weight.grad.abs().sum() > 0
    finally:
        weight.requires_grad_(False)
        weight.grad = None


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_is_close_to_fp32(per_frame, dtype):
    module = _module(per_frame, 1)
    x = torch.randn(FRAMES, 64, 4, 4)
    with torch.no_grad():
        expected = module(x, FRAMES)
        module.to(dtype)
        try:
            got = module(x.to(dtype), FRAMES, chunk_tokens=FRAMES * 64 * 5)
        finally:
            module.to(torch.float32)
    assert got.dtype == dtype
    err = ((got.float() - expected).abs().max() / expected.abs().max()).item()
    assert err < (2e-2 if dtype == torch.bfloat16 else 4e-3)


def test_meta_tensors_run():
    """Shapes only (FLOP counting): the module runs on the meta device."""
    model, _ = motion_model_from_state_dict(random_state_dict(FAMILY_FILES["v2"], seed=3), "v2")
    meta = build_motion_model(model.config)
    out = meta.get_module("up_blocks.3.motion_modules.2")(torch.empty(2 * FRAMES, 32, 8, 8, device="meta"), FRAMES)
    assert out.shape == (2 * FRAMES, 32, 8, 8) and out.is_meta


def test_block_rows():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    for c in (320, 640, 1280, 2560):  # automatic CPU blocks: ~CPU_BLOCK_TOKENS tokens, within the element budget
        rows = _chunk_rows(4096, 16, c, None, cpu, 8)
        assert rows * 16 <= CPU_BLOCK_TOKENS and rows * 16 * c <= DEFAULT_CHUNK_TOKENS and rows * 16 * 2 > min(
            CPU_BLOCK_TOKENS, DEFAULT_CHUNK_TOKENS // c)
    # balanced: 10 rows allowed, 23 rows -> 3 blocks of 8 (not 10, 10, 3)
    assert _chunk_rows(23, 16, 4, 16 * 4 * 10, cpu, 8) == 8
    assert _chunk_rows(5, 16, 4, 1, cpu, 8) == 1
    for total in (1, 7, 4096, 8192, 2 * 16384):
        rows = _chunk_rows(total, 16, 320, None, cuda, 8)
        assert rows * 8 <= SDPA_BATCH_LIMIT and rows * 16 * 320 <= ACCELERATOR_CHUNK_TOKENS
        blocks = -(-total // rows)
        assert rows * blocks >= total and rows * (blocks - 1) < total
