"""SparseCtrl's network in ComfyUI: ComfyUI's own ControlNet encoder (`comfy.cldm.cldm.ControlNet`) with SparseCtrl's
motion modules (this pack's MotionModule) after each down-block layer, loaded from a published SparseCtrl file.

Forward (AnimateDiff `SparseControlNetModel.forward`, `set_noisy_sample_input_to_zero: true`): the noisy latent is
replaced by zeros, so conv_in contributes its bias only; the conditioning embedding of (hints + mask) is added after
conv_in; each down-block layer (ResBlock, spatial transformer) is followed by its motion module; zero convolutions
give the residuals, returned in ComfyUI's ControlNet layout ({"output": [...12], "middle": [...1]}).
"""
import torch

import comfy.model_management
import comfy.ops
import comfy.utils
from comfy.cldm.cldm import ControlNet
from comfy.ldm.modules.diffusionmodules.openaimodel import TimestepEmbedSequential
from comfy.ldm.modules.diffusionmodules.util import timestep_embedding

from ..animatelcm_core.errors import MotionModelError
from ..animatelcm_core.loading import load_state_dict
from ..animatelcm_core.placement import block_of
from ..animatelcm_core.sparse_frames import SparseCtrlError
from ..animatelcm_core.sparsectrl import HEADS, RGB, SparseCtrlConfig, build_sparse_motion, detect_sparsectrl, \
    split_state_dict

COND = "controlnet_cond_embedding"
SCRIBBLE_EMBEDDING_CONVS = 6  # controlnet_cond_embedding.blocks.0-5, between conv_in and conv_out


class SparseControlModel(torch.nn.Module):
    """The ControlNet encoder and the motion modules in one module (one ModelPatcher loads and offloads both)."""

    def __init__(self, encoder: ControlNet, motion, config: SparseCtrlConfig):
        super().__init__()
        self.encoder, self.motion, self.config = encoder, motion, config
        self.dtype = encoder.dtype
        # input block index -> motion module name ("down_blocks.i.motion_modules.j" follows input block 3i + j + 1)
        self.motion_after = {block_of(name)[1]: name for name, _ in config.motion.module_names()}

    def forward(self, x: torch.Tensor, hint: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor,
                run_motion=None) -> dict:
        """x: (B*F, 4, h, w) (only its shape is used); hint: (B*F, hint_channels, H, W) hints + mask channel.
        `run_motion(module, h)` runs one motion module on (B*F, C, h', w'); None skips them."""
        enc = self.encoder
        emb = enc.time_embed(timestep_embedding(timesteps, enc.model_channels).to(x.dtype))
        h = enc.input_blocks[0](torch.zeros_like(x), emb, context) + enc.input_hint_block(hint, emb, context)
        outputs = [enc.zero_convs[0](h, emb, context)]
        for index in range(1, len(enc.input_blocks)):
            h = enc.input_blocks[index](h, emb, context)
            name = self.motion_after.get(index)
            if name is not None and run_motion is not None:
                h = run_motion(self.motion.get_module(name), h)
            outputs.append(enc.zero_convs[index](h, emb, context))
        h = enc.middle_block(h, emb, context)
        return {"output": outputs, "middle": [enc.middle_block_out(h, emb, context)]}


def encoder_unet_config(config: SparseCtrlConfig) -> dict:
    """ComfyUI's UNet/ControlNet hyper-parameters of the file's encoder."""
    levels = len(config.channel_mult)
    depth = [1 if config.attention_levels[i] else 0 for i in range(levels) for _ in range(config.res_blocks)]
    depth_out = [1 if config.attention_levels[i] else 0 for i in range(levels) for _ in range(config.res_blocks + 1)]
    return {"image_size": 32, "in_channels": 4, "model_channels": config.model_channels,
            "num_res_blocks": [config.res_blocks] * levels, "channel_mult": list(config.channel_mult),
            "transformer_depth": depth, "transformer_depth_output": depth_out,
            "transformer_depth_middle": 1 if config.mid_attention else -1, "context_dim": config.context_dim,
            "num_heads": HEADS, "num_head_channels": -1, "use_linear_in_transformer": config.linear_projection,
            "use_spatial_transformer": True, "legacy": False, "use_checkpoint": False, "adm_in_channels": None}


