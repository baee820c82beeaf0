#!/usr/bin/env python
"""Peak memory of one 16-frame SDXL denoising call at 1024x1024: plain SDXL against SDXL inflated with the SDXL-beta
motion module (and HotshotXL, whose ResNet norms take statistics across frames), side by side in one process.

Runs through a real ComfyUI (in-process): ComfyUI's own SDXL model and our motion modules with random weights, every
channel width divided by --div (5: 64/128/256, the head counts scale with it since SDXL's heads are 64 channels),
one euler step at cfg 1 through `comfy.sample.sample_custom` (one UNet call over all frames). The figure is the peak
of memory allocated during the call on top of what was live before it (weights and inputs excluded): on CPU from the
profiler's allocator events, on CUDA from `torch.cuda.max_memory_allocated`; the weights are loaded (and on CUDA a
warm-up call is made) before the measured call.
The weights are reported beside it (UNet, plus the motion module when inflated).

Two attention settings (--attention): "comfy", ComfyUI's own choice (on CPU its sub-quadratic attention, which keeps
score blocks of the spatial attention in memory), and "sdpa", torch's scaled_dot_product_attention for every
attention through ComfyUI's `optimized_attention_override` (what a GPU with a fused kernel does: no score matrix).

    python bench/bench_sdxl_memory.py --comfyui /path/to/ComfyUI                         # CPU, widths / 5
    python bench/bench_sdxl_memory.py --comfyui /path/to/ComfyUI --div 1 --dtype fp16    # CUDA, real size
"""
import argparse
import os
import sys
import time

from bench_context import PACK_DIR, boot
from bench_temporal import memory_stats

sys.path.insert(0, os.path.join(PACK_DIR, "tests", "fixtures"))
from sdxl_checkpoint import SDXL_UNET  # noqa: E402  (SDXL base as ComfyUI detects it)

MOTION_FILES = {"sdxl_beta": "mm_sdxl_v10_beta.tsv", "hotshotxl": "hsxl_temporal_layers.tsv"}
DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def fill_random_(module, seed: int, std: float = 0.02) -> None:
    """In place: N(0, std) weights, norm scales N(1, std); small enough that activations stay finite."""
    import torch
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=g).to(p.dtype)
            p.copy_(noise * std + (1.0 if "norm" in name and name.endswith("weight") else 0.0))


