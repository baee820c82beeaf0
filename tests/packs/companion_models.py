"""Random-weight models for the companion packs' graphs (IPAdapter_plus, Advanced-ControlNet, FizzNodes), sized for
the reduced-width SD1.5 UNet of the test nodes (widths / 10, context_dim 64).

Test-process side (pure torch + safetensors): `write_*` put files in the shared models folder, in each pack's real
file layout. Worker side: `register_nodes()` (through `worker.call`) adds test source nodes that ComfyUI has no
loader for at reduced size: a CLIP vision encoder (ComfyUI picks CLIP-vision configs from the key names, so only
full-size files load), an SD1.5 text encoder at the UNet's context width (for FizzNodes' prompt schedules), and a
ControlNet of the UNet's layout (ComfyUI detects ControlNet files as SD1.5 only at context_dim 768).
"""
import json
import os
import tempfile

import torch
from safetensors.torch import save_file

from synth_weights import FAMILY_FILES, random_state_dict

CONTEXT_DIM = 64  # TINY_SD15's context_dim (tests/comfyui/comfy_helpers.py)
CLIP_VISION = {"hidden_act": "gelu", "hidden_size": 32, "image_size": 224, "intermediate_size": 64,
               "layer_norm_eps": 1e-05, "model_type": "clip_vision_model", "num_attention_heads": 2,
               "num_channels": 3, "num_hidden_layers": 3, "patch_size": 28, "projection_dim": 48}
TEXT_ENCODER = {"bos_token_id": 0, "eos_token_id": 49407, "hidden_act": "quick_gelu", "hidden_size": CONTEXT_DIM,
                "intermediate_size": 128, "layer_norm_eps": 1e-05, "max_position_embeddings": 77,
                "model_type": "clip_text_model", "num_attention_heads": 2, "num_hidden_layers": 2, "pad_token_id": 1,
                "projection_dim": CONTEXT_DIM, "vocab_size": 49408}
# Channels of the cross-attention layers IPAdapter_plus patches, in its module-key order (SD1.5: input blocks 1, 2, 4,
# 5, 7, 8, output blocks 3-11, middle), for TINY_SD15 (model_channels 32, channel_mult 1, 2, 4, 4).
IPADAPTER_CHANNELS = (32, 32, 64, 64, 128, 128, 128, 128, 128, 64, 64, 64, 32, 32, 32, 128)
IPADAPTER_TOKENS = 4  # ip-adapter_sd15: 4 image tokens from the pooled CLIP-vision embedding
STD = 0.05


def _randn(shape, g, std=STD):
    return std * torch.randn(shape, generator=g)


def ipadapter_state_dict(seed: int = 0, cross_dim: int = CONTEXT_DIM, clip_dim: int = CLIP_VISION["projection_dim"],
                         channels=IPADAPTER_CHANNELS) -> dict:
    """ip-adapter_sd15.safetensors' layout (image_proj.proj/norm, ip_adapter.<1,3,..,31>.to_k_ip/to_v_ip) at the
    given widths. Keys and roles as IPAdapter_plus reads them: proj (tokens*cross, clip), norm (cross), and per
    patched layer to_k_ip / to_v_ip (layer channels, cross)."""
    g = torch.Generator().manual_seed(seed)
    sd = {"image_proj.proj.weight": _randn((IPADAPTER_TOKENS * cross_dim, clip_dim), g, 0.5),
          "image_proj.proj.bias": _randn((IPADAPTER_TOKENS * cross_dim,), g),
          "image_proj.norm.weight": 1.0 + _randn((cross_dim,), g), "image_proj.norm.bias": _randn((cross_dim,), g)}
    for i, c in enumerate(channels):
        for kv in ("k", "v"):
            sd[f"ip_adapter.{2 * i + 1}.to_{kv}_ip.weight"] = _randn((c, cross_dim), g, 0.3)
    return sd


def write_ipadapter(models: str, name: str, seed: int = 0, **widths) -> str:
    save_file(ipadapter_state_dict(seed, **widths), os.path.join(models, "ipadapter", name))
    return name


def write_motion_module(models: str, family: str = "animatelcm_t2v", seed: int = 0) -> str:
    """A reduced-width random motion module (tests/fixtures key tables) in animatediff_models."""
    name = f"{family}_tiny_{seed}.safetensors"
    save_file(random_state_dict(FAMILY_FILES[family], seed=seed), os.path.join(models, "animatediff_models", name))
    return name


# ---- worker side -------------------------------------------------------------------------------------------------

