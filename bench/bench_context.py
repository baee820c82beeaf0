"""Cost of a 64-frame animation with context windows, relative to four independent 16-frame clips.

Runs in one process, side by side, through a real ComfyUI (in-process, CPU unless CUDA is there): an SD1.5-shaped
UNet and an AnimateLCM motion module with random weights at real channel widths; only the latent size is reduced on
CPU. Reports UNet calls, frames through the spatial UNet, frames through the motion modules, and wall time.

    python bench/bench_context.py --comfyui /path/to/ComfyUI [--latent 16] [--repeats 2]
"""
import argparse
import asyncio
import os
import statistics
import sys
import time

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRAMES, CLIP = 64, 16


def boot(comfyui: str):
    """Import ComfyUI from `comfyui` (its own modules first on sys.path) and load this pack into it."""
    sys.path[:] = [comfyui] + [p for p in sys.path if os.path.abspath(p or ".") != PACK_DIR]
    import utils.install_util  # noqa: F401  ComfyUI's utils package before comfy/ shadows it
    import torch
    from comfy.cli_args import args
    args.cpu = not torch.cuda.is_available()
    import nodes
    asyncio.run(nodes.init_extra_nodes(init_custom_nodes=False, init_api_nodes=False))
    if not asyncio.run(nodes.load_custom_node(PACK_DIR)):
        raise SystemExit("the pack failed to load")
    return sys.modules[PACK_DIR.replace(".", "_x_")]


def sd15_model(seed: int = 0, dtype=None):
    """SD1.5-shaped ComfyUI MODEL with random weights at the real widths; `dtype` None: ComfyUI's own choice."""
    import torch
    import comfy.model_base
    import comfy.model_management
    import comfy.model_patcher
    import comfy.supported_models
    config = {"use_checkpoint": False, "image_size": 32, "out_channels": 4, "use_spatial_transformer": True,
              "legacy": False, "adm_in_channels": None, "in_channels": 4, "model_channels": 320, "num_res_blocks": 2,
              "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0],
              "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0], "channel_mult": [1, 2, 4, 4],
              "transformer_depth_middle": 1, "use_linear_in_transformer": False, "context_dim": 768, "num_heads": 8,
              "num_head_channels": -1, "use_temporal_attention": False, "use_temporal_resblock": False}
    model_config = comfy.supported_models.SD15(config)
    if dtype is not None:
        model_config.set_inference_dtype(dtype, None)
    model = comfy.model_base.BaseModel(model_config, device="cpu")
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.diffusion_model.named_parameters():
            p.copy_((1.0 if "norm" in name and name.endswith("weight") else 0.0) + 0.02 * torch.randn(p.shape, generator=g))
    return comfy.model_patcher.ModelPatcher(model, load_device=comfy.model_management.get_torch_device(),
                                            offload_device=comfy.model_management.unet_offload_device())


def motion_handle(pack, seed: int = 0, dtype=None):
    import comfy.model_management
    import comfy.model_patcher
    import comfy.ops
    sys.path.insert(0, os.path.join(PACK_DIR, "tests", "fixtures"))
    from synth_weights import FAMILY_FILES, random_state_dict
    sd = random_state_dict(FAMILY_FILES["animatelcm_t2v"], seed=seed, reduced=False, std=0.02)
    dtype = dtype or comfy.model_management.unet_dtype()
    model, _ = pack.animatelcm_core.build.motion_model_from_state_dict(sd, "AnimateLCM (random)", dtype=dtype,
                                                                        ops=comfy.ops.manual_cast)
    patcher = comfy.model_patcher.ModelPatcher(model, load_device=comfy.model_management.get_torch_device(),
                                               offload_device=comfy.model_management.unet_offload_device())
    return pack.nodes.motion_model.MotionModelHandle(name="AnimateLCM (random)", config=model.config, patcher=patcher)


