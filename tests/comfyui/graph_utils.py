"""Shared steps of the ComfyUI-tier tests: motion handles, inflation, one denoising step through ComfyUI."""
import torch

import comfy_helpers


def motion_handle(host, family: str, seed: int = 0, lora: str | None = None, strength: float = 1.0):
    name = comfy_helpers.write_motion_module(host.models, family, seed=seed)
    handle = host.pack.nodes.motion_model.load_motion_model_handle(name)
    if lora:
        handle = handle.with_lora(host.pack.nodes.motion_model.load_motion_lora_file(lora), strength)
    return handle


def inflate(host, model, handle, **settings):
    mod = host.pack.nodes.inflate
    return mod.inflate(model, handle, mod.MotionSettings(**settings))


def denoise_once(model, noise, sigma=4.0, cond_seed=0, cfg=1.0):
    """One Euler step from `sigma` to 0 through ComfyUI's sampler: the model's denoised prediction."""
    import comfy.sample
    import comfy.samplers
    positive, negative = comfy_helpers.random_cond(cond_seed), comfy_helpers.random_cond(cond_seed + 1)
    return comfy.sample.sample_custom(model, noise, cfg, comfy.samplers.sampler_object("euler"),
                                      torch.tensor([sigma, 0.0]), positive, negative, torch.zeros_like(noise),
                                      disable_pbar=True, seed=0)


def node_output(result):
    """First output of a V3 node's `execute`."""
    return result.result[0] if hasattr(result, "result") else result[0]


def tiny_controlnet(host, seed=0):
    """ComfyUI's own ControlNet class around a reduced-width SD1.5 control model with random weights."""
    import comfy.cldm.cldm
    import comfy.controlnet
    import comfy.ops
    cfg = dict(host.helpers.TINY_SD15, hint_channels=3, operations=comfy.ops.disable_weight_init,
               dtype=torch.float32, device=torch.device("cpu"))
    model = comfy.cldm.cldm.ControlNet(**cfg)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_((1.0 if "norm" in name and name.endswith("weight") else 0.0) + 0.05 * torch.randn(p.shape, generator=g))
    return comfy.controlnet.ControlNet(model, load_device=torch.device("cpu"))
