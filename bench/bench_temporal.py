#!/usr/bin/env python
"""Temporal-path benchmark: our motion module against diffusers' `AnimateDiffTransformer3D`, side by side.

    python bench/bench_temporal.py            # full run (CPU: < 10 min on 2 cores)
    python bench/bench_temporal.py --quick    # smoke run (about a minute)
    python bench/bench_temporal.py --json out.json

One process, identical random weights (a diffusers `MotionAdapter` in the SD1.5 v2 layout, loaded into ours through
`animatelcm_core.build`), ours built with across-frame GroupNorm statistics so both sides do the same math. Outputs
are checked equal (within --tol of the output scale) before anything is timed. Timings are ABBA-interleaved pairs
after warm-up runs; the figure is the median of the per-pair ratios ours/diffusers, with quartiles and min/max.
Method and latest figures: bench/README.md (protocol: spec performance.md §5).
"""
import argparse
import dataclasses
import json
import os
import platform
import resource
import statistics
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from animatelcm_core.build import build_motion_model, motion_model_from_state_dict  # noqa: E402
from animatelcm_core.config import to_original_layout  # noqa: E402

FRAMES = 16
HEADS = 8
SD15_WIDTHS = (320, 640, 1280, 1280)
# one module per real width: (width, key in both models, UNet level); the down blocks' first modules. Each runs at
# its level's size in a UNet whose level-0 latent is --single-size (32: a 256x256 image), so all three do the same
# FLOPs (tokens x C^2 is constant across levels), as in a real 512x512 UNet with 64x64 level 0
SINGLE = ((320, "down_blocks.0.motion_modules.0", 0), (640, "down_blocks.1.motion_modules.0", 1),
          (1280, "down_blocks.2.motion_modules.0", 2))
SD15_UNET = dict(sample_size=64, in_channels=4, out_channels=4, cross_attention_dim=768, attention_head_dim=8,
                 block_out_channels=SD15_WIDTHS, layers_per_block=2,
                 down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                 up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3)


# ---------------------------------------------------------------- set-up

def make_adapter(diffusers):
    """SD1.5 v2-layout MotionAdapter with scale-preserving random weights (deterministic)."""
    torch.manual_seed(0)
    adapter = diffusers.MotionAdapter(block_out_channels=SD15_WIDTHS, motion_layers_per_block=2,
                                      motion_num_attention_heads=HEADS, motion_norm_num_groups=32,
                                      motion_max_seq_length=32, use_motion_mid_block=True)
    _init_(adapter)
    return adapter.eval().requires_grad_(False)


