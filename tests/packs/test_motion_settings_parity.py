"""Motion-model settings, multivals and stacked motion models (issue 20, options 5, 6, 7): this pack's nodes against
ComfyUI-AnimateDiff-Evolved (ADE) on the same graph, each in its own worker: the same random reduced-width SD1.5
UNet, motion modules, MotionLoRA, masks and seeds. Each option's latents agree with ADE's (relative max difference
<= 1e-3) and differ from the same graph without the option (> 1e-2), so the comparison can fail.

ADE builds its motion modules at SD1.5's full widths (320..1280, hard-coded); tests/packs/ade_widths.py makes it build them
at the widths of the file it loads, inside the ADE worker (test-only; full-size files are unchanged), so ADE loads the
same reduced-width files the reduced UNet takes. Its math is untouched. The motion modules' query/key weights are
scaled up (sharper frame attention) and their proj_out too, so that position and scale options visibly act on random
weights; every graph also carries a MotionLoRA (ADE adds it to the adjusted weights, this pack patches both).
"""
import os

import pytest
import torch
from safetensors.torch import save_file

from synth_weights import FAMILY_FILES, MOTION_LORA_FILE, random_state_dict

ADE_WIDTHS = "tests/packs/ade_widths.py:reduce_ade_widths"  # run in the ADE worker
FRAMES, STEPS = 8, 2
TOL, ACTS = 1e-3, 1e-2
MM_A, MM_B, LORA = "h6_v2_a.safetensors", "h6_v3_b.safetensors", "h6_lora.safetensors"


def motion_file(family: str, seed: int) -> dict:
    sd = random_state_dict(FAMILY_FILES[family], seed=seed, std=0.1)
    for key in sd:
        sd[key] = sd[key] * (3.0 if ".to_q." in key or ".to_k." in key else 2.0 if ".proj_out." in key else 1.0)
    return sd


@pytest.fixture(scope="module")
def files(packs, ade):
    folder = os.path.join(packs.models, "animatediff_models")
    save_file(motion_file("v2", 31), os.path.join(folder, MM_A))
    save_file(motion_file("v3", 32), os.path.join(folder, MM_B))
    save_file(random_state_dict(MOTION_LORA_FILE, seed=33, std=0.2),
              os.path.join(packs.models, "animatediff_motion_lora", LORA))
    assert ade.call(ADE_WIDTHS)


