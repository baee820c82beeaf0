"""SDXL conditioning per frame in batch = frames layouts: with a pooled output per frame, the `y` that reaches the UNet
for frame i is frame i's, with cond and uncond batched (cfg 2), without context windows and with our context windows
in both modes ("motion-only": one UNet call over all frames; "full": one call per window).

Recorded at the diffusion model's input (a DIFFUSION_MODEL wrapper: what the UNet itself receives). Each frame is
recognisable there without trusting any bookkeeping: frame i's latent is zero except one pixel at flat position i
(noise is zero, so the model input is the latent times positive scalars), and its pooled output is the constant
i + 1 (cond) or -(i + 1) (uncond). The size part of `y` is checked against SDXL's size embedding written out in the
test (sdxl_reference.size_embedding).
"""
import pytest
import torch

import sdxl_reference as ref
from diffusers_parity import randomize

FRAMES, SIZE, TOKENS = 16, 8, 7
WINDOW, OVERLAP = 8, 4  # windows 0-7, 4-11, 8-15
COND, UNCOND = 0, 1  # ComfyUI's cond_or_uncond values


@pytest.fixture(scope="module")
def inflated(host):
    base = ref.comfy_sdxl()
    randomize(base.model.diffusion_model, seed=30, std=0.05)
    name = host.helpers.write_motion_module(host.models, "sdxl_beta", name="sdxl_cond_beta.safetensors", seed=30)
    handle = host.pack.nodes.motion_model.load_motion_model_handle(name)
    inflate = host.pack.nodes.inflate
    return inflate.inflate(base, handle, inflate.MotionSettings())


def _with_windows(host, model, mode: str | None):
    if mode is None:
        return model
    node = host.pack.nodes.nodes_context.ContextWindows
    out = node.execute(model=model, mode=mode, context_length=WINDOW, context_overlap=OVERLAP, schedule="static",
                       stride=1, closed_loop=False, fuse_method="pyramid")
    return out.result[0] if hasattr(out, "result") else out[0]


def _pooled(kind: int) -> torch.Tensor:
    sign = 1.0 if kind == COND else -1.0
    return sign * torch.arange(1, FRAMES + 1, dtype=torch.float32)[:, None].repeat(1, ref.POOLED_DIM)


def _frame_latents() -> torch.Tensor:
    latent = torch.zeros(FRAMES, 4, SIZE, SIZE)
    for i in range(FRAMES):
        latent[i, 0].view(-1)[i] = 1.0
    return latent


def _sample_recording(model, contexts):
    """One euler step at cfg 2 with per-frame pooled outputs; returns (x, y, context, cond_or_uncond) of every
    diffusion-model call."""
    import comfy.model_management
    import comfy.patcher_extension
    import comfy.sample
    import comfy.samplers
    calls = []

    def record(executor, x, timesteps, context, y, control, transformer_options, **kwargs):
        calls.append((x.detach().clone(), y.detach().clone(), context.detach().clone(),
                      list(transformer_options["cond_or_uncond"])))
        return executor(x, timesteps, context, y, control, transformer_options, **kwargs)

    m = model.clone()
    m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "alcm_test_record", record)
    positive, negative = ([[contexts[k], {"pooled_output": _pooled(k), **ref.SIZES}]] for k in (COND, UNCOND))
    try:
        comfy.sample.sample_custom(m, torch.zeros(FRAMES, 4, SIZE, SIZE), 2.0, comfy.samplers.sampler_object("euler"),
                                   torch.tensor([1.0, 0.0]), positive, negative, _frame_latents(), disable_pbar=True,
                                   seed=0)
    finally:
        comfy.model_management.unload_all_models()
    return calls


def _check(calls, contexts) -> dict:
    """Every row's `y` and context belong to that row's frame and cond/uncond; returns the frames seen per kind."""
    sizes = ref.size_embedding()
    seen = {COND: [], UNCOND: []}
    for x, y, context, cond_or_uncond in calls:
        rows = x.shape[0] // len(cond_or_uncond)
        for chunk, kind in enumerate(cond_or_uncond):
            for r in range(chunk * rows, (chunk + 1) * rows):
                frame = int(x[r].flatten().argmax())
                assert torch.equal(y[r, :ref.POOLED_DIM], _pooled(kind)[frame]), (kind, frame, y[r, :3])
                torch.testing.assert_close(y[r, ref.POOLED_DIM:], sizes, rtol=0, atol=1e-3)
                assert torch.equal(context[r], contexts[kind][0])
                seen[kind].append(frame)
    return seen


@pytest.mark.parametrize("mode,calls_expected", [(None, 1), ("motion-only", 1), ("full", 3)],
                         ids=["no-windows", "motion-only-windows", "full-windows"])
def test_each_frame_gets_its_own_y(host, inflated, mode, calls_expected):
    g = torch.Generator().manual_seed(31)
    contexts = {k: torch.randn(1, TOKENS, ref.CONTEXT_DIM, generator=g) for k in (COND, UNCOND)}
    calls = _sample_recording(_with_windows(host, inflated, mode), contexts)
    assert len(calls) == calls_expected
    assert all(sorted(c[3]) == [COND, UNCOND] for c in calls)  # cond and uncond in the same call (cfg batching)
    seen = _check(calls, contexts)
    expected = list(range(FRAMES)) if mode != "full" else [f for s in (0, 4, 8) for f in range(s, s + WINDOW)]
    assert sorted(seen[COND]) == sorted(seen[UNCOND]) == sorted(expected)
    print(f"\n{mode or 'no windows'}: {len(calls)} UNet call(s), {len(seen[COND])} cond + {len(seen[UNCOND])} uncond "
          "frames, each with its own pooled output and the size embedding")
