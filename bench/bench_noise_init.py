"""Cost of FreeInit and FreeNoise, side by side in one run, through a real ComfyUI (in-process; CPU unless CUDA).

An SD1.5-shaped UNet and an AnimateLCM motion module with random weights at real channel widths (bench_context's
builders), AnimateLCM sampling at cfg 1; only the latent is small on CPU. Reports, interleaved over repeats:
- FreeInit with N iterations vs plain sampling: wall-time ratio (goal: about N, nothing more) and UNet calls;
- FreeNoise on vs off, with motion-only context windows over 64 frames: wall-time ratio (goal: about 1).

    python bench/bench_noise_init.py --comfyui /path/to/ComfyUI [--latent 8] [--frames 16] [--steps 4] [--repeats 3]
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_context import Counter, boot, motion_handle, sd15_model  # noqa: E402


def sample(model, frames, latent, steps, seed=0):
    import torch
    import comfy.sample
    import comfy.samplers
    from comfy_api.latest import io  # noqa: F401  (ComfyUI's node API is loaded; the pack needs it)
    ms = model.get_model_object("model_sampling")
    sigmas = PACK.nodes.sampling.lcm_sigmas(ms, steps)
    noise = torch.randn(frames, 4, latent, latent, generator=torch.Generator().manual_seed(seed))
    cond = [[torch.randn(1, 77, 768, generator=torch.Generator().manual_seed(1)), {}]]
    start = time.perf_counter()
    comfy.sample.sample_custom(model, noise, 1.0, comfy.samplers.sampler_object("lcm"), sigmas, cond, cond,
                               torch.zeros_like(noise), disable_pbar=True, seed=seed)
    return time.perf_counter() - start


def timed(variants: dict, repeats: int, frames: int, latent: int, steps: int) -> dict:
    """Median seconds of each variant, runs interleaved so machine load hits all alike; one warm-up each."""
    for model in variants.values():
        sample(model, frames, latent, steps)
    times = {name: [] for name in variants}
    for _ in range(repeats):
        for name, model in variants.items():
            times[name].append(sample(model, frames, latent, steps))
    return {name: statistics.median(t) for name, t in times.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--comfyui", required=True)
    p.add_argument("--latent", type=int, default=8, help="latent size (8 = 64x64 px)")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    opts = p.parse_args()
    global PACK
    PACK = boot(opts.comfyui)
    import torch
    import comfy.patcher_extension
    torch.set_num_threads(1)
    nodes = PACK.nodes
    base = nodes.inflate.inflate(sd15_model(), motion_handle(PACK), nodes.inflate.MotionSettings())
    lcm = nodes.sampling.apply_model_sampling(base, PACK.animatelcm_core.schedules.select_preset("auto", "lcm"))
    plain = {"plain": lcm}
    for n in (2, 3):
        plain[f"freeinit_{n}"] = nodes.noise_init.add_freeinit(lcm, nodes.noise_init.FreeInitSettings(iterations=n))
    counters = {}
    for name, model in list(plain.items()):
        counters[name] = Counter()
        plain[name] = model.clone()
        plain[name].add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "bench", counters[name])
    t = timed(plain, opts.repeats, opts.frames, opts.latent, opts.steps)
    print(f"FreeInit ({opts.frames} frames, latent {opts.latent}, {opts.steps} LCM steps, median of {opts.repeats}):")
    for name, seconds in t.items():
        calls = counters[name].calls // (opts.repeats + 1)
        print(f"  {name:12s} {seconds:7.2f} s  {seconds / t['plain']:5.2f}x plain  UNet calls per run {calls}")
    opts_ctx = PACK.animatelcm_core.context.ContextOptions(16, 4)
    windows = {"windows": nodes.context.attach_context(lcm, opts_ctx, "motion-only", 64),
               "windows+freenoise": nodes.context.attach_context(lcm, opts_ctx, "motion-only", 64, freenoise=True)}
    t = timed(windows, opts.repeats, 64, opts.latent, 1)
    print("FreeNoise (64 frames, motion-only windows 16/4, 1 LCM step):")
    for name, seconds in t.items():
        print(f"  {name:18s} {seconds:7.2f} s  {seconds / t['windows']:5.3f}x")


if __name__ == "__main__":
    main()
