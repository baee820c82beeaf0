"""Training clips from videos: N-frame clips taken every `stride` frames, resized and center-cropped.

A video is a tensor (frames, C, H, W) or, as ComfyUI's IMAGE, (frames, H, W, C); values are kept as they are
(uint8 becomes float in [0, 1]). A clip of `frames` frames with frame stride s spans `(frames - 1) * s + 1`
source frames. Clips are either enumerated (every `hop` frames, deterministic) or sampled uniformly over all
possible (video, start) pairs with a seeded generator. Captions are one per video or one for all; reading them
(e.g. a `.txt` beside each video) is the caller's business.
"""
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

DEFAULT_FRAMES = 16


@dataclass(frozen=True)
class ClipRef:
    video: int  # index in the list of videos
    start: int  # first source frame


def frames_first(video: torch.Tensor, name: str = "video", channels_last: bool | None = None) -> torch.Tensor:
    """(F, C, H, W) float from (F, C, H, W) or (F, H, W, C) with 1, 3 or 4 channels. `channels_last=None` guesses:
    channels-last when only the last dimension has 1, 3 or 4 entries (ComfyUI IMAGE batches are channels-last);
    pass it explicitly for frames that small."""
    if video.ndim != 4:
        raise ValueError(f"{name}: got shape {list(video.shape)}; expected (frames, C, H, W) or (frames, H, W, C).")
    if channels_last is None:
        channels_last = video.shape[-1] in (1, 3, 4) and video.shape[1] not in (1, 3, 4)
    if video.shape[-1 if channels_last else 1] not in (1, 3, 4):
        raise ValueError(f"{name}: got shape {list(video.shape)}; expected 1, 3 or 4 channels in dimension 1 "
                         "(frames, C, H, W) or in the last dimension (frames, H, W, C).")
    if channels_last:
        video = video.permute(0, 3, 1, 2)
    if video.dtype == torch.uint8:
        return video.float() / 255.0
    return video if video.is_floating_point() else video.float()


def clip_span(frames: int, stride: int) -> int:
    """Source frames covered by one clip."""
    if frames < 1 or stride < 1:
        raise ValueError(f"clip frames {frames} and frame stride {stride}; expected both >= 1.")
    return (frames - 1) * stride + 1


def plan_clips(lengths: Sequence[int], frames: int = DEFAULT_FRAMES, stride: int = 1, hop: int | None = None,
               samples: int | None = None, generator: torch.Generator | None = None) -> list[ClipRef]:
    """Clips of videos with these frame counts. Enumerated: starts 0, hop, 2*hop, ... (hop defaults to the span:
    non-overlapping clips). With `samples`: that many clips drawn uniformly (with replacement) from every possible
    start of every video, using `generator`. Videos shorter than one clip give none."""
    span = clip_span(frames, stride)
    starts = [max(0, n - span + 1) for n in lengths]  # possible starts per video
    if sum(starts) == 0:
        raise ValueError(f"videos: none has the {span} frames one clip of {frames} frames at stride {stride} needs "
                         f"(longest: {max(lengths, default=0)} frames); lower the frames or the stride.")
    if samples is None:
        hop = span if hop is None else hop
        if hop < 1:
            raise ValueError(f"clip hop {hop}; expected >= 1.")
        return [ClipRef(v, s) for v, n in enumerate(starts) for s in range(0, n, hop)]
    flat = torch.randint(0, sum(starts), (samples,), generator=generator).tolist()
    return [_locate(i, starts) for i in flat]


def _locate(i: int, starts: list[int]) -> ClipRef:
    for video, n in enumerate(starts):
        if i < n:
            return ClipRef(video, i)
        i -= n
    raise IndexError(i)


def take_clip(video: torch.Tensor, ref: ClipRef, frames: int = DEFAULT_FRAMES, stride: int = 1) -> torch.Tensor:
    """The clip's frames (frames, C, H, W) of a (frames-first) video."""
    stop = ref.start + clip_span(frames, stride)
    if ref.start < 0 or stop > video.shape[0]:
        raise ValueError(f"clip at frame {ref.start} needs frames {ref.start}..{stop - 1}, but video {ref.video} "
                         f"has {video.shape[0]} frames.")
    return video[ref.start:stop:stride]


def resize_center_crop(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Scale (F, C, H, W) so it covers height x width (bilinear, antialiased), then crop the center."""
    h, w = frames.shape[-2:]
    scale = max(height / h, width / w)
    size = (max(height, round(h * scale)), max(width, round(w * scale)))
    if size != (h, w):
        frames = F.interpolate(frames.float(), size=size, mode="bilinear", antialias=True, align_corners=False)
    top, left = (size[0] - height) // 2, (size[1] - width) // 2
    return frames[..., top:top + height, left:left + width]


def captions_per_video(captions: Sequence[str], count: int) -> list[str]:
    """One caption per video, from one per video or one for all."""
    if len(captions) == 1:
        return list(captions) * count
    if len(captions) != count:
        raise ValueError(f"captions: got {len(captions)} for {count} videos; expected one per video or one for all.")
    return list(captions)


def iter_training_clips(videos: Sequence[torch.Tensor], captions: Sequence[str], height: int, width: int,
                        frames: int = DEFAULT_FRAMES, stride: int = 1, hop: int | None = None,
                        samples: int | None = None, seed: int = 0,
                        channels_last: bool | None = None) -> Iterator[tuple[torch.Tensor, str, ClipRef]]:
    """(clip (frames, C, height, width), caption, ClipRef) for every planned clip, one at a time (so the caller can
    encode each and keep only latents)."""
    videos = [frames_first(v, f"video {i}", channels_last) for i, v in enumerate(videos)]
    per_video = captions_per_video(captions, len(videos))
    generator = torch.Generator().manual_seed(seed)
    for ref in plan_clips([v.shape[0] for v in videos], frames, stride, hop, samples, generator):
        clip = take_clip(videos[ref.video], ref, frames, stride)
        yield resize_center_crop(clip, height, width), per_video[ref.video], ref
