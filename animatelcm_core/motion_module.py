"""The AnimateDiff temporal transformer ("motion module") and the container that holds all of a file's modules.

Forward math: spec formats.md §2.4. Frames arrive batched as `(b f) c h w`; attention runs over f for every
(batch, pixel) pair, i.e. on `(b h w) f c`. Nothing is stored on a module between calls: the frame count is an
argument of `forward`.

Performance (bench/README.md has the figures): the input is copied once into a contiguous `(b, h*w, f, c)` token
buffer (the across-frames GroupNorm runs on it directly, as a channels-last view), every token-wise layer then runs
on contiguous row blocks of that buffer (`chunk_tokens` bounds their size), and each block's result is written, with
the residual added, straight into the `(b f) c h w` output. Residual adds and the GEGLU gate are done in place on
tensors this module allocated itself, never on the caller's input, and only when autograd does not need the old
values. Layers are always called as modules (never `F.linear` on their weights) so host ops that cast or offload
weights keep working.
"""
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn

from .config import MotionModuleConfig
from .multival import resize_spatial
from .positional import sinusoidal_encoding

TORCH_OPS = SimpleNamespace(Linear=nn.Linear, LayerNorm=nn.LayerNorm, GroupNorm=nn.GroupNorm)

# Token-wise layers (everything between the GroupNorm and the output residual) run on blocks of whole sequences;
# `chunk_tokens` is a block's budget in (frames x channels) elements and bounds their peak memory.
# Automatic choice (chunk_tokens=None):
# - CPU: about CPU_BLOCK_TOKENS tokens per block, at most DEFAULT_CHUNK_TOKENS elements, so the widest intermediate
#   (the GEGLU projection, 8x) stays within 32 MiB in fp32, glibc's largest mmap threshold: blocks reuse freed
#   heap memory instead of page-faulting fresh mappings on every call, and stay cache-sized for the elementwise
#   work, while each weight matrix is still packed for a GEMM of ~1k rows (measured: bench/README.md).
# - accelerators: blocks of up to ACCELERATOR_CHUNK_TOKENS elements (few kernel launches), and at most
#   SDPA_BATCH_LIMIT (sequences x heads) per attention call, which keeps every SDPA backend's grid within CUDA's
#   65535 limit on its y/z dimensions.
CPU_BLOCK_TOKENS = 1024
DEFAULT_CHUNK_TOKENS = 1 << 20
ACCELERATOR_CHUNK_TOKENS = 1 << 25
SDPA_BATCH_LIMIT = 1 << 15


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
        """x: (N, F, C) normed tokens, F frames per sequence. `scale` multiplies the keys: a float, per-frame (F,),
        or per sequence and frame (N, F)."""
        n, f, c = x.shape
        x = x + self.pos_encoder.pe[:, :f].to(device=x.device, dtype=x.dtype)
        q, k, v = self.to_q(x), self.to_k(x), self.to_v(x)
        if scale is not None:
            k = k * _key_scale(scale, f, k)
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
        if _needs_grad(value):
            return value * F.gelu(gate)
        # in place on the projection this call allocated: no (n, f, 4c) temporaries; the result is a row-strided
        # view, which the next Linear consumes without a copy (its rows are contiguous)
        return value.mul_(torch.ops.aten.gelu_(gate))


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

    def forward(self, h: torch.Tensor, scale=None, attention=None, views=None) -> torch.Tensor:
        """h: (N, F, C) tokens; pre-norm residual attention blocks, then the GEGLU feed-forward. With `views`
        (animatelcm_core.context_views.ViewPlan) the attention blocks run per view window, fused per frame."""
        if views is None:
            h = self._attend(h, scale, attention)
        else:
            h = views.run(h, lambda sub, frames: self._attend(sub, _frames_of(scale, frames), attention))
        return _residual(h, self.ff(self.ff_norm(h)), True)

    def _attend(self, h: torch.Tensor, scale, attention) -> torch.Tensor:
        owned = False  # `h` is the caller's until the first residual add allocates a fresh tensor
        for norm, attn in zip(self.norms, self.attention_blocks):
            h = _residual(h, attn(norm(h), scale=scale, attention=attention), owned)
            owned = True
        return h


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
                chunk_tokens: int | None = None, views=None) -> torch.Tensor:
        bf, c, height, width = x.shape
        b, f, hw = bf // num_frames, num_frames, height * width
        tokens = self._normed_tokens(x, b, f).view(b * hw, f, c)  # contiguous
        rows = _chunk_rows(b * hw, f, c, chunk_tokens, x.device,
                           self.transformer_blocks[0].attention_blocks[0].heads)
        scale = _row_scale(scale, b, f, height, width, x)
        x_tokens = x.reshape(b, f, c, hw).permute(0, 3, 1, 2)  # (b, hw, f, c) view of the input
        if torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in self.parameters())):
            out = torch.cat([self._tokens_forward(tokens[i:i + rows], _rows(scale, i, i + rows), attention, views)
                             for i in range(0, b * hw, rows)])
            return (x_tokens + out.view(b, hw, f, c)).permute(0, 2, 3, 1).reshape(bf, c, height, width)
        out = torch.empty((bf, c, height, width), dtype=x.dtype, device=x.device)
        out_tokens = out.view(b, f, c, hw).permute(0, 3, 1, 2)
        for start in range(0, b * hw, rows):
            stop = min(start + rows, b * hw)
            y = self._tokens_forward(tokens[start:stop], _rows(scale, start, stop), attention, views)
            row = start
            while row < stop:  # the block's rows, video by video: out = x + y, written in place
                video, pixel = divmod(row, hw)
                n = min(stop - row, hw - pixel)
                torch.add(x_tokens[video, pixel:pixel + n], y[row - start:row - start + n],
                          out=out_tokens[video, pixel:pixel + n])
                row += n
        return out

    def _normed_tokens(self, x, b, f):
        """GroupNorm of x as a contiguous (b, h*w, f, c) token buffer."""
        bf, c, height, width = x.shape
        hw = height * width
        if self.norm_across_frames:  # statistics over (c/32, f, h, w) per video
            # copy once into token order; (b, c, hw, f) is then a channels-last view the norm keeps channels-last
            t = x.reshape(b, f, c, hw).permute(0, 3, 1, 2).contiguous()
            h = self.norm(t.permute(0, 3, 1, 2))
            return h.permute(0, 2, 3, 1).contiguous()  # no copy unless the norm returned another layout
        h = self.norm(x).reshape(b, f, c, hw)  # per frame
        return h.permute(0, 3, 1, 2).contiguous()

    def _tokens_forward(self, t, scale, attention, views=None):
        t = self.proj_in(t)
        for block in self.transformer_blocks:
            t = block(t, scale=scale, attention=attention, views=views)
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
                chunk_tokens: int | None = None, views=None) -> torch.Tensor:
        """x: (B*F, C, H, W) with the F frames of each video contiguous. Returns the same shape.

        effect: blend of input and output, `x*(1-e) + mm(x)*e`; a float, per-frame (F,) or per-pixel (F, H', W')
            tensor (resized to this module's resolution, see multival.resize_spatial); 0 returns x.
        scale: multiplies the attention keys; a float, per-frame (F,) or per-pixel (F, H', W') tensor.
        attention: optional `fn(q, k, v, heads) -> out` on (N, F, C) tensors, to use the host's attention.
        chunk_tokens: token-wise layers run on blocks of at most this many frames x channels elements (whole
            sequences, at least one); None picks a size for the device (see CPU_BLOCK_TOKENS). The result does not
            depend on it beyond float rounding.
        views: view windows (animatelcm_core.context_views.ViewPlan over num_frames): the attention blocks run per
            window of frames (at most views.max_length, which the position encodings must cover), fused per frame.
        x is never modified.
        """
        if x.shape[0] % num_frames:
            raise ValueError(f"batch of {x.shape[0]} is not a multiple of num_frames={num_frames}")
        attended = num_frames if views is None else views.max_length
        if attended > self.max_frames:
            raise ValueError(f"{attended} frames exceed this motion module's {self.max_frames} position encodings; "
                             "use context windows or position-encoding stretch")
        if effect is not None and not torch.is_tensor(effect) and float(effect) == 0.0:
            return x
        out = self.temporal_transformer(x, num_frames, scale=scale, attention=attention, chunk_tokens=chunk_tokens,
                                        views=views)
        if effect is None or (not torch.is_tensor(effect) and float(effect) == 1.0):
            return out
        return torch.lerp(x, out, _effect_weights(effect, num_frames, x))  # x*(1-e) + out*e; x where e == 0


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


