"""SparseCtrl files: the key tables against the published files' sizes, detection from keys and shapes, clear
errors for other files, and SparseCtrl's one-attention-block motion module against a reference written here from
the AnimateDiff formulas (spec formats.md §2.4)."""
import math

import pytest
import torch
import torch.nn.functional as F

from animatelcm_core.sparse_frames import SparseCtrlError
from animatelcm_core.sparsectrl import build_sparse_motion, detect_sparsectrl, motion_key_shapes, split_state_dict
from sparsectrl_weights import KEY_FILES, sparsectrl_state_dict
from synth_weights import FAMILY_FILES, meta_state_dict, read_key_table

# Hugging Face guoyww/animatediff (LFS pointers of the current files, commit fdfe36a / cd71ae1)
PUBLISHED_BYTES = {"rgb": 1_988_040_333, "scribble": 1_992_335_697}


@pytest.mark.parametrize("kind", ["rgb", "scribble"])
def test_key_tables_account_for_the_published_file_sizes(kind):
    """fp32 tensor bytes plus a per-tensor zip/pickle overhead in the range the other published .ckpt files show
    (v3_sd15_mm.ckpt: 369 B per tensor; state dicts saved from a module also carry per-module metadata)."""
    table = read_key_table(KEY_FILES[kind])
    data = 4 * sum(math.prod(s) for s in table.values())
    overhead = (PUBLISHED_BYTES[kind] - data) / len(table)
    assert 300 < overhead < 600, overhead


def test_the_two_files_differ_by_their_conditioning_embedding():
    rgb, scribble = (read_key_table(KEY_FILES[k]) for k in ("rgb", "scribble"))
    assert {k for k in rgb if not k.startswith("controlnet_cond_embedding")} == \
        {k for k in scribble if not k.startswith("controlnet_cond_embedding")}
    assert rgb["controlnet_cond_embedding.weight"] == (320, 5, 3, 3)  # 4 latent channels + mask
    assert scribble["controlnet_cond_embedding.conv_in.weight"] == (16, 4, 3, 3)  # RGB image + mask
    assert scribble["controlnet_cond_embedding.conv_out.weight"] == (320, 256, 3, 3)


@pytest.mark.parametrize("kind, channels", [("rgb", 5), ("scribble", 4)])
def test_detect_full_size(kind, channels):
    sd = meta_state_dict(KEY_FILES[kind])
    config = detect_sparsectrl(sd, "v3_sd15_sparsectrl.ckpt")
    assert (config.kind, config.hint_channels, config.model_channels) == (kind, channels, 320)
    assert config.channel_mult == (1, 2, 4, 4) and config.attention_levels == (True, True, True, False)
    assert (config.mid_attention, config.context_dim, config.linear_projection, config.res_blocks) == \
        (True, 768, False, 2)
    motion = config.motion
    assert motion.down_channels == (320, 640, 1280, 1280) and not motion.has_mid
    assert (motion.attention_blocks, motion.pe_length, motion.pe_stored, motion.down_modules, motion.up_modules) == \
        (1, 32, True, 2, 0)
    _, motion_sd = split_state_dict(sd)
    assert {k: tuple(v.shape) for k, v in motion_sd.items()} == motion_key_shapes(motion)
    assert len(motion_sd) == 8 * 20  # 8 modules of 20 tensors: one attention block, its norm and its pe


def _table(kind):
    return dict(meta_state_dict(KEY_FILES[kind]))


@pytest.mark.parametrize("make, message", [
    (lambda: meta_state_dict(FAMILY_FILES["v3"]), "it is a motion module; load it with 'Load Motion Module'"),
    (lambda: {k: v for k, v in _table("rgb").items() if ".motion_modules." not in k},
     "a ControlNet without motion modules"),
    (lambda: {"control_model.input_hint_block.0.weight": torch.empty(16, 3, 3, 3),
              "control_model.zero_convs.0.0.weight": torch.empty(320, 320, 1, 1)}, "looks like a ControlNet"),
    (lambda: {"model.diffusion_model.input_blocks.0.0.weight": torch.empty(320, 4, 3, 3)},
     "looks like a Stable Diffusion checkpoint"),
    (lambda: {k.replace(".temporal_transformer.", "."): v for k, v in _table("rgb").items()},
     "motion modules are in diffusers' layout"),
    (lambda: dict(_table("rgb"), **{"controlnet_cond_embedding.weight": torch.empty(320, 4, 3, 3)}),
     "takes 4 channels; a rgb SparseCtrl takes 5"),
    (lambda: {k: v for k, v in _table("scribble").items() if not k.startswith("controlnet_cond_embedding")},
     "no conditioning embedding"),
    (lambda: {k: v for k, v in _table("rgb").items() if not k.startswith("down_blocks.3.resnets.0")},
     "found encoder down blocks [0, 1, 2]"),
    (lambda: {k: v for k, v in _table("rgb").items() if not k.startswith("down_blocks.2.motion_modules.0.")},
     "motion modules in down blocks [0, 1, 3]"),
])
def test_other_files_are_refused_by_name(make, message):
    with pytest.raises(SparseCtrlError) as err:
        detect_sparsectrl(make(), "some_file.ckpt")
    assert str(err.value).startswith("some_file.ckpt: ") and message in str(err.value)


