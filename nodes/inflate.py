"""Inflating a MODEL: motion modules inserted into the UNet through ModelPatcher injections.

Only public extension points: `set_additional_models`, `set_injections`, `set_attachments`,
`set_model_forward_timestep_embed_patch`, `add_wrapper_with_key`. The frame count is derived on every call from
the batch and `cond_or_uncond`. Several motion models can be stacked on one MODEL (each 'Apply Motion Module' adds
one; nodes/motion_model.py `motion_models(model)` lists them): each has its own injector, whose modules follow the
earlier models' inside every UNet block, and its own start/end percent, effect, scale and keyframes.
"""
import contextvars
import math
from dataclasses import dataclass

import torch

import comfy.patcher_extension
import comfy.supported_models
from comfy.ldm.modules import attention as comfy_attention
from comfy.ldm.modules.attention import SpatialTransformer
from comfy.ldm.modules.diffusionmodules.openaimodel import Downsample, ResBlock, Upsample

from ..animatelcm_core import placement
from .context import MOTION_WINDOWS, run_windowed, window_frames
from .motion_adjust import private_copy
from .motion_keyframes import active_keyframe, motion_values, select_frames
from .motion_model import MOTION_KEY, MotionModelHandle, MotionSettings, motion_models
from .prompt_travel import check_conditioning_frames
from .window_info import publish_window_info

I2V_FEATURES = "animatelcm_i2v_features"  # transformer_options entry set by the I2V wrapper for one UNet call
MOTION_CALL = "animatelcm_motion_call"  # transformer_options entry: {injector: MotionCall} for one UNet call
I2V_LEVELS = {f"down_blocks.{i}.motion_modules.1": i for i in range(4)}  # features enter before these modules
_FRAMES = contextvars.ContextVar("animatelcm_frames", default=None)


# ComfyUI's fallbacks for hosts without a fused attention kernel (its CPU default is sub-quadratic). They save memory
# on long sequences; on the motion module's 16-frame sequences they are 1.1-2.9x slower than SDPA
# (bench/bench_attention.py), and our token blocks already bound the memory. With one of these chosen (and no
# override), the module uses SDPA.
_MEMORY_SAVING_ATTENTION = ("attention_sub_quad", "attention_split", "attention_basic")
ATTENTION_OVERRIDE = "optimized_attention_override"  # ComfyUI's per-model attention override (transformer_options)


def host_attention(transformer_options: dict, chosen=None):
    """ComfyUI's attention for the motion module's frame attention, or None for the module's own SDPA.

    The host's choice is used whenever it can serve: a fused kernel picked by ComfyUI or its command line (pytorch,
    xformers, flash, sage; ComfyUI itself falls back from those where they cannot take a shape), and always when a
    node set an `optimized_attention_override` on the model, which then sees the motion module's calls too.
    `chosen` defaults to ComfyUI's `optimized_attention`, read at call time.
    """
    chosen = comfy_attention.optimized_attention if chosen is None else chosen
    if ATTENTION_OVERRIDE not in transformer_options and \
            getattr(chosen, "__name__", "") in _MEMORY_SAVING_ATTENTION:
        return None

    def attend(q, k, v, heads):  # (N, F, C) in and out: ComfyUI's layout without skip_reshape
        return chosen(q, k, v, heads, transformer_options=transformer_options)
    return attend


@dataclass(frozen=True)
class MotionCall:
    """What one motion model's modules do in one UNet call: whether they act, and their effect and scale (numbers,
    or per-frame (F,) / per-pixel (F, H, W) tensors for the frames of this call)."""
    active: bool
    effect: object
    scale: object


def model_base(model) -> str | None:
    """"sd15" or "sdxl" for a ComfyUI MODEL, None for anything else."""
    config = model.model.model_config
    if isinstance(config, comfy.supported_models.SDXL):
        return "sdxl"
    if isinstance(config, (comfy.supported_models.SD15, comfy.supported_models.SD15_instructpix2pix)):
        return "sd15"
    return None


