"""Every family synthesized at full size (meta device) from the key tables loads strictly and is detected right."""
import pytest
import torch

from animatelcm_core.build import build_motion_model
from animatelcm_core.config import IMAGE_ENCODER_PREFIX, detect_config, to_original_layout
from synth_weights import FAMILY_FILES, meta_state_dict, read_key_table, to_diffusers_keys

# family -> (base, mid, pe length, pe stored, motion GN across frames, spatial GN across frames, preset), spec §1/§2.6
EXPECTED = {
    "v1": ("sd15", False, 24, True, False, True, "sqrt_linear"),
    "v2": ("sd15", True, 32, True, False, False, "sqrt_linear"),
    "v3": ("sd15", False, 32, True, False, False, "sqrt_linear"),
    "sdxl_beta": ("sdxl", False, 32, True, True, False, "linear_sdxl"),
    "hotshotxl": ("sdxl", False, 24, True, False, True, "linear"),
    "animatelcm_t2v": ("sd15", True, 64, False, False, False, "lcm"),
    "animatelcm_i2v": ("sd15", True, 64, False, False, False, "lcm_i2v"),
}
TENSOR_COUNTS = {"v1": 560, "v2": 588, "v3": 560, "sdxl_beta": 420, "hotshotxl": 420, "animatelcm_t2v": 546,
                 "animatelcm_i2v": 584}


def _strict_meta_load(sd, config):
    model = build_motion_model(config)  # meta device
    osd = to_original_layout(sd, config.layout)
    mm = {k: v for k, v in osd.items() if not k.startswith(IMAGE_ENCODER_PREFIX)}
    return model.load_state_dict(mm, strict=False, assign=True)


@pytest.mark.parametrize("family", list(FAMILY_FILES))
def test_family_detected_and_loads_strictly(family):
    sd = meta_state_dict(FAMILY_FILES[family])
    assert len(sd) == TENSOR_COUNTS[family]
    config = detect_config(sd, FAMILY_FILES[family])
    base, mid, pe_len, pe_stored, mm_xf, spatial_xf, preset = EXPECTED[family]
    assert (config.family, config.base, config.has_mid, config.pe_length, config.pe_stored) == \
        (family, base, mid, pe_len, pe_stored)
    assert (config.norm_across_frames, config.spatial_norm_across_frames, config.sampling) == (mm_xf, spatial_xf, preset)
    assert config.down_channels == ((320, 640, 1280, 1280) if base == "sd15" else (320, 640, 1280))
    assert config.heads == 8
    assert config.has_image_encoder == (family == "animatelcm_i2v")
    result = _strict_meta_load(sd, config)
    assert result.missing_keys == [] and result.unexpected_keys == []


@pytest.mark.parametrize("family", ["v2", "v3", "sdxl_beta"])
def test_diffusers_layout_variant(family):
    sd = to_diffusers_keys(meta_state_dict(FAMILY_FILES[family]))
    assert not any("temporal_transformer" in k or "attention_blocks" in k for k in sd)
    config = detect_config(sd, "diffusion_pytorch_model.safetensors")
    assert config.layout == "diffusers" and config.family == family and config.pe_stored
    result = _strict_meta_load(sd, config)
    assert result.missing_keys == [] and result.unexpected_keys == []


def test_diffusers_motion_adapter_keys_load():
    """Keys produced by diffusers' own MotionAdapter (full size, on meta) load with nothing missing or unexpected."""
    diffusers = pytest.importorskip("diffusers")
    with torch.device("meta"):
        adapter = diffusers.MotionAdapter(use_motion_mid_block=True, motion_max_seq_length=32)
    sd = adapter.state_dict()
    config = detect_config(sd, "adapter")
    assert (config.layout, config.family, config.has_mid, config.pe_length) == ("diffusers", "v2", True, 32)
    result = _strict_meta_load(sd, config)
    assert result.missing_keys == [] and result.unexpected_keys == []


def test_model_parameter_count_matches_table():
    """The constructed model holds exactly the table's tensors with the table's shapes (v2, full size)."""
    table = read_key_table(FAMILY_FILES["v2"])
    config = detect_config(meta_state_dict(FAMILY_FILES["v2"]))
    model = build_motion_model(config)
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == table
    assert sum(p.numel() for p in model.parameters()) == 453_209_280  # spec §1: v2 minus pe buffers


def test_wrapped_state_dict_detected(tmp_path):
    from animatelcm_core.loading import load_state_dict
    from synth_weights import random_state_dict
    path = tmp_path / "wrapped.ckpt"
    torch.save({"state_dict": random_state_dict(FAMILY_FILES["v3"])}, path)
    assert detect_config(load_state_dict(str(path))).family == "v3"
