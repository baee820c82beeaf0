"""Motion-model settings: position-encoding adjustments and weight adjustments, against references written here
(linear interpolation with half-pixel centres in NumPy; the part rules spelled out key by key)."""
import numpy as np
import pytest
import torch

from animatelcm_core.positional import PEAdjust, PEAdjustError, adjust_encoding, interpolate_positions, \
    sweetspot_stretch
from animatelcm_core.weight_adjust import WeightAdjust, WeightAdjustError, adjust_tensor, key_parts, touched_keys

ATT = "down_blocks.0.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.1."


def linear_half_pixel(table: np.ndarray, length: int) -> np.ndarray:
    """(L, C) -> (length, C): new position i samples old position (i + 0.5) * L / length - 0.5, clamped."""
    n = table.shape[0]
    src = np.clip((np.arange(length) + 0.5) * n / length - 0.5, 0, n - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    frac = (src - lo)[:, None]
    return table[lo] * (1 - frac) + table[hi] * frac


@pytest.mark.parametrize("length,to", [(32, 18), (16, 18), (24, 64), (5, 2)])
def test_interpolation_is_linear_with_half_pixel_centres(length, to):
    pe = torch.randn(1, length, 12, dtype=torch.float64)
    got = interpolate_positions(pe, to)
    assert got.shape == (1, to, 12) and got.dtype == torch.float64
    np.testing.assert_allclose(got[0].numpy(), linear_half_pixel(pe[0].numpy(), to), rtol=0, atol=1e-5)


def test_sweetspot_is_cap_then_interpolate():
    pe = torch.randn(1, 32, 8)
    got = adjust_encoding(pe, [sweetspot_stretch(16, 18)])
    np.testing.assert_allclose(got[0].numpy(), linear_half_pixel(pe[0, :16].numpy(), 18), atol=1e-5)


def test_adjustment_order_within_one_and_across_several():
    pe = torch.randn(1, 24, 4)
    one = PEAdjust(pe_stretch=8, initial_pe_idx_offset=2, cap_initial_pe_length=20, interpolate_pe_to_length=10,
                   final_pe_idx_offset=3)
    t = linear_half_pixel(pe[0].numpy(), 32)[2:][:20]
    t = linear_half_pixel(t, 10)[3:]
    np.testing.assert_allclose(adjust_encoding(pe, [one])[0].numpy(), t, atol=1e-5)
    two = adjust_encoding(pe, [PEAdjust(cap_initial_pe_length=12), PEAdjust(pe_stretch=4)])
    np.testing.assert_allclose(two[0].numpy(), linear_half_pixel(pe[0, :12].numpy(), 16), atol=1e-5)
    assert torch.equal(adjust_encoding(pe, [PEAdjust()]), pe) and PEAdjust().is_identity


def test_pe_errors():
    with pytest.raises(PEAdjustError, match="leaves no positions"):
        adjust_encoding(torch.randn(1, 16, 4), [PEAdjust(initial_pe_idx_offset=16)], "mm.ckpt")
    with pytest.raises(PEAdjustError, match="pe_stretch must be an integer >= 0, got -2"):
        PEAdjust(pe_stretch=-2)


@pytest.mark.parametrize("suffix,parts", [
    ("pos_encoder.pe", ("all", "pe")), ("to_q.weight", ("all", "attn", "attn_q")),
    ("to_k.weight", ("all", "attn", "attn_k")), ("to_v.weight", ("all", "attn", "attn_v")),
    ("to_out.0.weight", ("all", "attn", "attn_out_weight")), ("to_out.0.bias", ("all", "attn", "attn_out_bias"))])
def test_attention_key_parts(suffix, parts):
    assert key_parts(ATT + suffix) == parts


@pytest.mark.parametrize("key", ["down_blocks.0.motion_modules.0.temporal_transformer.norm.weight",
                                 "mid_block.motion_modules.0.temporal_transformer.proj_in.bias",
                                 "up_blocks.1.motion_modules.2.temporal_transformer.transformer_blocks.0.norms.0.weight",
                                 "up_blocks.1.motion_modules.2.temporal_transformer.transformer_blocks.0.ff.net.2.bias",
                                 "img_encoder.body.0.block1.weight"])
def test_everything_else_is_other(key):
    assert key_parts(key) == ("all", "other")


def test_values_apply_all_then_part_and_in_chain_order():
    w = torch.randn(6, 6)
    mult = WeightAdjust.of("multiply", all=1.01, attn=2.0, attn_k=0.5, other=3.0)
    add = WeightAdjust.of("add", pe=0.25, attn_q=1.0)
    torch.testing.assert_close(mult.apply(ATT + "to_k.weight", w), w * 1.01 * 2.0 * 0.5)
    torch.testing.assert_close(mult.apply(ATT + "to_v.weight", w), w * 1.01 * 2.0)
    torch.testing.assert_close(mult.apply("mid_block.motion_modules.0.temporal_transformer.proj_out.weight", w),
                               w * 1.01 * 3.0)
    torch.testing.assert_close(adjust_tensor(ATT + "to_q.weight", w, [mult, add]), w * 1.01 * 2.0 + 1.0)
    torch.testing.assert_close(adjust_tensor(ATT + "to_q.weight", w, [add, mult]), (w + 1.0) * 1.01 * 2.0)
    torch.testing.assert_close(adjust_tensor(ATT + "pos_encoder.pe", w, [add, mult]), (w + 0.25) * 1.01)
    keys = [ATT + "to_q.weight", ATT + "to_v.weight", ATT + "pos_encoder.pe"]
    assert touched_keys(keys, [add]) == [ATT + "to_q.weight", ATT + "pos_encoder.pe"]
    assert WeightAdjust.of("multiply", all=1.0, pe=1.0).is_identity


def test_weight_errors():
    with pytest.raises(WeightAdjustError, match="unknown operation 'divide'"):
        WeightAdjust.of("divide", all=2.0)
    with pytest.raises(WeightAdjustError, match=r"unknown part\(s\) \['attn_z'\]"):
        WeightAdjust.of("add", attn_z=1.0)
    with pytest.raises(WeightAdjustError, match="all must be a finite number, got nan"):
        WeightAdjust.of("multiply", all=float("nan"))
