"""ComfyUI's attention functions against torch SDPA at the motion module's shapes (16-frame sequences, 8 heads).

Shows which of ComfyUI's choices can serve the frame attention (nodes/inflate.py `host_attention`): the token blocks
the motion module hands to attention, at each width, timed interleaved in one process. Needs a ComfyUI checkout.

    python bench/bench_attention.py --comfyui /path/to/ComfyUI [--repeats 9]
"""
import argparse
import os
import statistics
import sys

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRAMES, HEADS = 16, 8


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--comfyui", default=os.environ.get("COMFYUI_PATH") or os.path.dirname(os.path.dirname(PACK_DIR)))
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=1, help="torch threads on CPU")
    opts = parser.parse_args()
    sys.path[:] = [opts.comfyui] + [p for p in sys.path if os.path.abspath(p or ".") != PACK_DIR]
    sys.path.insert(1, PACK_DIR)
    import torch
    import torch.nn.functional as F
    from comfy.cli_args import args
    args.cpu = not torch.cuda.is_available()
    import comfy.ldm.modules.attention as comfy_attention
    from animatelcm_core import motion_module
    from bench_temporal import timed
    cuda = torch.cuda.is_available()
    device, dtype = ("cuda", torch.float16) if cuda else ("cpu", torch.float32)
    if not cuda:
        torch.set_num_threads(opts.threads)
    # sequences per attention call: one token block of the motion module on this device
    sequences = motion_module.SDPA_BATCH_LIMIT // HEADS if cuda else motion_module.CPU_BLOCK_TOKENS // FRAMES
    import comfy.model_management
    present = {"attention_xformers": comfy.model_management.xformers_enabled(),  # others fall back silently to SDPA
               "attention_sage": getattr(comfy_attention, "SAGE_ATTENTION_IS_AVAILABLE", False),
               "attention_flash": getattr(comfy_attention, "FLASH_ATTENTION_IS_AVAILABLE", False)}
    candidates = {name: getattr(comfy_attention, name) for name in
                  ("attention_pytorch", "attention_xformers", "attention_sage", "attention_flash",
                   "attention_sub_quad", "attention_split", "attention_basic") if present.get(name, True)}

    def sdpa(q, k, v, heads):
        n, f, c = q.shape
        q, k, v = (t.view(n, f, heads, c // heads).transpose(1, 2) for t in (q, k, v))
        return F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, f, c)

    print(f"not installed here: {', '.join(n for n, ok in present.items() if not ok) or 'none'}")
    print(f"device {torch.cuda.get_device_name() if cuda else 'CPU, %d thread(s)' % torch.get_num_threads()}, "
          f"{dtype}; ComfyUI's choice here: {comfy_attention.optimized_attention.__name__}; "
          f"{sequences} sequences x {FRAMES} frames x {HEADS} heads per call; median of {opts.repeats}")
    for width in (320, 640, 1280):
        g = torch.Generator().manual_seed(width)
        q, k, v = (torch.randn(sequences, FRAMES, width, generator=g).to(device, dtype) for _ in range(3))
        expected = sdpa(q, k, v, HEADS)
        fns = {"torch sdpa": sdpa}
        errors = {}
        for name, fn in candidates.items():
            try:
                errors[name] = (fn(q, k, v, HEADS).float() - expected.float()).abs().max().item()
                fns[name] = fn
            except Exception as exc:  # a backend this machine lacks (xformers, sage, flash)
                errors[name] = f"unavailable ({type(exc).__name__})"
        times = {name: [] for name in fns}
        for _ in range(2):  # warm-up
            for fn in fns.values():
                fn(q, k, v, HEADS)
        for r in range(opts.repeats):
            order = list(fns.items()) if r % 2 == 0 else list(fns.items())[::-1]
            for name, fn in order:
                times[name].append(timed(lambda: fn(q, k, v, HEADS), torch.device(device))[0])
        base = statistics.median(times["torch sdpa"])
        print(f"width {width}: torch sdpa {base * 1e3:.2f} ms")
        for name in candidates:
            if name in times:
                t = statistics.median(times[name])
                print(f"  {name:20} {t * 1e3:8.2f} ms  {t / base:5.2f}x sdpa  max |diff| {errors[name]:.1e}")
            else:
                print(f"  {name:20} {errors[name]}")


if __name__ == "__main__":
    main()
