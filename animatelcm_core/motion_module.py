"""The AnimateDiff temporal transformer ("motion module") and the container that holds all of a file's modules.

Forward math: spec formats.md §2.4. Frames arrive batched as `(b f) c h w`; attention runs over f for every
(batch, pixel) pair, i.e. on `(b h w) f c`. Nothing is stored on a module between calls: the frame count is an
argument of `forward`.
"""
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn

from .config import MotionModuleConfig
from .positional import sinusoidal_encoding

TORCH_OPS = SimpleNamespace(Linear=nn.Linear, LayerNorm=nn.LayerNorm, GroupNorm=nn.GroupNorm)

# Rows of (batch x pixels) sequences processed at once; bounds the peak memory of the token-wise layers.
DEFAULT_CHUNK_TOKENS = 1 << 20


class PositionalEncoding(nn.Module):
    """Holds the (1, L, C) sinusoid table; persistent only when the source file stores it."""

    def __init__(self, dim: int, length: int, persistent: bool):
        super().__init__()
        self.register_buffer("pe", sinusoidal_encoding(length, dim).unsqueeze(0), persistent=persistent)


class TemporalAttention(nn.Module):
    """Self-attention over the frame axis with its own position encoding (AnimateDiff `VersatileAttention`)."""

    def __init__(self, dim: int, heads: int, pe_length: int, pe_stored: bool, ops=TORCH_OPS):
        super().__init__()
        self.heads = heads
        self.to_q = ops.Linear(dim, dim, bias=False)
        self.to_k = ops.Linear(dim, dim, bias=False)
        self.to_v = ops.Linear(dim, dim, bias=False)
        self.to_out = nn.ModuleList([ops.Linear(dim, dim), nn.Dropout(0.0)])
        self.pos_encoder = PositionalEncoding(dim, pe_length, pe_stored)

    def forward(self, x: torch.Tensor, scale=None, attention=None) -> torch.Tensor:
        """x: (N, F, C) normed tokens, F frames per sequence. `scale` multiplies the keys (float or per-frame (F,))."""
        n, f, c = x.shape
        x = x + self.pos_encoder.pe[:, :f].to(x.dtype)
        q, k, v = self.to_q(x), self.to_k(x), self.to_v(x)
        if scale is not None:
            k = k * _per_frame(scale, f, k).view(1, f, 1) if torch.is_tensor(scale) else k * scale
        if attention is not None:
            out = attention(q, k, v, self.heads)
        else:
            q, k, v = (t.view(n, f, self.heads, c // self.heads).transpose(1, 2) for t in (q, k, v))
            out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, f, c)
        return self.to_out[0](out)


class GEGLU(nn.Module):
    def __init__(self, dim: int, inner: int, ops=TORCH_OPS):
        super().__init__()
        self.proj = ops.Linear(dim, inner * 2)

    def forward(self, x):
        value, gate = self.proj(x).chunk(2, dim=-1)
        return value * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int = 4, ops=TORCH_OPS):
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, dim * mult, ops), nn.Dropout(0.0), ops.Linear(dim * mult, dim)])

    def forward(self, x):
        return self.net[2](self.net[0](x))


class TemporalTransformerBlock(nn.Module):
    def __init__(self, dim: int, config: MotionModuleConfig, ops=TORCH_OPS):
        super().__init__()
        self.attention_blocks = nn.ModuleList(
            [TemporalAttention(dim, config.heads, config.pe_length, config.pe_stored, ops)
             for _ in range(config.attention_blocks)])
        self.norms = nn.ModuleList([ops.LayerNorm(dim) for _ in range(config.attention_blocks)])
        self.ff = FeedForward(dim, ops=ops)
        self.ff_norm = ops.LayerNorm(dim)

    def forward(self, h: torch.Tensor, scale=None, attention=None) -> torch.Tensor:
        """h: (N, F, C) tokens; pre-norm residual attention blocks, then the GEGLU feed-forward."""
        for norm, attn in zip(self.norms, self.attention_blocks):
            h = h + attn(norm(h), scale=scale, attention=attention)
        return h + self.ff(self.ff_norm(h))