def encoder_key_map(config: SparseCtrlConfig, unet_config: dict) -> dict[str, str]:
    """File key (diffusers name) -> ControlNet state-dict key."""
    mapping = dict(comfy.utils.unet_to_diffusers(unet_config))
    for n in range(len(config.channel_mult) * (config.res_blocks + 1)):
        for w in ("weight", "bias"):
            mapping[f"controlnet_down_blocks.{n}.{w}"] = f"zero_convs.{n}.0.{w}"
    for w in ("weight", "bias"):
        mapping[f"controlnet_mid_block.{w}"] = f"middle_block_out.0.{w}"
        if config.kind == RGB:
            mapping[f"{COND}.{w}"] = f"input_hint_block.0.{w}"
            continue
        # ComfyUI's hint block: convolutions at even indices, SiLU between them
        mapping[f"{COND}.conv_in.{w}"] = f"input_hint_block.0.{w}"
        for b in range(SCRIBBLE_EMBEDDING_CONVS):
            mapping[f"{COND}.blocks.{b}.{w}"] = f"input_hint_block.{2 * b + 2}.{w}"
        mapping[f"{COND}.conv_out.{w}"] = f"input_hint_block.{2 * SCRIBBLE_EMBEDDING_CONVS + 2}.{w}"
    return mapping


def _read(path: str, name: str) -> dict:
    try:
        return load_state_dict(path)
    except MotionModelError as e:  # the reader's wording is about motion modules
        raise SparseCtrlError(str(e).replace("motion-module", "SparseCtrl")) from e


def load_sparsectrl_model(path: str, name: str) -> SparseControlModel:
    """Read, detect and build a SparseCtrl file with ComfyUI's dtype and operations choice for ControlNets."""
    sd = _read(path, name)
    config = detect_sparsectrl(sd, name)
    encoder_sd, motion_sd = split_state_dict(sd)
    unet_dtype = comfy.model_management.unet_dtype(model_params=-1)
    manual_cast = comfy.model_management.unet_manual_cast(unet_dtype, comfy.model_management.get_torch_device())
    ops = comfy.ops.pick_operations(unet_dtype, manual_cast, disable_fast_fp8=True)
    offload = comfy.model_management.unet_offload_device()
    unet_config = encoder_unet_config(config)
    encoder = ControlNet(hint_channels=config.hint_channels, dtype=unet_dtype, device=offload, operations=ops,
                         **unet_config)
    if config.kind == RGB:  # "simplified" embedding: one 3x3 convolution at latent resolution
        encoder.input_hint_block = TimestepEmbedSequential(
            ops.conv_nd(2, config.hint_channels, config.model_channels, 3, padding=1, dtype=unet_dtype, device=offload))
    _load_encoder(encoder, encoder_sd, encoder_key_map(config, unet_config), name)
    motion = build_sparse_motion(config, motion_sd, name, dtype=unet_dtype, ops=comfy.ops.manual_cast)
    return SparseControlModel(encoder, motion.to(offload), config).eval().requires_grad_(False)


def _load_encoder(encoder: ControlNet, encoder_sd: dict, mapping: dict, name: str) -> None:
    unknown = [k for k in encoder_sd if k not in mapping]
    if unknown:
        raise SparseCtrlError(f"{name}: {len(unknown)} unknown encoder keys (e.g. {unknown[0]!r}); expected an SD1.5 "
                              "SparseCtrl file.")
    sd = {mapping[k]: v for k, v in encoder_sd.items()}
    expected = encoder.state_dict()
    wrong = [k for k, v in sd.items() if k in expected and tuple(v.shape) != tuple(expected[k].shape)]
    missing = [k for k in expected if k not in sd]
    if wrong or missing:
        detail = (f"'{wrong[0]}' is {list(sd[wrong[0]].shape)}, expected {list(expected[wrong[0]].shape)}" if wrong
                  else f"{len(missing)} encoder weights missing (e.g. {missing[0]!r}); the file may be truncated")
        raise SparseCtrlError(f"{name}: {detail}.")
    encoder.load_state_dict(sd, strict=True)
