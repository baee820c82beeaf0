"""AnimateLCM-I2V in a real ComfyUI: features enter at exactly the four spec positions, strength 0 is T2V."""
import numpy as np
import pytest
import torch
from PIL import Image

import graph_utils

FRAMES = 8
TARGETS = [f"down_blocks.{i}.motion_modules.1" for i in range(4)]


@pytest.fixture(scope="module")
def setup(host):
    base = host.helpers.random_sd15(seed=11)
    handle = graph_utils.motion_handle(host, "animatelcm_i2v", seed=11)
    inflated = graph_utils.inflate(host, base, handle)
    ref = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(5))
    noise = torch.randn(FRAMES, 4, 8, 8, generator=torch.Generator().manual_seed(6))
    return base, handle, inflated, ref, noise


def _attach(host, model, handle, ref, **settings):
    i2v = host.pack.nodes.i2v
    return i2v.attach_i2v(model, handle, ref, i2v.I2VSettings(**settings))


def _record_inputs(handle, run):
    """Forward pre-hooks on every motion module: the input each one received during `run()`."""
    seen, hooks = {}, []

    def hook(name):
        def record(module, args):
            seen.setdefault(name, args[0].detach().clone())
        return record

    for name, module in handle.model.named_motion_modules():
        hooks.append(module.register_forward_pre_hook(hook(name)))
    try:
        run()
    finally:
        for h in hooks:
            h.remove()
    return seen


@pytest.mark.parametrize("level", range(4))
def test_features_enter_exactly_before_second_module_of_each_down_block(host, setup, level):
    base, handle, inflated, ref, noise = setup
    weights = tuple(1.0 if i == level else 0.0 for i in range(4))
    with_ref = _attach(host, inflated, handle, ref, level_weights=weights, motion_scale=0.8)
    plain = _record_inputs(handle, lambda: graph_utils.denoise_once(inflated, noise))
    fed = _record_inputs(handle, lambda: graph_utils.denoise_once(with_ref, noise))
    order = [name for name, _ in handle.model.named_motion_modules()]
    target = TARGETS[level]
    for name in order[: order.index(target)]:
        assert torch.equal(plain[name], fed[name]), f"{name} saw the features before {target}"
    # the difference at the target is exactly this level's encoder output (computed directly here)
    enc = handle.image_encoder.model
    with torch.no_grad():
        expected = enc(ref.expand(FRAMES, -1, -1, -1), motion_scale=0.8)[level]
    torch.testing.assert_close(fed[target] - plain[target], expected, rtol=1e-4, atol=1e-5)
    assert not torch.equal(plain[order[-1]], fed[order[-1]])


def test_strength_zero_is_t2v_bit_for_bit_and_features_change_output(host, setup):
    base, handle, inflated, ref, noise = setup
    t2v = graph_utils.denoise_once(inflated, noise)
    zero = graph_utils.denoise_once(_attach(host, inflated, handle, ref, strength=0.0), noise)
    full = graph_utils.denoise_once(_attach(host, inflated, handle, ref, strength=1.0), noise)
    assert torch.equal(zero, t2v)
    assert not torch.allclose(full, t2v)


def test_cond_and_uncond_both_get_features(host, setup):
    """With cfg > 1 the batch holds cond and uncond; features are repeated for both halves."""
    base, handle, inflated, ref, noise = setup
    seen = _record_inputs(handle, lambda: graph_utils.denoise_once(
        _attach(host, inflated, handle, ref, level_weights=(1.0, 0, 0, 0)), noise, cfg=2.0))
    plain = _record_inputs(handle, lambda: graph_utils.denoise_once(inflated, noise, cfg=2.0))
    diff = seen[TARGETS[0]] - plain[TARGETS[0]]
    assert diff.shape[0] == 2 * FRAMES
    torch.testing.assert_close(diff[:FRAMES], diff[FRAMES:])


def test_bad_inputs_are_clear_and_leave_model_alone(host, setup):
    base, handle, inflated, ref, noise = setup
    t2v = graph_utils.motion_handle(host, "animatelcm_t2v", seed=1)
    with pytest.raises(ValueError, match="has no image encoder.*AnimateLCM_sd15_i2v"):
        _attach(host, inflated, t2v, ref)
    with pytest.raises(ValueError, match="Apply the motion module to the MODEL first"):
        _attach(host, base, handle, ref)
    prepare = host.pack.nodes.i2v.prepare_reference
    with pytest.raises(ValueError, match="3 images but the latent has 8 frames"):
        prepare(torch.zeros(3, 4, 8, 8), 8, 8, 8)
    assert prepare(torch.zeros(1, 4, 12, 10), 8, 8, 8).shape == (1, 4, 8, 8)
    assert not inflated.get_additional_models_with_key("animatelcm_i2v")


