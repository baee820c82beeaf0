"""Custom CFG (animatelcm_core.custom_cfg): per-frame values, keyframe chains, the keyframe switching rule (worked by
hand from the rule in the module docstring) and the guidance formula (NumPy)."""
import numpy as np
import pytest
import torch

from animatelcm_core.custom_cfg import CFGKeyframe, KeyframeCursor, add_keyframes, guidance, interpolated_keyframes, \
    list_keyframes, parse_cfg_list
from animatelcm_core.errors import PromptScheduleError


def run(starts, guarantees, max_sigma, sigmas):
    cursor = KeyframeCursor(starts, guarantees, max_sigma)
    return [cursor.step(s) for s in sigmas]


@pytest.mark.parametrize("starts,guarantees,max_sigma,sigmas,expected", [
    # a keyframe takes over at the first call at or below its start sigma
    ([14.6, 1.6], [1, 1], 14.6, [14.6, 8.0, 3.0, 1.6, 1.0, 0.5], [0, 0, 0, 1, 1, 1]),
    # guarantee_steps keeps the first for 3 distinct sigmas although the second started at 10
    ([14.6, 10.0], [3, 1], 14.6, [14.6, 12.0, 9.0, 7.0, 5.0], [0, 0, 0, 1, 1]),
    # keyframes guaranteeing 0 steps pass through within one step; a not-yet-started one stops the search
    ([14.6, 10.0, 8.0, 2.0], [1, 0, 0, 0], 14.6, [14.6, 9.0, 5.0, 1.0], [0, 1, 2, 3]),
    # a repeated sigma (a second model call of the same step) is not a new step
    ([14.6, 5.0], [2, 1], 14.6, [14.6, 14.6, 14.6, 4.0, 3.0], [0, 0, 0, 0, 1]),
    # started before the sampled range (max sigma 5): guarantees nothing, the next keyframe takes over at once
    ([14.6, 6.0, 1.0], [5, 2, 1], 5.0, [5.0, 3.0, 2.0, 0.5], [1, 1, 1, 2]),
    # the first keyframe acts from the start even if it starts later
    ([3.0, 1.0], [1, 1], 14.6, [14.6, 4.0, 2.0, 0.9], [0, 0, 0, 1]),
])
def test_keyframe_switching_rule(starts, guarantees, max_sigma, sigmas, expected):
    assert run(starts, guarantees, max_sigma, sigmas) == expected


def test_chain_is_sorted_stably():
    a, b, c = CFGKeyframe("1.0", 0.5), CFGKeyframe("2.0", 0.0), CFGKeyframe("3.0", 0.5)
    assert add_keyframes(add_keyframes((), a, b), c) == (b, a, c)


def test_per_frame_values():
    assert CFGKeyframe("7.5").values(16) == 7.5
    values = CFGKeyframe("0: 8.0, 3: 2.0").values(6)
    np.testing.assert_allclose(values.numpy(), [8.0, 6.0, 4.0, 2.0, 2.0, 2.0])
    with pytest.raises(PromptScheduleError, match="out of range for 16 frames"):
        CFGKeyframe("0: 8.0, 20: 4.0").values(16)
    with pytest.raises(PromptScheduleError, match="both name frame 0"):
        CFGKeyframe("0: 8.0, -16: 4.0").values(16)


@pytest.mark.parametrize("cfg,start,guarantee", [("eight", 0.0, 1), ("8.0", 1.5, 1), ("8.0", 0.0, -1),
                                                 ("0: 8, x: 4", 0.0, 1), ("nan", 0.0, 1)])
def test_bad_keyframes_are_refused(cfg, start, guarantee):
    with pytest.raises(PromptScheduleError):
        add_keyframes((), CFGKeyframe(cfg, start, guarantee))


def test_interpolated_keyframes():
    keyframes = interpolated_keyframes(0.1, 0.9, 8.0, 2.0, "ease_out", 5)
    u = np.linspace(0, 1, 5)
    np.testing.assert_allclose([float(k.cfg) for k in keyframes], 8.0 - 6.0 * (1 - (1 - u) ** 2), rtol=1e-6)
    np.testing.assert_allclose([k.start_percent for k in keyframes], np.linspace(0.1, 0.9, 5), rtol=1e-6)
    assert [k.guarantee_steps for k in keyframes] == [1, 0, 0, 0, 0]


def test_list_keyframes():
    keyframes = list_keyframes(parse_cfg_list("8, 7.5 ,7"), 0.0, 0.5)
    assert [(float(k.cfg), k.guarantee_steps) for k in keyframes] == [(8.0, 1), (7.5, 0), (7.0, 0)]
    np.testing.assert_allclose([k.start_percent for k in keyframes], [0.0, 0.25, 0.5])
    with pytest.raises(PromptScheduleError, match="numbers separated by commas"):
        parse_cfg_list("8, x")


def test_guidance_per_frame():
    g = torch.Generator().manual_seed(0)
    cond, uncond = torch.randn(4, 2, 3, 3, generator=g), torch.randn(4, 2, 3, 3, generator=g)
    cfg = torch.tensor([1.0, 2.0, 4.0, 8.0])
    expected = uncond.numpy() + (cond.numpy() - uncond.numpy()) * cfg.numpy()[:, None, None, None]
    np.testing.assert_allclose(guidance(cond, uncond, cfg).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(guidance(cond, uncond, 3.0).numpy(), uncond.numpy() + 3 * (cond - uncond).numpy(),
                               rtol=1e-6)
    with pytest.raises(PromptScheduleError, match="3 frames cannot guide a batch of 4"):
        guidance(cond, uncond, cfg[:3])
