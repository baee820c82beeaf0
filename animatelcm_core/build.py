"""From a file or state dict to a ready MotionModel: detect, check, construct, load (no random init)."""
import os

import torch

from .config import IMAGE_ENCODER_PREFIX, MotionModuleConfig, check_state_dict, detect_config, tensor_dtype, \
    to_original_layout
from .errors import MotionModelError
from .loading import load_state_dict
from .motion_module import TORCH_OPS, MotionModel
from .positional import sinusoidal_encoding


def load_motion_model(path: str, dtype: torch.dtype | None = None, ops=TORCH_OPS) -> tuple[MotionModel, dict]:
    """Load a motion-module file. Returns the model and the remaining non-motion tensors (e.g. the I2V encoder)."""
    return motion_model_from_state_dict(load_state_dict(path), os.path.basename(path), dtype=dtype, ops=ops)


def motion_model_from_state_dict(sd: dict, source: str = "<state dict>", dtype: torch.dtype | None = None,
                                 ops=TORCH_OPS) -> tuple[MotionModel, dict]:
    config = detect_config(sd, source)
    osd = to_original_layout(sd, config.layout)
    extra = {k: v for k, v in osd.items() if k.startswith(IMAGE_ENCODER_PREFIX)}
    mm_sd = {k: v for k, v in osd.items() if not k.startswith(IMAGE_ENCODER_PREFIX)}
    check_state_dict(mm_sd, config, source)
    return build_motion_model(config, mm_sd, dtype=dtype or tensor_dtype(mm_sd), ops=ops), extra


def build_motion_model(config: MotionModuleConfig, mm_sd: dict | None = None, dtype: torch.dtype = torch.float32,
                       device: torch.device | str = "cpu", ops=TORCH_OPS) -> MotionModel:
    """Construct without random initialisation and load `mm_sd` (original layout) strictly.

    With `mm_sd=None` the model stays on the meta device (shapes only).
    """
    with torch.device("meta"):
        model = MotionModel(config, ops)
    if mm_sd is None:
        return model
    result = model.load_state_dict({k: v.to(device=device, dtype=dtype) for k, v in mm_sd.items()},
                                   strict=False, assign=True)
    if result.missing_keys or result.unexpected_keys:  # check_state_dict makes this unreachable for files
        raise MotionModelError(f"state dict does not fit {config.display_name}: missing {result.missing_keys[:3]}, "
                               f"unexpected {result.unexpected_keys[:3]}")
    for _, module in model.named_motion_modules():
        for attn in module.temporal_transformer.transformer_blocks[0].attention_blocks:
            if attn.pos_encoder.pe.is_meta:  # computed, not stored
                attn.pos_encoder.pe = sinusoidal_encoding(config.pe_length, attn.to_q.in_features).unsqueeze(0) \
                    .to(device=device, dtype=dtype)
    return model.eval().requires_grad_(False)