def _init_(model):
    """Weights ~ N(0, 1/fan_in) (activations keep their scale through every width), norms 1 + N(0, 0.1²),
    biases and stored encodings N(0, 0.1²). The 0.1·N(0,1) init of the unit parity test explodes at width 1280
    (every Linear multiplies the scale by 0.1·√1280 ≈ 3.6), which makes fp32 rounding look like disagreement."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                p.normal_(0.0, p[0].numel() ** -0.5)
            elif "norm" in name and name.endswith("weight"):
                p.normal_(1.0, 0.1)
            else:
                p.normal_(0.0, 0.1)


def modules_in_unet_order(adapter):
    """(key, diffusers module, spatial level) of all 21 motion modules, in the order an inflated UNet runs them."""
    out = []
    for i, block in enumerate(adapter.down_blocks):
        out += [(f"down_blocks.{i}.motion_modules.{j}", m, i) for j, m in enumerate(block.motion_modules)]
    out.append(("mid_block.motion_modules.0", adapter.mid_block.motion_modules[0], len(adapter.down_blocks) - 1))
    for i, block in enumerate(adapter.up_blocks):
        out += [(f"up_blocks.{i}.motion_modules.{j}", m, len(adapter.up_blocks) - 1 - i)
                for j, m in enumerate(block.motion_modules)]
    return out


_T0 = time.perf_counter()


def stamp(what):
    print(f"[{time.perf_counter() - _T0:6.0f} s] {what}", flush=True)


def rel_err(got, expected):
    return ((got.float() - expected.float()).abs().max() / expected.float().abs().max()).item()


# ---------------------------------------------------------------- measurement

def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device):
    """Wall seconds of one call, and on CPU the calling thread's CPU seconds (insensitive to time spent descheduled
    when other processes share the cores; with one torch thread all the work runs on the calling thread)."""
    sync(device)
    c0, t0 = time.thread_time(), time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0, time.thread_time() - c0


def summary(values):
    q1, _, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else (values[0],) * 3
    return dict(median=statistics.median(values), q1=q1, q3=q3, min=min(values), max=max(values), n=len(values))


def paired(fa, fb, pairs, warmup, device, between=None):
    """ABBA-interleaved timings of fa (ours) and fb (reference); `between(i)` runs after pair i (not timed here)."""
    for _ in range(warmup):
        fa()
        fb()
    ta, tb = [], []
    for i in range(pairs):
        if i % 2 == 0:
            a, b = timed(fa, device), timed(fb, device)
        else:
            b, a = timed(fb, device), timed(fa, device)
        ta.append(a)
        tb.append(b)
        if between is not None:
            between(i)
    r = dict(ratio=summary([a[0] / b[0] for a, b in zip(ta, tb)]), ours_s=summary([a[0] for a in ta]),
             ref_s=summary([b[0] for b in tb]))
    if device.type == "cpu":
        r["cpu_ratio"] = summary([a[1] / b[1] for a, b in zip(ta, tb)])
        r["ours_cpu_s"], r["ref_cpu_s"] = summary([a[1] for a in ta]), summary([b[1] for b in tb])
    return r


def memory_stats(fn, device):
    """One (already warm) call: peak bytes allocated on top of what was live before it (inputs and weights
    excluded), the number of leaf operator calls (≈ kernel launches on a GPU) and, on CPU, the minor page faults
    (fresh pages mapped, e.g. for buffers above glibc's mmap threshold, which go back to the OS when freed and are
    faulted in again on the next call)."""
    if device.type == "cuda":
        sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            fn()
        sync(device)
        return dict(peak_bytes=torch.cuda.max_memory_allocated(device) - base, ops=_leaf_ops(prof))
    # CPU: every allocation and free of the torch CPU allocator, in time order, from the profiler's memory events
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
                    if e.name() == "[memory]")
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    return dict(peak_bytes=peak, ops=_leaf_ops(prof), faults=faults)


def add_memory(r, ours_fn, ref_fn, device):
    for side, fn in (("ours", ours_fn), ("ref", ref_fn)):
        for k, v in memory_stats(fn, device).items():
            r[f"{k}_{side}"] = v


def _leaf_ops(prof):
    return sum(1 for e in prof.events() if e.name.startswith("aten::") and not e.cpu_children)


def flop_count(fn):
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


# ---------------------------------------------------------------- sections

def single_input(c, level, size, device, dtype):
    s = max(1, size >> level)
    return torch.randn(FRAMES, c, s, s, generator=torch.Generator().manual_seed(c)).to(device, dtype)


def check_single(adapter, ours, size, device, dtype, tol, fp64_size):
    """fp32 equality at the timed sizes; with fp64_size, both sides' distance to an fp64 run (smaller inputs)."""
    results = {}
    for c, key, level in SINGLE:
        ref, mine = adapter.get_submodule(key), ours.get_module(key)
        x = single_input(c, level, size, device, dtype)
        err = rel_err(mine(x, FRAMES), ref(x, num_frames=FRAMES))
        entry = dict(rel_err=err)
        if fp64_size:  # which side is closer to the exact answer
            x = single_input(c, level, fp64_size, device, dtype)
            exact = ref.double()(x.double(), num_frames=FRAMES)
            ref.to(dtype)
            entry.update(ours_vs_fp64=rel_err(mine(x, FRAMES), exact),
                         ref_vs_fp64=rel_err(ref(x, num_frames=FRAMES), exact))
        if err > tol:
            raise SystemExit(f"width {c}: outputs differ by {err:.2e} of the output scale (> {tol:g}); not timing")
        results[c] = entry
    return results


