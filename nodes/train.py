"""MotionLoRA training inside ComfyUI: training clips from videos, and the training run on the MODEL's own UNet.

The math (LoRA adapters on the temporal attention, the noise-prediction loss, clip sampling) is in
animatelcm_core.lora_train / lora_adapters / video_clips. Here: reading videos from ComfyUI's input folder,
VAE/CLIP encoding, and a private trainable copy of the loaded UNet and motion model (ComfyUI runs nodes under
torch.inference_mode, whose tensors autograd refuses; the input MODEL and motion model are never touched).
Why not ComfyUI's own training nodes: they put adapters on the spatial UNet's weights, sample single latents (not
frame-contiguous clips), train on an x0 loss through the sampler and save ComfyUI LoRA keys, and their internals
differ between 0.3.64 and 0.33; their progress bar and interrupt are reused.
"""
import copy
import os
import re
from dataclasses import dataclass

import torch

import comfy.model_management
import comfy.model_patcher
import folder_paths

from ..animatelcm_core.video_clips import iter_training_clips
from .inflate import InjectedMotionModule, MotionInjector, MotionSettings, motion_handler
from .motion_model import MOTION_LORAS, MotionModelHandle

VIDEO_EXTENSIONS = (".mp4", ".webm", ".mov", ".mkv", ".avi", ".gif")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.\-]{0,99}")


@dataclass(frozen=True)
class TrainingData:
    """VAE latents of every clip (clips, frames, C, h, w), raw (before the model's latent scaling), and one text
    embedding (tokens, dim) per clip."""
    latents: torch.Tensor
    contexts: tuple
    sources: tuple  # "video name @ first frame" per clip, for messages


def inside(root: str, relative: str, what: str) -> str:
    """`root/relative`, refused unless it stays inside `root` (no absolute path, no '..', no symlink out)."""
    if not relative or os.path.isabs(relative) or ".." in re.split(r"[\\/]+", relative):
        raise ValueError(f"{what} {relative!r}: give a folder inside ComfyUI's input folder ({root}), without '..' "
                         "or an absolute path.")
    path = os.path.realpath(os.path.join(root, relative))
    if os.path.commonpath([path, os.path.realpath(root)]) != os.path.realpath(root):
        raise ValueError(f"{what} {relative!r} leads outside ComfyUI's input folder ({root}) (a symlink?).")
    return path


def folder_videos(folder: str) -> list[tuple[str, str | None]]:
    """(video path, caption or None) for every video in `folder` of ComfyUI's input folder; the caption is a
    same-named .txt beside it."""
    root = folder_paths.get_input_directory()
    path = inside(root, folder, "training folder")
    if not os.path.isdir(path):
        raise ValueError(f"training folder {folder!r}: no such folder in ComfyUI's input folder ({root}).")
    found = []
    for name in sorted(os.listdir(path)):
        file = os.path.join(path, name)
        if os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS and os.path.isfile(file):
            inside(root, os.path.relpath(file, root), "training video")  # a link must not lead out either
            found.append((file, _caption(os.path.splitext(file)[0] + ".txt")))
    if not found:
        raise ValueError(f"training folder {folder!r}: no videos ({', '.join(VIDEO_EXTENSIONS)}) in {path}.")
    return found


def _caption(path: str) -> str | None:
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


def load_videos(folder: str, images, caption: str) -> tuple[list[torch.Tensor], list[str], list[str]]:
    """Videos (frames, H, W, C) in [0, 1], their captions and names, from the folder and/or an IMAGE batch."""
    from comfy_api.latest import InputImpl
    videos, captions, names = [], [], []
    for path, text in folder_videos(folder) if folder else []:
        videos.append(InputImpl.VideoFromFile(path).get_components().images)
        captions.append(text if text is not None else caption)
        names.append(os.path.basename(path))
    if images is not None:
        videos.append(images)
        captions.append(caption)
        names.append("images")
    if not videos:
        raise ValueError("training data: connect images or name a training folder of videos.")
    missing = [n for n, c in zip(names, captions) if not c.strip()]
    if missing:
        raise ValueError(f"training data: no caption for {', '.join(missing)}: put a same-named .txt beside each "
                         "video or fill in the caption input (used for every video without one).")
    return videos, captions, names