class Counter:
    """DIFFUSION_MODEL wrapper: UNet calls and frames through the spatial layers."""

    def __init__(self):
        self.calls = self.frames = 0

    def __call__(self, executor, x, *args, **kwargs):
        self.calls += 1
        self.frames += x.shape[0]
        return executor(x, *args, **kwargs)


def count_motion_frames(handle):
    """Forward pre-hook on one motion module: frames it processes per call (the others run the same)."""
    seen = {"frames": 0}
    module = handle.model.get_module("down_blocks.0.motion_modules.0")
    module.register_forward_pre_hook(lambda mod, args: seen.__setitem__("frames", seen["frames"] + args[0].shape[0]))
    return seen


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--comfyui", default=os.environ.get("COMFYUI_PATH") or os.path.dirname(os.path.dirname(PACK_DIR)))
    parser.add_argument("--latent", type=int, default=16, help="latent side (64 = 512x512); reduced on CPU")
    parser.add_argument("--repeats", type=int, default=2, help="timed interleaved rounds (after one warm-up round); "
                        "the median is reported")
    parser.add_argument("--threads", type=int, default=1)
    opts = parser.parse_args()
    pack = boot(opts.comfyui)
    import torch
    import comfy.patcher_extension
    import comfy.sample
    import comfy.samplers
    torch.set_num_threads(opts.threads)
    base, handle = sd15_model(), motion_handle(pack)
    motion_frames = count_motion_frames(handle)
    inflated = pack.nodes.inflate.inflate(base, handle, pack.nodes.inflate.MotionSettings())
    windows = pack.animatelcm_core.context.ContextOptions(16, 4, "static")
    variants = {
        "4 x 16-frame clips": (inflated, 4),
        "64 frames, motion-only windows": (pack.nodes.context.attach_context(inflated, windows, "motion-only", 64), 1),
        "64 frames, full windows": (pack.nodes.context.attach_context(inflated, windows, "full", 64), 1),
    }
    cond = [[torch.randn(1, 77, 768, generator=torch.Generator().manual_seed(1)), {}]]
    sigmas = torch.tensor([14.0, 0.0])
    times = {k: [] for k in variants}
    counts = {}
    for rnd in range(opts.repeats + 1):  # round 0 warms up (model loading, allocator) and is not timed
        for name, (model, clips) in variants.items():
            counter = Counter()
            m = model.clone()
            m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "bench_counter", counter)
            motion_frames["frames"] = 0
            start = time.perf_counter()
            for c in range(clips):
                n = FRAMES // clips
                noise = torch.randn(n, 4, opts.latent, opts.latent, generator=torch.Generator().manual_seed(c))
                comfy.sample.sample_custom(m, noise, 1.0, comfy.samplers.sampler_object("lcm"), sigmas, cond, cond,
                                           torch.zeros_like(noise), disable_pbar=True, seed=0)
            if rnd:
                times[name].append(time.perf_counter() - start)
                counts[name] = (counter.calls, counter.frames, motion_frames["frames"])
    ref = statistics.median(times["4 x 16-frame clips"])
    ref_counts = counts["4 x 16-frame clips"]
    print(f"device {torch.device('cuda' if torch.cuda.is_available() else 'cpu')}, threads {opts.threads}, "
          f"latent {opts.latent}x{opts.latent}, {FRAMES} frames, 1 step, cfg 1, window 16 / overlap 4 (static)")
    print(f"{'variant':34} {'UNet calls':>10} {'spatial frames':>15} {'motion frames':>14} {'time s':>8} {'ratio':>6}")
    for name in variants:
        t = statistics.median(times[name])
        calls, frames, mframes = counts[name]
        print(f"{name:34} {calls:>10} {frames:>8} ({frames / ref_counts[1]:.2f}x) {mframes:>7} "
              f"({mframes / ref_counts[2]:.2f}x) {t:>8.1f} {t / ref:>5.2f}x")


if __name__ == "__main__":
    main()
