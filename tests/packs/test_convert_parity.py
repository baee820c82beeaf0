"""Converted ADE workflows reproduce ADE: each ADE-style workflow (tests/fixtures/ade_workflows/samples.py) runs as
it is in the `ade` worker (ComfyUI-AnimateDiff-Evolved, 1.5.6 on ComfyUI 0.3.64 / 1.5.7 on 0.33) and converted in
the `ours` worker (this pack, no ADE), same random-weight files and seeds: relative max difference of the sampled
latents <= 1e-3. Each case also checks that the feature it covers changes ADE's result by > 1e-2 (so the comparison
would catch it missing). The converter's table of this pack's node definitions (tools/convert/targets.json) is
checked against the live registry here too."""
import copy
import json
import os

import pytest
import torch
from safetensors.torch import save_file

from ade_workflows import samples
from synth_weights import FAMILY_FILES, MOTION_LORA_FILE, random_state_dict
from tools.convert import convert_workflow
from tools.convert.report import REFUSING
from tools.convert.targets import CORE_TYPES, SNAPSHOT, snapshot

TOLERANCE, VISIBLE = 1e-3, 1e-2
MM_STD = 0.2  # motion-module weights large enough for windows, LoRAs and multivals to act visibly
FIZZ_TYPES = {"BatchPromptSchedule", "BatchPromptScheduleLatentInput"}
HELPERS = "tests/packs/convert_worker_nodes.py"  # run inside the workers


# ---- fixtures ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def files(packs, ours, ade):
    folder = os.path.join(packs.models, "animatediff_models")
    for name, seed in ((samples.MM_V2, 11), (samples.MM_V2_B, 12)):
        save_file(random_state_dict(FAMILY_FILES["v2"], seed=seed, std=MM_STD), os.path.join(folder, name))
    for name, seed in ((samples.LORA_A, 13), (samples.LORA_B, 14)):
        save_file(random_state_dict(MOTION_LORA_FILE, seed=seed, std=0.2),
                  os.path.join(packs.models, "animatediff_motion_lora", name))
    assert ours.call(f"{HELPERS}:register_tiny_clip")
    assert ade.call(f"{HELPERS}:register_tiny_clip")
    assert ade.call("tests/packs/ade_widths.py:reduce_ade_widths")
    return packs


def latents(worker, workflow):
    return worker.run(workflow)["outputs"]["99"][0]


def rel(a, b) -> float:
    return float((a - b).abs().max() / b.abs().max())


def convert(workflow, ours):
    """Converted as the runner would (the worker's installed node types), FizzNodes included on request."""
    result = convert_workflow(workflow, available=ours.node_types() - FIZZ_TYPES)
    assert not any(t.startswith("ADE_") for t in (n["class_type"] for n in result.workflow.values()))
    return result


# ---- parity -----------------------------------------------------------------------------------------------------
def _without(workflow, *edits):
    wf = copy.deepcopy(workflow)
    for edit in edits:
        edit(wf)
    return wf


def _no_context(wf):
    wf["10"]["inputs"].pop("context_options")


def _pop(node, name):
    return lambda wf: wf[node]["inputs"].pop(name)


def _set(node, **values):
    return lambda wf: wf[node]["inputs"].update(values)