def linear_floor(module, tokens, device, dtype, block=1024):
    """The module's 12 Linear layers alone, on contiguous random inputs covering all its tokens in blocks of `block`
    rows (outputs dropped; blocked because one GEMM over all tokens is slower on CPU once its output outgrows the
    caches and the allocator's reuse): the GEMM time any implementation that calls these layers spends."""
    layers = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
    g = torch.Generator().manual_seed(7)
    rows = [min(block, tokens - start) for start in range(0, tokens, block)]
    inputs = {(n, r): torch.randn(r, n, generator=g).to(device, dtype)
              for n in {m.in_features for m in layers} for r in set(rows)}

    def run():
        for r in rows:
            for m in layers:
                m(inputs[m.in_features, r])
    return run


def bench_single(adapter, ours, size, device, dtype, args):
    results = {}
    for c, key, level in SINGLE:
        ref, mine = adapter.get_submodule(key), ours.get_module(key)
        x = single_input(c, level, size, device, dtype)
        r = paired(lambda: mine(x, FRAMES), lambda: ref(x, num_frames=FRAMES), args.pairs, args.warmup, device)
        add_memory(r, lambda: mine(x, FRAMES), lambda: ref(x, num_frames=FRAMES), device)
        r["gflop"] = flop_count(lambda: ref(x, num_frames=FRAMES)) / 1e9
        floor = paired(lambda: mine(x, FRAMES), linear_floor(mine, x.shape[0] * x.shape[2] * x.shape[3], device,
                                                                dtype), args.floor_pairs, 1, device)
        r["ours_over_floor"] = floor["ratio"]
        if "cpu_ratio" in floor:
            r["ours_over_floor_cpu"] = floor["cpu_ratio"]
        results[c] = r
        _print_row(f"module c={c} {x.shape[-2]}x{x.shape[-1]}", r)
        stamp(f"c={c} done")
    return results


def path_inputs(adapter, ours, size, device, dtype):
    items = []
    g = torch.Generator().manual_seed(1)
    for key, ref, level in modules_in_unet_order(adapter):
        s = max(1, size >> level)
        x = torch.randn(FRAMES, ref.in_channels, s, s, generator=g).to(device, dtype)
        items.append((key, ours.get_module(key), ref, x))
    return items


