"""Keyframed numbers (one value or a per-frame schedule) and prompts of different token lengths."""
import numpy as np
import pytest
import torch

from animatelcm_core.errors import PromptScheduleError
from animatelcm_core.keyframes import number_or_schedule, per_frame_values
from animatelcm_core.prompt_schedule import match_token_lengths


def test_a_number_is_the_same_for_every_frame():
    assert number_or_schedule(" 0.75 ") == 0.75 and per_frame_values(number_or_schedule("1"), 16) == 1.0


def test_a_schedule_is_resolved_per_video_length():
    parsed = number_or_schedule("0: 0.0, -1: 1.0, 0.5: 1.0", "effect")
    assert per_frame_values(parsed, 5).tolist() == [0.0, 0.5, 1.0, 1.0, 1.0]  # 0.5 of 5 frames is frame 2
    assert per_frame_values(parsed, 9).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("text,message", [("fast", "effect line 1"), ("0: 1.0, 0: 2.0", None), ("", None)])
def test_bad_values(text, message):
    if message is not None:
        with pytest.raises(PromptScheduleError, match=message):
            number_or_schedule(text, "effect")
    else:
        with pytest.raises(PromptScheduleError):
            per_frame_values(number_or_schedule(text, "effect"), 8, "effect")


def _attention(q, k, v):
    """Softmax attention in NumPy (float64), one head."""
    scores = q @ k.T / np.sqrt(q.shape[-1])
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    return (weights / weights.sum(-1, keepdims=True)) @ v


def test_token_lengths_matched_by_repetition_keep_attention_unchanged():
    """A 77-token and a 154-token prompt: the short one repeated to 154 tokens attends exactly as before."""
    g = torch.Generator().manual_seed(0)
    short, long = torch.randn(1, 77, 16, generator=g), torch.randn(1, 154, 16, generator=g)
    a, b = match_token_lengths([short, long])
    assert a.shape == b.shape == (1, 154, 16) and torch.equal(b, long) and torch.equal(a[:, 77:], short)
    q = np.random.default_rng(1).standard_normal((5, 16))
    before = _attention(q, short[0].double().numpy(), short[0].double().numpy())
    after = _attention(q, a[0].double().numpy(), a[0].double().numpy())
    np.testing.assert_allclose(after, before, rtol=1e-12, atol=1e-12)
    assert match_token_lengths([short, short])[0] is short
