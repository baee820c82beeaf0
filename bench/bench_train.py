"""MotionLoRA training cost: seconds per training step and peak memory, against a plain forward+backward of the
same UNet (no motion modules, gradients through every layer to the input, as the LoRA's gradients need), side by
side in one run. Through a real ComfyUI (in-process), the pack's own training path (nodes/train.py).

CPU (default): SD1.5's UNet layout at reduced widths (model_channels 32, motion module widths /10), 256x256 (latent
32x32), 16 frames, batch 1, rank 64. Peak memory is each variant's own peak RSS, measured in a fresh process.
GPU (real size, when one is lent): `--real --device cuda` uses the real widths and reports torch's peak CUDA memory.

    python bench/bench_train.py --comfyui /path/to/ComfyUI [--steps 3] [--latent 32] [--frames 16]
    python bench/bench_train.py --comfyui /path/to/ComfyUI --real --latent 64 --frames 16 --precision bf16   # GPU
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = {"model_channels": 32, "context_dim": 64}


def build(pack, real: bool):
    """(MODEL, motion handle): real widths, or SD1.5's layout with every width divided by 10."""
    import torch
    import comfy.model_management
    import comfy.ops
    from bench_context import motion_handle, sd15_model
    if real:
        return sd15_model(), motion_handle(pack)
    sys.path[:0] = [os.path.join(PACK_DIR, "tests", "comfyui"), os.path.join(PACK_DIR, "tests", "fixtures")]
    import comfy_helpers
    from synth_weights import FAMILY_FILES, random_state_dict
    sd = random_state_dict(FAMILY_FILES["v2"], seed=0)
    model, _ = pack.animatelcm_core.build.motion_model_from_state_dict(sd, "v2 (reduced)", dtype=torch.float32,
                                                                        ops=comfy.ops.manual_cast)
    patcher = comfy.model_patcher.ModelPatcher(model, load_device=comfy.model_management.get_torch_device(),
                                               offload_device=comfy.model_management.unet_offload_device())
    handle = pack.nodes.motion_model.MotionModelHandle(name="v2 (reduced)", config=model.config, patcher=patcher)
    return comfy_helpers.random_sd15(0), handle


def run_variant(opts) -> dict:
    """One variant in this process: seconds per step (median of the timed steps) and peak memory."""
    import torch
    from bench_context import boot
    pack = boot(opts.comfyui)
    torch.set_num_threads(opts.threads)
    model, handle = build(pack, opts.real)
    context_dim = 768 if opts.real else TINY["context_dim"]
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(1, opts.frames, 4, opts.latent, opts.latent, generator=g)
    contexts = [torch.randn(77, context_dim, generator=g)]
    device = model.load_device
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    if opts.variant == "train":
        denoiser, motion = pack.nodes.train.training_denoiser(model, handle, opts.checkpointing)
        settings = pack.animatelcm_core.lora_train.TrainSettings(rank=64, steps=opts.steps + 1, seed=0)
        stamps = [time.perf_counter()]
        pack.animatelcm_core.lora_train.train_motion_lora(motion, denoiser, latents.to(device), contexts, settings,
                                                          callback=lambda step, loss: stamps.append(time.perf_counter()))
        times = [b - a for a, b in zip(stamps[1:], stamps[2:])]
    else:
        plain = pack.nodes.train.plain_unet(model)  # the same private UNet copy, without motion modules
        x = latents.flatten(0, 1).to(device)
        ctx = contexts[0].to(device).expand(x.shape[0], -1, -1)
        t = torch.full((x.shape[0],), 500.0, device=device)
        with torch.inference_mode(False), torch.enable_grad():
            for _ in range(opts.steps + 1):
                start = time.perf_counter()
                xi = x.clone().requires_grad_(True)
                plain(xi, t, ctx).float().pow(2).mean().backward()
                times.append(time.perf_counter() - start)
        times = times[1:]
    peak = (torch.cuda.max_memory_allocated() if device.type == "cuda" else
            (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024)
    times.sort()
    return {"seconds_per_step": times[len(times) // 2], "peak_bytes": peak}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--comfyui", required=True)
    p.add_argument("--steps", type=int, default=3, help="timed steps (after one warm-up step)")
    p.add_argument("--latent", type=int, default=32, help="latent side (32 = 256x256)")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--real", action="store_true", help="real SD1.5 / motion widths (for a GPU)")
    p.add_argument("--checkpointing", action="store_true", help="gradient checkpointing of the UNet blocks")
    p.add_argument("--variant", choices=["train", "plain"], help=argparse.SUPPRESS)
    opts = p.parse_args()
    if opts.variant:
        print(json.dumps(run_variant(opts)))
        return
    results = {}
    for variant in ("plain", "train"):
        out = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--variant", variant], capture_output=True,
                             text=True, check=True)
        results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
    plain, train = results["plain"], results["train"]
    print(f"{'real' if opts.real else 'reduced'} widths, latent {opts.latent}, {opts.frames} frames, "
          f"checkpointing {opts.checkpointing}, threads {opts.threads}")
    for name, r in results.items():
        print(f"  {name:6s} {r['seconds_per_step']:7.2f} s/step   peak {r['peak_bytes'] / 2**20:8.0f} MiB")
    print(f"  train / plain: time {train['seconds_per_step'] / plain['seconds_per_step']:.2f}x, "
          f"memory {train['peak_bytes'] / max(plain['peak_bytes'], 1):.2f}x")


if __name__ == "__main__":
    main()
