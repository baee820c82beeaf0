"""FizzNodes schedules on this pack's inflated MODEL, without and with context windows (full, motion-only,
ComfyUI's own node), against the same graph on ADE's windows.

- Prompt schedule (BatchPromptSchedule): one embedding per frame, interpolated between keyframed prompts, encoded
  by a reduced SD1.5 text encoder (test node). Windows cut the per-frame conditioning to each window's frames (this
  pack's full windows, ComfyUI's handler, ADE); with the motion effect 0 windowed must equal unwindowed (measured
  1.2e-6 before these tests).
- Value schedule (BatchValueSchedule): a per-frame value list, here the per-frame ControlNet strength of
  Advanced-ControlNet's "Latent Keyframe From List" (how AnimateDiff workflows use it); a frame scheduled to 0 must
  equal the graph without ControlNet, under every window mode.
"""
import pytest

import companion_graphs as cg
from companion_graphs import modes, skip_unless  # noqa: F401  (modes: a fixture)
import companion_models

PROMPTS = '"0": "a red fox in the snow", "8": "a snowy forest at dawn", "15": "a city street at night"'
# FizzNodes evaluates an expression value on every frame from its keyframe on (t = the frame), so this schedule is
# 1 on frames 0-4, 0 on 5-9, 1 on 10-14 and 0.5 on 15. (Plain numbers, "0:(1.0)", fail inside FizzNodes 1.0.2 with
# pandas 3, which refuses the string it assigns into a float series; expressions take another path.)
VALUES = "0:(1.0 + 0*t), 5:(0*t), 10:(1.0 + 0*t), 15:(0.5 + 0*t)"
VALUE_OFF = (5, 6, 7, 8, 9)
WINDOWED = ("full", "motion-only", "comfy")  # "comfy": ComfyUI's own ContextWindowsManual node


@pytest.fixture(scope="module")
def files(packs, ours, ade):
    for worker in (ours, ade):
        worker.call("tests/packs/companion_models.py:register_nodes")
    return {"motion": companion_models.write_motion_module(packs.models, seed=31)}


def schedule_graph(side: str, files: dict, windows=None, kind: str = "prompts") -> dict:
    """`prompts`: BatchPromptSchedule's POS/NEG into the sampler; `one_prompt`: CLIPTextEncode of the first prompt;
    `values`: BatchValueSchedule -> Latent Keyframe From List -> Apply Advanced ControlNet; `no_values`: the same
    ControlNet without the schedule; `plain`: neither."""
    g = cg.base_graph(side, files["motion"], windows)
    if kind in ("prompts", "one_prompt"):
        g["clip"] = {"class_type": "ALCMTest_RandomCLIP", "inputs": {"seed": 32}}
        if kind == "prompts":
            g["sched"] = {"class_type": "BatchPromptSchedule", "inputs": {
                "text": PROMPTS, "clip": cg.link("clip"), "max_frames": cg.FRAMES, "print_output": False,
                "start_frame": 0, "end_frame": 0}}
            return cg.add_sampler(g, positive=cg.link("sched", 0), negative=cg.link("sched", 1))
        g["text"] = {"class_type": "CLIPTextEncode", "inputs": {"text": "a red fox in the snow",
                                                                "clip": cg.link("clip")}}
        g["empty"] = {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": cg.link("clip")}}
        return cg.add_sampler(g, positive=cg.link("text"), negative=cg.link("empty"))
    if kind == "plain":
        return cg.add_sampler(g)
    g["cn"] = {"class_type": "ALCMTest_TinyControlNet", "inputs": {"seed": 33}}
    g["hint"] = cg.images(34)
    apply = {"positive": cg.link(cg.POSITIVE), "negative": cg.link(cg.NEGATIVE), "control_net": cg.link("cn"),
             "image": cg.link("hint"), "strength": 1.0, "start_percent": 0.0, "end_percent": 1.0}
    if kind == "values":
        g["values"] = {"class_type": "BatchValueSchedule", "inputs": {
            "text": VALUES, "max_frames": cg.FRAMES, "print_output": False}}
        g["lkf"] = {"class_type": "LatentKeyframeBatchedGroup", "inputs": {"float_strengths": cg.link("values")}}
        g["tkf"] = {"class_type": "TimestepKeyframe",
                    "inputs": {"start_percent": 0.0, "latent_keyframe": cg.link("lkf")}}
        apply["timestep_kf"] = cg.link("tkf")
    g["acn"] = {"class_type": "ACN_AdvancedControlNetApply_v2", "inputs": apply}
    return cg.add_sampler(g, positive=cg.link("acn", 0), negative=cg.link("acn", 1))


@pytest.fixture(scope="module")
def run(ours, ade, files):
    """run(side, windows, kind) -> sampled latent; each graph runs once per module."""
    done = {}

    def get(side="ours", windows=None, kind="prompts"):
        if (side, windows, kind) not in done:
            worker = ours if side == "ours" else ade
            done[side, windows, kind] = worker.run(schedule_graph(side, files, windows, kind))["outputs"][cg.OUT][0]
        return done[side, windows, kind]
    return get


@pytest.mark.parametrize("kind, without", [("prompts", "one_prompt"), ("values", "no_values")])
def test_schedule_acts_and_windows_equal_unwindowed(run, modes, kind, without):
    unwindowed = run(kind=kind)
    assert cg.rel_diff(unwindowed, run(kind=without)) > 1e-2, f"the {kind} schedule does not act"
    for windows in modes:
        assert cg.rel_diff(run("ours", windows, kind), unwindowed) <= 1e-4, windows
    assert cg.rel_diff(run("ade", "ade", kind), unwindowed) <= 1e-3


@pytest.mark.parametrize("windows", [None, *WINDOWED])
def test_value_scheduled_to_zero_switches_the_frame_off(run, modes, windows):
    skip_unless(windows, modes)
    latent, plain = run("ours", windows, "values"), run(kind="plain")
    for f in range(cg.FRAMES):
        change = cg.rel_diff(latent[f], plain[f])
        assert (change <= 1e-5) if f in VALUE_OFF else (change > 1e-3), (f, change)
