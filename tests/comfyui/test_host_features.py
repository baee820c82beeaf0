"""The inflated MODEL with ComfyUI's own ControlNet (frame-batched hints), lowvram weight patching, fp16/bf16."""
import pytest
import torch

import graph_utils
from graph_utils import tiny_controlnet


def _apply_control(control, hints, cond):
    import nodes
    pos, neg = nodes.ControlNetApplyAdvanced().apply_controlnet(cond, cond, control, hints, 1.0, 0.0, 1.0)
    return pos, neg


def _sample(model, noise, positive, negative, cfg=1.0):
    import comfy.sample
    import comfy.samplers
    return comfy.sample.sample_custom(model, noise, cfg, comfy.samplers.sampler_object("euler"),
                                      torch.tensor([4.0, 0.0]), positive, negative, torch.zeros_like(noise),
                                      disable_pbar=True, seed=0)


@pytest.mark.parametrize("cfg", [1.0, 2.0])
def test_controlnet_with_frame_batched_hints(host, cfg):
    base = host.helpers.random_sd15(seed=31)
    inflated = graph_utils.inflate(host, base, graph_utils.motion_handle(host, "v2", seed=31))
    control = tiny_controlnet(host)
    hints = torch.rand(8, 64, 64, 3, generator=torch.Generator().manual_seed(1))
    cond = host.helpers.random_cond(0)
    noise = torch.randn(8, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    pos, neg = _apply_control(control, hints, cond)
    with_control = _sample(inflated, noise, pos, neg, cfg)
    assert torch.isfinite(with_control).all()
    assert not torch.allclose(with_control, _sample(inflated, noise, cond, cond, cfg))
    # each frame gets its own hint: changing hint 5 changes frame 5 before the motion module mixes frames,
    # so with the motion module off (effect 0) only frame 5 moves
    plain = graph_utils.inflate(host, base, graph_utils.motion_handle(host, "v2", seed=31), effect=0.0)
    bumped = hints.clone()
    bumped[5] = 1.0 - bumped[5]
    a = _sample(plain, noise, *_apply_control(control, hints, cond), cfg)
    b = _sample(plain, noise, *_apply_control(control, bumped, cond), cfg)
    changed = (a - b).abs().amax(dim=(1, 2, 3)) > 0
    assert changed.tolist() == [i == 5 for i in range(8)]


def test_full_context_windows_slice_controlnet_hints(host):
    """Disjoint full windows with per-frame hints: frames 8..15 equal a separate 8-frame run with hints 8..15."""
    base = host.helpers.random_sd15(seed=32)
    inflated = graph_utils.inflate(host, base, graph_utils.motion_handle(host, "animatelcm_t2v", seed=32))
    opts = host.pack.animatelcm_core.context.ContextOptions(8, 0)
    windowed = host.pack.nodes.context.attach_context(inflated, opts, "full", max_length=64)
    control = tiny_controlnet(host, seed=1)
    hints = torch.rand(16, 64, 64, 3, generator=torch.Generator().manual_seed(3))
    cond = host.helpers.random_cond(0)
    noise = torch.randn(16, 4, 8, 8, generator=torch.Generator().manual_seed(4))
    long = _sample(windowed, noise, *_apply_control(control, hints, cond))
    short = _sample(inflated, noise[8:], *_apply_control(control, hints[8:], cond))
    torch.testing.assert_close(long[8:], short, rtol=1e-5, atol=1e-5)


def test_lowvram_weight_patching_matches_merged(host):
    """MotionLoRA patches applied on the fly (ComfyUI lowvram: weights stay put, patches run at cast time) give the
    same motion-module output as merged weights: our layers use ComfyUI's casting ops."""
    lora = host.helpers.write_motion_lora(host.models, "lowvram_lora.safetensors", seed=5)
    handle = graph_utils.motion_handle(host, "v2", seed=33, lora=lora, strength=0.7)
    patcher = handle.patcher.clone()
    x = torch.randn(16, 64, 4, 4, generator=torch.Generator().manual_seed(5))
    name = "down_blocks.1.motion_modules.0"
    patcher.patch_model(device_to=torch.device("cpu"), lowvram_model_memory=0, load_weights=True)
    try:
        merged = patcher.model.get_module(name)(x, 16)
    finally:
        patcher.unpatch_model(device_to=torch.device("cpu"))
    unpatched = patcher.model.get_module(name)(x, 16)
    patcher.patch_model(device_to=torch.device("cpu"), lowvram_model_memory=1, load_weights=True)
    try:
        module = patcher.model.get_module(name)
        assert module.temporal_transformer.proj_in.comfy_cast_weights  # really on the lowvram path
        on_the_fly = module(x, 16)
    finally:
        patcher.unpatch_model(device_to=torch.device("cpu"))
    torch.testing.assert_close(on_the_fly, merged, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(merged, unpatched)
    assert torch.equal(patcher.model.get_module(name)(x, 16), unpatched)  # unpatch restored the weights


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_motion_weights_close_to_fp32(host, dtype):
    import comfy.model_management
    import comfy.model_patcher
    import comfy.ops
    from safetensors.torch import load_file
    name = host.helpers.write_motion_module(host.models, "v2", name=f"half_{dtype}.safetensors", seed=34)
    build = host.pack.animatelcm_core.build
    sd = load_file(f"{host.models}/animatediff_models/{name}")
    full, _ = build.motion_model_from_state_dict(sd, name, dtype=torch.float32, ops=comfy.ops.manual_cast)
    half, _ = build.motion_model_from_state_dict(sd, name, dtype=dtype, ops=comfy.ops.manual_cast)
    x = torch.randn(16, 128, 4, 4, generator=torch.Generator().manual_seed(6))
    module_name = "mid_block.motion_modules.0"
    ref = full.get_module(module_name)(x, 16)
    out_half_input = half.get_module(module_name)(x.to(dtype), 16).float()
    out_fp32_input = half.get_module(module_name)(x, 16)  # manual_cast: fp16/bf16 weights, fp32 compute
    tol = 2e-2 if dtype == torch.bfloat16 else 5e-3
    scale = ref.abs().max()
    assert (out_half_input - ref).abs().max() / scale < tol
    assert (out_fp32_input - ref).abs().max() / scale < tol
    assert out_fp32_input.dtype == torch.float32


def test_motion_attention_goes_through_comfyui_override(host):
    """A node's `optimized_attention_override` on the MODEL also receives the motion modules' frame attention (two
    calls per module: 21 modules at this size run as one token block each); the result equals the SDPA path."""
    import comfy.ldm.modules.attention as comfy_attention
    frames = 12  # no spatial sequence of this 8x8 latent (64, 16, 4, 1 tokens) has 12 tokens
    base = host.helpers.random_sd15(seed=11)
    inflated = graph_utils.inflate(host, base, graph_utils.motion_handle(host, "animatelcm_t2v", seed=11))
    noise = torch.randn(frames, 4, 8, 8, generator=torch.Generator().manual_seed(11))
    reference = graph_utils.denoise_once(inflated, noise)
    calls = []

    def override(func, q, k, v, heads, **kwargs):
        calls.append((func.__name__, q.shape[1], q.shape[2], heads, "transformer_options" in kwargs))
        return func(q, k, v, heads, **kwargs)

    routed = inflated.clone()
    routed.model_options.setdefault("transformer_options", {})["optimized_attention_override"] = override
    result = graph_utils.denoise_once(routed, noise)
    motion = [c for c in calls if c[1] == frames]
    chosen = comfy_attention.optimized_attention.__name__
    assert len(motion) == 2 * 21 and all(c[0] == chosen and c[3] == 8 and c[4] for c in motion)
    assert {c[2] for c in motion} == {32, 64, 128}  # the tiny UNet's widths
    torch.testing.assert_close(result, reference, rtol=1e-4, atol=1e-5)
    assert len(calls) > len(motion)  # the spatial attention went through the override as well


def test_host_attention_choice(host):
    """ComfyUI's fused-kernel attention is used as chosen; its memory-saving fallbacks (the CPU default) are not."""
    import comfy.ldm.modules.attention as comfy_attention
    pick = host.pack.nodes.inflate.host_attention
    for fallback in (comfy_attention.attention_sub_quad, comfy_attention.attention_split,
                     comfy_attention.attention_basic):
        assert pick({}, fallback) is None
        assert pick({"optimized_attention_override": lambda func, *a, **k: func(*a, **k)}, fallback) is not None
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(64, 16, 320, generator=g) for _ in range(3))
    attend = pick({}, comfy_attention.attention_pytorch)
    heads = lambda t: t.view(64, 16, 8, 40).transpose(1, 2)  # noqa: E731
    expected = torch.nn.functional.scaled_dot_product_attention(heads(q), heads(k), heads(v))
    torch.testing.assert_close(attend(q, k, v, 8), expected.transpose(1, 2).reshape(64, 16, 320))
