"""The spatial LoRAs (AnimateLCM's kohya-style LoRA, the v3 domain adapter's diffusers-processor keys) work with
ComfyUI's stock LoRA loader on an inflated SD1.5 MODEL: no node of ours is needed."""
import pytest
import torch
from safetensors.torch import save_file

import graph_utils

TARGET = "diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight"  # down_blocks.0 attention 0
RANK = 4


def _lora_files(models: str):
    g = torch.Generator().manual_seed(0)
    down, up = 0.1 * torch.randn(RANK, 32, generator=g), 0.1 * torch.randn(32, RANK, generator=g)
    kohya = {"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight": down,
             "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_up.weight": up,
             "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.alpha": torch.tensor(RANK / 8.0)}
    adapter = {"down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_q_lora.down.weight": down,
               "down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_q_lora.up.weight": up}
    save_file(kohya, f"{models}/loras/alcm_kohya_tiny.safetensors")
    save_file(adapter, f"{models}/loras/v3_adapter_tiny.safetensors")
    return down, up


@pytest.mark.parametrize("name,factor", [("alcm_kohya_tiny.safetensors", 1 / 8), ("v3_adapter_tiny.safetensors", 1.0)])
def test_stock_lora_loader_applies_spatial_lora(host, name, factor):
    import nodes
    down, up = _lora_files(host.models)
    base = host.helpers.random_sd15(seed=41, num_res_blocks_list=True)
    inflated = graph_utils.inflate(host, base, graph_utils.motion_handle(host, "animatelcm_t2v", seed=41))
    (with_lora,) = nodes.LoraLoaderModelOnly().load_lora_model_only(inflated, name, 0.8)
    assert TARGET in with_lora.patches
    original = base.model.state_dict()[TARGET].clone()
    with_lora.patch_model()
    try:
        patched = with_lora.model.state_dict()[TARGET].clone()
    finally:
        with_lora.unpatch_model()
    torch.testing.assert_close(patched, original + 0.8 * factor * up @ down, rtol=1e-5, atol=1e-6)
    noise = torch.randn(8, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(graph_utils.denoise_once(with_lora, noise), graph_utils.denoise_once(inflated, noise))
    assert torch.equal(base.model.state_dict()[TARGET], original)