def test_i2v_schedule_auto_selected(host, setup):
    base, handle, inflated, ref, noise = setup
    node = host.pack.nodes.nodes_motion.ApplyMotionModel
    model = graph_utils.node_output(node.execute(base, handle, "auto", 1.0, 1.0, 0.0, 1.0))
    ms = model.get_model_object("model_sampling")
    # spec §7: sqrt_linear ending at 0.014 has sigma_max 41.6677; I2V uses 200 original timesteps
    assert ms.preset.name == "lcm_i2v" and ms.original_timesteps == 200
    assert abs(float(ms.sigma_max) - 41.6677) < 1e-3


def test_graph_load_image_vae_encode_i2v_sampling(host, tmp_path):
    """LoadImage -> VAE -> I2V node -> 4 LCM steps at cfg 1, 16 frames, through ComfyUI's executor."""
    import folder_paths
    img = (np.random.default_rng(0).random((80, 96, 3)) * 255).astype(np.uint8)
    Image.fromarray(img).save(f"{folder_paths.get_input_directory()}/alcm_ref.png")
    name = host.helpers.write_motion_module(host.models, "animatelcm_i2v", name="graph_i2v.safetensors", seed=12)
    stats = host.nodes.NODE_CLASS_MAPPINGS["ALCMTest_LatentStats"]
    stats.results.clear()
    prompt = {
        "1": {"class_type": "ALCMTest_RandomSD15", "inputs": {"seed": 0}},
        "2": {"class_type": "ALCM_LoadMotionModel", "inputs": {"model_name": name}},
        "3": {"class_type": "ALCM_ApplyMotionModel", "inputs": {"model": ["1", 0], "motion_model": ["2", 0],
              "model_sampling": "auto", "effect": 1.0, "scale": 1.0, "start_percent": 0.0, "end_percent": 1.0}},
        "4": {"class_type": "LoadImage", "inputs": {"image": "alcm_ref.png"}},
        "5": {"class_type": "ALCMTest_RandomVAE", "inputs": {"seed": 0}},
        "6": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 16}},
        "7": {"class_type": "ALCM_ImageToVideo", "inputs": {"model": ["3", 0], "motion_model": ["2", 0],
              "latent": ["6", 0], "image": ["4", 0], "vae": ["5", 0], "strength": 1.0, "motion_scale": 0.8,
              "start_percent": 0.0, "end_percent": 1.0}},
        "8": {"class_type": "ALCMTest_RandomCond", "inputs": {"seed": 1}},
        "9": {"class_type": "ALCM_Sampler", "inputs": {"model": ["7", 0], "seed": 3, "steps": 4, "cfg": 1.0,
              "positive": ["8", 0], "negative": ["8", 0], "latent_image": ["6", 0], "denoise": 1.0}},
        "10": {"class_type": "ALCMTest_LatentStats", "inputs": {"samples": ["9", 0]}},
    }
    ok, history, messages = host.helpers.run_prompt(prompt)
    assert ok, messages
    assert stats.results[0].shape == (16, 4, 8, 8) and torch.isfinite(stats.results[0]).all()


def test_i2v_on_sdxl_is_refused(host):
    import comfy.model_base
    import comfy.model_patcher
    import comfy.supported_models
    model = comfy.model_base.SDXL(comfy.supported_models.SDXL(dict(host.helpers.TINY_SDXL)), device="cpu")
    sdxl = comfy.model_patcher.ModelPatcher(model, load_device=torch.device("cpu"), offload_device=torch.device("cpu"))
    handle = graph_utils.motion_handle(host, "animatelcm_i2v", seed=13)
    with pytest.raises(ValueError, match="SD15 motion module .* but the MODEL is SDXL"):
        graph_utils.inflate(host, sdxl, handle)
    with pytest.raises(ValueError, match="SD1.5 models only"):
        _attach(host, sdxl, handle, torch.zeros(1, 4, 8, 8))
