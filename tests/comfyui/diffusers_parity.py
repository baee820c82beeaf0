"""Shared steps of the UNet parity tests (ComfyUI UNet inflated by our node vs diffusers' UNetMotionModel).

Weights go from a diffusers `UNet2DConditionModel` into ComfyUI's own UNet through ComfyUI's `unet_to_diffusers` key
map (called, not copied); every key on both sides must be used. Tensors are compared in ComfyUI's `(b f) c h w`
layout, relative to the reference's output scale.
"""
import torch
from torch import nn


def randomize(module: nn.Module, seed: int, std: float) -> None:
    """Seeded random weights; norm scales around 1 so activations keep their size through the network."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            owner = name.rsplit(".", 2)[-2] if name.count(".") else ""
            fill = 1.0 if "norm" in owner and name.endswith("weight") else 0.0
            p.copy_(fill + std * torch.randn(p.shape, generator=g))


def load_unet2d_into_comfy(patcher, unet2d) -> None:
    """diffusers UNet2D weights -> ComfyUI's UNet through ComfyUI's own key map; every key on both sides used."""
    import comfy.utils
    config = dict(patcher.model.model_config.unet_config)
    if isinstance(config["num_res_blocks"], int):
        config["num_res_blocks"] = [config["num_res_blocks"]] * len(config["channel_mult"])
    key_map = comfy.utils.unet_to_diffusers(config)
    source = unet2d.state_dict()
    target = patcher.model.diffusion_model
    mapped = {key_map[k]: v for k, v in source.items() if k in key_map}
    assert not [k for k in source if k not in key_map], "diffusers keys without a ComfyUI counterpart"
    assert len(mapped) == len(source), "two diffusers keys map to one ComfyUI key"
    assert set(mapped) == set(target.state_dict()), "ComfyUI keys left unfilled or unknown"
    target.load_state_dict(mapped, strict=True)


def to_comfy(x5: torch.Tensor) -> torch.Tensor:
    """(b, c, f, h, w) -> ComfyUI's (b f) c h w, the frames of one video contiguous."""
    b, c, f, h, w = x5.shape
    return x5.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)


def rel(got: torch.Tensor, expected: torch.Tensor) -> float:
    """max abs difference relative to the output scale (max abs of the reference)."""
    assert got.shape == expected.shape
    return ((got - expected).abs().max() / expected.abs().max()).item()


def run_comfy_unet(patcher, x: torch.Tensor, timestep: float, context: torch.Tensor, videos: int, **kwargs):
    """One UNet call through ComfyUI's UNetModel with the patcher's injections and transformer_options;
    `x` holds `videos` chunks of frames (cond, uncond, ...), as the sampler batches them. The patcher's
    DIFFUSION_MODEL wrappers run as in sampling (the sampler puts them in transformer_options the same way)."""
    import comfy.patcher_extension
    patcher.inject_model()
    try:
        options = dict(patcher.model_options["transformer_options"])
        options["cond_or_uncond"] = list(range(videos))
        options["wrappers"] = comfy.patcher_extension.copy_nested_dicts(patcher.wrappers)
        with torch.no_grad():
            return patcher.model.diffusion_model(x, timesteps=torch.full((x.shape[0],), timestep), context=context,
                                                 transformer_options=options, **kwargs)
    finally:
        patcher.eject_model()


def injected(host, patcher) -> int:
    """How many of our motion-module placeholders sit in the patcher's UNet right now."""
    placeholder = host.pack.nodes.inflate.InjectedMotionModule
    return sum(isinstance(m, placeholder) for m in patcher.model.diffusion_model.modules())


def one_sampler_call(model, noise, sigma: float, cfg: float, positive, negative, latent):
    """One model call at `sigma` through ComfyUI's sampler path (`comfy.sample.sample_custom`: model loading,
    conditioning, cond+uncond batching, cfg), the UNet calls recorded. Returns (the sampled clone of `model`,
    [(batch, cond_or_uncond)] per UNet call, the x the sampler saw, the denoised result). Models are unloaded after
    (a sampled MODEL keeps its motion modules injected until then; other tests share its UNet)."""
    import comfy.model_management
    import comfy.sample
    import comfy.samplers
    calls, seen = [], {}

    def record_calls(apply_model, args):
        calls.append((args["input"].shape[0], sorted(args["cond_or_uncond"])))
        return apply_model(args["input"], args["timestep"], **args["c"])

    def one_call(model, x, sigmas, extra_args=None, callback=None, disable=None):
        seen["x"] = x.clone()
        seen["denoised"] = model(x, sigmas[0] * x.new_ones([x.shape[0]]), **(extra_args or {}))
        return seen["denoised"]

    m = model.clone()
    m.set_model_unet_function_wrapper(record_calls)
    try:
        comfy.sample.sample_custom(m, noise, cfg, comfy.samplers.KSAMPLER(one_call), torch.tensor([sigma, 0.0]),
                                   positive, negative, latent, disable_pbar=True, seed=0)
    finally:
        comfy.model_management.unload_all_models()
    return m, calls, seen["x"], seen["denoised"]