def stretch_pe(pe: torch.Tensor, length: int) -> torch.Tensor:
    """Linearly interpolate a (1, L, C) table to (1, length, C) (position-encoding stretch)."""
    if pe.shape[1] == length:
        return pe
    return F.interpolate(pe.transpose(1, 2).float(), size=length, mode="linear",
                         align_corners=True).transpose(1, 2).to(pe.dtype)


def _effect_weights(effect, num_frames: int, x: torch.Tensor):
    """The blend weight for x (B*F, C, H, W): a float, or a (B*F, 1, 1, 1) / (B*F, 1, H, W) tensor."""
    if not torch.is_tensor(effect):
        return float(effect)
    videos = x.shape[0] // num_frames
    if effect.dim() == 3:  # per pixel
        e = _frames_check(resize_spatial(effect.to(x.device), *x.shape[-2:]), num_frames).to(x.dtype)
        return e.repeat(videos, 1, 1).unsqueeze(1)
    return _per_frame(effect, num_frames, x).repeat(videos).view(-1, 1, 1, 1)


def _row_scale(scale, videos: int, num_frames: int, height: int, width: int, x: torch.Tensor):
    """A per-pixel scale (F, H', W') as one row of F frame factors per token sequence, (videos*height*width, F), in
    the token buffer's row order (video-major, then pixel); other scales unchanged."""
    if not torch.is_tensor(scale) or scale.dim() != 3:
        return scale
    s = _frames_check(resize_spatial(scale.to(x.device), height, width), num_frames).to(x.dtype)
    return s.reshape(num_frames, height * width).t().repeat(videos, 1)


