"""Trainable MotionLoRA adapters: attached to a motion model without touching its parameters, exported in the
published MotionLoRA key layout (spec formats.md §4.8, keys/v2_lora_MotionLoRA_rank64.tsv), saved atomically.

An adapter is a pair `down` [r, in], `up` [out, r] on one temporal-attention projection (`to_q`, `to_k`, `to_v`,
`to_out.0` of both attention blocks of every motion module). While attached, a forward hook on the projection adds
`strength * up(down(x))` to its output, i.e. the layer computes `(W + strength * up @ down) x + b`, the same as a
merged MotionLoRA (no alpha/rank factor). The base weights are never written, not even temporarily: hooks are
registered on entry and removed on exit of `attached`, so a motion model shared with other graphs stays bit-identical.
Standard LoRA init: `down ~ N(0, 1/r)`, `up = 0`, so a fresh adapter set leaves the model's output unchanged.
"""
import contextlib
import os
import uuid
from collections.abc import Iterator

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import nn

from .motion_module import MotionModel, MotionModule

PROJECTIONS = ("to_q", "to_k", "to_v", "to_out.0")
DEFAULT_RANK = 64  # the published MotionLoRAs


class LoRAPair(nn.Module):
    """`up @ down` on one Linear: down [rank, in], up [out, rank]."""

    def __init__(self, in_features: int, out_features: int, rank: int, device=None, dtype=torch.float32):
        super().__init__()
        self.down = nn.Parameter(torch.empty(rank, in_features, device=device, dtype=dtype))
        self.up = nn.Parameter(torch.zeros(out_features, rank, device=device, dtype=dtype))

    def reset(self, generator: torch.Generator) -> None:
        """down ~ N(0, 1/rank) from `generator` (drawn on the CPU, so equal on every device); up = 0."""
        if self.down.is_meta:
            return
        with torch.no_grad():
            noise = torch.randn(self.down.shape, generator=generator, dtype=torch.float32)
            self.down.copy_(noise / self.down.shape[0])
            self.up.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(F.linear(x, self.down), self.up)


class MotionLoRAAdapters(nn.Module):
    """One LoRAPair per target weight key (original motion-module layout, e.g.
    `down_blocks.0.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.1.to_q.weight`)."""

    def __init__(self, shapes: dict[str, tuple[int, int]], rank: int = DEFAULT_RANK, device=None,
                 dtype: torch.dtype = torch.float32, seed: int = 0):
        super().__init__()
        if rank < 1:
            raise ValueError(f"LoRA rank must be at least 1, got {rank}.")
        self.rank = rank
        self.keys = list(shapes)
        self.pairs = nn.ModuleList([LoRAPair(i, o, rank, device, dtype) for o, i in shapes.values()])
        generator = torch.Generator().manual_seed(seed)
        for pair in self.pairs:
            pair.reset(generator)

    @classmethod
    def for_model(cls, model: MotionModel, rank: int = DEFAULT_RANK, dtype: torch.dtype = torch.float32,
                  seed: int = 0, device=None) -> "MotionLoRAAdapters":
        """Adapters on every temporal-attention projection of `model`, on its device unless `device` is given."""
        shapes = target_shapes(model)
        if device is None:
            device = next(model.parameters()).device
        return cls(shapes, rank=rank, device=device, dtype=dtype, seed=seed)

    def items(self) -> Iterator[tuple[str, LoRAPair]]:
        return zip(self.keys, self.pairs)


def target_shapes(model: MotionModel) -> dict[str, tuple[int, int]]:
    """Target weight key -> (out, in) of every LoRA'd projection, in the published file's order (down, up, mid)."""
    names = [n for n, _ in model.config.module_names()]
    names = [n for n in names if not n.startswith("mid_block.")] + [n for n in names if n.startswith("mid_block.")]
    shapes = {}
    for name in names:
        blocks = model.get_module(name).temporal_transformer.transformer_blocks
        for b, block in enumerate(blocks):
            for a, attn in enumerate(block.attention_blocks):
                for proj in PROJECTIONS:
                    linear = attn.get_submodule(proj)
                    key = f"{name}.temporal_transformer.transformer_blocks.{b}.attention_blocks.{a}.{proj}.weight"
                    shapes[key] = (linear.out_features, linear.in_features)
    return shapes


