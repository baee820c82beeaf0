"""Containers, dtypes, and every bad-input case with its documented error."""
import os
import pickle

import pytest
import torch
from safetensors.torch import save_file

from animatelcm_core.build import load_motion_model
from animatelcm_core.errors import MotionModelError
from animatelcm_core.loading import load_state_dict
from synth_weights import FAMILY_FILES, MOTION_LORA_FILE, V3_ADAPTER_FILE, random_state_dict


@pytest.fixture(scope="module")
def v2_sd():
    return random_state_dict(FAMILY_FILES["v2"], seed=11)


@pytest.mark.parametrize("suffix", [".ckpt", ".pt", ".pth", ".safetensors"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_containers_and_dtypes(tmp_path, v2_sd, suffix, dtype):
    sd = {k: v.to(dtype) for k, v in v2_sd.items()}
    path = str(tmp_path / f"mm{suffix}")
    save_file(sd, path) if suffix == ".safetensors" else torch.save(sd, path)
    model, extra = load_motion_model(path)
    assert model.config.family == "v2" and extra == {}
    assert all(p.dtype == dtype for p in model.parameters())
    key = "up_blocks.2.motion_modules.1.temporal_transformer.proj_in.weight"
    assert torch.equal(model.state_dict()[key], sd[key])


def test_hotshot_safetensors(tmp_path):
    sd = random_state_dict(FAMILY_FILES["hotshotxl"], seed=12, dtype=torch.float16)
    save_file(sd, str(tmp_path / "hsxl_temporal_layers.f16.safetensors"))
    model, _ = load_motion_model(str(tmp_path / "hsxl_temporal_layers.f16.safetensors"))
    assert model.config.family == "hotshotxl" and model.config.pe_length == 24
    x = torch.randn(8, 32, 3, 3, dtype=torch.float16)
    assert model.get_module("down_blocks.0.motion_modules.1")(x, 8).shape == x.shape


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("suffix", [".ckpt", ".pt"])
def test_malicious_pickle_refused_and_never_run(tmp_path, suffix):
    marker = tmp_path / "pwned"
    path = tmp_path / f"evil{suffix}"
    torch.save({"down_blocks.0.motion_modules.0.x": torch.zeros(1), "payload": _Exploit(str(marker))}, path)
    with pytest.raises(MotionModelError, match=f"evil{suffix}: refused to load: .*safetensors"):
        load_motion_model(str(path))
    assert not marker.exists()
    # the same pickle, loaded unsafely, would have run the command: proves the test file is a real exploit
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_raw_pickle_exploit_refused(tmp_path):
    """A plain pickle (not torch's zip container) carrying a payload is refused too."""
    marker = tmp_path / "pwned"
    path = tmp_path / "raw.ckpt"
    with open(path, "wb") as f:
        pickle.dump(_Exploit(str(marker)), f)
    with pytest.raises(MotionModelError, match="raw.ckpt: refused to load"):
        load_state_dict(str(path))
    assert not marker.exists()


def test_empty_file(tmp_path):
    (tmp_path / "empty.ckpt").write_bytes(b"")
    with pytest.raises(MotionModelError, match="empty.ckpt: the file is empty"):
        load_motion_model(str(tmp_path / "empty.ckpt"))


@pytest.mark.parametrize("suffix", [".ckpt", ".safetensors"])
def test_truncated_file(tmp_path, v2_sd, suffix):
    path = str(tmp_path / f"mm_sd_v15_v2{suffix}")
    save_file(v2_sd, path) if suffix == ".safetensors" else torch.save(v2_sd, path)
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(MotionModelError, match=f"mm_sd_v15_v2{suffix}: .*truncated"):
        load_motion_model(path)


def test_sd_checkpoint_rejected(tmp_path):
    sd = {"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(320, 4, 3, 3),
          "first_stage_model.decoder.conv_in.weight": torch.zeros(512, 4, 3, 3)}
    torch.save(sd, tmp_path / "dreamshaper_8.ckpt")
    with pytest.raises(MotionModelError, match="dreamshaper_8.ckpt: not a motion module: .*Stable Diffusion checkpoint"):
        load_motion_model(str(tmp_path / "dreamshaper_8.ckpt"))


def test_spatial_lora_rejected(tmp_path):
    save_file(random_state_dict(V3_ADAPTER_FILE, seed=1), str(tmp_path / "v3_sd15_adapter.safetensors"))
    with pytest.raises(MotionModelError, match="v3_sd15_adapter.safetensors: not a motion module: .*spatial LoRA"):
        load_motion_model(str(tmp_path / "v3_sd15_adapter.safetensors"))


def test_motion_lora_given_to_motion_loader(tmp_path):
    torch.save(random_state_dict(MOTION_LORA_FILE, seed=1), tmp_path / "v2_lora_ZoomIn.ckpt")
    with pytest.raises(MotionModelError, match="v2_lora_ZoomIn.ckpt: not a motion module: it is a MotionLoRA"):
        load_motion_model(str(tmp_path / "v2_lora_ZoomIn.ckpt"))


def test_unknown_keys_rejected(tmp_path, v2_sd):
    sd = dict(v2_sd)
    sd["down_blocks.0.motion_modules.0.temporal_transformer.conv_extra.weight"] = torch.zeros(3)
    torch.save(sd, tmp_path / "odd.ckpt")
    with pytest.raises(MotionModelError, match=r"odd.ckpt: detected AnimateDiff v2 but found 1 unknown keys .*conv_extra"):
        load_motion_model(str(tmp_path / "odd.ckpt"))


def test_missing_keys_rejected(tmp_path, v2_sd):
    sd = {k: v for k, v in v2_sd.items() if not k.startswith("up_blocks.3")}
    torch.save(sd, tmp_path / "partial.ckpt")
    with pytest.raises(MotionModelError, match=r"partial.ckpt: .*84 missing keys .*truncated"):
        load_motion_model(str(tmp_path / "partial.ckpt"))


def test_wrong_shape_rejected(tmp_path, v2_sd):
    sd = dict(v2_sd)
    key = "mid_block.motion_modules.0.temporal_transformer.proj_in.weight"
    sd[key] = torch.zeros(128, 64)
    torch.save(sd, tmp_path / "bad_shape.ckpt")
    with pytest.raises(MotionModelError, match=r"bad_shape.ckpt: 1 tensors with unexpected shapes.*\[128, 64\], expected \[128, 128\]"):
        load_motion_model(str(tmp_path / "bad_shape.ckpt"))


def test_not_a_dict_and_unsupported_suffix(tmp_path):
    torch.save([torch.zeros(1)], tmp_path / "list.ckpt")
    with pytest.raises(MotionModelError, match="list.ckpt: the checkpoint holds a list"):
        load_state_dict(str(tmp_path / "list.ckpt"))
    (tmp_path / "model.gguf").write_bytes(b"x")
    with pytest.raises(MotionModelError, match="model.gguf: unsupported file type"):
        load_state_dict(str(tmp_path / "model.gguf"))
