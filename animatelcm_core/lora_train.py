"""MotionLoRA training (AnimateDiff's third stage): the noise-prediction loss and the training loop.

The loss is the standard DDPM one: `x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps`, `t` uniform in [0, T) per clip
(shared by the clip's frames), and `MSE(denoiser(x_t, t), eps)`, with the motion model's own beta schedule
(`schedules.PRESETS`). The UNet is not part of the core: the loop takes a callable

    denoiser(x_t (B*F, C, H, W), t (B*F,) float timesteps, context (B*F, tokens, dim) or None, num_frames) -> eps

with the F frames of each clip contiguous, which runs the motion model's modules somewhere inside (ComfyUI's
inflated UNet in the nodes; a small pure-torch network in the tests). Only the adapters train: the motion model's
parameters are frozen for the run (their `requires_grad` flags are restored afterwards) and never written.
All randomness (adapter init, clip order, timesteps, noise) comes from generators seeded by `seed`, drawn on the
CPU: a run is deterministic for a seed on the CPU and draws the same numbers on every device.
"""
import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .errors import TrainingInterrupted
from .lora_adapters import DEFAULT_RANK, MotionLoRAAdapters, attached, lora_state_dict
from .motion_module import MotionModel
from .schedules import alphas_cumprod, get_preset, make_betas

Denoiser = Callable[[torch.Tensor, torch.Tensor, Any, int], torch.Tensor]


@dataclass(frozen=True)
class TrainSettings:
    """Hyper-parameters of one run (AdamW on the adapters only)."""
    rank: int = DEFAULT_RANK
    learning_rate: float = 1e-4
    steps: int = 2000
    batch_size: int = 1
    seed: int = 0
    gradient_checkpointing: bool = False  # recompute each motion module's activations in the backward pass
    max_grad_norm: float | None = 1.0  # clip the adapters' gradient norm; None: no clipping
    weight_decay: float = 0.0  # AdamW
    autocast_dtype: torch.dtype | None = None  # mixed precision for the denoiser call (e.g. torch.bfloat16 on GPU)
    lora_dtype: torch.dtype = torch.float32  # the adapters' (master) weights


@dataclass
class TrainResult:
    """The trained adapters and the loss of every step."""
    adapters: MotionLoRAAdapters
    losses: list[float] = field(default_factory=list)  # one per step

    def state_dict(self, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
        """The trained LoRA in the published MotionLoRA key layout."""
        return lora_state_dict(self.adapters, dtype)


def schedule_alphas_cumprod(preset: str = "sqrt_linear", steps: int = 1000) -> torch.Tensor:
    """abar_t (float64, `steps` entries) of a sampling preset's beta schedule; AnimateDiff SD1.5: sqrt_linear."""
    p = get_preset(preset)
    return alphas_cumprod(make_betas(p.beta_schedule, p.linear_start, p.linear_end, steps))


def add_noise(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, acp: torch.Tensor) -> torch.Tensor:
    """`sqrt(abar_t) x0 + sqrt(1 - abar_t) noise` for clips (B, F, C, H, W) and one timestep per clip (B,)."""
    abar = acp.double().cpu()[t.cpu()].view(-1, *([1] * (x0.ndim - 1)))
    a, s = abar.sqrt().to(x0), (1 - abar).sqrt().to(x0)
    return a * x0 + s * noise


def frame_context(contexts: Sequence[torch.Tensor] | None, index: list[int], frames: int,
                  device: torch.device) -> torch.Tensor | None:
    """The contexts of the clips `index`, one copy per frame: (B*F, tokens, dim); None without contexts."""
    if contexts is None:
        return None
    picked = [contexts[0] if len(contexts) == 1 else contexts[i] for i in index]
    ctx = torch.stack([c.reshape(c.shape[-2:]) for c in picked]).to(device)
    return ctx.repeat_interleave(frames, dim=0)


def noise_prediction_loss(denoiser: Denoiser, x0: torch.Tensor, context, acp: torch.Tensor,
                          generator: torch.Generator, autocast_dtype: torch.dtype | None = None) -> torch.Tensor:
    """Noise-prediction MSE on clip latents x0 (B, F, C, H, W); t and noise drawn from `generator` (CPU)."""
    b, f = x0.shape[:2]
    t = torch.randint(0, acp.shape[0], (b,), generator=generator)
    noise = torch.randn(x0.shape, generator=generator, dtype=torch.float32).to(x0.device)
    x_t = add_noise(x0.float(), noise, t, acp).flatten(0, 1)
    timesteps = t.to(x0.device, torch.float32).repeat_interleave(f)
    amp = torch.autocast(x0.device.type, dtype=autocast_dtype) if autocast_dtype else contextlib.nullcontext()
    with amp:
        pred = denoiser(x_t, timesteps, context, f)
    if pred.shape != x_t.shape:
        raise ValueError(f"denoiser returned shape {list(pred.shape)}; expected the input's {list(x_t.shape)}.")
    return F.mse_loss(pred.float(), noise.flatten(0, 1))


@contextlib.contextmanager
def frozen(*modules: nn.Module):
    """Turn off `requires_grad` on every parameter of `modules` inside the block; restore the flags after."""
    params = [p for m in modules for p in m.parameters()]
    flags = [p.requires_grad for p in params]
    try:
        for p in params:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)