class TemporalTransformer(nn.Module):
    """GroupNorm, proj_in, one transformer block, proj_out, residual (spec §2.4)."""

    def __init__(self, dim: int, config: MotionModuleConfig, ops=TORCH_OPS):
        super().__init__()
        self.norm_across_frames = config.norm_across_frames
        self.norm = ops.GroupNorm(32, dim, eps=1e-6)
        self.proj_in = ops.Linear(dim, dim)
        self.transformer_blocks = nn.ModuleList([TemporalTransformerBlock(dim, config, ops)])
        self.proj_out = ops.Linear(dim, dim)

    def forward(self, x: torch.Tensor, num_frames: int, scale=None, attention=None,
                chunk_tokens: int = DEFAULT_CHUNK_TOKENS) -> torch.Tensor:
        bf, c, height, width = x.shape
        b = bf // num_frames
        tokens = self._normed_tokens(x, b, num_frames)  # (b, h*w, f, c)
        tokens = tokens.reshape(b * height * width, num_frames, c)
        rows = max(1, chunk_tokens // (num_frames * c))
        out = torch.cat([self._tokens_forward(t, scale, attention) for t in tokens.split(rows)]) \
            if tokens.shape[0] > rows else self._tokens_forward(tokens, scale, attention)
        out = out.view(b, height * width, num_frames, c).permute(0, 2, 3, 1).reshape(bf, c, height, width)
        return out + x

    def _normed_tokens(self, x, b, f):
        bf, c, height, width = x.shape
        if self.norm_across_frames:  # statistics over (c/32, f, h, w) per video
            h = self.norm(x.view(b, f, c, height * width).transpose(1, 2))  # (b, c, f, hw)
            return h.permute(0, 3, 2, 1)
        h = self.norm(x).view(b, f, c, height * width)  # per frame
        return h.permute(0, 3, 1, 2)

    def _tokens_forward(self, t, scale, attention):
        t = self.proj_in(t)
        for block in self.transformer_blocks:
            t = block(t, scale=scale, attention=attention)
        return self.proj_out(t)


class MotionModule(nn.Module):
    """One motion module as stored in the files: `<block>.motion_modules.<j>.temporal_transformer.*`."""

    def __init__(self, dim: int, config: MotionModuleConfig, ops=TORCH_OPS):
        super().__init__()
        self.temporal_transformer = TemporalTransformer(dim, config, ops)

    @property
    def max_frames(self) -> int:
        return self.temporal_transformer.transformer_blocks[0].attention_blocks[0].pos_encoder.pe.shape[1]

    def forward(self, x: torch.Tensor, num_frames: int, effect=None, scale=None, attention=None,
                chunk_tokens: int = DEFAULT_CHUNK_TOKENS) -> torch.Tensor:
        """x: (B*F, C, H, W) with the F frames of each video contiguous. Returns the same shape.

        effect: blend of input and output, `x*(1-e) + mm(x)*e`; a float or per-frame (F,) tensor; 0 returns x.
        scale: multiplies the attention keys; a float or per-frame (F,) tensor.
        attention: optional `fn(q, k, v, heads) -> out` on (N, F, C) tensors, to use the host's attention.
        """
        if x.shape[0] % num_frames:
            raise ValueError(f"batch of {x.shape[0]} is not a multiple of num_frames={num_frames}")
        if num_frames > self.max_frames:
            raise ValueError(f"{num_frames} frames exceed this motion module's {self.max_frames} position encodings; "
                             "use context windows or position-encoding stretch")
        if effect is not None and not torch.is_tensor(effect) and float(effect) == 0.0:
            return x
        out = self.temporal_transformer(x, num_frames, scale=scale, attention=attention, chunk_tokens=chunk_tokens)
        if effect is None or (not torch.is_tensor(effect) and float(effect) == 1.0):
            return out
        e = _per_frame(effect, num_frames, x).repeat(x.shape[0] // num_frames).view(-1, 1, 1, 1) \
            if torch.is_tensor(effect) else float(effect)
        return x * (1 - e) + out * e


class MotionBlock(nn.Module):
    def __init__(self, dim: int, count: int, config: MotionModuleConfig, ops=TORCH_OPS):
        super().__init__()
        self.motion_modules = nn.ModuleList([MotionModule(dim, config, ops) for _ in range(count)])


class MotionModel(nn.Module):
    """All motion modules of one file, keyed exactly like the original AnimateDiff layout."""

    def __init__(self, config: MotionModuleConfig, ops=TORCH_OPS):
        super().__init__()
        self.config = config
        self.down_blocks = nn.ModuleList([MotionBlock(c, config.down_modules, config, ops)
                                          for c in config.down_channels])
        self.mid_block = MotionBlock(config.down_channels[-1], 1, config, ops) if config.has_mid else None
        self.up_blocks = nn.ModuleList([MotionBlock(c, config.up_modules, config, ops) for c in config.up_channels])

    def get_module(self, name: str) -> MotionModule:
        """Module by its key prefix, e.g. "down_blocks.1.motion_modules.0"."""
        return self.get_submodule(name)

    def named_motion_modules(self) -> list[tuple[str, MotionModule]]:
        return [(name, self.get_module(name)) for name, _ in self.config.module_names()]

    def set_pe_length(self, length: int) -> None:
        """Replace every encoding table by one of `length` positions interpolated from the current one."""
        for _, module in self.named_motion_modules():
            for attn in module.temporal_transformer.transformer_blocks[0].attention_blocks:
                attn.pos_encoder.pe = stretch_pe(attn.pos_encoder.pe, length)


def stretch_pe(pe: torch.Tensor, length: int) -> torch.Tensor:
    """Linearly interpolate a (1, L, C) table to (1, length, C) (position-encoding stretch)."""
    if pe.shape[1] == length:
        return pe
    return F.interpolate(pe.transpose(1, 2).float(), size=length, mode="linear",
                         align_corners=True).transpose(1, 2).to(pe.dtype)


def _per_frame(value: torch.Tensor, num_frames: int, like: torch.Tensor) -> torch.Tensor:
    value = value.to(device=like.device, dtype=like.dtype).flatten()
    if value.numel() == 1:
        return value.expand(num_frames)
    if value.numel() != num_frames:
        raise ValueError(f"per-frame value has {value.numel()} entries, expected 1 or {num_frames} (frames)")
    return value
