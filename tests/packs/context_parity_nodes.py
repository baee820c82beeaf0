"""Worker-side helpers of tests/packs/test_context_parity.py (loaded in the workers through `worker.call`).

- `register_nodes()`: ALCMTest_FrameMixer, MODEL -> MODEL: after each UNet call, every frame of a video chunk gets
  strength * tanh(an order-weighted mean of the chunk's frames + its position in the chunk) added. A stand-in for a
  motion module that both packs' context windows handle the same way (ADE cannot load reduced-width motion modules):
  the result depends on which frames each window holds, in which order, and how windows are fused.
- `ade_views(...)`: ADE's own temporal module (VanillaTemporalModule) at reduced width with given weights and view
  options, run on one input: the reference for this pack's view windows.
"""
import torch

MIXER_KEY = "alcm_test_frame_mixer"


def mix_frames(out: torch.Tensor, chunks: int, strength: float) -> torch.Tensor:
    frames = out.shape[0] // chunks
    video = out.reshape(chunks, frames, *out.shape[1:])
    order = torch.arange(1, frames + 1, dtype=out.dtype, device=out.device)
    order = (order / order.sum()).view(1, frames, *([1] * (out.dim() - 1)))
    summary = (video * order).sum(dim=1, keepdim=True)
    position = torch.linspace(-1.0, 1.0, frames, dtype=out.dtype, device=out.device)
    position = position.view(1, frames, *([1] * (out.dim() - 1)))
    return (video + strength * torch.tanh(summary + position)).reshape(out.shape)


def register_nodes() -> bool:
    import comfy.patcher_extension
    import nodes

    class FrameMixer:
        CATEGORY = "testing"
        FUNCTION = "apply"
        RETURN_TYPES = ("MODEL",)

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"model": ("MODEL",), "strength": ("FLOAT", {"default": 0.5, "min": 0.0})}}

        def apply(self, model, strength):
            def wrapper(executor, x, *args, **kwargs):
                out = executor(x, *args, **kwargs)
                options = args[4] if len(args) > 4 else kwargs.get("transformer_options", {})
                return mix_frames(out, len(options.get("cond_or_uncond") or [0]), strength)
            m = model.clone()
            m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, MIXER_KEY, wrapper)
            return (m,)

    nodes.NODE_CLASS_MAPPINGS["ALCMTest_FrameMixer"] = FrameMixer
    return True


def _ade_module(name: str):
    import sys
    for key, module in sys.modules.items():
        if key.endswith(".animatediff." + name) and "AnimateDiff-Evolved" in getattr(module, "__file__", ""):
            return module
    raise RuntimeError(f"ADE's animatediff.{name} is not loaded in this worker")


def ade_views(state_dict: dict, channels: int, pe_length: int, x: torch.Tensor, frames: int, views: dict,
              step: int, sigma: float) -> torch.Tensor:
    """Output of ADE's VanillaTemporalModule (weights `state_dict` without the module prefix) on x ((b*frames, c, h,
    w)) with view options `views` (ADE ContextOptions fields) at `step`."""
    mm = _ade_module("motion_module_ad")
    context = _ade_module("context")
    module = mm.VanillaTemporalModule(in_channels=channels, block_type="down", block_idx=0, module_idx=0,
                                      temporal_pe=True, temporal_pe_max_len=pe_length, zero_initialize=False)
    missing, unexpected = module.load_state_dict(state_dict, strict=False)
    assert not unexpected and all("pe" in k for k in missing), (missing, unexpected)
    module.set_video_length(frames, frames)
    options = context.ContextOptions(**views)
    options.step = step
    module.set_view_options(options)
    with torch.no_grad():
        return module(x, transformer_options={"sigmas": torch.full((x.shape[0] // frames,), sigma)})
