"""SparseCtrl's frame choices: index lists, spreads, hints inside context windows, the conditioning tensor.

Expected values are worked out by hand from the rules (AnimateDiff v3: hint images on their indexes, mask 1 there,
zeros elsewhere; Advanced-ControlNet's sparse methods: spreads are integer positions of an even spacing from the
first to the last frame, rounded down)."""
import pytest
import torch

from animatelcm_core.sparse_frames import SparseCtrlError, SparseSettings, frame_multipliers, hint_frames, \
    parse_indexes, sparse_condition, window_placement


@pytest.mark.parametrize("text, expected", [("0, 15", (0, 15)), ("", ()), ("  ", ()), ("3", (3,)),
                                            ("0,-1", (0, -1)), ("0; 8 ;16", (0, 8, 16))])
def test_parse_indexes(text, expected):
    assert parse_indexes(text) == expected


@pytest.mark.parametrize("text, message", [("0, x", "'x' is not a whole number"), ("1.5", "'1.5' is not"),
                                           ("0,,3", "'' is not"), ("2, 2", "lists a frame twice")])
def test_parse_indexes_refuses(text, message):
    with pytest.raises(SparseCtrlError, match=message):
        parse_indexes(text)


def test_indexes_resolve_negative_and_check_range():
    assert hint_frames(SparseSettings(indexes=(0, -1)), 2, 16) == [0, 15]
    assert hint_frames(SparseSettings(indexes=(15, 0, 7)), 3, 16) == [15, 0, 7]  # image order kept
    with pytest.raises(SparseCtrlError, match="index 16 is outside the video's 16 frames"):
        hint_frames(SparseSettings(indexes=(0, 16)), 2, 16)
    with pytest.raises(SparseCtrlError, match="index -17 is outside"):
        hint_frames(SparseSettings(indexes=(-17,)), 1, 16)
    with pytest.raises(SparseCtrlError, match="name the same frame twice"):
        hint_frames(SparseSettings(indexes=(15, -1)), 2, 16)
    with pytest.raises(SparseCtrlError, match=r"3 hint image\(s\) but 2 index"):
        hint_frames(SparseSettings(indexes=(0, 5)), 3, 16)


@pytest.mark.parametrize("spread, count, frames, expected", [
    ("uniform", 2, 16, [0, 15]),
    ("uniform", 4, 16, [0, 5, 10, 15]),  # 0, 5, 10, 15 exactly
    ("uniform", 3, 8, [0, 3, 7]),  # 0, 3.5, 7
    ("starting", 4, 16, [0, 3, 7, 11]),  # 0, 3.75, 7.5, 11.25 (, 15 dropped)
    ("ending", 4, 16, [3, 7, 11, 15]),
    ("center", 4, 16, [3, 6, 9, 12]),  # 0, 3, 6, 9, 12, 15 without the ends
    ("center", 3, 5, [0, 1, 2]),  # fewer than 3 spare frames: as starting (0, 1.33, 2.67)
    ("uniform", 1, 16, [0]), ("starting", 1, 16, [0]), ("ending", 1, 16, [15]), ("center", 1, 16, [7]),
    ("ending", 16, 16, list(range(16))),  # one image per frame, whatever the spread
])
def test_spreads(spread, count, frames, expected):
    assert hint_frames(SparseSettings(spread=spread), count, frames) == expected


def test_spread_refuses_more_images_than_frames():
    with pytest.raises(SparseCtrlError, match="17 hint images for a 16-frame video"):
        hint_frames(SparseSettings(), 17, 16)


def test_settings_refuse_unknown_names():
    with pytest.raises(SparseCtrlError, match="Unknown spread 'middle'"):
        SparseSettings(spread="middle")
    with pytest.raises(SparseCtrlError, match="Unknown context_aware 'nearest'"):
        SparseSettings(context_aware="nearest")


def test_window_placement_keeps_hints_on_their_frames():
    frames = [0, 15]
    assert window_placement(frames, None) == [(0, 0), (1, 15)]
    assert window_placement(frames, list(range(8, 16))) == [(1, 7)]
    assert window_placement(frames, list(range(0, 8))) == [(0, 0)]
    assert window_placement(frames, list(range(4, 12))) == []
    assert window_placement(frames, [14, 15, 0, 1]) == [(0, 2), (1, 1)]  # a wrapping (looped) window


@pytest.mark.parametrize("frames, window, expected", [
    ([0, 15], list(range(4, 12)), [(0, 0), (1, 7)]),  # 4 from either end: both, at the window's ends
    ([0, 15], list(range(2, 10)), [(0, 0)]),  # hint 0 is 2 away from the start, hint 15 is 6 from the end
    ([0, 15], list(range(6, 14)), [(1, 7)]),
    ([0], list(range(4, 12)), [(0, 0)]),  # a single hint goes to the closer end
    ([20], list(range(4, 12)), [(0, 7)]),
    ([6], [0, 1, 2], [(0, 2)]),
    ([6], list(range(8, 13)), [(0, 0)]),
    ([6], list(range(8, 11)) + [0, 1], [(0, 0)]),  # looped window 8, 9, 10, 0, 1: 2 from its first, 5 from its last
    ([6], list(range(4, 9)), [(0, 2)]),  # equally far (2) from both ends: the centre, linspace(0, 4, 3)[1] = 2
    ([1, 11], list(range(4, 9)), [(0, 0), (1, 4)]),  # 3 from either end
])
def test_nearest_hint(frames, window, expected):
    assert window_placement(frames, window, "nearest_hint") == expected


def test_nearest_hint_leaves_windows_with_a_hint_alone():
    assert window_placement([0, 15], list(range(8, 16)), "nearest_hint") == [(1, 7)]


def test_sparse_condition_places_hints_and_mask():
    hints = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2) + 1.0
    cond = sparse_condition(hints, [(0, 0), (1, 5)], 6, mask_value=0.7)
    assert cond.shape == (6, 4, 2, 2)
    assert torch.equal(cond[0, :3], hints[0]) and torch.equal(cond[5, :3], hints[1])
    assert torch.equal(cond[0, 3], torch.full((2, 2), 0.7)) and torch.equal(cond[5, 3], torch.full((2, 2), 0.7))
    assert torch.count_nonzero(cond[1:5]) == 0


def test_frame_multipliers():
    assert frame_multipliers([(0, 1)], 4, 1.0, 1.0) is None
    assert torch.equal(frame_multipliers([(0, 1), (1, 3)], 4, 2.0, 0.5), torch.tensor([0.5, 2.0, 0.5, 2.0]))