def stack_clips(latents, contexts: Sequence[torch.Tensor] | None) -> torch.Tensor:
    """Clip latents as one (N, F, C, H, W) tensor; checks shapes and the number of contexts."""
    if isinstance(latents, torch.Tensor):
        clips = latents
    else:
        shapes = {tuple(x.shape) for x in latents}
        if len(shapes) != 1:
            raise ValueError(f"latents: clips of different shapes {sorted(shapes)}; all clips must have the same "
                             "frames and size (resize them to one training resolution).")
        clips = torch.stack(list(latents))
    if clips.ndim != 5 or clips.shape[0] == 0:
        raise ValueError(f"latents: got shape {list(clips.shape)}; expected (clips, frames, C, H, W) with at least "
                         "one clip.")
    if contexts is not None and len(contexts) not in (1, clips.shape[0]):
        raise ValueError(f"contexts: got {len(contexts)} for {clips.shape[0]} clips; expected one per clip or one "
                         "for all.")
    return clips


def _batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[list[int]]:
    """Clip indices, batch by batch: a fresh random order every epoch."""
    order: list[int] = []
    while True:
        while len(order) < batch_size:
            order += torch.randperm(n, generator=generator).tolist()
        yield order[:batch_size]
        order = order[batch_size:]


def _check_trainable(model: MotionModel, settings: TrainSettings) -> None:
    if settings.steps < 1 or settings.batch_size < 1 or not settings.learning_rate > 0:
        raise ValueError(f"training settings: steps {settings.steps}, batch size {settings.batch_size}, learning "
                         f"rate {settings.learning_rate}; expected steps >= 1, batch size >= 1, learning rate > 0.")
    inference = [n for n, p in model.named_parameters() if p.is_inference()]
    if inference:
        raise ValueError(f"motion model: {len(inference)} weights (e.g. {inference[0]!r}) are inference tensors "
                         "(created under torch.inference_mode) and cannot be used for training; clone the model's "
                         "weights outside inference mode first.")


def train_motion_lora(motion_model: MotionModel, denoiser: Denoiser, latents, contexts=None,
                      settings: TrainSettings = TrainSettings(), *, alphas_cumprod: torch.Tensor | None = None,
                      callback: Callable[[int, float], None] | None = None,
                      should_stop: Callable[[], bool] | None = None,
                      adapters: MotionLoRAAdapters | None = None) -> TrainResult:
    """Train a MotionLoRA on clip latents (N, F, C, H, W) (or a list of (F, C, H, W)) with the noise-prediction loss.

    contexts: per-clip text embeddings (tokens, dim) (one per clip or one for all), or None.
    alphas_cumprod: the noise schedule; default: the motion model's recommended preset's betas.
    callback(step, loss) after each step (step counts from 1). should_stop() is asked before each step; when it
    returns True, TrainingInterrupted is raised (so is any exception it raises) and nothing is returned.
    adapters: continue training these; without them, fresh ones of `settings.rank`, initialised from `settings.seed`.
    """
    _check_trainable(motion_model, settings)
    clips = stack_clips(latents, contexts)
    acp = schedule_alphas_cumprod(motion_model.config.sampling) if alphas_cumprod is None else alphas_cumprod
    with torch.inference_mode(False), torch.enable_grad():  # ComfyUI runs nodes in inference mode
        if adapters is None:
            adapters = MotionLoRAAdapters.for_model(motion_model, settings.rank, settings.lora_dtype, settings.seed)
        result = TrainResult(adapters)
        with frozen(motion_model), attached(motion_model, adapters,
                                            gradient_checkpointing=settings.gradient_checkpointing):
            _run_steps(result, denoiser, clips, contexts, acp, settings, callback, should_stop)
    return result


def _run_steps(result: TrainResult, denoiser: Denoiser, clips: torch.Tensor, contexts, acp: torch.Tensor,
               settings: TrainSettings, callback, should_stop) -> None:
    adapters = result.adapters
    device = next(adapters.parameters()).device
    optimizer = torch.optim.AdamW(adapters.parameters(), lr=settings.learning_rate,
                                  weight_decay=settings.weight_decay)
    generator = torch.Generator().manual_seed(settings.seed)
    batches = _batches(clips.shape[0], settings.batch_size, generator)
    for step in range(1, settings.steps + 1):
        if should_stop is not None and should_stop():
            raise TrainingInterrupted(f"MotionLoRA training stopped after {step - 1} of {settings.steps} steps; "
                                      "no LoRA was produced.")
        index = next(batches)
        x0 = clips[index].to(device)
        ctx = frame_context(contexts, index, clips.shape[1], device)
        loss = _optimizer_step(
            adapters, optimizer, settings,
            lambda: noise_prediction_loss(denoiser, x0, ctx, acp, generator, settings.autocast_dtype))
        if not math.isfinite(loss):
            raise FloatingPointError(f"MotionLoRA training: the loss became {loss} at step {step}; lower the "
                                     f"learning rate (now {settings.learning_rate:g}) or use fp32.")
        result.losses.append(loss)
        if callback is not None:
            callback(step, loss)


def _optimizer_step(adapters: MotionLoRAAdapters, optimizer: torch.optim.Optimizer, settings: TrainSettings,
                    compute_loss: Callable[[], torch.Tensor]) -> float:
    optimizer.zero_grad(set_to_none=True)
    loss = compute_loss()
    if not loss.requires_grad:
        raise RuntimeError("MotionLoRA training: the denoiser's output does not depend on the motion model; the "
                           "denoiser must run the motion model's modules (is the motion model applied to the UNet?).")
    loss.backward()
    if settings.max_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(adapters.parameters(), settings.max_grad_norm)
    optimizer.step()
    return float(loss.detach())
