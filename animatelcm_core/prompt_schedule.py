"""Prompt travel and keyframed values: parse schedule text, resolve frame indices, interpolate per frame.

Schedule text, one or more entries per line, entries separated by commas (a trailing comma is allowed, blank lines
are ignored, the whole text may be wrapped in one pair of braces as a pasted JSON object):

    "0": "a bud", "24": "a blooming rose"        JSON-like: key and value separated by ':'
    0 = "a bud"                                  pythonic: separated by '='  (':' and '=' are interchangeable)

Keys are bare or quoted. Prompts are quoted with '"' or "'"; inside, a backslash escapes the quote character and a
backslash (\\" -> ", \\\\ -> \\); any other backslash sequence is kept as written, so ComfyUI's \\( still works.
Commas, parentheses and weights like (word:1.2) inside a prompt are left untouched.

Frame indices: an integer i in [0, N) names frame i; a negative integer in [-N, -1] counts from the end (-1 is the
last frame); a decimal fraction f in [0, 1) names frame floor(f * N), computed exactly (0.5 of 48 frames is 24).
Every problem raises PromptScheduleError before any work is done.
"""
from __future__ import annotations

import bisect
import math
import numbers
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Sequence

import torch

from .errors import PromptScheduleError

BLEND_METHODS = ("linear", "spherical")
PARALLEL_COS = 0.9995  # slerp falls back to lerp when |cos(angle)| exceeds this (angle within ~1.8 deg of 0 or 180)

_QUOTED = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\''
_ENTRY = re.compile(rf'\s*(?P<key>{_QUOTED}|[^\s:=,"\']+)\s*[:=]\s*(?P<value>{_QUOTED}|[^,"\']+?)\s*(?:,|\Z)')
_INT = re.compile(r"[-+]?\d+\Z")
_FRACTION = re.compile(r"\+?(?:\d+\.\d*|\.\d+)\Z")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\Z")
_EXAMPLE = 'write entries like "0": "a bud", "24": "a rose"  or  0 = "a bud"'


class _Reason(Exception):
    """Internal: why one entry is invalid; turned into a PromptScheduleError naming the line."""


@dataclass(frozen=True)
class ScheduleEntry:
    """One parsed keyframe: the key as written, its index (int or exact Fraction), its value and source line."""

    key: str
    index: int | Fraction
    value: object
    line: int
    text: str


# ---------------------------------------------------------------- parsing

def _unquote(token: str) -> str:
    """The text of a quoted token (escapes of the quote and backslash resolved); a bare token unchanged."""
    if token[:1] not in ("'", '"'):
        return token
    quote, body = token[0], token[1:-1]
    return re.sub(r"\\(.)", lambda m: m.group(1) if m.group(1) in (quote, "\\") else m.group(0), body)


def _parse_index(token: str) -> int | Fraction:
    """An integer frame index or an exact fraction in [0, 1); raise _Reason otherwise."""
    text = _unquote(token).strip()
    if _INT.match(text):
        return int(text)
    if _FRACTION.match(text):
        value = Fraction(text)
        if value < 1:
            return value
        raise _Reason(f"frame index {text!r} is a fraction outside [0, 1)")
    raise _Reason(f"{text!r} is not a frame index (an integer, negative from the end, or a fraction in [0, 1))")


def _prompt_value(token: str) -> str:
    """A prompt must be a quoted string."""
    if token[:1] not in ("'", '"'):
        raise _Reason(f"the prompt {token!r} must be in quotes")
    return _unquote(token)


def _number_value(token: str) -> float:
    """A finite number, bare or quoted."""
    text = _unquote(token).strip()
    if not _NUMBER.match(text):
        raise _Reason(f"the value {text!r} is not a number")
    value = float(text)
    if not math.isfinite(value):
        raise _Reason(f"the value {text!r} is not finite")
    return value


def _blank_braces(text: str) -> str:
    """Replace one pair of braces wrapping the whole text with spaces (line numbers are kept)."""
    stripped = text.strip()
    if len(stripped) < 2 or stripped[0] != "{" or stripped[-1] != "}":
        return text
    start, end = text.index("{"), text.rindex("}")
    return text[:start] + " " + text[start + 1:end] + " " + text[end + 1:]