def encode_clips(vae, clip, videos, captions, names, width: int, height: int, frames: int, stride: int,
                 max_clips: int, seed: int) -> TrainingData:
    """Cut the videos into clips, resize and crop them, and encode each clip once (VAE) and each caption once."""
    samples = max_clips if max_clips > 0 else None
    latents, contexts, sources, encoded = [], [], [], {}
    for pixels, caption, ref in iter_training_clips(videos, captions, height, width, frames, stride,
                                                    samples=samples, seed=seed, channels_last=True):
        comfy.model_management.throw_exception_if_processing_interrupted()
        # detached: outside ComfyUI's inference mode (a script, another executor) the encoders' outputs carry their
        # autograd graph, and every training step would backpropagate through it again
        latents.append(vae.encode(pixels.movedim(1, -1)[..., :3]).detach().float().cpu())
        if caption not in encoded:
            cond = clip.encode_from_tokens_scheduled(clip.tokenize(caption))[0][0]
            encoded[caption] = cond[0].detach().float().cpu()
        contexts.append(encoded[caption])
        sources.append(f"{names[ref.video]} @ frame {ref.start}")
    return TrainingData(torch.stack(latents), tuple(contexts), tuple(sources))


def lora_folder() -> str:
    """Where this pack writes MotionLoRAs: ComfyUI's own models/animatediff_motion_lora. Not the first folder
    registered for that type, which with another AnimateDiff pack installed is inside that pack's folder (the file
    would go when the pack goes)."""
    return os.path.join(folder_paths.models_dir, MOTION_LORAS)


def lora_path(name: str, overwrite: bool) -> str:
    """Where the trained LoRA goes: <ComfyUI models>/animatediff_motion_lora/<name>.safetensors; checked first."""
    stem = name[:-len(".safetensors")] if name.lower().endswith(".safetensors") else name
    if not _NAME.fullmatch(stem) or stem.endswith("."):
        raise ValueError(f"lora_name {name!r}: use letters, digits, spaces, '_', '-' and '.' (up to 100 characters), "
                         "no folder separators; the file goes to models/animatediff_motion_lora/.")
    file = stem + ".safetensors"
    path = os.path.join(lora_folder(), file)
    if os.path.exists(path) and not overwrite:
        raise ValueError(f"{path} exists; choose another lora_name or set overwrite.")
    found = folder_paths.get_full_path(MOTION_LORAS, file)
    if found and os.path.realpath(found) != os.path.realpath(path):
        raise ValueError(f"lora_name {name!r}: {found} has that name and ComfyUI finds it first, so the trained LoRA "
                         f"({path}) could not be loaded by name; choose another lora_name.")
    return path


def checkpointed_blocks(unet) -> None:
    """Gradient checkpointing of the private UNet copy: each ResBlock and SpatialTransformer recomputes its
    activations in the backward pass (ComfyUI's UNet calls these layers one by one; an attribute of our own copy,
    the MODEL's UNet is untouched)."""
    from comfy.ldm.modules.attention import SpatialTransformer
    from comfy.ldm.modules.diffusionmodules.openaimodel import ResBlock
    for layer in unet.modules():
        if isinstance(layer, (ResBlock, SpatialTransformer)):
            layer.forward = _checkpoint(layer.forward)


def _checkpoint(forward):
    def run(*args, **kwargs):
        return torch.utils.checkpoint.checkpoint(forward, *args, use_reentrant=False, **kwargs)
    return run


def private_copy(patcher):
    """A frozen copy, outside inference mode, of a patcher's module as ComfyUI loads it (its patches merged)."""
    comfy.model_management.load_models_gpu([patcher], force_full_load=True)
    module = patcher.model.diffusion_model if hasattr(patcher.model, "diffusion_model") else patcher.model
    with torch.inference_mode(False), torch.no_grad():
        copied = copy.deepcopy(module).to(patcher.load_device)
    for p in copied.parameters():
        p.requires_grad_(False)
    return copied


def plain_unet(model):
    """The MODEL's UNet alone (a private copy, no motion modules): f(x, t, context) -> eps (for benchmarks)."""
    unet = private_copy(model)
    return lambda x, t, context: unet(x, t, context, None, None, {"cond_or_uncond": [0]})