def frames_per_video(x: torch.Tensor, transformer_options: dict) -> int:
    """Frames in one cond/uncond chunk: the batch holds len(cond_or_uncond) chunks of frames."""
    chunks = len(transformer_options.get("cond_or_uncond") or [0])
    return x.shape[0] // chunks


class InjectedMotionModule(torch.nn.Module):
    """Placeholder inserted in the UNet. It refers to the motion module without registering it as a submodule, so
    the UNet's state dict and weight loading never see the motion weights (they have their own ModelPatcher)."""

    def __init__(self, module, name: str, family: str, injector: "MotionInjector"):
        super().__init__()
        self._target, self._injector = (module,), (injector,)
        self.name, self.family = name, family

    def run(self, x: torch.Tensor, transformer_options: dict) -> torch.Tensor:
        level = I2V_LEVELS.get(self.name)
        if level is not None and I2V_FEATURES in transformer_options:  # AnimateLCM-I2V, spec §4.7
            x = x + transformer_options[I2V_FEATURES][level]
        frames = frames_per_video(x, transformer_options)
        call = (transformer_options.get(MOTION_CALL) or {}).get(self._injector[0])
        if call is None:  # the UNet called directly, without the sampler's wrappers: decided here instead
            call = self._injector[0].motion_call(frames, transformer_options)
        if not call.active:
            return x
        module = self._target[0]
        windows = transformer_options.get(MOTION_WINDOWS)
        kwargs = dict(effect=call.effect, scale=call.scale, attention=host_attention(transformer_options))
        if windows is not None:
            return run_windowed(module, x, frames, windows, transformer_options, **kwargs)
        if frames > module.max_frames:
            raise ValueError(f"{frames} frames per batch, but the motion module {self.family} supports at most "
                             f"{module.max_frames} frames (its position encodings). Use fewer frames or add the "
                             "'AnimateLCM Context Options' node (context windows) for long animations.")
        return module(x, frames, **kwargs)

    def forward(self, x):  # only reached if the timestep-embed patch is missing
        raise RuntimeError("AnimateLCM motion module called without transformer_options; the MODEL patch is missing")


def motion_handler(layer, x, emb, context, transformer_options, *args):
    """`forward_timestep_embed_patch` handler: gives our placeholder the transformer_options."""
    return layer.run(x, transformer_options)


def layer_kind(layer) -> str:
    if isinstance(layer, ResBlock):
        return placement.RESBLOCK
    if isinstance(layer, SpatialTransformer):
        return placement.TRANSFORMER
    if isinstance(layer, Upsample):
        return placement.UPSAMPLE
    if isinstance(layer, Downsample):
        return placement.DOWNSAMPLE
    return placement.OTHER


def _block(unet, kind: str, index: int):
    return unet.middle_block if kind == "middle" else getattr(unet, f"{kind}_blocks")[index]