def bench_path(items, unet_call, device, args):
    def ours_path():
        for _, mine, _, x in items:
            mine(x, FRAMES)

    def ref_path():
        for _, _, ref, x in items:
            ref(x, num_frames=FRAMES)

    unet_times = []
    every = max(1, args.pairs // args.unet_runs)

    def between(i):
        if unet_call is not None and i % every == 0 and len(unet_times) < args.unet_runs:
            unet_times.append(timed(unet_call, device))

    if unet_call is not None:
        for _ in range(args.unet_warmup):
            unet_call()
    r = paired(ours_path, ref_path, args.pairs, args.warmup, device, between)
    add_memory(r, ours_path, ref_path, device)
    if unet_times:
        r["unet_s"] = summary([w for w, _ in unet_times])
        keys = [("", "_s")] + ([("cpu_", "_cpu_s")] if device.type == "cpu" else [])
        if device.type == "cpu":
            r["unet_cpu_s"] = summary([c for _, c in unet_times])
        for prefix, suffix in keys:  # temporal / (temporal + spatial), from medians
            u = r["unet" + suffix]["median"]
            for side in ("ours", "ref"):
                t = r[side + suffix]["median"]
                r[f"{prefix}share_{side}"] = t / (t + u)
    return r


def flop_shares(diffusers, sizes):
    """FLOPs (FlopCounterMode on meta tensors) of the SD1.5 UNet and of the 21 motion modules, 16 frames."""
    with torch.device("meta"):
        unet = diffusers.UNet2DConditionModel(**SD15_UNET)
        adapter = diffusers.MotionAdapter(block_out_channels=SD15_WIDTHS, motion_layers_per_block=2,
                                          motion_num_attention_heads=HEADS, motion_norm_num_groups=32,
                                          motion_max_seq_length=32, use_motion_mid_block=True)
    out = {}
    for size in sizes:
        sample = torch.empty(FRAMES, 4, size, size, device="meta")
        text = torch.empty(FRAMES, 77, 768, device="meta")
        t = torch.full((FRAMES,), 500, device="meta")
        unet_flops = flop_count(lambda: unet(sample, t, encoder_hidden_states=text))
        temporal = 0
        for _, ref, level in modules_in_unet_order(adapter):
            s = max(1, size >> level)
            x = torch.empty(FRAMES, ref.in_channels, s, s, device="meta")
            temporal += flop_count(lambda: ref(x, num_frames=FRAMES))
        out[size] = dict(unet_gflop_per_frame=unet_flops / FRAMES / 1e9,
                         temporal_gflop_per_frame=temporal / FRAMES / 1e9,
                         share=temporal / (temporal + unet_flops))
    return out


def make_unet(diffusers, device, dtype):
    with torch.device("meta"):
        unet = diffusers.UNet2DConditionModel(**SD15_UNET)
    unet = unet.to_empty(device="cpu")
    torch.manual_seed(2)
    _init_(unet)
    for name, buf in unet.named_buffers():  # none expected in this config; keep them defined anyway
        buf.zero_()
    if device.type != "cpu" or dtype != torch.float32:
        unet.to(device=device, dtype=dtype)
    return unet.eval().requires_grad_(False)


# ---------------------------------------------------------------- report

def _fmt_ratio(r):
    q = r["ratio"]
    return (f"ratio {q['median']:.3f} (IQR {q['q1']:.3f}-{q['q3']:.3f}, min {q['min']:.3f}, max {q['max']:.3f}, "
            f"n={q['n']})  ours {r['ours_s']['median'] * 1e3:.1f} ms  diffusers {r['ref_s']['median'] * 1e3:.1f} ms")


def _print_row(label, r):
    print(f"  {label:<24} {_fmt_ratio(r)}", flush=True)
    if "cpu_ratio" in r:
        q = r["cpu_ratio"]
        print(f"  {'':<24} thread-CPU-time ratio {q['median']:.3f} (IQR {q['q1']:.3f}-{q['q3']:.3f}, "
              f"min {q['min']:.3f}, max {q['max']:.3f})", flush=True)
    if "ours_over_floor" in r:
        key = "ours_over_floor_cpu" if "ours_over_floor_cpu" in r else "ours_over_floor"
        f, base = r[key]["median"], r["cpu_ratio" if key.endswith("cpu") else "ratio"]["median"]
        print(f"  {'':<24} GEMM floor (its 12 Linear layers alone, 1k-row blocks): ours/floor {f:.3f} "
              f"(n={r[key]['n']}), so diffusers/floor ~{f / base:.3f} and a zero-overhead module would be "
              f"~{base / f:.3f} of diffusers", flush=True)
    if "peak_bytes_ours" in r:
        print(f"  {'':<24} peak memory ours {r['peak_bytes_ours'] / 2**20:.1f} MiB, diffusers "
              f"{r['peak_bytes_ref'] / 2**20:.1f} MiB ({r['peak_bytes_ours'] / r['peak_bytes_ref']:.2f}x); "
              f"leaf ops ours {r['ops_ours']}, diffusers {r['ops_ref']}" + (
                  f"; page faults ours {r['faults_ours']}, diffusers {r['faults_ref']}" if "faults_ours" in r
                  else ""), flush=True)


def machine_info(device):
    info = dict(python=platform.python_version(), torch=torch.__version__, threads=torch.get_num_threads())
    if device.type == "cuda":
        info["device"] = torch.cuda.get_device_name(device)
    else:
        model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                      if line.startswith("model name")), platform.processor()) \
            if os.path.exists("/proc/cpuinfo") else platform.processor()
        info["device"] = f"{model}, {os.cpu_count()} logical CPUs"
    return info


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: smaller size, fewer pairs")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--dtype", default=None, choices=["fp32", "fp16", "bf16"],
                   help="timing dtype (default: fp32 on CPU, fp16 on CUDA)")
    p.add_argument("--size", type=int, default=None,
                   help="level-0 latent side of the whole temporal path and the UNet (default: CPU 8, i.e. "
                        "levels 8/4/2/1; CUDA 64 = 512x512)")
    p.add_argument("--single-size", type=int, default=None,
                   help="level-0 latent side for the one-module runs: 320 at it, 640 at half, 1280 at a quarter "
                        "(default: CPU 32, quick 16; CUDA 64)")
    p.add_argument("--pairs", type=int, default=None, help="timed ABBA pairs (default 15, quick 5)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up runs of each side (default 3, quick 1)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads (protocol: 1)")
    p.add_argument("--floor-pairs", type=int, default=None,
                   help="ABBA pairs ours vs the Linear-only GEMM floor (default 5, quick 2)")
    p.add_argument("--unet-runs", type=int, default=None, help="UNet timings for the share (default 3, quick 1)")
    p.add_argument("--no-unet", action="store_true", help="skip the spatial UNet (share from FLOPs only)")
    p.add_argument("--tol", type=float, default=1e-5, help="max |ours - diffusers| / max |diffusers| (fp32 check)")
    p.add_argument("--json", default=None, help="also write all figures to this file")
    args = p.parse_args()

    import diffusers

    start = time.perf_counter()
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                          else "cpu")
    gpu = device.type == "cuda"
    if not gpu:
        torch.set_num_threads(args.threads)
    else:
        torch.backends.cuda.matmul.allow_tf32 = False  # the fp32 equality check must be fp32
        torch.backends.cudnn.allow_tf32 = False
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[
        args.dtype or ("fp16" if gpu else "fp32")]
    size = args.size or (64 if gpu else 8)
    single_size = args.single_size or (64 if gpu else 16 if args.quick else 32)
    args.pairs = args.pairs or (5 if args.quick else 15)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
    args.unet_runs = args.unet_runs or (1 if args.quick else 3)
    args.floor_pairs = args.floor_pairs or (2 if args.quick else 5)
    args.unet_warmup = 1
    report = dict(machine=machine_info(device), dtype=str(dtype), frames=FRAMES, size=size, single_size=single_size,
                  pairs=args.pairs, warmup=args.warmup, quick=args.quick)
    print(f"device: {report['machine']['device']}; torch {torch.__version__}, diffusers {diffusers.__version__}, "
          f"threads {torch.get_num_threads()}; {dtype}, {FRAMES} frames; {args.pairs} ABBA pairs after "
          f"{args.warmup} warm-up runs of each side", flush=True)

    adapter = make_adapter(diffusers)
    sd = adapter.state_dict()
    per_frame_model, _ = motion_model_from_state_dict(sd, "MotionAdapter")  # detection accepts diffusers' layout
    assert per_frame_model.config.family == "v2" and per_frame_model.config.layout == "diffusers"
    config = dataclasses.replace(per_frame_model.config, norm_across_frames=True)  # diffusers' GroupNorm convention
    del per_frame_model
    ours = build_motion_model(config, to_original_layout(sd, "diffusers"), device=device)
    adapter.to(device)
    stamp("models built")

    with torch.inference_mode():
        # 1. equality, fp32, before any timing
        report["check"] = check_single(adapter, ours, single_size, device, torch.float32, args.tol,
                                       fp64_size=None if gpu else min(single_size, 16))
        items = path_inputs(adapter, ours, size, device, torch.float32)
        path_err = max(rel_err(mine(x, FRAMES), ref(x, num_frames=FRAMES)) for _, mine, ref, x in items)
        if path_err > args.tol:
            raise SystemExit(f"temporal path: outputs differ by {path_err:.2e} (> {args.tol:g}); not timing")
        report["check"]["path_max_rel_err"] = path_err
        print("equality (fp32, max |ours - diffusers| / max |diffusers|): " + ", ".join(
            f"c={c}: {v['rel_err']:.1e}" + (f" (vs fp64: ours {v['ours_vs_fp64']:.1e}, diffusers "
                                            f"{v['ref_vs_fp64']:.1e})" if "ours_vs_fp64" in v else "")
            for c, v in report["check"].items() if isinstance(c, int)) + f"; whole path {path_err:.1e}", flush=True)
        stamp("equality checked")

        if dtype != torch.float32:
            adapter.to(dtype)
            ours.to(dtype)

        # 2. one module per width
        print(f"one motion module per width, {FRAMES} frames, at its level's size for a {single_size}x{single_size} "
              "level-0 latent:", flush=True)
        report["single"] = bench_single(adapter, ours, single_size, device, dtype, args)

        # 3. the whole temporal path and its share of a UNet call
        unet_call = None
        if not args.no_unet:
            unet = make_unet(diffusers, device, dtype)
            sample = torch.randn(FRAMES, 4, size, size, generator=torch.Generator().manual_seed(3)).to(device, dtype)
            text = torch.randn(FRAMES, 77, 768, generator=torch.Generator().manual_seed(4)).to(device, dtype)
            t = torch.full((FRAMES,), 500, device=device)

            def unet_call():
                unet(sample, t, encoder_hidden_states=text)
            stamp("SD1.5 UNet built")
        items = path_inputs(adapter, ours, size, device, dtype)
        sizes = sorted({max(1, size >> i) for i in range(4)}, reverse=True)
        print(f"whole temporal path: 21 modules at levels {'/'.join(f'{s}x{s}' for s in sizes)} (5/5/5/6 modules):",
              flush=True)
        report["path"] = bench_path(items, unet_call, device, args)
        _print_row("21 modules", report["path"])
        stamp("temporal path done")
        del items
        unet_call = unet = None

        # 4. FLOP shares (meta tensors: no compute)
        report["flops"] = flop_shares(diffusers, sorted({size, 64}))
        for s, f in report["flops"].items():
            print(f"  FLOPs at {s}x{s} latent: UNet {f['unet_gflop_per_frame']:.1f} GFLOP/frame, motion modules "
                  f"{f['temporal_gflop_per_frame']:.1f} GFLOP/frame, temporal share {f['share'] * 100:.1f}%",
                  flush=True)
        if "share_ours" in report["path"]:
            r = report["path"]
            print(f"  measured temporal share of a UNet call at {size}x{size}, temporal/(temporal + spatial UNet): "
                  f"ours {r['share_ours'] * 100:.1f}%, diffusers {r['share_ref'] * 100:.1f}% (wall; UNet "
                  f"{r['unet_s']['median'] * 1e3:.0f} ms, n={r['unet_s']['n']})" + (
                      f"; thread CPU time: ours {r['cpu_share_ours'] * 100:.1f}%, diffusers "
                      f"{r['cpu_share_ref'] * 100:.1f}%" if "cpu_share_ours" in r else "")
                  + f"; FLOP share at this size {report['flops'][size]['share'] * 100:.1f}%", flush=True)

    report["runtime_s"] = time.perf_counter() - start
    print(f"total benchmark time {report['runtime_s']:.0f} s", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1, default=str)


if __name__ == "__main__":
    main()