def _rows(scale, start: int, stop: int):
    """The rows [start, stop) of a per-row scale; other scales unchanged."""
    return scale[start:stop] if torch.is_tensor(scale) and scale.dim() == 2 else scale


def _key_scale(scale, num_frames: int, k: torch.Tensor):
    """Factor for the keys (N, F, C): float, per frame (1, F, 1) or per row and frame (N, F, 1)."""
    if not torch.is_tensor(scale):
        return scale
    if scale.dim() == 2:
        return scale.to(device=k.device, dtype=k.dtype).unsqueeze(-1)
    return _per_frame(scale, num_frames, k).view(1, num_frames, 1)


def _frames_check(values: torch.Tensor, num_frames: int) -> torch.Tensor:
    if values.shape[0] != num_frames:
        raise ValueError(f"per-pixel value has {values.shape[0]} frames, expected {num_frames} (frames)")
    return values


def _frames_of(scale, frames: list[int]):
    """The key scale of a view window: per-frame (F,) or per row and frame (N, F) tensors cut to its frames."""
    if not torch.is_tensor(scale) or scale.numel() == 1:
        return scale
    return scale[frames] if scale.dim() == 1 else scale[:, frames]


def _per_frame(value: torch.Tensor, num_frames: int, like: torch.Tensor) -> torch.Tensor:
    value = value.to(device=like.device, dtype=like.dtype).flatten()
    if value.numel() == 1:
        return value.expand(num_frames)
    if value.numel() != num_frames:
        raise ValueError(f"per-frame value has {value.numel()} entries, expected 1 or {num_frames} (frames)")
    return value


def _needs_grad(t: torch.Tensor) -> bool:
    return t.requires_grad and torch.is_grad_enabled()


def _residual(h: torch.Tensor, delta: torch.Tensor, owned: bool) -> torch.Tensor:
    """h + delta, in place when h was allocated by this module and autograd does not need it."""
    if owned and not _needs_grad(h) and not _needs_grad(delta):
        return h.add_(delta)
    return h + delta


def _chunk_rows(total: int, num_frames: int, c: int, chunk_tokens: int | None, device: torch.device,
                heads: int) -> int:
    """Rows (sequences) per block, balanced so that no tiny remainder block is left."""
    accelerator = device.type != "cpu"
    if chunk_tokens is not None:
        rows = chunk_tokens // (num_frames * c)
    elif accelerator:
        rows = ACCELERATOR_CHUNK_TOKENS // (num_frames * c)
    else:
        rows = min(CPU_BLOCK_TOKENS // num_frames, DEFAULT_CHUNK_TOKENS // (num_frames * c))
    rows = max(1, rows)
    if accelerator:
        rows = min(rows, max(1, SDPA_BATCH_LIMIT // heads))
    blocks = -(-total // rows)
    return -(-total // blocks)
