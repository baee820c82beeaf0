"""Helpers for the ComfyUI tier: a reduced-width random SD1.5-shaped model, motion files, and the executor."""
import os
import uuid

import torch
from safetensors.torch import save_file

from synth_weights import FAMILY_FILES, MOTION_LORA_FILE, random_state_dict

# SD1.5's UNet layout with every width divided by 10 (320 -> 32, ...), matching the reduced motion-module fixtures.
TINY_SD15 = {
    "use_checkpoint": False, "image_size": 32, "out_channels": 4, "use_spatial_transformer": True, "legacy": False,
    "adm_in_channels": None, "in_channels": 4, "model_channels": 32, "num_res_blocks": 2,
    "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0], "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
    "channel_mult": [1, 2, 4, 4], "transformer_depth_middle": 1, "use_linear_in_transformer": False,
    "context_dim": 64, "num_heads": 8, "num_head_channels": -1, "use_temporal_attention": False,
    "use_temporal_resblock": False,
}
CONTEXT_DIM = TINY_SD15["context_dim"]


def random_sd15(seed: int = 0, num_res_blocks_list: bool = False):
    """A ModelPatcher around ComfyUI's own SD1.5 BaseModel at reduced widths, with seeded random weights.

    num_res_blocks_list: write num_res_blocks per level, as ComfyUI's checkpoint detection does (LoRA key mapping
    needs it)."""
    import comfy.model_base
    import comfy.model_management
    import comfy.model_patcher
    import comfy.supported_models
    config = dict(TINY_SD15, num_res_blocks=[2, 2, 2, 2]) if num_res_blocks_list else dict(TINY_SD15)
    model_config = comfy.supported_models.SD15(config)
    model = comfy.model_base.BaseModel(model_config, device="cpu")
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.diffusion_model.named_parameters():
            fill = 1.0 if ("norm" in name and name.endswith("weight")) else 0.0
            p.copy_(fill + 0.05 * torch.randn(p.shape, generator=g))
    return comfy.model_patcher.ModelPatcher(model, load_device=comfy.model_management.get_torch_device(),
                                            offload_device=comfy.model_management.unet_offload_device())


def random_cond(seed: int = 0, tokens: int = 7):
    g = torch.Generator().manual_seed(seed)
    return [[torch.randn(1, tokens, CONTEXT_DIM, generator=g), {}]]


def write_motion_module(models_dir: str, family: str = "animatelcm_t2v", name: str | None = None, seed: int = 0,
                        safetensors: bool = True) -> str:
    """A reduced-width random motion module of `family` in the animatediff_models folder; returns the file name."""
    name = name or f"{family}_tiny.{'safetensors' if safetensors else 'ckpt'}"
    sd = random_state_dict(FAMILY_FILES[family], seed=seed)
    path = os.path.join(models_dir, "animatediff_models", name)
    save_file(sd, path) if safetensors else torch.save(sd, path)
    return name


def write_motion_lora(models_dir: str, name: str = "v2_lora_tiny.safetensors", seed: int = 0) -> str:
    save_file(random_state_dict(MOTION_LORA_FILE, seed=seed), os.path.join(models_dir, "animatediff_motion_lora", name))
    return name


def register_test_nodes(nodes) -> None:
    """Test-only source nodes: a random SD1.5-shaped MODEL and random CONDITIONING (no checkpoint needed)."""

    class RandomSD15:
        CATEGORY = "testing"
        FUNCTION = "make"
        RETURN_TYPES = ("MODEL",)

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"seed": ("INT", {"default": 0})}}

        def make(self, seed):
            return (random_sd15(seed),)

    class RandomCond:
        CATEGORY = "testing"
        FUNCTION = "make"
        RETURN_TYPES = ("CONDITIONING",)

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"seed": ("INT", {"default": 0})}}

        def make(self, seed):
            return (random_cond(seed),)

    class LatentStats:
        """Output node: keeps the sampled latent so the test can read it."""
        CATEGORY = "testing"
        FUNCTION = "keep"
        RETURN_TYPES = ()
        OUTPUT_NODE = True
        results: list = []

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"samples": ("LATENT",)}}

        def keep(self, samples):
            LatentStats.results.append(samples["samples"].clone())
            return {"ui": {"shape": [list(samples["samples"].shape)]}}

    nodes.NODE_CLASS_MAPPINGS.update({"ALCMTest_RandomSD15": RandomSD15, "ALCMTest_RandomCond": RandomCond,
                                      "ALCMTest_LatentStats": LatentStats})


class _StubServer:
    def __init__(self):
        self.client_id = None
        self.last_node_id = None
        self.messages = []

    def send_sync(self, event, data, sid=None):
        self.messages.append((event, data))


def run_prompt(prompt: dict) -> tuple[bool, dict, list]:
    """Validate with ComfyUI's own validation, then execute with its PromptExecutor (no server)."""
    import asyncio
    import execution
    pid = str(uuid.uuid4())
    valid, error, outputs, node_errors = asyncio.run(execution.validate_prompt(pid, prompt, None))
    if not valid:
        raise AssertionError(f"prompt failed validation: {error} {node_errors}")
    from tools.run_workflow import host_features
    server = _StubServer()
    executor = host_features().prompt_executor(server)
    executor.execute(prompt, pid, {}, outputs)
    return executor.success, executor.history_result, executor.status_messages

# SDXL's UNet layout at reduced widths (for placement checks only).
TINY_SDXL = {
    "use_checkpoint": False, "image_size": 32, "out_channels": 4, "use_spatial_transformer": True, "legacy": False,
    "num_classes": "sequential", "adm_in_channels": 2816, "in_channels": 4, "model_channels": 32, "num_res_blocks": 2,
    "transformer_depth": [0, 0, 2, 2, 10, 10], "transformer_depth_output": [0, 0, 0, 2, 2, 2, 10, 10, 10],
    "channel_mult": [1, 2, 4], "transformer_depth_middle": 10, "use_linear_in_transformer": True, "context_dim": 64,
    "num_head_channels": 8, "use_temporal_attention": False, "use_temporal_resblock": False,
}


def random_sd_vae_state_dict(seed: int = 0) -> dict:
    """SD1.x VAE (original key layout, full size) with seeded random weights, built from ComfyUI's own module."""
    from comfy.ldm.models.autoencoder import AutoencoderKL
    ddconfig = {"double_z": True, "z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 128,
                "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0}
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in AutoencoderKL(ddconfig=ddconfig, embed_dim=4).state_dict().items()}
    g = torch.Generator().manual_seed(seed)
    return {k: (1.0 if "norm" in k and k.endswith("weight") else 0.0) + 0.02 * torch.randn(s, generator=g)
            for k, s in shapes.items()}


def register_vae_node(nodes) -> None:
    import comfy.sd

    class RandomVAE:
        CATEGORY = "testing"
        FUNCTION = "make"
        RETURN_TYPES = ("VAE",)

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"seed": ("INT", {"default": 0})}}

        def make(self, seed):
            return (comfy.sd.VAE(sd=random_sd_vae_state_dict(seed)),)

    nodes.NODE_CLASS_MAPPINGS["ALCMTest_RandomVAE"] = RandomVAE


def free_memory(unload: bool) -> None:
    """Give memory back to the system: unload ComfyUI's loaded models (`unload`), collect, and ask glibc to return
    its freed heap (tensors below its mmap threshold otherwise stay in the process after they are freed)."""
    import ctypes
    import gc
    import comfy.model_management
    if unload:
        comfy.model_management.unload_all_models()
    gc.collect()
    comfy.model_management.soft_empty_cache()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
