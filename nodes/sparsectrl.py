"""SparseCtrl as a ComfyUI CONTROL_NET: a `comfy.controlnet.ControlNet` whose hints go to chosen frames only.

Works through ComfyUI's core apply nodes (`ControlNetApplyAdvanced`, whose optional VAE encodes RGB hints) and
Advanced-ControlNet's (which passes unknown ControlNet types through, with its `vae_optional`; the output of its
"RGB SparseCtrl" preprocessor, already-encoded latents, is accepted too).

Per call the frame count is derived from the batch (`x.shape[0] // batched_number`), and the frames the call holds
from the context window ComfyUI's windowing code sets (`transformer_options["context_window"]`: this pack's full
mode or ComfyUI's own windows), so each hint lands on its own video frame inside any window. In motion-only mode
the control sees every frame and its motion modules run in the same windows as the UNet's.
"""
from dataclasses import dataclass

import torch

import comfy.controlnet
import comfy.model_management
import comfy.utils

from ..animatelcm_core.sparse_frames import SparseCtrlError, SparseSettings, check_hint_count, frame_multipliers, \
    hint_frames, sparse_condition, window_placement
from .context import MOTION_WINDOWS, run_windowed, window_frames
from .inflate import host_attention

UPSCALE = "nearest-exact"  # resize of hint images / latents to the sampled size (center crop), as ControlNets do


@dataclass(frozen=True)
class SparseHints:
    """The hints of one apply node: images (n, c, H, W) in [0, 1], or (RGB) already-encoded raw latents."""
    tensor: torch.Tensor
    encoded: bool
    vae: object = None


