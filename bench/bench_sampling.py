"""Absolute time of an AnimateLCM generation through a real ComfyUI: 16 frames, 4 LCM steps at cfg 1, VAE decode.

The goals (issue 7, spec performance.md §6) are for an H100 at 512x512 (latent 64x64) in fp16: denoising <= 250 ms
(stretch 180 ms), and <= 400 ms end to end with the VAE decode. On a CPU the same command runs at a reduced latent:
a smoke run of the GPU path, and a measure of the motion modules' share of ComfyUI's own UNet call.

Everything runs in one process, in-process ComfyUI, random weights at the real widths, with the pack's own nodes:
- plain: the SD1.5 UNet with AnimateLCM model sampling and no motion module (the frames as 16 separate images);
- inflated: the same MODEL through "Apply Motion Module" (AnimateLCM T2V);
- both sampled by the "AnimateLCM Sampler" node (lcm sampler, official LCM timesteps), interleaved, after a
  warm-up round; medians over `--repeats` rounds;
- VAE decode: ComfyUI's VAE (SD1.x layout, random weights, ComfyUI's own dtype choice) on the 16 latents.

    python bench/bench_sampling.py --comfyui /path/to/ComfyUI            # CUDA: latent 64, fp16; CPU: latent 8, fp32
    python bench/bench_sampling.py --comfyui /path/to/ComfyUI --dtype bf16 --repeats 10
"""
import argparse
import os
import statistics
import sys
import time

from bench_context import PACK_DIR, Counter, boot, motion_handle, sd15_model

DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
GOALS_MS = {"denoise": 250.0, "denoise stretch": 180.0, "end to end": 400.0}  # H100, 512x512, 16 frames


