"""Errors raised by the core. Each message names the file, what was found and what was expected."""


class MotionModelError(ValueError):
    """A file is not a usable motion module, MotionLoRA or image encoder."""


class ContextOptionsError(ValueError):
    """Context-window options that cannot work together."""


class TrainingInterrupted(RuntimeError):
    """MotionLoRA training was stopped before its last step; no LoRA was produced."""


class PromptScheduleError(ValueError):
    """A prompt or value schedule that cannot be parsed, or that does not fit the video's frame count."""


class NoiseInitError(ValueError):
    """FreeNoise or FreeInit inputs that cannot work: a window layout, a filter, a shape or a sigma."""