class FramesGroupNorm(torch.nn.Module):
    """Stands in for a UNet GroupNorm while injected, taking statistics across the frames of each video
    (original AnimateDiff v1 and HotshotXL ResNets, spec §2.6). Holds the original without registering it."""

    def __init__(self, norm):
        super().__init__()
        self._norm = (norm,)

    def forward(self, x):
        frames = _FRAMES.get()
        norm = self._norm[0]
        if not frames or frames <= 1 or x.shape[0] % frames:
            return norm(x)
        bf, c = x.shape[:2]
        v = x.reshape(bf // frames, frames, c, -1).transpose(1, 2)  # (b, c, f, h*w)
        return norm(v).transpose(1, 2).reshape(x.shape)


def _resblock_norm_slots(unet):
    """(container, index) of every ResBlock GroupNorm and the output GroupNorm."""
    slots = []
    for module in unet.modules():
        if isinstance(module, ResBlock):
            slots += [(module.in_layers, 0), (module.out_layers, 0)]
    return slots + [(unet.out, 0)]


class MotionInjector:
    """inject/eject callables for `PatcherInjection`, and the DIFFUSION_MODEL wrapper that decides, once per UNet
    call, what the motion modules do (the sigmas of the start/end percents and keyframes are read at injection,
    from the model_sampling the MODEL has then)."""

    def __init__(self, handle: MotionModelHandle, mm_patcher, settings: MotionSettings):
        self.handle, self.mm_patcher, self.settings = handle, mm_patcher, settings
        self.sigma_range, self.keyframe_sigmas = None, []
        self._values = {}  # (keyframe, frames) -> (effect, scale): resolved once, not per call

    def inject(self, patcher):
        self.inject_into(patcher.model.diffusion_model, patcher.get_model_object("model_sampling"))

    def inject_into(self, unet, ms):
        """Insert the motion modules into `unet`; sigmas of the percents from `ms` (the MODEL's model_sampling)."""
        full = self.settings.start_percent <= 0.0 and self.settings.end_percent >= 1.0
        self.sigma_range = None if full else (ms.percent_to_sigma(self.settings.start_percent),
                                              ms.percent_to_sigma(self.settings.end_percent))
        self.keyframe_sigmas = [ms.percent_to_sigma(k.start_percent) for k in self.settings.keyframes]
        model = self.mm_patcher.model
        for name, kind, index in placement.placements(self.handle.config):
            block = _block(unet, kind, index)
            at = placement.insert_index([layer_kind(layer) for layer in block])
            while at < len(block) and isinstance(block[at], InjectedMotionModule):  # after earlier stacked models
                at += 1
            block.insert(at, InjectedMotionModule(model.get_module(name), name, self.handle.config.display_name, self))
        if self.handle.config.spatial_norm_across_frames:
            for container, i in _resblock_norm_slots(unet):
                if not isinstance(container[i], FramesGroupNorm):  # a stacked model may have swapped it in
                    container[i] = FramesGroupNorm(container[i])

    def eject(self, patcher):
        unet = patcher.model.diffusion_model
        for block in list(unet.input_blocks) + [unet.middle_block] + list(unet.output_blocks):
            for i in reversed(range(len(block))):
                if isinstance(block[i], InjectedMotionModule) and block[i]._injector[0] is self:
                    del block[i]
        for module in unet.modules():
            for name, child in list(module.named_children()):
                if isinstance(child, FramesGroupNorm):
                    setattr(module, name, child._norm[0])

    def motion_call(self, frames: int, transformer_options: dict) -> MotionCall:
        settings, keyframes = self.settings, self.settings.keyframes
        sigmas = transformer_options.get("sigmas")
        # float() syncs the device: only when the percents or keyframes need the sigma
        sigma = float(sigmas.max()) if sigmas is not None and (self.sigma_range or keyframes) else None
        if sigma is not None and self.sigma_range and not self.sigma_range[1] <= sigma <= self.sigma_range[0]:
            return MotionCall(False, 0.0, 1.0)
        if not (keyframes or settings.effect_multival or settings.scale_multival):
            return MotionCall(True, settings.effect, settings.scale)
        keyframe = active_keyframe(keyframes, self.keyframe_sigmas, math.inf if sigma is None else sigma) \
            if keyframes else None
        indices, total = window_frames(transformer_options, frames)
        effect, scale = (select_frames(v, indices) for v in self.values(keyframe, total))
        return MotionCall(True, effect, scale)

    def values(self, keyframe, total: int) -> tuple:
        """(effect, scale) of the whole video of `total` frames under `keyframe` (None: no keyframes)."""
        key = (keyframe, total)
        if key not in self._values:
            if len(self._values) >= 8:  # masks can be large: keep a few videos' values only
                self._values.clear()
            self._values[key] = motion_values(self.settings, keyframe, total)
        return self._values[key]

    def per_call(self, executor, x, timesteps, context, y, control, transformer_options, **kwargs):
        """DIFFUSION_MODEL wrapper: this call's MotionCall for the modules, its frame count for FramesGroupNorm."""
        frames = frames_per_video(x, transformer_options)
        call = self.motion_call(frames, transformer_options)
        calls = transformer_options.setdefault(MOTION_CALL, {})
        calls[self] = MotionCall(call.active, *(_to(v, x.device) for v in (call.effect, call.scale)))
        token = _FRAMES.set(frames)
        try:
            return executor(x, timesteps, context, y, control, transformer_options, **kwargs)
        finally:
            _FRAMES.reset(token)
            calls.pop(self, None)
            if not calls:
                transformer_options.pop(MOTION_CALL, None)

    def check_before_sampling(self, executor, model, noise_shape, conds, *args, **kwargs):
        """PREPARE_SAMPLING wrapper: inputs that cannot fit this latent fail before any model is loaded or run."""
        frames = noise_shape[0]
        check_conditioning_frames(conds, frames)
        for keyframe in self.settings.keyframes or (None,):
            self.values(keyframe, frames)
        return executor(model, noise_shape, conds, *args, **kwargs)


def _to(value, device):
    return value.to(device) if torch.is_tensor(value) else value


def check_compatible(model, handle: MotionModelHandle, stack: list) -> None:
    """Errors, before anything changes, for a motion model that cannot run on `model` next to `stack`."""
    base = model_base(model)
    if base is None:
        raise ValueError(f"{handle.name} needs an SD1.5 or SDXL MODEL; got {type(model.model.model_config).__name__}.")
    if base != handle.config.base:
        raise ValueError(f"{handle.name} is a {handle.config.base.upper()} motion module ({handle.config.display_name}) "
                         f"but the MODEL is {base.upper()}; pick a motion module for {base.upper()}.")
    for mm in stack:
        names = f"{mm.handle.name} ({mm.handle.config.display_name}) and {handle.name} ({handle.config.display_name})"
        if "animatelcm_i2v" in (mm.handle.config.family, handle.config.family):
            raise ValueError(f"Cannot stack {names}: AnimateLCM-I2V cannot share a MODEL with another motion model "
                             "(its image features belong to its own modules); apply it alone.")
        if mm.handle.config.spatial_norm_across_frames != handle.config.spatial_norm_across_frames:
            raise ValueError(f"Cannot stack {names}: AnimateDiff v1 and HotshotXL normalize the UNet's ResNet "
                             "features across frames, the other families per frame, and one UNet can do only one; "
                             "stack motion models of the same kind.")


def inflate(model, handle: MotionModelHandle, settings: MotionSettings):
    """A clone of `model` that also runs `handle`'s motion modules (after any already applied); the input MODEL is
    left untouched."""
    stack = motion_models(model)
    check_compatible(model, handle, stack)
    if any(mm.patcher.model is handle.model for mm in stack):  # the same loaded module twice: each needs its own
        handle = private_copy(handle)
    m = model.clone()
    if not stack:
        _attach_model_hooks(m)
    mm_patcher = handle.patcher.clone()
    injector = MotionInjector(handle, mm_patcher, settings)
    m.set_attachments(MOTION_KEY, tuple(m.get_attachment(MOTION_KEY) or ()) + (injector,))
    m.set_additional_models(MOTION_KEY, m.get_additional_models_with_key(MOTION_KEY) + [mm_patcher])
    m.set_injections(MOTION_KEY, list(m.get_injections(MOTION_KEY) or []) +
                     [comfy.patcher_extension.PatcherInjection(injector.inject, injector.eject)])
    m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, MOTION_KEY, injector.per_call)
    m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.PREPARE_SAMPLING, MOTION_KEY,
                           injector.check_before_sampling)
    return m


def _attach_model_hooks(m) -> None:
    """What a MODEL needs once, however many motion models it gets: registered with its first motion model."""
    m.set_model_forward_timestep_embed_patch((InjectedMotionModule, motion_handler))
    publish_window_info(m)  # transformer_options["ad_params"] for IPAdapter_plus, Advanced-ControlNet, ...