def _parse_line(line: str, number: int, original: str, value_of: Callable[[str], object],
                what: str) -> list[ScheduleEntry]:
    """All entries on one line; raise PromptScheduleError naming the line if any part does not parse."""
    entries, pos = [], 0
    try:
        while line[pos:].strip():
            match = _ENTRY.match(line, pos)
            if match is None:
                raise _Reason(f"cannot parse {line[pos:].strip()!r}; {_EXAMPLE}")
            key = match.group("key")
            entries.append(ScheduleEntry(_unquote(key).strip(), _parse_index(key),
                                         value_of(match.group("value")), number, original.strip()))
            pos = match.end()
    except _Reason as reason:
        raise PromptScheduleError(f"{what} line {number}: {reason}: {original.strip()!r}") from None
    return entries


def _parse(text: str, value_of: Callable[[str], object], what: str) -> list[ScheduleEntry]:
    """Entries of every line, in order of appearance."""
    if not isinstance(text, str):
        raise PromptScheduleError(f"{what} must be text, got {type(text).__name__}")
    originals = text.split("\n")
    lines = _blank_braces(text).split("\n")
    entries: list[ScheduleEntry] = []
    for number, (line, original) in enumerate(zip(lines, originals), start=1):
        entries += _parse_line(line.rstrip("\r"), number, original, value_of, what)
    return entries


def parse_prompt_schedule(text: str, what: str = "prompt schedule") -> list[ScheduleEntry]:
    """Entries whose values are prompt strings (empty text gives an empty list; resolving it is the error)."""
    return _parse(text, _prompt_value, what)


def parse_value_schedule(text: str, what: str = "value schedule") -> list[ScheduleEntry]:
    """Entries whose values are floats, bare or quoted: '0: 0.0, 8: 1.0', '"0": "0.5"', '0 = 1.0'."""
    return _parse(text, _number_value, what)


# ---------------------------------------------------------------- resolving

def check_num_frames(num_frames: object, what: str = "prompt schedule") -> int:
    """num_frames as an int; PromptScheduleError unless it is an integer >= 1."""
    if isinstance(num_frames, bool) or not isinstance(num_frames, numbers.Integral):
        raise PromptScheduleError(f"{what}: the number of frames must be an integer, got {num_frames!r}")
    if num_frames < 1:
        raise PromptScheduleError(f"{what}: the number of frames must be at least 1, got {num_frames}")
    return int(num_frames)


def resolve_index(index: int | Fraction, num_frames: int) -> int:
    """Frame of an index: i in [0, N) as is, i in [-N, -1] as N + i, a fraction f in [0, 1) as floor(f * N)."""
    if isinstance(index, Fraction):
        if not 0 <= index < 1:
            raise PromptScheduleError(f"fraction {index} is outside [0, 1)")
        return math.floor(index * num_frames)
    if not -num_frames <= index < num_frames:
        raise PromptScheduleError(
            f"frame index {index} is out of range for {num_frames} frames: valid indices are 0..{num_frames - 1}, "
            f"-{num_frames}..-1 from the end, or a fraction in [0, 1)")
    return index % num_frames


def resolve_schedule(entries: Sequence[ScheduleEntry], num_frames: int,
                     what: str = "prompt schedule") -> dict[int, object]:
    """{frame: value} sorted by frame; errors for a bad frame count, no entries, out-of-range or duplicate frames."""
    num_frames = check_num_frames(num_frames, what)
    if not entries:
        raise PromptScheduleError(f"{what} is empty; {_EXAMPLE}")
    owner: dict[int, ScheduleEntry] = {}
    for entry in entries:
        try:
            frame = resolve_index(entry.index, num_frames)
        except PromptScheduleError as err:
            raise PromptScheduleError(f"{what} line {entry.line}: {err}: {entry.text!r}") from None
        if frame in owner:
            first = owner[frame]
            raise PromptScheduleError(
                f"{what}: keys {first.key!r} (line {first.line}) and {entry.key!r} (line {entry.line}) both name "
                f"frame {frame} of {num_frames}; keep one of them")
        owner[frame] = entry
    return {frame: owner[frame].value for frame in sorted(owner)}


def join_prompt(pre: str, prompt: str, app: str) -> str:
    """pre, prompt and app joined with ', ', empty parts skipped.

    The prompt is stripped of surrounding whitespace; pre and app also of surrounding commas, so "best quality, "
    does not leave a doubled comma. Without pre and app the result is the stripped prompt.
    """
    parts = [pre.strip().strip(",").strip(), prompt.strip(), app.strip().strip(",").strip()]
    return ", ".join(part for part in parts if part)