def sd_vae(seed: int = 0):
    """ComfyUI's VAE around a full-size SD1.x autoencoder with random weights."""
    import comfy.sd
    sys.path[:0] = [os.path.join(PACK_DIR, "tests", "fixtures"), os.path.join(PACK_DIR, "tests", "comfyui")]
    from comfy_helpers import random_sd_vae_state_dict
    return comfy.sd.VAE(sd=random_sd_vae_state_dict(seed))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--comfyui", default=os.environ.get("COMFYUI_PATH") or os.path.dirname(os.path.dirname(PACK_DIR)))
    parser.add_argument("--latent", type=int, help="latent side (64 = 512x512); default 64 on CUDA, 8 on CPU")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--cfg", type=float, default=1.0)
    parser.add_argument("--dtype", choices=DTYPES,
                        help="UNet and motion-module dtype; default fp16 on CUDA, fp32 on CPU")
    parser.add_argument("--repeats", type=int,
                        help="timed rounds after the warm-up; default 10 on CUDA, 3 on CPU")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on CPU")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (model loading, allocator)")
    parser.add_argument("--no-flops", action="store_true", help="skip the FLOP count (one extra step per variant)")
    parser.add_argument("--no-vae", action="store_true", help="skip the VAE decode (on CPU, ComfyUI's decode of 16 "
                        "frames at latent 32 took more than the 23 GiB of the test machine)")
    opts = parser.parse_args()
    pack = boot(opts.comfyui)
    import torch
    import comfy.model_management
    import comfy.patcher_extension
    import comfy.utils
    comfy.utils.set_progress_bar_enabled(False)
    from bench_temporal import flop_count, sync  # after boot: ComfyUI's modules come first on sys.path
    cuda = torch.cuda.is_available()
    torch_device = torch.device("cuda" if cuda else "cpu")
    latent_side = opts.latent or (64 if cuda else 8)
    dtype = getattr(torch, DTYPES[opts.dtype or ("fp16" if cuda else "fp32")])
    repeats = opts.repeats or (10 if cuda else 3)
    if not cuda:
        torch.set_num_threads(opts.threads)
    nodes = pack.nodes.nodes_motion
    output = lambda result: result.result[0] if hasattr(result, "result") else result[0]  # noqa: E731

    base = sd15_model(dtype=dtype)
    plain = pack.nodes.sampling.apply_model_sampling(base, pack.animatelcm_core.schedules.get_preset("lcm"))
    handle = motion_handle(pack, dtype=dtype)
    inflated = output(nodes.ApplyMotionModel.execute(base, handle, "auto", 1.0, 1.0, 0.0, 1.0))
    vae = None if opts.no_vae else sd_vae()
    cond = [[torch.randn(1, 77, 768, generator=torch.Generator().manual_seed(1)), {}]]
    latent = {"samples": torch.zeros(opts.frames, 4, latent_side, latent_side)}

    def sample(model, counter=None):
        if counter is not None:
            model = model.clone()
            model.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "bench_counter", counter)
        result = nodes.AnimateLCMSampler.execute(model, 0, opts.steps, opts.cfg, cond, cond, latent, 1.0)
        return output(result)["samples"]

    def timed(fn):
        sync(torch_device)
        start = time.perf_counter()
        result = fn()
        sync(torch_device)
        return (time.perf_counter() - start) * 1e3, result

    times = {"plain": [], "inflated": [], **({} if vae is None else {"vae decode": []})}
    peaks = {}
    counts = {}
    steps, warm = opts.steps, opts.warmup
    for rnd in range(warm + repeats):  # the first `warm` rounds load the models and warm up; not timed
        order = (("plain", plain), ("inflated", inflated))
        for name, model in order if rnd % 2 else order[::-1]:
            counter = Counter()
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            ms, samples = timed(lambda: sample(model, counter))
            if rnd >= warm:
                times[name].append(ms)
            counts[name] = counter.calls
            if cuda:
                peaks[name] = torch.cuda.max_memory_allocated() / 2**20
            if name == "inflated" and vae is not None:
                if cuda:
                    torch.cuda.reset_peak_memory_stats()
                ms, images = timed(lambda: vae.decode(samples))
                if rnd >= warm:
                    times["vae decode"].append(ms)
                if cuda:
                    peaks["vae decode"] = torch.cuda.max_memory_allocated() / 2**20

    med = {k: statistics.median(v) for k, v in times.items()}
    device = torch.cuda.get_torch_devicename() if cuda else f"CPU, {torch.get_num_threads()} thread(s)"
    print(f"device {device}; torch {torch.__version__}; UNet/motion dtype {dtype}, "
          f"VAE dtype {vae.vae_dtype if vae else '-'}; {opts.frames} frames, latent {latent_side}x{latent_side} "
          f"({latent_side * 8}x{latent_side * 8} px), {opts.steps} steps, cfg {opts.cfg}; "
          f"median of {repeats} interleaved rounds after {warm} warm-up", flush=True)
    for name in times:
        spread = f"[{min(times[name]):.1f}-{max(times[name]):.1f}]"
        calls = f", {counts[name]} UNet calls, {med[name] / counts[name]:.1f} ms/call" if name in counts else ""
        peak = f", peak {peaks[name]:.0f} MiB allocated" if name in peaks else ""
        print(f"  {name:12} {med[name]:10.1f} ms {spread}{calls}{peak}")
    end_to_end = med["inflated"] + med.get("vae decode", 0.0)
    if vae is not None:
        print(f"  end to end (inflated denoise + VAE decode): {end_to_end:.1f} ms", flush=True)
    share = (med["inflated"] - med["plain"]) / med["inflated"]
    flop_share = "not counted"
    if not opts.no_flops:  # FLOPs of one step, counted on the device by torch's FlopCounterMode
        opts.steps = 1
        flops = {name: flop_count(lambda: sample(model)) for name, model in (("plain", plain), ("inflated", inflated))}
        flop_share = f"{(flops['inflated'] - flops['plain']) / flops['inflated']:.1%}"
    print(f"  motion modules' share of the inflated sampling: time {share:.1%}, FLOPs {flop_share} "
          f"(motion overhead {med['inflated'] / med['plain'] - 1:+.1%} over the plain UNet)")
    if cuda and vae is not None and latent_side == 64 and opts.frames == 16 and steps == 4 and opts.cfg == 1.0:
        print(f"  goals (H100): denoise {med['inflated']:.1f} <= {GOALS_MS['denoise']:.0f} ms "
              f"(stretch {GOALS_MS['denoise stretch']:.0f}); "
              f"end to end {end_to_end:.1f} <= {GOALS_MS['end to end']:.0f} ms")


if __name__ == "__main__":
    main()
