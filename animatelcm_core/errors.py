"""Errors raised by the core. Each message names the file, what was found and what was expected."""


class MotionModelError(ValueError):
    """A file is not a usable motion module, MotionLoRA or image encoder."""


class ContextOptionsError(ValueError):
    """Context-window options that cannot work together."""