def prompt_keyframes(text: str, num_frames: int, pre: str = "", app: str = "",
                     what: str = "prompt schedule") -> dict[int, str]:
    """Parse and resolve a prompt schedule: {frame: join_prompt(pre, prompt, app)} sorted by frame."""
    check_num_frames(num_frames, what)
    keyframes = resolve_schedule(parse_prompt_schedule(text, what), num_frames, what)
    return {frame: join_prompt(pre, prompt, app) for frame, prompt in keyframes.items()}


# ---------------------------------------------------------------- interpolation weights

def _check_keyframes(frames: Sequence[int], num_frames: int) -> list[int]:
    """Keyframe positions as a list; they must be strictly increasing frames of the video."""
    frames = [int(f) for f in frames]
    num_frames = check_num_frames(num_frames)
    if not frames:
        raise PromptScheduleError("no keyframes to interpolate")
    if any(b <= a for a, b in zip(frames, frames[1:])) or frames[0] < 0 or frames[-1] >= num_frames:
        raise PromptScheduleError(f"keyframes {frames} must be strictly increasing frames in 0..{num_frames - 1}")
    return frames


def frame_pairs(frames: Sequence[int], num_frames: int) -> list[tuple[int, int, float]]:
    """Per frame i: (ka, kb, t), positions in `frames` of the keyframes around i and the weight of kb.

    Between keyframes a < b: t = (i - a) / (b - a) in (0, 1). On a keyframe, before the first and after the last:
    (k, k, 0.0) for that keyframe k, so the frame holds the keyframe exactly.
    """
    frames = _check_keyframes(frames, num_frames)
    pairs = []
    for i in range(num_frames):
        kb = bisect.bisect_left(frames, i)
        if kb == len(frames) or frames[kb] == i or kb == 0:
            k = min(kb, len(frames) - 1)
            pairs.append((k, k, 0.0))
        else:
            a, b = frames[kb - 1], frames[kb]
            pairs.append((kb - 1, kb, (i - a) / (b - a)))
    return pairs


def weight_matrix(frames: Sequence[int], num_frames: int) -> torch.Tensor:
    """Dense float64 (num_frames, K) matrix W of the linear blend: W @ E gives per-frame values (rows sum to 1).

    For exact keyframe rows use blend_keyframes, which copies keyframes instead of multiplying.
    """
    pairs = frame_pairs(frames, num_frames)
    weights = torch.zeros(num_frames, len(frames), dtype=torch.float64)
    for i, (ka, kb, t) in enumerate(pairs):
        weights[i, ka] += 1.0 - t
        weights[i, kb] += t
    return weights


# ---------------------------------------------------------------- blending tensors

def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; everything else blends in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Linear blend (1 - t) * a + t * b, elementwise (torch.lerp)."""
    return torch.lerp(a, b, t if isinstance(t, torch.Tensor) else torch.tensor(t, dtype=a.dtype, device=a.device))


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Spherical blend of the vectors along the last dim; t broadcasts against a[..., :1].

    Directions follow the great circle: sin((1-t)W)/sin(W) * a/|a| + sin(tW)/sin(W) * b/|b| with
    W = arccos(<a,b> / (|a||b|)); the magnitude is interpolated linearly, (1-t)|a| + t|b|. For vectors of equal
    length this is the textbook sin((1-t)W)/sin(W) a + sin(tW)/sin(W) b. Where |cos W| > PARALLEL_COS (nearly
    parallel or opposite, where the great circle is undefined or unstable) or a vector is zero, it falls back to lerp.
    """
    t = t if isinstance(t, torch.Tensor) else torch.tensor(t, dtype=a.dtype, device=a.device)
    norm_a, norm_b = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    tiny = torch.finfo(a.dtype).tiny
    unit_a, unit_b = a / norm_a.clamp_min(tiny), b / norm_b.clamp_min(tiny)
    cos = (unit_a * unit_b).sum(dim=-1, keepdim=True).clamp(-1.0, 1.0)
    fallback = (cos.abs() > PARALLEL_COS) | (norm_a <= tiny) | (norm_b <= tiny)
    omega = torch.arccos(cos)
    sin_omega = torch.where(fallback, torch.ones_like(omega), torch.sin(omega))
    direction = (torch.sin((1 - t) * omega) * unit_a + torch.sin(t * omega) * unit_b) / sin_omega
    spherical = direction * ((1 - t) * norm_a + t * norm_b)
    return torch.where(fallback, torch.lerp(a, b, t), spherical)


_BLENDS: dict[str, Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "linear": lerp,
    "spherical": slerp,
}


