"""The MOTION_MODEL object: a motion module in its own ModelPatcher, plus its config, MotionLoRAs and I2V encoder."""
import os
from dataclasses import dataclass, field, replace

import comfy.lora
import comfy.model_management
import comfy.model_patcher
import comfy.ops
import folder_paths

from ..animatelcm_core.build import load_motion_model
from ..animatelcm_core.config import MotionModuleConfig
from ..animatelcm_core.i2v_encoder import has_image_encoder, image_encoder_from_state_dict
from ..animatelcm_core.motion_lora import MotionLoRA, load_motion_lora, lora_targets
from .host import new_model_patcher

MOTION_KEY = "animatelcm_motion"  # key of the motion model's injections, additional model and wrapper
MOTION_MODELS = "animatediff_models"
MOTION_LORAS = "animatediff_motion_lora"
PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def register_model_folders() -> None:
    """Add the model folders ADE users already have, plus this pack's own `models/` folders."""
    for key, sub in ((MOTION_MODELS, "animatediff_models"), (MOTION_LORAS, "animatediff_motion_lora")):
        folder_paths.add_model_folder_path(key, os.path.join(folder_paths.models_dir, sub))
        folder_paths.add_model_folder_path(key, os.path.join(PACK_DIR, "models", sub))
        # add_model_folder_path creates the key with an empty extension set (which lists every file)
        folder_paths.folder_names_and_paths[key][1].update(folder_paths.supported_pt_extensions)


@dataclass(frozen=True)
class MotionModelHandle:
    """What flows between our nodes. Never mutated: applying a MotionLoRA returns a new handle."""
    name: str
    config: MotionModuleConfig
    patcher: comfy.model_patcher.ModelPatcher
    image_encoder: comfy.model_patcher.ModelPatcher | None = None
    loras: tuple[tuple[str, float], ...] = field(default=())

    @property
    def model(self):
        return self.patcher.model

    def describe(self) -> str:
        loras = "".join(f" + {n} x{s:g}" for n, s in self.loras)
        return f"{self.name} ({self.config.display_name}){loras}"

    def with_lora(self, lora: MotionLoRA, strength: float) -> "MotionModelHandle":
        """A new handle whose patcher carries the LoRA as ComfyUI weight patches: W + strength * up @ down."""
        targets = lora_targets(lora, self.config)  # raises before anything changes
        raw, to_load = {}, {}
        for key, (up, down) in targets.items():
            base = key[: -len(".weight")]
            raw[f"{base}.lora_up.weight"], raw[f"{base}.lora_down.weight"] = up, down
            to_load[base] = key
        patcher = self.patcher.clone()
        added = patcher.add_patches(comfy.lora.load_lora(raw, to_load, log_missing=False), strength)
        if len(added) != len(targets):
            raise RuntimeError(f"{lora.name}: only {len(added)} of {len(targets)} LoRA weights found in the motion model")
        return replace(self, patcher=patcher, loras=self.loras + ((lora.name, strength),))


def load_motion_model_handle(name: str) -> MotionModelHandle:
    path = folder_paths.get_full_path_or_raise(MOTION_MODELS, name)
    load_device = comfy.model_management.get_torch_device()
    offload_device = comfy.model_management.unet_offload_device()
    dtype = comfy.model_management.unet_dtype()
    model, extra = load_motion_model(path, dtype=dtype, ops=comfy.ops.manual_cast)
    patcher = new_model_patcher(model, load_device, offload_device)
    encoder = None
    if has_image_encoder(extra):
        enc = image_encoder_from_state_dict(extra, name).to(dtype)
        encoder = new_model_patcher(enc, load_device, offload_device)
    return MotionModelHandle(name=name, config=model.config, patcher=patcher, image_encoder=encoder)


def load_motion_lora_file(name: str) -> MotionLoRA:
    return load_motion_lora(folder_paths.get_full_path_or_raise(MOTION_LORAS, name))
