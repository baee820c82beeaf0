"""Initial noise for a frame batch from a seed: how the seed becomes per-frame noise (seed_gen) and which noise
pattern the frames get (noise_type), the options AnimateDiff workflows use (ComfyUI-AnimateDiff-Evolved's sample
settings).

seed_gen
- "comfy": one generator seeded with the seed draws the whole (frames + batch_offset)-frame batch at once, the
  first batch_offset frames dropped: ComfyUI's own noise for batch_offset 0.
- "auto1111": frame i gets its own generator seeded with seed + batch_offset + i (AUTOMATIC1111's batch seeds).
- "[gpu]" variants draw on the given (accelerator) device instead of the CPU; the result is moved to the CPU.

noise_type
- "default": the seed_gen noise. "empty": zeros. "constant": every frame gets the same noise frame (comfy: frame
  batch_offset of one draw; auto1111: the frame of seed + batch_offset).
- "repeated_context": the first `length` frames repeated over the video (length of the context windows).
- "FreeNoise": the noise rescheduled as FreeNoise (Qiu et al., ICLR 2024, eq. 7) over the static windows of the
  context length and overlap, shuffled with the same seed (freenoise.reschedule_static).
The last two need context windows; without them (or with a video no longer than one window) the noise is left as is.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import torch

from .errors import NoiseInitError
from .freenoise import reschedule_static

NOISE_TYPES = ("default", "constant", "empty", "repeated_context", "FreeNoise")
SEED_GENS = ("comfy", "comfy [gpu]", "auto1111", "auto1111 [gpu]")
SEED_MIN, SEED_MAX = -(1 << 63), (1 << 64) - 1  # what torch.Generator.manual_seed accepts


@dataclass(frozen=True)
class NoiseSettings:
    noise_type: str = "default"
    seed_gen: str = "comfy"
    batch_offset: int = 0
    seed_offset: int = 0
    seed_override: int | None = None

    def __post_init__(self):
        if self.noise_type not in NOISE_TYPES:
            raise NoiseInitError(f"Unknown noise_type '{self.noise_type}'; expected one of {', '.join(NOISE_TYPES)}.")
        if self.seed_gen not in SEED_GENS:
            raise NoiseInitError(f"Unknown seed_gen '{self.seed_gen}'; expected one of {', '.join(SEED_GENS)}.")
        _check_int("batch_offset", self.batch_offset, 0, None)
        _check_int("seed_offset", self.seed_offset, None, None)
        if self.seed_override is not None:
            _check_int("seed_override", self.seed_override, SEED_MIN, SEED_MAX)

    @property
    def changes_noise(self) -> bool:
        """Whether the sampler's own noise (comfy, seed, no offsets) is replaced."""
        return self != NoiseSettings()

    @property
    def on_gpu(self) -> bool:
        return self.seed_gen.endswith("[gpu]")

    def seed(self, sampler_seed: int | None) -> int:
        """The seed noise is drawn from: seed_override (else the sampler's) plus seed_offset."""
        seed = (self.seed_override if self.seed_override is not None else int(sampler_seed or 0)) + self.seed_offset
        if not SEED_MIN <= seed <= SEED_MAX:
            raise NoiseInitError(f"The noise seed (seed {sampler_seed} or seed_override {self.seed_override}, plus "
                                 f"seed_offset {self.seed_offset}) is {seed}, outside [{SEED_MIN}, {SEED_MAX}].")
        return seed


def make_noise(settings: NoiseSettings, sampler_seed: int | None, shape: tuple[int, ...], dtype=torch.float32,
               device="cpu", window: tuple[int, int] | None = None) -> torch.Tensor:
    """The initial noise (on the CPU) for a latent of `shape` (frames first). `device` draws the "[gpu]" seed_gens;
    `window` = (context length, overlap) of the context windows, for repeated_context and FreeNoise."""
    if settings.noise_type == "empty":
        return torch.zeros(shape, dtype=dtype)
    seed = settings.seed(sampler_seed)
    device = device if settings.on_gpu else "cpu"
    frame = (1, *shape[1:])
    if settings.seed_gen.startswith("auto1111"):
        seeds = [seed + settings.batch_offset] * (1 if settings.noise_type == "constant" else shape[0])
        if settings.noise_type != "constant":
            seeds = [s + i for i, s in enumerate(seeds)]
        noise = torch.cat([_randn(frame, s, dtype, device) for s in seeds])
    else:
        count = 1 if settings.noise_type == "constant" else shape[0]
        noise = _randn((count + settings.batch_offset, *shape[1:]), seed, dtype, device)[settings.batch_offset:]
    if settings.noise_type == "constant":
        return noise.expand(shape).clone()
    return _pattern(settings.noise_type, noise, seed, window)


def _pattern(noise_type: str, noise: torch.Tensor, seed: int, window: tuple[int, int] | None) -> torch.Tensor:
    if window is None or noise_type == "default":
        return noise
    length, overlap = window
    if noise_type == "repeated_context":
        return noise[:length].repeat(-(-noise.shape[0] // length), *([1] * (noise.dim() - 1)))[:noise.shape[0]]
    return reschedule_static(noise, length, overlap, seed)


def _randn(shape, seed: int, dtype, device) -> torch.Tensor:
    generator = torch.Generator(device=device).manual_seed(seed)
    return torch.randn(shape, dtype=dtype, generator=generator, device=device).to("cpu")


def _check_int(name: str, value, low: int | None, high: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or \
            (low is not None and value < low) or (high is not None and value > high):
        bounds = f" in [{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]"
        raise NoiseInitError(f"{name} must be an integer{bounds}, got {value!r}.")