class SparseControl(comfy.controlnet.ControlNet):
    """CONTROL_NET object of a SparseCtrl file; copies share the network and, after `set_cond_hint`, the hints
    prepared for the sampled size (resized; RGB: VAE-encoded once)."""

    def __init__(self, network=None, settings: SparseSettings = SparseSettings(), name: str = "SparseCtrl",
                 load_device=None, manual_cast_dtype=None):
        super().__init__(network, load_device=load_device, manual_cast_dtype=manual_cast_dtype)
        self.settings, self.name = settings, name
        self.sparse_hints: SparseHints | None = None
        self.model_latent_format = None
        self._cache: dict = {}

    @property
    def config(self):
        return self.control_model.config

    def copy(self):
        c = SparseControl(None, self.settings, self.name, self.load_device, self.manual_cast_dtype)
        c.control_model, c.control_model_wrapped = self.control_model, self.control_model_wrapped
        self.copy_to(c)
        c.sparse_hints, c._cache = self.sparse_hints, self._cache
        return c

    def set_cond_hint(self, cond_hint, strength=1.0, timestep_percent_range=(0.0, 1.0), vae=None, extra_concat=[]):
        super().set_cond_hint(cond_hint, strength, timestep_percent_range, vae, extra_concat)
        latents = getattr(cond_hint, "condhint", None)  # Advanced-ControlNet's "RGB SparseCtrl" preprocessor output
        if latents is not None:
            if not self.config.latent_hints:
                raise SparseCtrlError(f"{self.name} ({self.config.display_name}) takes images, but got the output of "
                                      "an RGB SparseCtrl preprocessor (latents); connect the images directly.")
            self.sparse_hints = SparseHints(latents, encoded=True)
            self.cond_hint_original = latents
        elif self.config.latent_hints and vae is None:
            raise SparseCtrlError(f"{self.name} is an RGB SparseCtrl: its hints are VAE-encoded keyframes. Connect "
                                  "the VAE to the apply node's vae input.")
        else:
            self.sparse_hints = SparseHints(cond_hint, encoded=False, vae=vae)
        check_hint_count(self.settings, self.sparse_hints.tensor.shape[0])
        self._cache = {}
        return self

    def pre_run(self, model, percent_to_timestep_function):
        super().pre_run(model, percent_to_timestep_function)
        self.model_latent_format = model.latent_format
        unet = getattr(model.model_config, "unet_config", {})
        wanted = (self.config.model_channels, list(self.config.channel_mult), self.config.context_dim)
        found = (unet.get("model_channels"), list(unet.get("channel_mult") or []), unet.get("context_dim"))
        if found != wanted:
            raise SparseCtrlError(f"{self.name} is an SD1.5 {self.config.display_name} ({wanted[0]} channels x "
                                  f"{wanted[1]}, text context {wanted[2]}), but the MODEL has {found[0]} channels x "
                                  f"{found[1]}, text context {found[2]}; use it with an SD1.5 checkpoint.")

    def cleanup(self):
        self.model_latent_format = None
        self._cache.clear()
        super().cleanup()

    def get_control(self, x_noisy, t, cond, batched_number, transformer_options):
        prev = None
        if self.previous_controlnet is not None:
            prev = self.previous_controlnet.get_control(x_noisy, t, cond, batched_number, transformer_options)
        if self.timestep_range is not None and (t[0] > self.timestep_range[0] or t[0] < self.timestep_range[1]):
            return prev
        dtype = self.manual_cast_dtype or self.control_model.dtype
        frames = x_noisy.shape[0] // batched_number
        window, total = window_frames(transformer_options, frames)
        hint, multipliers = self._conditioning(window, total, frames, x_noisy, dtype)
        context = cond.get("crossattn_controlnet", cond["c_crossattn"])
        control = self.control_model(
            x_noisy.to(dtype), hint.repeat(batched_number, 1, 1, 1), self.model_sampling_current.timestep(t).to(dtype),
            comfy.model_management.cast_to_device(context, x_noisy.device, dtype),
            run_motion=self._motion_runner(frames, transformer_options))
        if multipliers is not None:
            scale = multipliers.to(x_noisy.device, dtype).repeat(batched_number).view(-1, 1, 1, 1)
            control = {k: [o * scale for o in outs] for k, outs in control.items()}
        return self.control_merge(control, prev, output_dtype=None)

    def _motion_runner(self, frames: int, transformer_options: dict):
        effect, scale = self.settings.motion_strength, self.settings.motion_scale
        if effect == 0.0:
            return None
        windows = transformer_options.get(MOTION_WINDOWS)
        kwargs = dict(effect=effect, scale=scale, attention=host_attention(transformer_options))

        def run(module, h):
            if windows is not None:
                return run_windowed(module, h, frames, windows, transformer_options, **kwargs)
            if frames > module.max_frames:
                raise SparseCtrlError(f"{frames} frames per batch, but {self.name}'s motion modules support at most "
                                      f"{module.max_frames}; use context windows ('AnimateLCM Context Options').")
            return module(h, frames, **kwargs)
        return run

    def _conditioning(self, window, total: int, frames: int, x, dtype):
        """(frames, hint channels + mask, H, W) conditioning of this call, and its per-frame residual factors."""
        hints = self._hints_for(x).to(device=x.device, dtype=dtype)
        placement = window_placement(hint_frames(self.settings, hints.shape[0], total), window,
                                     self.settings.context_aware)
        return (sparse_condition(hints, placement, frames, self.settings.mask_multiplier),
                frame_multipliers(placement, frames, self.settings.hint_multiplier, self.settings.nonhint_multiplier))

    def _hints_for(self, x) -> torch.Tensor:
        """The hints at the sampled size, once per size: images at 8x the latent size, or (RGB) scaled latents at
        the latent size (VAE-encoded here when the apply node gave images)."""
        height, width = x.shape[-2:]
        if (height, width) not in self._cache:
            hints = self.sparse_hints
            if not self.config.latent_hints:
                resized = comfy.utils.common_upscale(hints.tensor, width * 8, height * 8, UPSCALE, "center")
            else:
                latents = hints.tensor if hints.encoded else self._encode(hints, height, width)
                latents = self.model_latent_format.process_in(latents.float())
                resized = comfy.utils.common_upscale(latents, width, height, UPSCALE, "center")
            self._cache.clear()  # one size at a time
            self._cache[(height, width)] = resized
        return self._cache[(height, width)]

    @staticmethod
    def _encode(hints: SparseHints, height: int, width: int) -> torch.Tensor:
        """VAE-encode the keyframes, resized and center-cropped to the latent's pixel size (once per size)."""
        pixels = comfy.utils.common_upscale(hints.tensor, width * 8, height * 8, UPSCALE, "center").movedim(1, -1)
        loaded = comfy.model_management.loaded_models(only_currently_used=True)  # as ControlNet.get_control does
        latents = hints.vae.encode(pixels[..., :3])
        comfy.model_management.load_models_gpu(loaded)
        return latents