def training_denoiser(model, handle: MotionModelHandle, checkpointing: bool):
    """(denoiser, trainable motion model): the MODEL's UNet as loaded (its LoRAs merged) with the motion model's
    modules injected, both private copies outside inference mode. denoiser(x_t, t, context, frames) -> eps."""
    unet = private_copy(model)
    motion = private_copy(handle.patcher)
    device = model.load_device
    patcher = comfy.model_patcher.ModelPatcher(motion, load_device=device, offload_device=device)
    injector = MotionInjector(handle, patcher, MotionSettings())
    injector.inject_into(unet, model.get_model_object("model_sampling"))
    if checkpointing:
        checkpointed_blocks(unet)
    patches = {"forward_timestep_embed_patch": [(InjectedMotionModule, motion_handler)]}

    def denoiser(x_t, t, context, frames):
        options = {"cond_or_uncond": [0] * (x_t.shape[0] // frames), "patches": patches}
        return injector.per_call(unet, x_t, t, context.to(x_t), None, None, options)
    return denoiser, motion


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def check_training(model, handle: MotionModelHandle, data: TrainingData, precision: str) -> None:
    from .inflate import model_base
    if model_base(model) != "sd15" or handle.config.base != "sd15":
        raise ValueError(f"MotionLoRA training needs an SD1.5 MODEL and an SD1.5 motion module; got a "
                         f"{(model_base(model) or 'non-SD').upper()} MODEL and {handle.name} ({handle.config.display_name}).")
    frames = data.latents.shape[1]
    if frames > handle.max_frames:
        raise ValueError(f"training clips of {frames} frames, but {handle.name} takes at most "
                         f"{handle.max_frames}; lower the clip frames.")
    if PRECISIONS[precision] is torch.float16 and model.load_device.type == "cpu":
        raise ValueError("precision fp16 needs a GPU; on the CPU use fp32 or bf16.")


def _report(node_id, step: int, steps: int, loss: float) -> None:
    """The loss beside the node's progress bar, when a ComfyUI server is running (not in the headless runner)."""
    try:
        from server import PromptServer
        server = PromptServer.instance
    except (ImportError, AttributeError):
        return
    if node_id is not None and hasattr(server, "send_progress_text"):
        server.send_progress_text(f"step {step}/{steps}  loss {loss:.4f}", node_id)


def train(model, handle: MotionModelHandle, data: TrainingData, settings, path: str, precision: str = "fp32",
          node_id=None) -> tuple[MotionModelHandle, list[float]]:
    """Train, then write the LoRA to `path` (atomically; nothing when interrupted) and return the motion model with
    it applied at strength 1 and the loss of every step."""
    from dataclasses import replace
    import comfy.utils
    from ..animatelcm_core.errors import TrainingInterrupted
    from ..animatelcm_core.lora_adapters import save_lora_atomic
    from ..animatelcm_core.lora_train import train_motion_lora
    from ..animatelcm_core.motion_lora import load_motion_lora
    check_training(model, handle, data, precision)
    latents = model.model.latent_format.process_in(data.latents)
    denoiser, motion = training_denoiser(model, handle, settings.gradient_checkpointing)
    progress = comfy.utils.ProgressBar(settings.steps, node_id=node_id)

    def on_step(step, loss):
        progress.update_absolute(step)
        _report(node_id, step, settings.steps, loss)

    run = replace(settings, gradient_checkpointing=False, autocast_dtype=PRECISIONS[precision])  # blocks checkpoint
    try:
        result = train_motion_lora(motion, denoiser, latents, list(data.contexts), run, callback=on_step,
                                   should_stop=comfy.model_management.processing_interrupted)
    except TrainingInterrupted:
        comfy.model_management.throw_exception_if_processing_interrupted()
        raise
    metadata = {"animatelcm_base": handle.name, "animatelcm_rank": str(settings.rank),
                "animatelcm_steps": str(settings.steps), "animatelcm_clips": str(len(data.sources))}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_lora_atomic(result.state_dict(), path, metadata)
    return handle.with_lora(load_motion_lora(path), 1.0), result.losses


def loss_curve_image(losses: list[float], width: int = 640, height: int = 320) -> torch.Tensor:
    """The loss per step (and its running mean) as an IMAGE (1, H, W, 3)."""
    import numpy as np
    from PIL import Image, ImageDraw
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = 60, 20, width - 20, height - 40
    draw.rectangle([left, top, right, bottom], outline="black")
    low, high = min(losses), max(losses)
    span = (high - low) or 1.0

    def point(i, value):
        x = left + (right - left) * (i / max(len(losses) - 1, 1))
        return x, bottom - (bottom - top) * (value - low) / span

    window = max(1, len(losses) // 20)
    smooth = [sum(losses[max(0, i - window + 1):i + 1]) / len(losses[max(0, i - window + 1):i + 1])
              for i in range(len(losses))]
    for series, colour in ((losses, (170, 190, 230)), (smooth, (20, 60, 200))):
        if len(series) > 1:
            draw.line([point(i, v) for i, v in enumerate(series)], fill=colour, width=2)
    draw.text((left, bottom + 8), f"steps 1..{len(losses)}   loss {losses[0]:.4f} -> {smooth[-1]:.4f} (mean of last "
                                  f"{window})", fill="black")
    draw.text((4, top), f"{high:.3f}", fill="black")
    draw.text((4, bottom - 10), f"{low:.3f}", fill="black")
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0)[None]