def sdxl_model(div: int, dtype):
    import comfy.model_base
    import comfy.model_management
    import comfy.model_patcher
    import comfy.supported_models
    config = dict(SDXL_UNET, model_channels=SDXL_UNET["model_channels"] // div)
    model_config = comfy.supported_models.SDXL(config)
    model_config.set_inference_dtype(dtype, None)
    model = comfy.model_base.SDXL(model_config, device="cpu")
    fill_random_(model.diffusion_model, seed=0)
    return comfy.model_patcher.ModelPatcher(model, load_device=comfy.model_management.get_torch_device(),
                                            offload_device=comfy.model_management.unet_offload_device())


def motion_handle(pack, family: str, div: int, dtype):
    """A motion module of `family` from its key table with every width divided by `div` (encodings by formula)."""
    import torch
    import comfy.model_management
    import comfy.model_patcher
    import comfy.ops
    from synth_weights import read_key_table, reduce_shape, sinusoid
    g, sd = torch.Generator().manual_seed(1), {}
    for key, shape in read_key_table(MOTION_FILES[family]).items():
        shape = reduce_shape(shape, div) if div > 1 else shape
        is_pe = key.endswith(("pos_encoder.pe", "positional_encoding"))
        sd[key] = sinusoid(shape[1], shape[2]).unsqueeze(0) if is_pe else 0.02 * torch.randn(shape, generator=g)
    model, _ = pack.animatelcm_core.build.motion_model_from_state_dict(sd, family, dtype=dtype,
                                                                        ops=comfy.ops.manual_cast)
    patcher = comfy.model_patcher.ModelPatcher(model, load_device=comfy.model_management.get_torch_device(),
                                               offload_device=comfy.model_management.unet_offload_device())
    return pack.nodes.motion_model.MotionModelHandle(name=family, config=model.config, patcher=patcher)


def sdpa_everywhere(model):
    """A clone whose attention (spatial and motion) all goes to ComfyUI's torch-SDPA attention."""
    def override(func, *args, **kwargs):
        import comfy.ldm.modules.attention
        return comfy.ldm.modules.attention.attention_pytorch(*args, **kwargs)
    m = model.clone()
    m.model_options.setdefault("transformer_options", {})["optimized_attention_override"] = override
    return m


def weight_bytes(model) -> int:
    modules = [model.model.diffusion_model] + [p.model for p in model.get_additional_models()]
    return sum(t.numel() * t.element_size() for m in modules for t in m.state_dict().values())


def measure(model, device, latent: int, frames: int) -> dict:
    import comfy.model_management
    call = denoise_call(model, latent, frames)
    comfy.model_management.load_models_gpu([model])  # weights in place, motion modules injected: not measured
    if device.type == "cuda":
        call()  # warm-up: cuBLAS / cuDNN workspaces, autotuning
    stats = memory_stats(call, device)
    comfy.model_management.unload_all_models()
    return stats


def denoise_call(model, latent: int, frames: int):
    """One euler step at cfg 1: a single UNet call over all frames, with SDXL's pooled output and sizes."""
    import torch
    import comfy.sample
    import comfy.samplers
    g = torch.Generator().manual_seed(2)
    cond = [[torch.randn(1, 77, 2048, generator=g), {"pooled_output": torch.randn(1, 1280, generator=g)}]]
    noise = torch.randn(frames, 4, latent, latent, generator=g)
    return lambda: comfy.sample.sample_custom(model, noise, 1.0, comfy.samplers.sampler_object("euler"),
                                              torch.tensor([14.6, 0.0]), cond, cond, torch.zeros_like(noise),
                                              disable_pbar=True, seed=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--comfyui", default=os.environ.get("COMFYUI_PATH") or os.path.dirname(os.path.dirname(PACK_DIR)))
    parser.add_argument("--div", type=int, default=5, choices=(1, 5, 10), help="channel widths divided by this")
    parser.add_argument("--latent", type=int, default=128, help="latent side (128 = 1024x1024)")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--dtype", choices=DTYPES, default="fp32")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-hotshot", action="store_true", help="plain and SDXL beta only")
    parser.add_argument("--attention", choices=("comfy", "sdpa", "both"), default="both")
    opts = parser.parse_args()
    pack = boot(opts.comfyui)
    import torch
    import comfy.model_management
    torch.set_num_threads(opts.threads)
    device, dtype = comfy.model_management.get_torch_device(), getattr(torch, DTYPES[opts.dtype])
    base = sdxl_model(opts.div, dtype)
    inflate = pack.nodes.inflate
    variants = {"plain SDXL": base}
    for family in ("sdxl_beta",) + (() if opts.no_hotshot else ("hotshotxl",)):
        variants[f"inflated ({family})"] = inflate.inflate(base, motion_handle(pack, family, opts.div, dtype),
                                                          inflate.MotionSettings())
    print(f"device {device}, dtype {opts.dtype}, widths / {opts.div} "
          f"({SDXL_UNET['model_channels'] // opts.div} at level 0), latent {opts.latent}x{opts.latent} "
          f"({8 * opts.latent}x{8 * opts.latent} px), {opts.frames} frames, one UNet call (cfg 1)")
    modes = ("comfy", "sdpa") if opts.attention == "both" else (opts.attention,)
    for mode in modes:
        print(f"attention: {mode}")
        print(f"  {'variant':24} {'call peak MiB':>14} {'ratio':>6} {'weights MiB':>12} {'peak + weights':>15} "
              f"{'ratio':>6}")
        rows = {}
        for name, model in variants.items():
            start = time.perf_counter()
            stats = measure(sdpa_everywhere(model) if mode == "sdpa" else model, device, opts.latent, opts.frames)
            peak = stats["peak_bytes"]
            rows[name] = (peak, weight_bytes(model), time.perf_counter() - start)
            p0, w0, _ = rows["plain SDXL"]
            print(f"  {name:24} {peak / 2**20:14.1f} {peak / p0:5.2f}x {rows[name][1] / 2**20:12.1f} "
                  f"{(peak + rows[name][1]) / 2**20:15.1f} {(peak + rows[name][1]) / (p0 + w0):5.2f}x "
                  f"({stats['ops']} ops, {rows[name][2]:.0f} s profiled)", flush=True)


if __name__ == "__main__":
    main()
