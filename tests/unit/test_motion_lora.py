"""MotionLoRA: rank detection, W + s * up @ down, diffusers' LoRA path, stacking, exact unmerge, rejections."""
import pytest
import torch

from animatelcm_core.build import motion_model_from_state_dict
from animatelcm_core.errors import MotionModelError
from animatelcm_core.motion_lora import load_motion_lora, lora_targets, merge_loras, motion_lora_from_state_dict, \
    unmerge
from synth_weights import FAMILY_FILES, MOTION_LORA_FILE, V3_ADAPTER_FILE, meta_state_dict, random_state_dict

TARGET = "down_blocks.1.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.1.to_out.0.weight"
LORA_PREFIX = "down_blocks.1.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.1.processor."


@pytest.fixture()
def v2():
    return motion_model_from_state_dict(random_state_dict(FAMILY_FILES["v2"], seed=5), "v2")[0]


def _lora(seed):
    return motion_lora_from_state_dict(random_state_dict(MOTION_LORA_FILE, seed=seed), f"lora{seed}.ckpt")


def test_full_size_lora_rank_and_targets():
    lora = motion_lora_from_state_dict(meta_state_dict(MOTION_LORA_FILE), "v2_lora_ZoomIn.ckpt")
    assert lora.rank == 64 and len(lora.pairs) == 168 and lora.has_mid
    assert any(k.endswith("to_out.0.weight") for k in lora.pairs)


def test_merge_equals_formula_and_unmerge_is_bit_exact(v2):
    before = {k: v.clone() for k, v in v2.state_dict().items()}
    lora = _lora(1)
    up = lora.pairs[TARGET][0]
    assert torch.equal(up, random_state_dict(MOTION_LORA_FILE, seed=1)[LORA_PREFIX + "to_out_lora.up.weight"])
    backup = merge_loras(v2, [(lora, 0.7)])
    up, down = lora.pairs[TARGET]
    torch.testing.assert_close(v2.state_dict()[TARGET], before[TARGET] + 0.7 * up @ down, rtol=0, atol=1e-6)
    unmerge(v2, backup)
    assert all(torch.equal(v, before[k]) for k, v in v2.state_dict().items())


def test_stacked_loras_sum(v2):
    before = v2.state_dict()[TARGET].clone()
    a, b = _lora(1), _lora(2)
    backup = merge_loras(v2, [(a, 1.0), (b, -0.5)])
    expected = before + a.pairs[TARGET][0] @ a.pairs[TARGET][1] - 0.5 * b.pairs[TARGET][0] @ b.pairs[TARGET][1]
    torch.testing.assert_close(v2.state_dict()[TARGET], expected, rtol=0, atol=1e-6)
    unmerge(v2, backup)
    assert torch.equal(v2.state_dict()[TARGET], before)


def test_matches_diffusers_lora_path(v2):
    """diffusers' LoRACompatibleLinear, fused at the same scale, gives the same weight and output."""
    lora_mod = pytest.importorskip("diffusers.models.lora")
    lora = _lora(3)
    up, down = lora.pairs[TARGET]
    weight = v2.state_dict()[TARGET].clone()
    bias = v2.state_dict()[TARGET.replace("weight", "bias")].clone()
    ref = lora_mod.LoRACompatibleLinear(weight.shape[1], weight.shape[0],
                                        lora_layer=lora_mod.LoRALinearLayer(weight.shape[1], weight.shape[0], rank=64))
    with torch.no_grad():
        ref.weight.copy_(weight)
        ref.bias.copy_(bias)
        ref.lora_layer.up.weight.copy_(up)
        ref.lora_layer.down.weight.copy_(down)
        x = torch.randn(10, weight.shape[1])
        unfused = ref(x, scale=0.8)
        ref._fuse_lora(lora_scale=0.8)
    merge_loras(v2, [(lora, 0.8)])
    torch.testing.assert_close(v2.state_dict()[TARGET], ref.weight.detach(), rtol=0, atol=1e-6)
    torch.testing.assert_close(torch.nn.functional.linear(x, v2.state_dict()[TARGET], bias), unfused, rtol=1e-5, atol=1e-5)


def test_mid_block_skipped_without_mid():
    v3 = motion_model_from_state_dict(random_state_dict(FAMILY_FILES["v3"], seed=6), "v3")[0]
    lora = _lora(1)
    targets = lora_targets(lora, v3.config)
    assert lora.has_mid and not any(k.startswith("mid_block") for k in targets)
    assert len(targets) == 160


def test_diffusers_key_layout_loads():
    sd = random_state_dict(MOTION_LORA_FILE, seed=4)
    renamed = {"unet." + k.replace(".temporal_transformer.", ".").replace(".attention_blocks.1.", ".attn2.")
               .replace(".attention_blocks.0.", ".attn1."): v for k, v in sd.items()}
    assert motion_lora_from_state_dict(renamed).pairs.keys() == motion_lora_from_state_dict(sd).pairs.keys()


def test_spatial_lora_rejected_with_what_it_is():
    with pytest.raises(MotionModelError, match=r"v3_sd15_adapter.ckpt: not a MotionLoRA.*spatial LoRA"):
        motion_lora_from_state_dict(meta_state_dict(V3_ADAPTER_FILE), "v3_sd15_adapter.ckpt")


def test_wrong_base_rejected():
    sdxl = motion_model_from_state_dict(random_state_dict(FAMILY_FILES["sdxl_beta"], seed=7), "xl")[0]
    with pytest.raises(MotionModelError, match="lora1.ckpt: targets 'down_blocks.3.*SDXL beta does not have"):
        merge_loras(sdxl, [(_lora(1), 1.0)])


def test_bad_lora_in_a_stack_changes_nothing(v2):
    """A wrongly shaped LoRA after a good one fails before any weight changes: nothing is half-applied."""
    sd = random_state_dict(MOTION_LORA_FILE, seed=2)
    sd[LORA_PREFIX + "to_q_lora.down.weight"] = torch.randn(64, 32)
    sd[LORA_PREFIX + "to_q_lora.up.weight"] = torch.randn(32, 64)
    bad = motion_lora_from_state_dict(sd, "wrong_width.ckpt")
    before = {k: v.clone() for k, v in v2.state_dict().items()}
    with pytest.raises(MotionModelError, match=r"wrong_width.ckpt: LoRA for .* is 32x32, but .* has \[64, 64\]"):
        merge_loras(v2, [(_lora(1), 1.0), (bad, 1.0)])
    assert all(torch.equal(v, before[k]) for k, v in v2.state_dict().items())


def test_load_from_file(tmp_path):
    path = tmp_path / "v2_lora_PanLeft.ckpt"
    torch.save(random_state_dict(MOTION_LORA_FILE, seed=8), path)
    lora = load_motion_lora(str(path))
    assert lora.name == "v2_lora_PanLeft.ckpt" and lora.rank == 64
