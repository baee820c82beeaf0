"""The MOTION_MODEL object: a motion module in its own ModelPatcher, plus its config, MotionLoRAs and I2V encoder."""
import os
from dataclasses import dataclass, field, replace

import comfy.lora
import comfy.model_management
import comfy.model_patcher
import comfy.ops
import comfy.utils
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
    """What flows between our nodes. Never mutated: applying a MotionLoRA or an adjustment returns a new handle.
    `pe_adjusts` / `weight_adjusts`: the position-encoding and weight adjustments (nodes/motion_adjust.py) its
    patcher carries, in chain order."""
    name: str
    config: MotionModuleConfig
    patcher: comfy.model_patcher.ModelPatcher
    image_encoder: comfy.model_patcher.ModelPatcher | None = None
    loras: tuple[tuple[str, float], ...] = field(default=())
    pe_adjusts: tuple = field(default=())
    weight_adjusts: tuple = field(default=())

    @property
    def model(self):
        return self.patcher.model

    @property
    def max_frames(self) -> int:
        """Frames its position encodings allow (after position-encoding adjustments)."""
        return frames_allowed(self.patcher)

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


@dataclass(frozen=True)
class MotionSettings:
    """How one attached motion model acts: effect and scale (numbers times optional multivals, times the active
    keyframe's values), the part of sampling it acts in, and its keyframes (sorted by start percent)."""
    effect: float = 1.0
    scale: float = 1.0
    start_percent: float = 0.0
    end_percent: float = 1.0
    keyframes: tuple = ()
    effect_multival: object = None  # animatelcm_core.multival.Multival or None
    scale_multival: object = None


# ---- the motion models on a MODEL --------------------------------------------------------------------------------

@dataclass(frozen=True)
class AttachedMotionModel:
    """One motion model applied to a MODEL. `patcher` is that MODEL's own copy (its additional model)."""
    handle: MotionModelHandle
    settings: MotionSettings
    patcher: comfy.model_patcher.ModelPatcher

    @property
    def max_frames(self) -> int:
        """Frames its position encodings allow on this MODEL (after adjustments and position-encoding stretch)."""
        return frames_allowed(self.patcher)


def motion_models(model) -> list[AttachedMotionModel]:
    """The motion models applied to `model`, in application order (which is also their order inside each UNet
    block); [] for a MODEL without any. Kept in step by nodes/inflate.py: the injectors are the MODEL's
    MOTION_KEY attachment, their patchers its MOTION_KEY additional models."""
    injectors = model.get_attachment(MOTION_KEY) or ()
    patchers = model.get_additional_models_with_key(MOTION_KEY)
    if len(injectors) != len(patchers):
        raise RuntimeError(f"this MODEL holds {len(patchers)} motion-model patchers for {len(injectors)} applied "
                           "motion models; its additional models were changed outside replace_motion_patchers")
    return [AttachedMotionModel(i.handle, i.settings, p) for i, p in zip(injectors, patchers)]


def max_motion_frames(model) -> int | None:
    """The most frames every motion model on `model` can take at once; None without motion models."""
    attached = motion_models(model)
    return min(mm.max_frames for mm in attached) if attached else None


def replace_motion_patchers(model, patchers: list) -> None:
    """On a MODEL clone the caller owns: replace its motion models' patchers (same order as motion_models), e.g.
    with clones carrying object patches. Each must patch the same module as the one it replaces."""
    current = motion_models(model)
    if len(patchers) != len(current) or any(p.model is not mm.patcher.model for p, mm in zip(patchers, current)):
        raise ValueError("replace_motion_patchers: give one patcher per motion model, in motion_models() order, each "
                         "a clone of the one it replaces")
    model.set_additional_models(MOTION_KEY, list(patchers))


def encoding_keys(config: MotionModuleConfig) -> list[str]:
    """State-dict names of every position-encoding table of a motion model."""
    return [f"{name}.temporal_transformer.transformer_blocks.0.attention_blocks.{a}.pos_encoder.pe"
            for name, _ in config.module_names() for a in range(config.attention_blocks)]


def original_encodings(patcher) -> dict:
    """{name: (1, L, C) table} of the module itself, without object patches (while a clone with object patches is
    loaded, ComfyUI keeps the replaced tables in its backup, which all clones share)."""
    backup = patcher.object_patches_backup
    return {key: backup[key] if key in backup else comfy.utils.get_attr(patcher.model, key)
            for key in encoding_keys(patcher.model.config)}


def frames_allowed(patcher) -> int:
    """The most frames `patcher`'s motion model takes at once: its shortest position-encoding table as it runs."""
    return min(t.shape[1] for t in position_encodings(patcher).values())


def position_encodings(patcher) -> dict:
    """{name: (1, L, C) table} that `patcher` runs its motion model with: its own object patches, else the module's
    original tables (never a table another clone of this module has patched in while loaded)."""
    return {key: patcher.object_patches.get(key, table) for key, table in original_encodings(patcher).items()}