def _fill(module: torch.nn.Module, seed: int, std=lambda name: STD) -> None:
    """Seeded random weights (norm weights around 1) into a module built with ComfyUI's uninitialised layers."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            base = 1.0 if ("norm" in name and name.endswith("weight")) else 0.0
            p.copy_(base + _randn(p.shape, g, std(name)))


def random_clip_vision(seed: int, projection_dim: int = CLIP_VISION["projection_dim"]):
    """ComfyUI's ClipVisionModel at CLIP_VISION's reduced size (its config given as a file, as 0.3.64 needs); the
    image embedding has `projection_dim` values (1024 for a full-size SD1.5 IPAdapter file, as ViT-H gives)."""
    import comfy.clip_vision
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(dict(CLIP_VISION, projection_dim=projection_dim), f)
    try:
        clip_vision = comfy.clip_vision.ClipVisionModel(f.name)
    finally:
        os.remove(f.name)
    _fill(clip_vision.model, seed)
    return clip_vision


def random_text_encoder(seed: int):
    """ComfyUI's SD1.5 CLIP (its tokenizer, text model class and CLIP wrapper) at TEXT_ENCODER's reduced size."""
    from types import SimpleNamespace
    import comfy.sd
    import comfy.sd1_clip
    params = {"clip_model": comfy.sd1_clip.SDClipModel, "textmodel_json_config": dict(TEXT_ENCODER),
              "return_projected_pooled": False}  # as SD1.5 checkpoints' text encoder (SD1CheckpointClipModel)
    target = SimpleNamespace(params=params, clip=comfy.sd1_clip.SD1ClipModel, tokenizer=comfy.sd1_clip.SD1Tokenizer)
    clip = comfy.sd.CLIP(target)
    # token and position embeddings at unit scale and the output at 20x: the reduced random UNet's cross-attention
    # then reacts to the prompt (at 1x, two prompts' sampled latents differ by 2e-4; at 20x by a few percent)
    _fill(clip.cond_stage_model, seed, std=lambda name: 1.0 if "embedding" in name else STD)
    with torch.no_grad():
        for name, p in clip.cond_stage_model.named_parameters():
            if name.endswith("final_layer_norm.weight"):
                p.mul_(20.0)
    return clip


def tiny_controlnet(seed: int):
    """ComfyUI's ControlNet class around a control model of TINY_SD15's layout."""
    import comfy.cldm.cldm
    import comfy.controlnet
    import comfy.ops
    from comfy_helpers import TINY_SD15
    model = comfy.cldm.cldm.ControlNet(**dict(TINY_SD15, hint_channels=3, operations=comfy.ops.disable_weight_init,
                                              dtype=torch.float32, device=torch.device("cpu")))
    # the output convolutions (zero-initialised when a ControlNet's training starts) and the hint encoder large
    # enough that the ControlNet, and which hint image a frame gets, visibly change the result (at 0.05 the
    # ControlNet moves the sampled latent by 6e-5; from 0.5 on by 3%, then independent of the scale)
    stds = {"zero_convs": 0.5, "middle_block_out": 0.5, "input_hint_block": 0.5}
    _fill(model, seed, std=lambda name: next((v for k, v in stds.items() if name.startswith(k)), STD))
    return comfy.controlnet.ControlNet(model, load_device=torch.device("cpu"))


def _source_node(kind: str, make):
    class Source:
        CATEGORY = "testing"
        FUNCTION = "make"
        RETURN_TYPES = (kind,)

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"seed": ("INT", {"default": 0})}}

        def make(self, seed):
            return (make(seed),)
    return Source


class RandomClipVision:
    CATEGORY = "testing"
    FUNCTION = "make"
    RETURN_TYPES = ("CLIP_VISION",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seed": ("INT", {"default": 0})},
                "optional": {"projection_dim": ("INT", {"default": CLIP_VISION["projection_dim"], "min": 1})}}

    def make(self, seed, projection_dim=CLIP_VISION["projection_dim"]):
        return (random_clip_vision(seed, projection_dim),)


class RandomImage:
    """IMAGE batch of seeded uniform noise (one distinct image per frame)."""
    CATEGORY = "testing"
    FUNCTION = "make"
    RETURN_TYPES = ("IMAGE",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seed": ("INT", {"default": 0}), "batch": ("INT", {"default": 1, "min": 1}),
                             "size": ("INT", {"default": 64, "min": 8})}}

    def make(self, seed, batch, size):
        return (torch.rand(batch, size, size, 3, generator=torch.Generator().manual_seed(seed)),)


class RandomMask:
    """MASK batch: seeded random blobs per frame, all zero on `zero_frames` (comma-separated frame indices)."""
    CATEGORY = "testing"
    FUNCTION = "make"
    RETURN_TYPES = ("MASK",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seed": ("INT", {"default": 0}), "batch": ("INT", {"default": 1, "min": 1}),
                             "size": ("INT", {"default": 64, "min": 8}), "zero_frames": ("STRING", {"default": ""})}}

    def make(self, seed, batch, size, zero_frames):
        coarse = torch.rand(batch, 1, 4, 4, generator=torch.Generator().manual_seed(seed))
        mask = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear")[:, 0]
        for f in (int(x) for x in zero_frames.split(",") if x.strip()):
            mask[f] = 0.0
        return (mask,)


def register_nodes() -> list[str]:
    """Add the test source nodes to this worker's registry; returns their ids."""
    import nodes
    added = {"ALCMTest_RandomClipVision": RandomClipVision,
             "ALCMTest_RandomCLIP": _source_node("CLIP", random_text_encoder),
             "ALCMTest_TinyControlNet": _source_node("CONTROL_NET", tiny_controlnet),
             "ALCMTest_RandomImage": RandomImage, "ALCMTest_RandomMask": RandomMask}
    nodes.NODE_CLASS_MAPPINGS.update(added)
    return sorted(added)


def add_model_root(root: str, folders) -> None:
    """Search `root/<folder>` first for each model folder (e.g. the full-size random files of
    tests/fixtures/checkpoint_files.py)."""
    import folder_paths
    for folder in folders:
        folder_paths.add_model_folder_path(folder, os.path.join(root, folder), is_default=True)


def node_definitions(node_types) -> dict:
    """/object_info-style definitions (V1 node classes) of the given registered node types."""
    import nodes
    out = {}
    for kind in node_types:
        cls = nodes.NODE_CLASS_MAPPINGS[kind]
        inputs = cls.INPUT_TYPES()
        out[kind] = {"input": inputs, "input_order": {k: list(v) for k, v in inputs.items()},
                     "output": list(cls.RETURN_TYPES)}
    return out
