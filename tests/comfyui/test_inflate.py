"""Inflating a real ComfyUI MODEL: placement, frame interaction, no mutation of the input, executor graph."""
import gc

import pytest
import torch

import graph_utils

# spec formats.md §3.2 (SD1.5): (block kind, index) -> layer position of the motion module inside that block
SD15_POSITIONS = {("input", 1): 2, ("input", 2): 2, ("input", 4): 2, ("input", 5): 2, ("input", 7): 2,
                  ("input", 8): 2, ("input", 10): 1, ("input", 11): 1,
                  ("output", 0): 1, ("output", 1): 1, ("output", 2): 1, **{("output", i): 2 for i in range(3, 12)}}
SD15_MID = {("middle", 0): 2}
# spec §3.3 (SDXL)
SDXL_POSITIONS = {("input", 1): 1, ("input", 2): 1, ("input", 4): 2, ("input", 5): 2, ("input", 7): 2, ("input", 8): 2,
                  **{("output", i): 2 for i in range(6)}, ("output", 6): 1, ("output", 7): 1, ("output", 8): 1}


def _handle(host, family, seed=0, lora=None):
    return graph_utils.motion_handle(host, family, seed=seed, lora=lora)


def _inflate(host, model, handle, **settings):
    return graph_utils.inflate(host, model, handle, **settings)


def _injected_positions(host, unet):
    injected = host.pack.nodes.inflate.InjectedMotionModule
    found = {}
    blocks = [("input", i, b) for i, b in enumerate(unet.input_blocks)] + [("middle", 0, unet.middle_block)] + \
        [("output", i, b) for i, b in enumerate(unet.output_blocks)]
    for kind, i, block in blocks:
        for pos, layer in enumerate(block):
            if isinstance(layer, injected):
                found[(kind, i)] = (pos, layer.name)
    return found


@pytest.mark.parametrize("family,expected", [("v2", {**SD15_POSITIONS, **SD15_MID}), ("v3", SD15_POSITIONS),
                                             ("animatelcm_t2v", {**SD15_POSITIONS, **SD15_MID})])
def test_sd15_positions_match_spec(host, family, expected):
    base = host.helpers.random_sd15()
    m = _inflate(host, base, _handle(host, family))
    m.inject_model()
    try:
        found = _injected_positions(host, m.model.diffusion_model)
    finally:
        m.eject_model()
    assert {k: v[0] for k, v in found.items()} == expected
    assert found[("input", 5)][1] == "down_blocks.1.motion_modules.1"
    assert found[("output", 8)][1] == "up_blocks.2.motion_modules.2"
    assert _injected_positions(host, m.model.diffusion_model) == {}


def test_sdxl_positions_match_spec(host):
    import comfy.model_base
    import comfy.model_patcher
    import comfy.supported_models
    model = comfy.model_base.SDXL(comfy.supported_models.SDXL(dict(host.helpers.TINY_SDXL)), device="cpu")
    base = comfy.model_patcher.ModelPatcher(model, load_device=torch.device("cpu"), offload_device=torch.device("cpu"))
    m = _inflate(host, base, _handle(host, "sdxl_beta"))
    m.inject_model()
    try:
        found = _injected_positions(host, m.model.diffusion_model)
    finally:
        m.eject_model()
    assert {k: v[0] for k, v in found.items()} == SDXL_POSITIONS


denoise_once = graph_utils.denoise_once