def published_keys(target_key: str) -> tuple[str, str]:
    """(down key, up key) of the published MotionLoRA layout for a target weight key."""
    prefix, sep, proj = target_key.removesuffix(".weight").rpartition(".attention_blocks.")
    attn, _, proj = proj.partition(".")
    if not sep or proj not in PROJECTIONS:
        raise ValueError(f"{target_key!r} is not a temporal-attention projection weight; expected "
                         "'<module>.attention_blocks.<a>.<to_q|to_k|to_v|to_out.0>.weight'.")
    base = f"{prefix}.attention_blocks.{attn}.processor.{proj.removesuffix('.0')}_lora"
    return f"{base}.down.weight", f"{base}.up.weight"


def published_state_dict(pairs: dict, dtype: torch.dtype | None = torch.float32) -> dict[str, torch.Tensor]:
    """{target weight key: (up, down)} (as `MotionLoRA.pairs`) -> the published key layout; CPU, contiguous
    (meta tensors stay on meta). `dtype=None` keeps each tensor's dtype."""
    out = {}
    for key, (up, down) in pairs.items():
        down_key, up_key = published_keys(key)
        for k, t in ((down_key, down), (up_key, up)):
            t = t.detach().to(dtype=dtype or t.dtype, device="meta" if t.is_meta else "cpu")
            out[k] = t.contiguous()
    return out


def lora_state_dict(adapters: MotionLoRAAdapters, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """The trained adapters as a MotionLoRA state dict (published keys; fp32 as the published files, or fp16)."""
    return published_state_dict({k: (p.up, p.down) for k, p in adapters.items()}, dtype=dtype)


def _lora_hook(pair: LoRAPair, strength: float):
    def hook(module, args, output):
        x = args[0]
        return output + (pair(x.to(pair.down.dtype)) * strength).to(output.dtype)
    return hook


def _grad_path_hook(module, args):
    """Hands TemporalTransformer an input that requires grad when autograd is on, so that it takes its autograd
    path (it decides from its own parameters and its input; the adapters' parameters are not among them)."""
    x = args[0]
    if torch.is_grad_enabled() and not x.requires_grad:
        return (x.detach().requires_grad_(True),) + tuple(args[1:])
    return None


def _checkpointed(module: MotionModule):
    forward = type(module).forward.__get__(module)

    def run(*args, **kwargs):
        if not torch.is_grad_enabled():
            return forward(*args, **kwargs)
        return torch.utils.checkpoint.checkpoint(forward, *args, use_reentrant=False, **kwargs)
    return run


@contextlib.contextmanager
def attached(model: MotionModel, adapters: MotionLoRAAdapters, strength: float = 1.0,
             gradient_checkpointing: bool = False):
    """Run `model` with the adapters added, inside the `with` block. Nothing of `model` is written; on exit (also
    on an exception) every hook is removed. With `gradient_checkpointing`, each motion module recomputes its
    activations in the backward pass instead of keeping them."""
    handles, patched = [], []
    try:
        for key, pair in adapters.items():
            try:
                linear = model.get_submodule(key.removesuffix(".weight"))
            except AttributeError as e:
                raise ValueError(f"adapter target {key!r} is not in this motion model "
                                 f"({model.config.display_name}).") from e
            handles.append(linear.register_forward_hook(_lora_hook(pair, strength)))
        for name, module in model.named_motion_modules():
            handles.append(module.temporal_transformer.register_forward_pre_hook(_grad_path_hook))
            if gradient_checkpointing:
                if "forward" in vars(module):
                    raise RuntimeError(f"motion module {name} already has a patched forward; cannot checkpoint it.")
                module.forward = _checkpointed(module)
                patched.append(module)
        yield model
    finally:
        for handle in handles:
            handle.remove()
        for module in patched:
            del module.forward


def save_lora_atomic(state_dict: dict[str, torch.Tensor], path: str, metadata: dict[str, str] | None = None) -> None:
    """Write `state_dict` as safetensors to `path` via a temporary file in the same folder and `os.replace`:
    readers see the old file or the complete new one, never a partial one; the temporary file is removed on
    any error."""
    from safetensors.torch import save
    if not path.lower().endswith(".safetensors"):
        raise ValueError(f"{path}: a MotionLoRA is saved as .safetensors; got a path ending in "
                         f"{os.path.splitext(path)[1]!r}.")
    bad = {k: type(v).__name__ for k, v in (metadata or {}).items() if not isinstance(v, str)}
    if bad:
        raise ValueError(f"{os.path.basename(path)}: safetensors metadata values must be str; got {bad}.")
    data = save({k: v.detach().cpu().contiguous() for k, v in state_dict.items()}, metadata=metadata)
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)),
                       f".{os.path.basename(path)}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    f = open(tmp, "xb")  # a fresh name, with the umask's permissions (unlike mkstemp's 0600)
    try:
        with f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