def _graph(motion: dict, model_ref: list) -> dict:
    """The motion nodes (`motion`, ids >= 10) plus a random UNet (1), conds (2, 3), 16-frame latent, sampler, stats."""
    return {
        "1": {"class_type": "ALCMTest_RandomSD15", "inputs": {"seed": 5}},
        "2": {"class_type": "ALCMTest_RandomCond", "inputs": {"seed": 6}},
        "3": {"class_type": "ALCMTest_RandomCond", "inputs": {"seed": 7}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": FRAMES}},
        "5": {"class_type": "KSampler", "inputs": {"model": model_ref, "positive": ["2", 0], "negative": ["3", 0],
                                                   "latent_image": ["4", 0], "seed": 8, "steps": STEPS, "cfg": 1.0,
                                                   "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}},
        "6": {"class_type": "ALCMTest_LatentStats", "inputs": {"samples": ["5", 0]}},
        **motion,
    }


# ---- ADE graphs -------------------------------------------------------------------------------------------------

def ade_graph(models: list[dict], pe: list[dict] = (), weights: list[dict] = (), extra: dict | None = None) -> dict:
    """models: one dict per ADE 'Apply AnimateDiff Model (Adv.)' (first applied first: deepest prev_m_models), with
    name, start, end, lora (strength), scale / effect (node ids of MULTIVALs). pe / weights: ADE adjust nodes
    (class_type, inputs) applied to the first model's loader, chained in order."""
    nodes, prev_pe, prev_w = dict(extra or {}), None, None
    for i, (class_type, inputs) in enumerate(pe):
        nodes[f"3{i}"] = {"class_type": class_type, "inputs": {**inputs, "print_adjustment": False,
                                                               **({"prev_pe_adjust": prev_pe} if prev_pe else {})}}
        prev_pe = [f"3{i}", 0]
    for i, (class_type, inputs) in enumerate(weights):
        nodes[f"4{i}"] = {"class_type": class_type, "inputs": {**inputs, "print_adjustment": False,
                                                               **({"prev_weight_adjust": prev_w} if prev_w else {})}}
        prev_w = [f"4{i}", 0]
    if prev_pe or prev_w:
        nodes["29"] = {"class_type": "ADE_AnimateDiffSettings",
                       "inputs": {**({"pe_adjust": prev_pe} if prev_pe else {}),
                                  **({"weight_adjust": prev_w} if prev_w else {})}}
    prev = None
    for i, mm in enumerate(models):
        loader = {"model_name": mm["name"], **({"ad_settings": ["29", 0]} if i == 0 and "29" in nodes else {})}
        nodes[f"1{i}"] = {"class_type": "ADE_LoadAnimateDiffModel", "inputs": loader}
        apply = {"motion_model": [f"1{i}", 0], "start_percent": mm.get("start", 0.0), "end_percent": mm.get("end", 1.0)}
        if "lora" in mm:
            nodes[f"5{i}"] = {"class_type": "ADE_AnimateDiffLoRALoader", "inputs": {"name": LORA, "strength": mm["lora"]}}
            apply["motion_lora"] = [f"5{i}", 0]
        for key in ("scale", "effect"):
            if key in mm:
                apply[f"{key}_multival"] = [mm[key], 0]
        if prev:
            apply["prev_m_models"] = prev
        nodes[f"2{i}"] = {"class_type": "ADE_ApplyAnimateDiffModel", "inputs": apply}
        prev = [f"2{i}", 0]
    nodes["9"] = {"class_type": "ADE_UseEvolvedSampling",
                  "inputs": {"model": ["1", 0], "beta_schedule": "use existing", "m_models": prev}}
    return _graph(nodes, ["9", 0])


# ---- this pack's graphs -----------------------------------------------------------------------------------------

def our_graph(models: list[dict], pe: list[dict] = (), weights: list[dict] = (), extra: dict | None = None) -> dict:
    """The same description as ade_graph, with this pack's nodes: Load -> adjust chain -> LoRA -> Apply, chained."""
    nodes, model = dict(extra or {}), ["1", 0]
    for i, mm in enumerate(models):
        nodes[f"1{i}"] = {"class_type": "ALCM_LoadMotionModel", "inputs": {"model_name": mm["name"]}}
        source = [f"1{i}", 0]
        for j, (class_type, inputs) in enumerate(list(pe) + list(weights) if i == 0 else []):
            nodes[f"3{j}"] = {"class_type": class_type, "inputs": {"motion_model": source, **inputs}}
            source = [f"3{j}", 0]
        if "lora" in mm:
            nodes[f"5{i}"] = {"class_type": "ALCM_ApplyMotionLoRA",
                              "inputs": {"motion_model": source, "lora_name": LORA, "strength": mm["lora"]}}
            source = [f"5{i}", 0]
        apply = {"model": model, "motion_model": source, "model_sampling": "keep model's own", "effect": 1.0,
                 "scale": 1.0, "start_percent": mm.get("start", 0.0), "end_percent": mm.get("end", 1.0)}
        for key in ("scale", "effect"):
            if key in mm:
                apply[f"{key}_multival"] = [mm[key], 0]
        nodes[f"2{i}"] = {"class_type": "ALCM_ApplyMotionModel", "inputs": apply}
        model = [f"2{i}", 0]
    return _graph(nodes, model)


def _run(worker, graph) -> torch.Tensor:
    return worker.run(graph)["outputs"]["6"][0]


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


A = {"name": MM_A, "lora": 0.8}


@pytest.fixture(scope="module")
def baseline(files, ours, ade):
    """Motion module A with its MotionLoRA, no option: both packs agree; every option is measured against it."""
    mine, theirs = _run(ours, our_graph([A])), _run(ade, ade_graph([A]))
    assert _rel(mine, theirs) <= TOL, _rel(mine, theirs)
    print(f"\n[parity] motion module + MotionLoRA (baseline): vs ADE {_rel(mine, theirs):.2e}")
    return mine


def _check(ours, ade, baseline, theirs_graph, mine_graph, name: str):
    mine, theirs = _run(ours, mine_graph), _run(ade, theirs_graph)
    parity, acts = _rel(mine, theirs), _rel(mine, baseline)
    print(f"\n[parity] {name}: vs ADE {parity:.2e}, vs without {acts:.2e}")
    assert parity <= TOL, f"{name}: {parity:.2e} from ADE"
    assert acts > ACTS, f"{name}: only {acts:.2e} from the graph without it"


# ---- option 5: motion-model settings ------------------------------------------------------------------------------

PE_CASES = {
    "sweetspot 16->18": ([("ADE_AdjustPESweetspotStretch", {"sweetspot": 16, "new_sweetspot": 18})],
                         [("ALCM_PESweetspotStretch", {"sweetspot": 16, "new_sweetspot": 18})]),
    "full stretch +8, manual cap/offset": (
        [("ADE_AdjustPEFullStretch", {"pe_stretch": 8}),
         ("ADE_AdjustPEManual", {"cap_initial_pe_length": 30, "interpolate_pe_to_length": 20,
                                 "initial_pe_idx_offset": 2, "final_pe_idx_offset": 1})],
        [("ALCM_AdjustPE", {"cap_initial_pe_length": 0, "interpolate_pe_to_length": 0, "initial_pe_idx_offset": 0,
                            "final_pe_idx_offset": 0, "pe_stretch": 8}),
         ("ALCM_AdjustPE", {"cap_initial_pe_length": 30, "interpolate_pe_to_length": 20, "initial_pe_idx_offset": 2,
                            "final_pe_idx_offset": 1, "pe_stretch": 0})]),
}
ONES = {p: 1.0 for p in ("all", "pe", "attn", "attn_q", "attn_k", "attn_v", "attn_out_weight", "attn_out_bias", "other")}
ZEROS = {p: 0.0 for p in ONES}
# ADE's three kinds of weight nodes in one chain (all x1.01 is the common one; alone it moves these latents ~1e-2)
WEIGHTS = (
    [("ADE_AdjustWeightAllMult", {"all_MULT": 1.01}),
     ("ADE_AdjustWeightIndivAttnAdd", {"pe_ADD": 0.05, "attn_ADD": 0.0, "attn_q_ADD": 0.02, "attn_k_ADD": 0.0,
                                       "attn_v_ADD": -0.03, "attn_out_weight_ADD": 0.01, "attn_out_bias_ADD": 0.1,
                                       "other_ADD": 0.0}),
     ("ADE_AdjustWeightIndivMult", {"pe_MULT": 1.0, "attn_MULT": 1.2, "other_MULT": 0.9})],
    [("ALCM_MultiplyMotionWeights", {**ONES, "all": 1.01}),
     ("ALCM_AddMotionWeights", {**ZEROS, "pe": 0.05, "attn_q": 0.02, "attn_v": -0.03, "attn_out_weight": 0.01,
                                "attn_out_bias": 0.1}),
     ("ALCM_MultiplyMotionWeights", {**ONES, "attn": 1.2, "other": 0.9})])


@pytest.mark.parametrize("case", list(PE_CASES))
def test_position_encoding_adjustments(ours, ade, baseline, case):
    theirs, mine = PE_CASES[case]
    _check(ours, ade, baseline, ade_graph([A], pe=theirs), our_graph([A], pe=mine), case)


def test_weight_adjustments(ours, ade, baseline):
    theirs, mine = WEIGHTS
    _check(ours, ade, baseline, ade_graph([A], weights=theirs), our_graph([A], weights=mine),
           "all x1.01, then add to pe/q/v/out, then attn x1.2 and other x0.9")


# ---- option 6: multivals --------------------------------------------------------------------------------------------

def _multival(kind: str, node_id: str, pack: str) -> dict:
    """A MULTIVAL at `node_id` (its list or mask source at node_id + "1"): number 0.3; a per-frame list from FizzNodes'
    BatchValueSchedule (1.3 down to 0.46; an expression, as this FizzNodes with the installed pandas only takes
    expressions); a KJNodes gradient mask scaled relative to 0.2..2.0 (the same nodes in both workers)."""
    src = node_id + "1"
    if kind == "number":
        return {node_id: {"class_type": "ADE_MultivalDynamic", "inputs": {"float_val": 0.3}}} if pack == "ade" \
            else {node_id: {"class_type": "ALCM_Multival", "inputs": {"value": "0.3"}}}
    if kind == "per-frame list":
        schedule = {src: {"class_type": "BatchValueSchedule",
                          "inputs": {"text": "0:(1.3 - 0.12 * t)", "max_frames": FRAMES, "print_output": False}}}
        node = {"class_type": "ADE_MultivalDynamicFloatInput", "inputs": {"float_val": [src, 0]}} if pack == "ade" \
            else {"class_type": "ALCM_Multival", "inputs": {"value": "1.0", "floats": [src, 0]}}
        return {**schedule, node_id: node}
    mask = {src: {"class_type": "CreateGradientMask",  # KJNodes: every frame and pixel differs
                  "inputs": {"invert": False, "frames": FRAMES, "width": 16, "height": 16}}}
    values = {"mask": [src, 0], "scaling": "relative"}
    node = {"class_type": "ADE_MultivalScaledMask", "inputs": {"min_float_val": 0.2, "max_float_val": 2.0, **values}} \
        if pack == "ade" else {"class_type": "ALCM_MultivalScaledMask",
                               "inputs": {"min_value": 0.2, "max_value": 2.0, **values}}
    return {**mask, node_id: node}


@pytest.mark.parametrize("kind,targets", [("number", ["effect"]), ("per-frame list", ["scale"]),
                                          ("scaled mask", ["scale", "effect"])])
def test_multivals(ours, ade, baseline, kind, targets):
    mm, extra = dict(A), {"ade": {}, "ours": {}}
    for i, target in enumerate(targets):
        mm[target] = f"7{i}"
        for pack in extra:
            extra[pack].update(_multival(kind, f"7{i}", pack))
    _check(ours, ade, baseline, ade_graph([mm], extra=extra["ade"]), our_graph([mm], extra=extra["ours"]),
           f"{' and '.join(targets)} multival: {kind}")


# ---- option 7: stacked motion models --------------------------------------------------------------------------------

def test_stacked_models_with_percents_loras_and_multivals(ours, ade, baseline):
    """A (with its LoRA and a scale mask, all of sampling) then B (the first 30% of sampling, effect 0.3)."""
    models = [{**A, "scale": "70"}, {"name": MM_B, "start": 0.0, "end": 0.3, "effect": "80"}]
    extra = {pack: {**_multival("scaled mask", "70", pack), **_multival("number", "80", pack)}
             for pack in ("ade", "ours")}
    _check(ours, ade, baseline, ade_graph(models, extra=extra["ade"]), our_graph(models, extra=extra["ours"]),
           "stacked: A + LoRA + scale mask, then B 0..0.3 + effect 0.3")
