"""VideoHelperSuite's load-time frontend code, on its real node definitions (recorded from the 0.33 server with the
frontend prompts in tests/fixtures/ui_workflows/frontend). Expected values worked out by hand from VHS.core.js."""
import json
import math
import os

import pytest

from tools.ui_graph import convert
from ui_builder import G, workflow

RECORDED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "ui_workflows",
                        "frontend", "1.58.1.json")
with open(RECORDED, encoding="utf-8") as f:
    DEFS = json.load(f)["definitions"]
LOAD_OUT = [("IMAGE", "IMAGE"), ("frame_count", "INT"), ("audio", "AUDIO"), ("video_info", "VHS_VIDEOINFO")]


def _load_video(values, version="1.58.1"):
    g = G()
    g.node(1, "VHS_LoadVideo", values, outputs=LOAD_OUT)
    conversion = convert(workflow(g), DEFS.get, version)
    return conversion.prompt["1"]["inputs"], conversion.notes


def test_old_list_read_through_vhs_table_with_force_size():
    inputs, _ = _load_video(["in.mp4", 8, "512x?", 16, 0, 1])
    assert inputs == {"video": "in.mp4", "force_rate": 8, "custom_width": 512, "custom_height": 0,
                      "frame_load_cap": 16, "skip_first_frames": 0, "select_every_nth": 1, "format": "AnimateDiff"}
    inputs, _ = _load_video(["in.mp4", 0, "Disabled", 0, 2, 3])
    assert (inputs["custom_width"], inputs["custom_height"], inputs["skip_first_frames"]) == (0, 0, 2)


def test_format_steps_round_the_sizes_and_frame_counts():
    # Mochi: dim step 16, frames step 6 offset 1: 300 -> 304, 16 -> 19 (round((16 - 1) / 6) * 6 + 1)
    inputs, _ = _load_video({"video": "in.mp4", "format": "Mochi", "custom_width": 300, "custom_height": 200,
                             "frame_load_cap": 16, "force_rate": 0, "skip_first_frames": 0, "select_every_nth": 1,
                             "choose video to upload": "image", "videopreview": {}})
    assert (inputs["custom_width"], inputs["custom_height"], inputs["frame_load_cap"]) == (304, 208, 19)


def test_a_dict_with_one_entry_per_widget_input_is_read_as_an_old_list_by_1_58():
    """1.58's realignment turns such a dict into a list of its values; VHS then reads that list through its table
    of old layouts (VHS itself saves its buttons and preview too, so its own dicts are longer)."""
    saved = {"video": "in.mp4", "format": "Mochi", "custom_width": 300, "custom_height": 200, "frame_load_cap": 16,
             "force_rate": 0, "skip_first_frames": 0, "select_every_nth": 1}
    old, _ = _load_video(saved, "1.27.10")
    assert old["format"] == "Mochi" and old["frame_load_cap"] == 19
    new, _ = _load_video(saved, "1.58.1")  # force_rate "Mochi", force_size 300, frame_load_cap 200, ...
    assert new["format"] == "AnimateDiff" and new["frame_load_cap"] == 200 and new["force_rate"] == "Mochi"


def test_a_value_the_dict_lacks_by_release():
    saved = {"video": "in.mp4", "force_rate": 0, "custom_width": 256, "frame_load_cap": 8}
    new, _ = _load_video(saved, "1.58.1")
    assert new["custom_height"] == 0 and new["skip_first_frames"] == 0 and new["select_every_nth"] == 1
    mid, _ = _load_video(saved, "1.48.7")  # undefined first, then VHSINT's callback with no step: NaN, sent as null
    assert mid["custom_height"] is None and "skip_first_frames" not in mid and mid["select_every_nth"] == 1


def test_video_combine_old_list_renamed_value_and_format_widgets():
    g = G()
    combine_in = [("images", "IMAGE"), ("audio", "AUDIO"), ("meta_batch", "VHS_BatchManager"), ("vae", "VAE")]
    g.node(1, "VHS_VideoCombine", [10, 0, "clip", "image/webp", False, False, "extra"], inputs=combine_in)
    g.node(2, "VHS_VideoCombine", {"frame_rate": 8, "loop_count": 0, "filename_prefix": "v", "format": "video/h264-mp4",
                                   "crf": 30, "save_output": True, "pingpong": False}, inputs=combine_in)
    prompt = convert(workflow(g), DEFS.get).prompt
    assert prompt["1"]["inputs"] == {"frame_rate": 10, "loop_count": 0, "filename_prefix": "clip",
                                     "format": "image/webp", "lossless": True, "pingpong": False, "save_output": False}
    h264 = prompt["2"]["inputs"]
    assert h264["crf"] == 30 and h264["pix_fmt"] == "yuv420p" and h264["save_metadata"] is True


def test_a_list_vhs_cannot_read_is_reported():
    inputs, notes = _load_video(["in.mp4", 8])
    assert inputs["video"] == "in.mp4" and inputs["force_rate"] == 8
    assert any("Failed to restore node" in n for n in notes)


@pytest.mark.parametrize("value,expected", [(0, 0), (7, 8), ("12", 16)])
def test_vhs_int_widgets_round_to_the_format_step(value, expected):
    inputs, _ = _load_video({"video": "x.mp4", "custom_width": value})
    assert inputs["custom_width"] == expected and not math.isnan(inputs["custom_width"])
