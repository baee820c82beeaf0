"""Prompt travel: a CONDITIONING with one embedding per frame (batch = frames), from a schedule of prompts.

Each distinct prompt is encoded once with the CLIP, exactly as CLIPTextEncode encodes it (so prompt weights like
(word:1.2) work); frames between two keyframes get an interpolated embedding and pooled output (core:
animatelcm_core.prompt_schedule). In sampling, ComfyUI's conditioning batch then matches the latent's frames, and
context windows cut it to each window's frames like any per-frame conditioning.
"""
import torch

from ..animatelcm_core.errors import PromptScheduleError
from ..animatelcm_core.prompt_schedule import blend_keyframes, match_token_lengths, prompt_keyframes, stack_keyframes


def encode_prompt(clip, text: str) -> tuple[torch.Tensor, dict]:
    """(cond (1, tokens, dim), extras with pooled_output): what CLIPTextEncode puts in its CONDITIONING."""
    encoded = clip.encode_from_tokens_scheduled(clip.tokenize(text))
    if len(encoded) != 1:
        raise PromptScheduleError("this CLIP has scheduled hooks (conditioning that changes over sampling), which a "
                                  "prompt schedule cannot interpolate; remove the CLIP hooks for prompt travel")
    cond, extras = encoded[0]
    return cond, dict(extras)


def schedule_conditioning(clip, text: str, num_frames: int, method: str = "linear", pre_text: str = "",
                          app_text: str = "") -> list:
    """CONDITIONING [[cond (frames, tokens, dim), {"pooled_output": (frames, dim), ...}]] for the schedule text."""
    keyframes = prompt_keyframes(text, num_frames, pre_text, app_text)  # every text error before any encoding
    encoded = {}
    for prompt in dict.fromkeys(keyframes.values()):
        encoded[prompt] = encode_prompt(clip, prompt)
    frames = list(keyframes)
    conds = match_token_lengths([encoded[p][0] for p in keyframes.values()])
    cond = blend_keyframes(stack_keyframes(conds, frames), frames, num_frames, method)
    extras = dict(encoded[keyframes[frames[0]]][1])
    pooled = [encoded[p][1].get("pooled_output") for p in keyframes.values()]
    if all(p is not None for p in pooled):
        extras["pooled_output"] = blend_keyframes(stack_keyframes(pooled, frames, "pooled output"), frames,
                                                  num_frames, method)
    return [[cond, extras]]


def check_conditioning_frames(conds: dict, num_frames: int) -> None:
    """Per-frame conditioning (a batch other than 1) must have one entry per latent frame: ComfyUI would otherwise
    repeat or cut it silently."""
    for kind, items in (conds or {}).items():
        for item in items or []:
            for key in ("cross_attn", "pooled_output"):
                value = item.get(key)
                if isinstance(value, torch.Tensor) and value.ndim > 0 and value.shape[0] not in (1, num_frames):
                    raise PromptScheduleError(
                        f"the {kind} conditioning has {value.shape[0]} per-frame entries ({key}) but the latent has "
                        f"{num_frames} frames: give the prompt schedule the same frame count (or connect the "
                        f"latent to it)")
