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