def _blend_fn(method: str, stacked: torch.Tensor) -> Callable:
    """The blend function for method; PromptScheduleError for an unknown method or vectors missing for slerp."""
    if method not in _BLENDS:
        raise PromptScheduleError(f"unknown interpolation {method!r}; allowed: {', '.join(BLEND_METHODS)}")
    if method == "spherical" and stacked.dim() < 2:
        raise PromptScheduleError(f"spherical interpolation needs vectors, got shape {tuple(stacked.shape)}")
    return _BLENDS[method]


def blend_keyframes(stacked: torch.Tensor, frames: Sequence[int], num_frames: int,
                    method: str = "linear") -> torch.Tensor:
    """(K, ...) keyframe tensors (K = len(frames)) -> (num_frames, ...) per-frame tensors, same dtype and device.

    Keyframe frames and held frames are exact copies of their keyframe (bitwise); only frames strictly between two
    keyframes are blended, in float32 (float64 for float64 input) with frame_pairs' weight t.
    """
    blend = _blend_fn(method, stacked)
    if stacked.dim() < 1 or stacked.shape[0] != len(frames):
        raise PromptScheduleError(f"{len(frames)} keyframes but a stack of shape {tuple(stacked.shape)}")
    pairs = frame_pairs(frames, num_frames)
    index_a = torch.tensor([p[0] for p in pairs], dtype=torch.long, device=stacked.device)
    out = stacked.index_select(0, index_a)
    between = [i for i, p in enumerate(pairs) if p[2] > 0.0]
    if between:
        dtype = _compute_dtype(stacked.dtype)
        rows = torch.tensor(between, dtype=torch.long, device=stacked.device)
        a = stacked.index_select(0, index_a[rows]).to(dtype)
        b = stacked.index_select(0, torch.tensor([pairs[i][1] for i in between], device=stacked.device)).to(dtype)
        t = torch.tensor([pairs[i][2] for i in between], dtype=dtype, device=stacked.device)
        out[rows] = blend(a, b, t.view(-1, *[1] * (stacked.dim() - 1))).to(stacked.dtype)
    return out


def stack_keyframes(tensors: Sequence[torch.Tensor], frames: Sequence[int] | None = None,
                    what: str = "embedding") -> torch.Tensor:
    """Concatenate per-keyframe single-item batches (1, ...) into (K, ...); all shapes must be equal.

    Prompts of different token lengths (a prompt over 75 tokens takes another 77-token chunk) are an error.
    """
    if not tensors:
        raise PromptScheduleError(f"no keyframe {what}s to stack")
    labels = [f"frame {f}" for f in frames] if frames is not None else [f"keyframe {k}" for k in range(len(tensors))]
    for label, tensor in zip(labels, tensors):
        if tensor.dim() < 1 or tensor.shape[0] != 1:
            raise PromptScheduleError(f"the {what} of {label} must be a batch of 1, got shape {tuple(tensor.shape)}")
        if tensor.shape != tensors[0].shape:
            raise PromptScheduleError(
                f"the {what}s of {labels[0]} {tuple(tensors[0].shape)} and {label} {tuple(tensor.shape)} differ in "
                f"shape; prompts of different token lengths (over 75 tokens adds a 77-token chunk) cannot be "
                f"interpolated: shorten the long prompt or lengthen the short ones to the same number of chunks")
    return torch.cat(list(tensors), dim=0)


def match_token_lengths(tensors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Embeddings (1, T_i, D) of prompts of different token lengths, each repeated along the tokens to the least
    common multiple of the T_i, as ComfyUI itself batches conditionings of different lengths: attention over k
    copies of the same keys and values gives the same result, so each prompt means what it meant alone."""
    length = math.lcm(*(t.shape[1] for t in tensors))
    return [t if t.shape[1] == length else t.repeat(1, length // t.shape[1], *[1] * (t.dim() - 2)) for t in tensors]


def value_schedule(text: str, num_frames: int, what: str = "value schedule") -> torch.Tensor:
    """Parse, resolve and linearly interpolate a numeric schedule: a float32 tensor (num_frames,), held at the ends."""
    check_num_frames(num_frames, what)
    return value_schedule_of(parse_value_schedule(text, what), num_frames, what)


def value_schedule_of(entries: Sequence[ScheduleEntry], num_frames: int, what: str = "value schedule") -> torch.Tensor:
    """Already parsed numeric entries, resolved for num_frames and linearly interpolated (float32, held at the ends)."""
    keyframes = resolve_schedule(entries, num_frames, what)
    stacked = torch.tensor(list(keyframes.values()), dtype=torch.float64)
    return blend_keyframes(stacked, list(keyframes), num_frames, "linear").float()
