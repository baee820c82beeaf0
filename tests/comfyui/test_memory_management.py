"""The motion model and the I2V encoder as ComfyUI additional models: loaded with the UNet for sampling, MotionLoRA
patched while loaded, lowvram (patches at cast time) equal to merged weights, and unloaded back to the file's weights
with nothing left in the UNet, on every supported release (patcher class from nodes/host.py)."""
import pytest
import torch

import graph_utils

LORA_KEY = "down_blocks.1.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0.to_q.weight"


def _loaded(model_patcher) -> bool:
    import comfy.model_management
    return any(m.model is not None and m.model.model is model_patcher.model
               for m in comfy.model_management.current_loaded_models)


def _state(module) -> dict:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_patcher_class_is_the_hosts(host):
    import comfy.model_patcher
    handle = graph_utils.motion_handle(host, "v2", seed=40)
    expected = getattr(comfy.model_patcher, "CoreModelPatcher", comfy.model_patcher.ModelPatcher)
    assert isinstance(handle.patcher, comfy.model_patcher.ModelPatcher)
    assert type(handle.patcher) is type(expected(torch.nn.Linear(1, 1), torch.device("cpu"), torch.device("cpu")))


def test_motion_model_loads_patches_and_unloads(host):
    """During sampling the motion model is loaded next to the UNet with the MotionLoRA merged (W + s up@down);
    after unloading, its weights are the file's again and the UNet holds no motion module."""
    import comfy.model_management
    from safetensors.torch import load_file
    comfy.model_management.unload_all_models()
    lora_name = host.helpers.write_motion_lora(host.models, "mem_lora.safetensors", seed=41)
    handle = graph_utils.motion_handle(host, "v2", seed=41, lora=lora_name, strength=0.5)
    original = _state(handle.model)
    base = host.helpers.random_sd15(seed=41)
    inflated = graph_utils.inflate(host, base, handle)
    (motion,) = inflated.get_additional_models_with_key(host.pack.nodes.motion_model.MOTION_KEY)
    lora = load_file(f"{host.models}/animatediff_motion_lora/{lora_name}")
    lora_base = LORA_KEY.replace("to_q.weight", "processor.to_q_lora")  # the published MotionLoRA key layout
    up, down = lora[lora_base + ".up.weight"].float(), lora[lora_base + ".down.weight"].float()
    seen = {}

    def during(executor, *args, **kwargs):
        seen["loaded"] = _loaded(motion)
        seen["weight"] = handle.model.state_dict()[LORA_KEY].detach().float().clone()
        seen["injected"] = sum(isinstance(m, host.pack.nodes.inflate.InjectedMotionModule)
                               for m in inflated.model.modules())
        return executor(*args, **kwargs)

    import comfy.patcher_extension
    inflated.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "test_memory", during)
    graph_utils.denoise_once(inflated, torch.randn(8, 4, 8, 8, generator=torch.Generator().manual_seed(1)))
    assert seen["loaded"] and seen["injected"] == 21
    expected = original[LORA_KEY].float() + 0.5 * up @ down
    torch.testing.assert_close(seen["weight"], expected, rtol=1e-3, atol=1e-3)
    assert not torch.allclose(seen["weight"], original[LORA_KEY].float(), atol=1e-3)
    comfy.model_management.unload_all_models()
    assert not _loaded(motion)
    after = _state(handle.model)
    assert all(torch.equal(after[k], original[k]) for k in original)
    assert not any(isinstance(m, host.pack.nodes.inflate.InjectedMotionModule) for m in inflated.model.modules())


def test_i2v_encoder_is_loaded_with_the_model_and_unloaded(host):
    import comfy.model_management
    comfy.model_management.unload_all_models()
    handle = graph_utils.motion_handle(host, "animatelcm_i2v", seed=42)
    base = host.helpers.random_sd15(seed=42)
    i2v = host.pack.nodes.i2v
    ref = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    model = i2v.attach_i2v(graph_utils.inflate(host, base, handle), handle, ref, i2v.I2VSettings())
    (encoder,) = model.get_additional_models_with_key(i2v.KEY)
    weights = _state(encoder.model)
    seen = {}

    def during(executor, *args, **kwargs):
        seen["encoder"] = _loaded(encoder)
        return executor(*args, **kwargs)

    import comfy.patcher_extension
    model.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "test_memory", during)
    graph_utils.denoise_once(model, torch.randn(8, 4, 8, 8, generator=torch.Generator().manual_seed(3)))
    assert seen["encoder"]
    comfy.model_management.unload_all_models()
    assert not _loaded(encoder)
    assert all(torch.equal(v, weights[k]) for k, v in _state(encoder.model).items())


@pytest.mark.parametrize("memory", [1, 64 * 1024])
def test_lowvram_partial_load_with_motion_lora_equals_full_load(host, memory):
    """ComfyUI's lowvram path (a memory budget below the model's size: weights cast, LoRA patched at call time)
    gives the motion module the same output as a full load with merged weights."""
    lora = host.helpers.write_motion_lora(host.models, "mem_lowvram.safetensors", seed=43)
    handle = graph_utils.motion_handle(host, "animatelcm_t2v", seed=43, lora=lora, strength=0.8)
    x = torch.randn(16, 64, 4, 4, generator=torch.Generator().manual_seed(4))
    name = "down_blocks.1.motion_modules.0"
    patcher = handle.patcher.clone()
    patcher.patch_model(device_to=torch.device("cpu"), lowvram_model_memory=0, load_weights=True)
    try:
        full = patcher.model.get_module(name)(x, 16)
    finally:
        patcher.unpatch_model(device_to=torch.device("cpu"))
    patcher.patch_model(device_to=torch.device("cpu"), lowvram_model_memory=memory, load_weights=True)
    try:
        assert patcher.model.get_module(name).temporal_transformer.proj_in.comfy_cast_weights
        partial = patcher.model.get_module(name)(x, 16)
    finally:
        patcher.unpatch_model(device_to=torch.device("cpu"))
    torch.testing.assert_close(partial, full, rtol=1e-5, atol=1e-5)
