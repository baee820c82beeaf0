"""Keyframed motion: the motion module's effect and scale per frame and over sampling.

A keyframe starts at a sampling percent and holds until the next one starts; its effect and scale are each one
number or a per-frame schedule ("0: 0.0, 8: 1.0", interpolated; core: animatelcm_core.keyframes). The active
keyframe and its per-frame values are worked out once per UNet call (one device sync), for the frames that call
holds: the whole video, or one context window of it. The values the motion module gets are the product of the
Apply node's number, its multival (a number, per-frame list or mask: animatelcm_core.multival) and the active
keyframe's value, as AnimateDiff-Evolved combines a model's multival with its keyframe's.
"""
from dataclasses import dataclass
from functools import lru_cache

from ..animatelcm_core.keyframes import check_percent_keyframes, number_or_schedule, per_frame_values
from ..animatelcm_core.multival import combine


@dataclass(frozen=True)
class MotionKeyframe:
    start_percent: float
    effect: str = "1.0"
    scale: str = "1.0"

    def check(self) -> "MotionKeyframe":
        """Parse both values now, so a typo is an error when the graph runs the node, not during sampling."""
        number_or_schedule(self.effect, f"effect of the keyframe at {self.start_percent}")
        number_or_schedule(self.scale, f"scale of the keyframe at {self.start_percent}")
        return self


def add_keyframe(previous: tuple, keyframe: MotionKeyframe) -> tuple:
    """A new chain with `keyframe` added, sorted by start percent; two keyframes at one percent are an error."""
    chain = tuple(previous or ()) + (keyframe.check(),)
    check_percent_keyframes([(k.start_percent, k) for k in chain], "motion keyframes")
    return tuple(sorted(chain, key=lambda k: k.start_percent))


@lru_cache(maxsize=256)
def _values(text: str, total: int, what: str):
    return per_frame_values(number_or_schedule(text, what), total, what)


def keyframe_values(keyframe: MotionKeyframe, total: int) -> tuple:
    """(effect, scale) of `keyframe` for a video of `total` frames: floats or float32 tensors (total,)."""
    return (_values(keyframe.effect, total, f"effect of the keyframe at {keyframe.start_percent}"),
            _values(keyframe.scale, total, f"scale of the keyframe at {keyframe.start_percent}"))


def active_keyframe(keyframes: tuple, start_sigmas: list[float], sigma: float) -> MotionKeyframe:
    """The last keyframe whose start has been reached (sigma at or below its start sigma); the first before that."""
    active = keyframes[0]
    for keyframe, start in zip(keyframes, start_sigmas):
        if sigma <= start:
            active = keyframe
    return active


def select_frames(value, indices: list[int] | None):
    """A per-frame tensor cut to `indices` (a window's frames); numbers and whole-video calls unchanged."""
    if indices is None or not hasattr(value, "shape"):
        return value
    return value[indices]


def motion_values(settings, keyframe: MotionKeyframe | None, total: int) -> tuple:
    """(effect, scale) for a video of `total` frames: number x multival x keyframe value, each a float, a float32
    (total,) or (total, H, W) tensor. Raises if a multival or keyframe does not fit `total` frames."""
    from_keyframe = keyframe_values(keyframe, total) if keyframe is not None else (None, None)
    values = []
    for number, multival, keyed in ((settings.effect, settings.effect_multival, from_keyframe[0]),
                                    (settings.scale, settings.scale_multival, from_keyframe[1])):
        value = number if multival is None else combine(number, multival.resolve(total))
        values.append(value if keyed is None else combine(value, keyed))
    return tuple(values)