def test_frames_interact_only_through_motion_module(host):
    base = host.helpers.random_sd15(seed=1)
    inflated = _inflate(host, base, _handle(host, "v2", seed=1))
    noise = torch.randn(16, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    bumped = noise.clone()
    bumped[0] += 1.0
    plain_a, plain_b = denoise_once(base, noise), denoise_once(base, bumped)
    assert not torch.equal(plain_a[0], plain_b[0])
    assert torch.equal(plain_a[1:], plain_b[1:])  # plain SD: frames independent
    anim_a, anim_b = denoise_once(inflated, noise), denoise_once(inflated, bumped)
    assert (anim_a[1:] - anim_b[1:]).abs().amax(dim=(1, 2, 3)).min() > 0  # every other frame moved
    assert not torch.allclose(anim_a, plain_a)


def test_cfg_batches_and_split_chunks_agree(host):
    """cond+uncond batched in one call or run separately give the same result (frames from cond_or_uncond)."""
    base = host.helpers.random_sd15(seed=2)
    inflated = _inflate(host, base, _handle(host, "animatelcm_t2v", seed=2))
    noise = torch.randn(8, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    batched = denoise_once(inflated, noise, cfg=2.0)
    split = inflated.clone()
    split.model_options["sampler_calc_cond_batch_function"] = _one_chunk_at_a_time
    separate = denoise_once(split, noise, cfg=2.0)
    torch.testing.assert_close(batched, separate, rtol=1e-4, atol=1e-5)


def _one_chunk_at_a_time(args):
    import comfy.samplers
    return [comfy.samplers.calc_cond_batch(args["model"], [c], args["input"], args["sigma"], args["model_options"])[0]
            for c in args["conds"]]


def test_input_model_untouched_and_unload_restores(host):
    import comfy.model_management
    base = host.helpers.random_sd15(seed=3)
    weights = {k: v.clone() for k, v in base.model.state_dict().items()}
    noise = torch.randn(8, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    before = denoise_once(base, noise)
    inflated = _inflate(host, base, _handle(host, "v3", seed=3))
    animated = denoise_once(inflated, noise)
    after = denoise_once(base, noise)
    assert torch.equal(before, after) and not torch.allclose(before, animated)
    comfy.model_management.unload_all_models()
    state = base.model.state_dict()
    assert state.keys() == weights.keys() and all(torch.equal(state[k], weights[k]) for k in weights)
    assert not any(isinstance(m, host.pack.nodes.inflate.InjectedMotionModule) for m in base.model.modules())


def test_repeated_runs_identical_without_growth(host):
    import psutil
    base = host.helpers.random_sd15(seed=4)
    inflated = _inflate(host, base, _handle(host, "animatelcm_t2v", seed=4, lora=host.helpers.write_motion_lora(host.models)))
    noise = torch.randn(16, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    first = denoise_once(inflated, noise)
    gc.collect()
    rss = [psutil.Process().memory_info().rss]
    for _ in range(9):
        assert torch.equal(denoise_once(inflated, noise), first)
        gc.collect()
        rss.append(psutil.Process().memory_info().rss)
    assert rss[-1] - rss[1] < 64 * 2**20, f"RSS grew by {(rss[-1] - rss[1]) / 2**20:.1f} MiB over 8 runs"


def test_effect_zero_equals_plain_model(host):
    base = host.helpers.random_sd15(seed=5)
    noise = torch.randn(8, 4, 8, 8, generator=torch.Generator().manual_seed(4))
    off = _inflate(host, base, _handle(host, "v2", seed=5), effect=0.0)
    assert torch.equal(denoise_once(off, noise), denoise_once(base, noise))
    late = _inflate(host, base, _handle(host, "v2", seed=5), start_percent=0.9)
    assert torch.equal(denoise_once(late, noise, sigma=10.0), denoise_once(base, noise, sigma=10.0))


def test_too_many_frames_clear_error(host):
    base = host.helpers.random_sd15(seed=6)
    inflated = _inflate(host, base, _handle(host, "v1", seed=6))
    with pytest.raises(ValueError, match=r"25 frames per batch.*at most 24 frames.*Context Options"):
        denoise_once(inflated, torch.randn(25, 4, 8, 8))


def test_wrong_base_and_stacking_limits_rejected(host):
    base = host.helpers.random_sd15(seed=7)
    name = host.helpers.write_motion_module(host.models, "sdxl_beta")
    xl = host.pack.nodes.motion_model.load_motion_model_handle(name)
    with pytest.raises(ValueError, match="SDXL motion module .* but the MODEL is SD15"):
        _inflate(host, base, xl)
    once = _inflate(host, base, _handle(host, "v2"))
    with pytest.raises(ValueError, match=r"Cannot stack .*AnimateLCM-I2V cannot share a MODEL"):
        _inflate(host, once, _handle(host, "animatelcm_i2v"))
    with pytest.raises(ValueError, match=r"Cannot stack .*AnimateDiff v1 and HotshotXL normalize"):
        _inflate(host, once, _handle(host, "v1"))


def _stack_order(host, unet):
    """Per UNet block holding motion modules: the names of the files whose modules run there, in order."""
    injected = host.pack.nodes.inflate.InjectedMotionModule
    blocks = list(unet.input_blocks) + [unet.middle_block] + list(unet.output_blocks)
    orders = [[layer._injector[0].handle.name for layer in block if isinstance(layer, injected)] for block in blocks]
    return [o for o in orders if o]


def test_stacked_models_run_in_application_order(host):
    """Two motion models on one MODEL: each block runs the first applied, then the second; the second with effect 0
    leaves exactly the first's result, with effect 1 it acts; ejecting restores the UNet."""
    mm = host.pack.nodes.motion_model
    base = host.helpers.random_sd15(seed=12)
    a, b = _handle(host, "v2", seed=12), _handle(host, "v3", seed=13)
    stacked = _inflate(host, _inflate(host, base, a), b)
    assert [x.handle.name for x in mm.motion_models(stacked)] == [a.name, b.name]
    assert mm.max_motion_frames(stacked) == 32 and mm.motion_models(base) == []
    stacked.inject_model()
    try:
        orders = _stack_order(host, stacked.model.diffusion_model)
    finally:
        stacked.eject_model()
    assert len(orders) == 21 and all(o == [a.name, b.name] for o in orders[:8] + orders[9:])  # v3: no mid module
    assert orders[8] == [a.name] and _stack_order(host, base.model.diffusion_model) == []
    _replace_patchers_keeps_the_stack(host, stacked)
    noise = torch.randn(4, 4, 8, 8, generator=torch.Generator().manual_seed(6))
    only_a = denoise_once(_inflate(host, base, a), noise)
    b_off = denoise_once(_inflate(host, _inflate(host, base, a), b, effect=0.0), noise)
    torch.testing.assert_close(b_off, only_a, rtol=0, atol=0)
    assert (denoise_once(stacked, noise) - only_a).abs().max() > 1e-2 * only_a.abs().max()


def _replace_patchers_keeps_the_stack(host, stacked):
    """replace_motion_patchers (e.g. a position-encoding stretch): clones with object patches, checked one for one."""
    mm = host.pack.nodes.motion_model
    attached = mm.motion_models(stacked)
    m = stacked.clone()
    clones = [a.patcher.clone() for a in attached]
    for key, table in mm.position_encodings(clones[1]).items():
        clones[1].add_object_patch(key, torch.cat([table, table], dim=1))
    mm.replace_motion_patchers(m, clones)
    assert [a.max_frames for a in mm.motion_models(m)] == [32, 64] and mm.max_motion_frames(m) == 32
    assert [a.max_frames for a in mm.motion_models(stacked)] == [32, 32]  # the input MODEL keeps its patchers
    with pytest.raises(ValueError, match="one patcher per motion model"):
        mm.replace_motion_patchers(m, clones[:1])


def test_one_loaded_module_stacked_twice_acts_as_two_files(host):
    """The same loaded module applied twice (e.g. once with a MotionLoRA) equals two separately loaded copies of the
    file: each stacked entry gets its own module, so their weight patches never meet in one."""
    base = host.helpers.random_sd15(seed=14)
    name = host.helpers.write_motion_module(host.models, "v2", name="twice_a.safetensors", seed=14)
    copy = host.helpers.write_motion_module(host.models, "v2", name="twice_b.safetensors", seed=14)
    lora = host.pack.nodes.motion_model.load_motion_lora_file(host.helpers.write_motion_lora(host.models, "twice_lora.safetensors", seed=14))
    load = host.pack.nodes.motion_model.load_motion_model_handle
    a = load(name)
    noise = torch.randn(4, 4, 8, 8, generator=torch.Generator().manual_seed(7))
    same = denoise_once(_inflate(host, _inflate(host, base, a), a.with_lora(lora, 1.0)), noise)
    files = denoise_once(_inflate(host, _inflate(host, base, a), load(copy).with_lora(lora, 1.0)), noise)
    torch.testing.assert_close(same, files, rtol=1e-5, atol=1e-5)
    plain = denoise_once(_inflate(host, _inflate(host, base, a), a), noise)
    assert (same - plain).abs().max() > 1e-3 * plain.abs().max()  # the LoRA reached the second entry


def test_v1_resnet_groupnorm_across_frames(host):
    """v1 takes ResNet GroupNorm statistics across frames (spec §2.6): swapped in while injected, restored after."""
    import torch.nn.functional as F
    base = host.helpers.random_sd15(seed=8)
    inflated = _inflate(host, base, _handle(host, "v1", seed=8))
    unet = base.model.diffusion_model
    original = unet.input_blocks[1][0].in_layers[0]
    inflated.inject_model()
    try:
        swapped = unet.input_blocks[1][0].in_layers[0]
        assert isinstance(swapped, host.pack.nodes.inflate.FramesGroupNorm)
        x = torch.randn(2 * 4, 32, 3, 3)
        token = host.pack.nodes.inflate._FRAMES.set(4)
        try:
            got = swapped(x)
        finally:
            host.pack.nodes.inflate._FRAMES.reset(token)
        v = x.view(2, 4, 32, 9).transpose(1, 2).reshape(2, 32, 36)
        ref = F.group_norm(v, 32, original.weight, original.bias, original.eps).view(2, 32, 4, 9).transpose(1, 2)
        torch.testing.assert_close(got, ref.reshape(8, 32, 3, 3))
    finally:
        inflated.eject_model()
    assert unet.input_blocks[1][0].in_layers[0] is original
    noise = torch.randn(8, 4, 8, 8, generator=torch.Generator().manual_seed(5))
    assert denoise_once(inflated, noise).shape == noise.shape


def test_animatelcm_model_sampling_and_sigmas(host):
    """auto -> official AnimateLCM schedule: sqrt_linear betas, 100 original steps; sigmas at 999/749/499/249."""
    nodes_motion = host.pack.nodes.nodes_motion
    base = host.helpers.random_sd15()
    handle = _handle(host, "animatelcm_t2v")
    out = nodes_motion.ApplyMotionModel.execute(base, handle, "auto", 1.0, 1.0, 0.0, 1.0)
    model = graph_utils.node_output(out)
    sigmas = nodes_motion.LCMSigmas.execute(model, 4, 1.0)
    sigmas = graph_utils.node_output(sigmas)
    # spec formats.md §7: sqrt_linear(0.012): sigma(999) = 25.1461, sigma(749) = 6.55721, sigma(249) = 0.86702
    torch.testing.assert_close(sigmas[[0, 1, 3, 4]], torch.tensor([25.1461, 6.55721, 0.86702, 0.0]), rtol=2e-4, atol=1e-4)
    assert base.get_model_object("model_sampling") is not model.get_model_object("model_sampling")


def test_graph_runs_through_executor(host):
    """Load motion module, MotionLoRA, inflate, AnimateLCM sampling, 4 steps, 16 frames, through ComfyUI's executor."""
    mm = host.helpers.write_motion_module(host.models, "animatelcm_t2v", name="graph_lcm.safetensors", seed=9)
    lora = host.helpers.write_motion_lora(host.models, "graph_lora.safetensors", seed=9)
    stats = host.nodes.NODE_CLASS_MAPPINGS["ALCMTest_LatentStats"]
    stats.results.clear()
    prompt = {
        "1": {"class_type": "ALCMTest_RandomSD15", "inputs": {"seed": 0}},
        "2": {"class_type": "ALCM_LoadMotionModel", "inputs": {"model_name": mm}},
        "3": {"class_type": "ALCM_ApplyMotionLoRA", "inputs": {"motion_model": ["2", 0], "lora_name": lora, "strength": 0.8}},
        "4": {"class_type": "ALCM_ApplyMotionModel", "inputs": {"model": ["1", 0], "motion_model": ["3", 0],
              "model_sampling": "auto", "effect": 1.0, "scale": 1.0, "start_percent": 0.0, "end_percent": 1.0}},
        "5": {"class_type": "ALCMTest_RandomCond", "inputs": {"seed": 1}},
        "6": {"class_type": "ALCMTest_RandomCond", "inputs": {"seed": 2}},
        "7": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 16}},
        "8": {"class_type": "ALCM_Sampler", "inputs": {"model": ["4", 0], "seed": 3, "steps": 4, "cfg": 1.0,
              "positive": ["5", 0], "negative": ["6", 0], "latent_image": ["7", 0], "denoise": 1.0}},
        "9": {"class_type": "ALCMTest_LatentStats", "inputs": {"samples": ["8", 0]}},
    }
    ok, history, messages = host.helpers.run_prompt(prompt)
    assert ok, messages
    assert len(stats.results) == 1
    out = stats.results[0]
    assert out.shape == (16, 4, 8, 8) and torch.isfinite(out).all()


PE = "down_blocks.1.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.1.pos_encoder.pe"
ATT_K = "down_blocks.1.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0.to_k.weight"
PROJ_IN = "up_blocks.2.motion_modules.1.temporal_transformer.proj_in.weight"
ONES = dict.fromkeys(("all", "pe", "attn", "attn_q", "attn_k", "attn_v", "attn_out_weight", "attn_out_bias", "other"),
                     1.0)


def _running_tensors(patcher) -> dict:
    """What the motion module runs with: the patcher's weight and object patches applied, then taken off again."""
    patcher.patch_model()
    try:
        return {k: v.detach().clone() for k, v in patcher.model.state_dict().items()}
    finally:
        patcher.unpatch_model()


def _half_pixel(table: torch.Tensor, length: int) -> torch.Tensor:
    """(L, C) -> (length, C): new position i samples (i + 0.5) * L / length - 0.5 of the old one, clamped."""
    src = ((torch.arange(length, dtype=torch.float64) + 0.5) * table.shape[0] / length - 0.5).clamp(0, table.shape[0] - 1)
    lo = src.floor().long()
    hi = (lo + 1).clamp(max=table.shape[0] - 1)
    frac = (src - lo).unsqueeze(1)
    return (table.double()[lo] * (1 - frac) + table.double()[hi] * frac).float()


def test_settings_nodes_patch_the_files_tensors_and_keep_the_input(host, caplog):
    """Sweetspot 16 -> 18, all x1.01 with attn_k x2, a MotionLoRA, then +0.1 on 'other': the module runs with the
    file's tensors changed exactly so (the LoRA's delta on top), and the input motion model is unchanged."""
    from safetensors.torch import load_file
    nodes = host.nodes.NODE_CLASS_MAPPINGS
    name = host.helpers.write_motion_module(host.models, "v2", name="settings_v2.safetensors", seed=15)
    file = load_file(f"{host.models}/animatediff_models/{name}")
    lora = host.pack.nodes.motion_model.load_motion_lora_file(
        host.helpers.write_motion_lora(host.models, "settings_lora.safetensors", seed=15))
    handle = host.pack.nodes.motion_model.load_motion_model_handle(name)
    h = graph_utils.node_output(nodes["ALCM_PESweetspotStretch"].execute(handle, 16, 18))
    h = graph_utils.node_output(nodes["ALCM_MultiplyMotionWeights"].execute(h, **{**ONES, "all": 1.01, "attn_k": 2.0}))
    h = h.with_lora(lora, 0.5)
    h = graph_utils.node_output(nodes["ALCM_AddMotionWeights"].execute(h, **{**dict.fromkeys(ONES, 0.0), "other": 0.1}))
    assert (handle.max_frames, h.max_frames) == (32, 18)
    got = _running_tensors(h.patcher)
    lora_delta = _running_tensors(handle.with_lora(lora, 0.5).patcher)[ATT_K] - file[ATT_K]
    assert lora_delta.abs().max() > 1e-3
    torch.testing.assert_close(got[ATT_K], file[ATT_K] * 1.01 * 2.0 + lora_delta, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got[PROJ_IN], file[PROJ_IN] * 1.01 + 0.1, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got[PE][0], _half_pixel(file[PE][0, :16], 18) * 1.01, rtol=1e-5, atol=1e-5)
    untouched = _running_tensors(handle.patcher)
    assert all(torch.equal(untouched[k], file[k]) for k in file)
    lcm = _handle(host, "animatelcm_t2v", seed=15)
    with caplog.at_level("WARNING"):
        same = graph_utils.node_output(nodes["ALCM_PESweetspotStretch"].execute(lcm, 16, 18))
    assert same.max_frames == 64 and "stores no position encodings" in caplog.text
