"""Motion-model settings on a MOTION_MODEL handle: position-encoding and weight adjustments as ComfyUI patches.

As in ComfyUI-AnimateDiff-Evolved, adjustments act on the file's tensors, all position-encoding adjustments before
all weight adjustments, each kind in chain order; LoRAs add on top. Weights other than the position encodings get
one ComfyUI "diff" patch per adjustment node (the change from the tensor as the previous adjustments left it), so
they stack with MotionLoRA patches in any order; the position-encoding tables, whose length may change, are object
patches recomputed from the original tables. Nothing on the input handle changes (core math:
animatelcm_core.positional, animatelcm_core.weight_adjust).
"""
import logging
from dataclasses import replace

import comfy.ops

from ..animatelcm_core.build import build_motion_model
from ..animatelcm_core.positional import PEAdjust, adjust_encoding
from ..animatelcm_core.weight_adjust import WeightAdjust, adjust_tensor, touched_keys
from .host import new_model_patcher
from .motion_model import MotionModelHandle, encoding_keys, original_encodings


def with_pe_adjust(handle: MotionModelHandle, adjust: PEAdjust) -> MotionModelHandle:
    """A handle whose position encodings carry `adjust` after the handle's own adjustments."""
    if adjust.is_identity:
        return handle
    if not handle.config.pe_stored:
        logging.warning("%s: position-encoding adjustment ignored: %s stores no position encodings (they are "
                        "computed), and only stored tables are adjusted, as in AnimateDiff-Evolved",
                        handle.name, handle.config.display_name)
    pe_adjusts = handle.pe_adjusts + (adjust,)
    patcher = handle.patcher.clone()
    _patch_encodings(patcher, handle, pe_adjusts, handle.weight_adjusts)
    return replace(handle, patcher=patcher, pe_adjusts=pe_adjusts)


def with_weight_adjust(handle: MotionModelHandle, adjust: WeightAdjust) -> MotionModelHandle:
    """A handle whose weights (and image encoder's, under "all"/"other") carry `adjust` after its own adjustments."""
    if adjust.is_identity:
        return handle
    weight_adjusts = handle.weight_adjusts + (adjust,)
    patcher = handle.patcher.clone()
    _patch_weights(patcher, handle.weight_adjusts, adjust)
    _patch_encodings(patcher, handle, handle.pe_adjusts, weight_adjusts)
    encoder = handle.image_encoder
    if encoder is not None:
        encoder = encoder.clone()
        _patch_weights(encoder, handle.weight_adjusts, adjust, prefix="img_encoder.")
    return replace(handle, patcher=patcher, image_encoder=encoder, weight_adjusts=weight_adjusts)


def _base_weights(patcher) -> dict:
    """{key: tensor} of the module's own weights, without any patch (ComfyUI's record of the unpatched weight when
    a patched copy is loaded)."""
    return {key: entries[0][0] for key, entries in patcher.get_key_patches().items()}


def _patch_weights(patcher, previous: tuple, adjust: WeightAdjust, prefix: str = "") -> None:
    """Add one diff patch per tensor `adjust` changes: adjust(W') - W', W' the tensor after `previous`."""
    base = {k: v for k, v in _base_weights(patcher).items() if ".pos_encoder." not in k}
    diffs = {}
    for key in touched_keys([prefix + k for k in base], (adjust,)):
        weight = base[key[len(prefix):]]
        before = adjust_tensor(key, weight, previous)
        diffs[key[len(prefix):]] = ((adjust.apply(key, before) - before).to(weight.dtype),)
    patcher.add_patches(diffs, 1.0)


def _patch_encodings(patcher, handle: MotionModelHandle, pe_adjusts: tuple, weight_adjusts: tuple) -> None:
    """Object patches: every stored position-encoding table after all PE adjustments, then all weight adjustments."""
    if not handle.config.pe_stored or not (pe_adjusts or touched_keys(encoding_keys(handle.config), weight_adjusts)):
        return
    for key, table in original_encodings(patcher).items():
        adjusted = adjust_encoding(table, pe_adjusts, f"{handle.name} ({key})")
        adjusted = adjust_tensor(key, adjusted, weight_adjusts).to(device=patcher.offload_device, dtype=table.dtype)
        patcher.add_object_patch(key, adjusted)


def private_copy(handle: MotionModelHandle) -> MotionModelHandle:
    """The same motion model (weights, patches, object patches) on a module of its own. Two stacked entries must not
    share one module: each loads its own weight patches into it."""
    src = handle.patcher
    state = _base_weights(src)
    state.update({k: v for k, v in original_encodings(src).items() if handle.config.pe_stored})
    dtype = next(iter(state.values())).dtype
    model = build_motion_model(handle.config, state, dtype=dtype, device=src.offload_device, ops=comfy.ops.manual_cast)
    patcher = new_model_patcher(model, src.load_device, src.offload_device)
    for key, entries in src.patches.items():
        for strength_patch, patch, strength_model, offset, function in entries:
            patcher.add_patches({(key, offset, function): patch}, strength_patch, strength_model)
    for key, obj in src.object_patches.items():
        patcher.add_object_patch(key, obj)
    return replace(handle, patcher=patcher)