def test_truncated_motion_modules_are_refused():
    sd = sparsectrl_state_dict("rgb")
    config = detect_sparsectrl(sd, "x.ckpt")
    _, motion = split_state_dict(sd)
    motion.pop("down_blocks.1.motion_modules.1.temporal_transformer.proj_out.bias")
    with pytest.raises(SparseCtrlError, match=r"x.ckpt: SparseCtrl motion-module keys do not fit: 1 missing"):
        build_sparse_motion(config, motion, "x.ckpt")


def _reference_module(sd: dict, prefix: str, x: torch.Tensor, frames: int) -> torch.Tensor:
    """AnimateDiff's temporal transformer with one attention block, from its formulas: per-frame GroupNorm(32,
    eps 1e-6), proj_in, [LayerNorm, + pe, 8-head attention over frames, to_out] + residual, [LayerNorm, GEGLU
    feed-forward] + residual, proj_out, + input."""
    p = lambda k: sd[prefix + ".temporal_transformer." + k].double()  # noqa: E731
    b = "transformer_blocks.0."
    bf, c, h, w = x.shape
    t = F.group_norm(x.double(), 32, p("norm.weight"), p("norm.bias"), eps=1e-6)
    t = t.view(bf // frames, frames, c, h * w).permute(0, 3, 1, 2).reshape(-1, frames, c)  # (b*hw, f, c)
    t = t @ p("proj_in.weight").T + p("proj_in.bias")
    a = b + "attention_blocks.0."
    n = F.layer_norm(t, (c,), p(b + "norms.0.weight"), p(b + "norms.0.bias")) + p(a + "pos_encoder.pe")[:, :frames]
    q, k, v = (n @ p(a + f"to_{m}.weight").T for m in "qkv")
    split = lambda z: z.view(z.shape[0], frames, 8, c // 8).transpose(1, 2)  # noqa: E731
    weights = torch.softmax(split(q) @ split(k).transpose(-1, -2) / math.sqrt(c // 8), dim=-1)
    attn = (weights @ split(v)).transpose(1, 2).reshape(-1, frames, c)
    t = t + attn @ p(a + "to_out.0.weight").T + p(a + "to_out.0.bias")
    n = F.layer_norm(t, (c,), p(b + "ff_norm.weight"), p(b + "ff_norm.bias"))
    value, gate = (n @ p(b + "ff.net.0.proj.weight").T + p(b + "ff.net.0.proj.bias")).chunk(2, dim=-1)
    t = t + (value * F.gelu(gate)) @ p(b + "ff.net.2.weight").T + p(b + "ff.net.2.bias")
    t = t @ p("proj_out.weight").T + p("proj_out.bias")
    t = t.view(bf // frames, h * w, frames, c).permute(0, 2, 3, 1).reshape(bf, c, h, w)
    return x.double() + t


@pytest.mark.parametrize("name", ["down_blocks.0.motion_modules.1", "down_blocks.3.motion_modules.0"])
def test_motion_module_matches_reference(name):
    sd = sparsectrl_state_dict("scribble", seed=3)
    config = detect_sparsectrl(sd, "tiny")
    model = build_sparse_motion(config, split_state_dict(sd)[1], "tiny")
    module = model.get_module(name)
    c = config.motion.down_channels[int(name.split(".")[1])]
    x = torch.randn(2 * 6, c, 3, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = module(x, 6)
    ref = _reference_module(sd, name, x, 6)
    torch.testing.assert_close(out.double(), ref, rtol=1e-4, atol=1e-4)
    assert (ref - x.double()).abs().max() > 1e-2  # the module changes its input: the comparison can fail
