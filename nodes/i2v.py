"""AnimateLCM-I2V: the image encoder's features are added to the hidden states before the second motion module of
every down block (input blocks 2, 5, 8, 11 in SD1.5; spec formats.md §4.7), on every UNet call."""
from dataclasses import dataclass

import torch

import comfy.patcher_extension
import comfy.utils

from .context import window_frames
from .inflate import I2V_FEATURES, frames_per_video, model_base
from .motion_model import MotionModelHandle, motion_models

KEY = "animatelcm_i2v"


@dataclass(frozen=True)
class I2VSettings:
    strength: float = 1.0
    motion_scale: float = 0.8
    start_percent: float = 0.0
    end_percent: float = 1.0
    level_weights: tuple[float, ...] | None = None


def check_reference_count(count: int, frames: int) -> None:
    if count not in (1, frames):
        raise ValueError(f"the reference has {count} images but the latent has {frames} frames; give 1 image "
                         f"(used for every frame) or exactly {frames}.")


def prepare_reference(ref: torch.Tensor, frames: int, height: int, width: int) -> torch.Tensor:
    """Resize (nearest-exact) and center-crop a raw latent batch to (h, w); 1 image or one per frame."""
    check_reference_count(ref.shape[0], frames)
    if tuple(ref.shape[-2:]) != (height, width):
        ref = comfy.utils.common_upscale(ref, width, height, "nearest-exact", "center")
    return ref


def encode_image(vae, image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """VAE-encode an IMAGE batch (b, H, W, c) after resizing and center-cropping it to the latent's pixel size."""
    px = comfy.utils.common_upscale(image.movedim(-1, 1), width * 8, height * 8, "bilinear", "center").movedim(1, -1)
    return vae.encode(px[..., :3])


def _check(model, handle: MotionModelHandle) -> None:
    if handle.image_encoder is None:
        raise ValueError(f"{handle.name} ({handle.config.display_name}) has no image encoder; image-to-video needs "
                         "AnimateLCM_sd15_i2v.ckpt.")
    if model_base(model) != "sd15":
        raise ValueError("AnimateLCM-I2V works with SD1.5 models only; this MODEL is not SD1.5.")
    if not motion_models(model):
        raise ValueError("Apply the motion module to the MODEL first ('Apply Motion Module' with the I2V motion module), "
                         "then connect that MODEL here.")
    if model.get_additional_models_with_key(KEY):
        raise ValueError("This MODEL already has an I2V reference; connect the MODEL from before the first I2V node.")


def attach_i2v(model, handle: MotionModelHandle, ref_latent: torch.Tensor, settings: I2VSettings):
    """Clone `model` and add the reference image's features on every UNet call (cond and uncond alike).

    `ref_latent` is already scaled (latent_format.process_in) and sized to the sampling latent.
    """
    _check(model, handle)
    m = model.clone()
    encoder = handle.image_encoder.clone()
    m.set_additional_models(KEY, [encoder])
    ms = m.get_model_object("model_sampling")
    sigma_hi, sigma_lo = ms.percent_to_sigma(settings.start_percent), ms.percent_to_sigma(settings.end_percent)
    cache = {}

    def wrapper(executor, x, timesteps, context, y, control, transformer_options, **kwargs):
        sigmas = transformer_options.get("sigmas")
        active = settings.strength != 0 and (sigmas is None or sigma_lo <= float(sigmas.max()) <= sigma_hi)
        if not active:
            return executor(x, timesteps, context, y, control, transformer_options, **kwargs)
        frames = frames_per_video(x, transformer_options)
        indices = _frame_indices(transformer_options, frames)
        feats = _features(encoder.model, ref_latent, indices, settings, cache, x)
        chunks = x.shape[0] // frames
        transformer_options[I2V_FEATURES] = [f.repeat(chunks, 1, 1, 1) for f in feats]
        try:
            return executor(x, timesteps, context, y, control, transformer_options, **kwargs)
        finally:
            transformer_options.pop(I2V_FEATURES, None)

    m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, KEY, wrapper)
    return m


def _frame_indices(transformer_options: dict, frames: int) -> list[int]:
    indices, _ = window_frames(transformer_options, frames)
    return list(range(frames)) if indices is None else indices


def _features(encoder, ref_latent, indices, settings, cache, like):
    """Encoder features for these frame indices; computed once per window and reused on later steps."""
    key = (tuple(indices), like.device, like.dtype)
    if key not in cache:
        cache.clear()  # keep one window's features: bounded memory for long videos
        p = next(encoder.parameters())
        ref = ref_latent if ref_latent.shape[0] == 1 else ref_latent[indices]
        ref = ref.to(device=p.device, dtype=p.dtype).expand(len(indices), -1, -1, -1)
        with torch.no_grad():
            feats = encoder(ref, motion_scale=settings.motion_scale, frame_indices=indices,
                            level_weights=settings.level_weights)
        cache[key] = [(f * settings.strength).to(device=like.device, dtype=like.dtype) for f in feats]
    return cache[key]
