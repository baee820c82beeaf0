"""Training clips: layouts, clip planning (enumerated and seeded), frame stride, resize + center crop, captions."""
import pytest
import torch

from animatelcm_core.video_clips import ClipRef, clip_span, frames_first, iter_training_clips, plan_clips, \
    resize_center_crop, take_clip


def numbered_video(frames: int, h: int = 6, w: int = 10, channels_last: bool = False) -> torch.Tensor:
    """Every pixel of frame i holds the value i."""
    video = torch.arange(frames, dtype=torch.float32).view(frames, 1, 1, 1).expand(frames, 3, h, w).clone()
    return video.permute(0, 2, 3, 1).contiguous() if channels_last else video


def test_layouts_and_dtypes():
    image_batch = numbered_video(5, channels_last=True)  # ComfyUI IMAGE: (frames, H, W, C)
    assert torch.equal(frames_first(image_batch), numbered_video(5))
    assert torch.equal(frames_first(numbered_video(5)), numbered_video(5))
    u8 = torch.full((2, 8, 8, 3), 255, dtype=torch.uint8)
    assert frames_first(u8).dtype == torch.float32 and frames_first(u8).shape == (2, 3, 8, 8)
    assert float(frames_first(u8).max()) == 1.0
    ambiguous = torch.zeros(2, 4, 4, 3)  # 4 channels of 4x3 or 3 channels of 4x4: guessed channels-first
    assert frames_first(ambiguous).shape == (2, 4, 4, 3)
    assert frames_first(ambiguous, channels_last=True).shape == (2, 3, 4, 4)
    with pytest.raises(ValueError, match=r"video 2: got shape \[4, 5, 6\]"):
        frames_first(torch.zeros(4, 5, 6), "video 2")
    with pytest.raises(ValueError, match="expected 1, 3 or 4 channels"):
        frames_first(torch.zeros(4, 7, 6, 5))


def test_enumerated_clips_with_stride_and_hop():
    assert clip_span(16, 1) == 16 and clip_span(16, 4) == 61
    assert plan_clips([40, 15, 16], frames=16) == [ClipRef(0, 0), ClipRef(0, 16), ClipRef(2, 0)]
    assert plan_clips([20], frames=4, stride=2, hop=5) == [ClipRef(0, s) for s in (0, 5, 10)]
    clip = take_clip(numbered_video(20), ClipRef(0, 3), frames=4, stride=2)
    assert clip[:, 0, 0, 0].tolist() == [3.0, 5.0, 7.0, 9.0]
    with pytest.raises(ValueError, match="none has the 61 frames one clip of 16 frames at stride 4 needs"):
        plan_clips([30, 60], frames=16, stride=4)
    with pytest.raises(ValueError, match="clip at frame 10 needs frames 10..13, but video 0 has 12 frames"):
        take_clip(numbered_video(12), ClipRef(0, 10), frames=4)


def test_sampled_clips_are_seeded_and_in_range():
    draw = lambda seed: plan_clips([30, 8, 100], frames=8, samples=200,  # noqa: E731
                                   generator=torch.Generator().manual_seed(seed))
    clips = draw(0)
    assert clips == draw(0) and clips != draw(1) and len(clips) == 200
    limits = {0: 22, 1: 0, 2: 92}  # last possible start of each video
    assert all(0 <= c.start <= limits[c.video] for c in clips)
    assert {c.video for c in clips} == {0, 1, 2}


def test_resize_and_center_crop():
    video = torch.rand(3, 3, 6, 10)
    crop = resize_center_crop(video, 6, 6)  # no scaling needed: just the middle columns
    assert torch.equal(crop, video[..., 2:8])
    wide = resize_center_crop(torch.rand(2, 3, 12, 20), 6, 6)  # scale to 6x10, then crop
    assert wide.shape == (2, 3, 6, 6)
    flat = resize_center_crop(torch.full((2, 3, 30, 40), 0.25), 16, 8)  # antialiased downscale keeps a constant
    assert flat.shape == (2, 3, 16, 8) and torch.allclose(flat, torch.full_like(flat, 0.25))
    up = resize_center_crop(torch.full((1, 3, 4, 4), 0.5), 9, 7)
    assert up.shape == (1, 3, 9, 7) and torch.allclose(up, torch.full_like(up, 0.5))


def test_training_clips_with_captions():
    videos = [numbered_video(10, channels_last=True), numbered_video(4, channels_last=True)]
    out = list(iter_training_clips(videos, ["a fox", "a cat"], 4, 4, frames=3, stride=2))
    assert [(caption, ref) for _, caption, ref in out] == [("a fox", ClipRef(0, 0)), ("a fox", ClipRef(0, 5))]
    assert all(clip.shape == (3, 3, 4, 4) for clip, _, _ in out)
    assert out[1][0][:, 0, 0, 0].tolist() == [5.0, 7.0, 9.0]
    one_for_all = list(iter_training_clips(videos, ["pan left"], 4, 4, frames=2, samples=5, seed=7))
    assert len(one_for_all) == 5 and {caption for _, caption, _ in one_for_all} == {"pan left"}
    with pytest.raises(ValueError, match="captions: got 3 for 2 videos"):
        list(iter_training_clips(videos, ["a", "b", "c"], 4, 4))