# case -> (ADE-style workflow, {feature: the same workflow without it})
CASES = {
    "legacy_loader_uniform_context": (samples.legacy_loader_uniform, {"context options": _no_context}),
    "gen1_lora_multivals": (samples.gen1_lora_multival, {
        "MotionLoRAs": _pop("10", "motion_lora"), "scale multival": _pop("10", "scale_multival"),
        "effect multival": _pop("10", "effect_multival")}),
    "gen2_freenoise_looped_closed": (samples.gen2_freenoise_looped, {
        "FreeNoise": _set("14", noise_type="default"), "closed loop": _set("13", closed_loop=False)}),
    "stacked_motion_models": (samples.stacked_models, {"start/end percents": _set("14", start_percent=0.0)}),
    "fizz_schedule_windows": (samples.fizz_schedule_windows, {
        "context options": _no_context, "prompt travel": _set("21", text='"0": "a red fox in snow"')}),
    "gen2_settings_cfg_sigma_uniform": (samples.gen2_settings, {
        "uniform windows": _no_context, "PE stretch": _pop("32", "pe_adjust"), "weights": _pop("32", "weight_adjust"),
        "custom cfg": _pop("35", "custom_cfg"), "sigma schedule": _pop("35", "sigma_schedule")}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_converted_workflow_reproduces_ade(case, files, ours, ade):
    build, removals = CASES[case]
    workflow = build()
    reference = latents(ade, workflow)
    result = convert(workflow, ours)
    assert not [e for e in result.report if e.kind in REFUSING], "\n".join(result.lines)
    got = latents(ours, result.workflow)
    assert got.shape == reference.shape
    figures = {"parity": rel(got, reference)}
    for feature, removal in removals.items():  # each feature of the case acts in ADE's own result
        figures[f"without {feature}"] = rel(latents(ade, _without(workflow, removal)), reference)
    print(f"{case} ({files.version}): " + ", ".join(f"{k} {v:.2e}" for k, v in figures.items()))
    assert figures.pop("parity") <= TOLERANCE, "\n".join(result.lines)
    assert all(v > VISIBLE for v in figures.values()), figures


# ---- the UI files -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", [c for c in CASES if not c.startswith("fizz")])
def test_converted_ui_file_queues_the_converted_prompt(case, ours):
    """The UI-format conversion, turned into a prompt as the frontend does it (tools/ui_graph with the live
    definitions), is the API-format conversion (plus the defaults of optional widgets the UI file stores)."""
    from ade_workflows.builder import ui_from_api
    from tools.ui_graph import ui_to_api
    build = CASES[case][0]
    available = ours.node_types() - FIZZ_TYPES
    api = convert_workflow(build(), available=available).workflow
    ui = convert_workflow(ui_from_api(build()), available=available).workflow
    types = {n["type"] for n in ui["nodes"]}
    definitions = ours.call(f"{HELPERS}:live_definitions", sorted(types))
    prompt = ui_to_api(ui, definitions=definitions.get)
    assert set(prompt) == set(api)
    for node_id, entry in api.items():
        got = prompt[node_id]
        assert got["class_type"] == entry["class_type"]
        extra = {k: v for k, v in got["inputs"].items() if k not in entry["inputs"]}
        assert {k: got["inputs"][k] for k in entry["inputs"]} == entry["inputs"], node_id
        spec = definitions[got["class_type"]]["input"]
        defaults = {k: (spec.get("optional", {}).get(k) or spec.get("required", {}).get(k))[1].get("default")
                    for k in extra}
        assert extra == defaults, node_id


# ---- the converter's node table ---------------------------------------------------------------------------------
def test_target_table_matches_the_live_registry(ours):
    """tools/convert/targets.json = this pack's node definitions (ALCM_UPDATE_TARGETS=1 rewrites it)."""
    types = sorted(t for t in ours.node_types() if t.startswith("ALCM_") and not t.startswith("ALCMTest_"))
    live = snapshot(ours.call(f"{HELPERS}:live_definitions", types + list(CORE_TYPES)))
    with open(SNAPSHOT, encoding="utf-8") as f:
        stored = json.load(f)
    if os.environ.get("ALCM_UPDATE_TARGETS") == "1":
        with open(SNAPSHOT, "w", encoding="utf-8") as f:
            json.dump({**stored, **live}, f, indent=1, sort_keys=True)
        stored = {**stored, **live}
    mine = {k: v for k, v in live.items() if k.startswith("ALCM_")}
    assert {k: stored.get(k) for k in mine} == mine
