"""Parity with diffusers' AnimateDiff motion module on identical random weights (reduced widths, 16 frames, fp32).

diffusers normalises the motion module's GroupNorm over all frames; the original AnimateDiff code (v2, AnimateLCM)
normalises each frame (spec formats.md §2.6). Both sides are aligned explicitly: once with diffusers' norm swapped for
a per-frame GroupNorm (our v2/AnimateLCM behaviour), once with our module set to across-frame statistics.
"""
import dataclasses

import pytest
import torch

from animatelcm_core.build import build_motion_model, motion_model_from_state_dict
from animatelcm_core.config import detect_config, to_original_layout
from norm_alignment import PerFrameGroupNorm

diffusers = pytest.importorskip("diffusers")
WIDTHS = (32, 64, 128, 128)
FRAMES = 16


@pytest.fixture(scope="module")
def adapter():
    torch.manual_seed(0)
    a = diffusers.MotionAdapter(block_out_channels=WIDTHS, motion_layers_per_block=2, motion_num_attention_heads=8,
                                motion_norm_num_groups=32, motion_max_seq_length=32, use_motion_mid_block=True)
    with torch.no_grad():
        for name, p in a.named_parameters():
            p.copy_((1.0 if ".norm" in name and name.endswith("weight") else 0.0)
                    + 0.1 * torch.randn_like(p))
    return a.eval()


def _modules(adapter):
    for i, block in enumerate(adapter.down_blocks):
        for j, m in enumerate(block.motion_modules):
            yield f"down_blocks.{i}.motion_modules.{j}", m
    yield "mid_block.motion_modules.0", adapter.mid_block.motion_modules[0]
    for i, block in enumerate(adapter.up_blocks):
        for j, m in enumerate(block.motion_modules):
            yield f"up_blocks.{i}.motion_modules.{j}", m


def _compare(ours, adapter, per_frame_reference: bool, batch: int = 2):
    g = torch.Generator().manual_seed(1)
    worst = 0.0
    for name, ref in _modules(adapter):
        c = ref.in_channels
        x = torch.randn(batch * FRAMES, c, 5, 7, generator=g)
        original_norm = ref.norm
        if per_frame_reference:
            ref.norm = PerFrameGroupNorm(original_norm)
        try:
            with torch.no_grad():
                expected = ref(x, num_frames=FRAMES)
                got = ours.get_module(name)(x, num_frames=FRAMES)
        finally:
            ref.norm = original_norm
        rel = ((got - expected).abs().max() / expected.abs().max()).item()
        worst = max(worst, rel)
        assert rel <= 1e-5, f"{name}: max abs diff {rel:.2e} of the output scale"
    return worst


def test_v2_layout_matches_diffusers_per_frame(adapter):
    """Our v2 module, loaded from diffusers' own state dict, equals diffusers with per-frame norm statistics."""
    ours, _ = motion_model_from_state_dict(adapter.state_dict(), "adapter")
    assert ours.config.family == "v2" and not ours.config.norm_across_frames
    _compare(ours, adapter, per_frame_reference=True)


def test_v2_layout_matches_diffusers_across_frames(adapter):
    """With our GroupNorm set to across-frame statistics (as SDXL beta), diffusers' unmodified module matches."""
    sd = adapter.state_dict()
    config = dataclasses.replace(detect_config(sd), norm_across_frames=True)
    ours = build_motion_model(config, to_original_layout(sd, "diffusers"))
    _compare(ours, adapter, per_frame_reference=False)


def test_animatelcm_computed_encodings_match_diffusers(adapter):
    """AnimateLCM (original layout, no stored encodings, length 64 computed) equals diffusers (stored table of 32)."""
    osd = to_original_layout(adapter.state_dict(), "diffusers")
    osd = {k: v for k, v in osd.items() if "pos_encoder" not in k}
    ours, _ = motion_model_from_state_dict(osd, "AnimateLCM_sd15_t2v.ckpt")
    assert ours.config.family == "animatelcm_t2v" and ours.config.pe_length == 64 and not ours.config.pe_stored
    _compare(ours, adapter, per_frame_reference=True, batch=1)


def test_per_frame_and_across_frame_statistics_differ(adapter):
    """The alignment above is needed: the two GroupNorm conventions really give different outputs."""
    ours, _ = motion_model_from_state_dict(adapter.state_dict(), "adapter")
    ref = adapter.down_blocks[0].motion_modules[0]
    x = torch.randn(FRAMES, WIDTHS[0], 4, 4) * torch.linspace(0.5, 3, FRAMES).view(-1, 1, 1, 1)
    with torch.no_grad():
        diff = (ours.get_module("down_blocks.0.motion_modules.0")(x, FRAMES) - ref(x, num_frames=FRAMES)).abs().max()
    assert diff > 1e-3
