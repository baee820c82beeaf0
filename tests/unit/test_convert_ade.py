"""What each ADE node family becomes (API format: the same plan is written to UI files, see test_convert_ui.py):
chains of this pack's MODEL-in/MODEL-out nodes with every value carried over, and a report entry for each option
this pack does not reproduce."""
import copy

import pytest

from ade_workflows import samples
from tools.convert import StrictRefused, convert_workflow
from tools.convert.report import CONVERTED, DIFFERS, NOT_REPRODUCED, NOTE


def chain(prompt, node_id="90", name="model"):
    """Types along the MODEL inputs, from the sampler back to the checkpoint."""
    out = []
    ref = prompt[node_id]["inputs"][name]
    while ref:
        node = prompt[ref[0]]
        out.append((ref[0], node["class_type"]))
        ref = node["inputs"].get("model")
    return out


def entries(result, kind=None, node=None):
    return [e for e in result.report if (kind is None or e.kind == kind) and (node is None or e.node == node)]


def test_legacy_loader_with_legacy_uniform_context():
    wf = samples.legacy_loader_uniform()
    original = copy.deepcopy(wf)
    result = convert_workflow(wf)
    assert wf == original and result.changed
    p = result.workflow
    assert [t for _, t in chain(p)] == ["ALCM_ApplyContextOptions", "ALCM_ApplyMotionModel", "ALCMTest_RandomSD15"]
    apply_id = chain(p)[1][0]
    apply = p[apply_id]["inputs"]
    assert apply["model_sampling"] == "sqrt_linear" and apply["scale"] == 1.0 and apply["effect"] == 1.0
    assert p[apply["motion_model"][0]] == {"class_type": "ALCM_LoadMotionModel",
                                           "inputs": {"model_name": samples.MM_V2}}
    ctx = p["10"]["inputs"]
    assert p["10"]["class_type"] == "ALCM_ApplyContextOptions" and ctx["mode"] == "full"
    assert p[ctx["context_options"][0]] == {"class_type": "ALCM_ContextOptionsLooped", "inputs": {
        "context_length": 4, "context_stride": 1, "context_overlap": 2, "closed_loop": False, "fuse_method": "flat",
        "use_on_equal_length": False, "start_percent": 0.0, "guarantee_steps": 1}}
    assert not any(n["class_type"].startswith("ADE_") for n in p.values())
    assert {e.node for e in entries(result, CONVERTED)} == {"10", "11"}
    assert not result.report or not entries(result, NOT_REPRODUCED)


def test_gen1_loader_lora_chain_order_and_multivals():
    result = convert_workflow(samples.gen1_lora_multival())
    p = result.workflow
    apply = p[chain(p)[0][0]]
    assert apply["class_type"] == "ALCM_ApplyMotionModel"
    assert apply["inputs"]["scale"] == 1.5 and apply["inputs"]["effect"] == 0.4
    lora_b = p[apply["inputs"]["motion_model"][0]]
    lora_a = p[lora_b["inputs"]["motion_model"][0]]
    assert (lora_b["inputs"]["lora_name"], lora_b["inputs"]["strength"]) == (samples.LORA_B, 0.4)
    assert (lora_a["inputs"]["lora_name"], lora_a["inputs"]["strength"]) == (samples.LORA_A, 0.6)  # applied first
    assert p[lora_a["inputs"]["motion_model"][0]]["class_type"] == "ALCM_LoadMotionModel"
    assert "14" not in p and "15" not in p  # multivals folded into the numbers


def test_gen2_sample_settings_and_looped_windows():
    p = convert_workflow(samples.gen2_freenoise_looped()).workflow
    types = [t for _, t in chain(p)]
    assert types == ["ALCM_SampleSettings", "ALCM_ApplyContextOptions", "ALCM_ApplyMotionModel",
                     "ALCMTest_RandomSD15"]
    settings = p[chain(p)[0][0]]["inputs"]
    assert (settings["noise_type"], settings["seed_gen"], settings["batch_offset"], settings["seed_offset"]) == \
           ("FreeNoise", "comfy", 0, 0)
    ctx = p[p[chain(p)[1][0]]["inputs"]["context_options"][0]]
    assert ctx["class_type"] == "ALCM_ContextOptionsLooped" and ctx["inputs"]["closed_loop"] is True


def test_stacked_models_run_in_ades_order_and_the_newest_sets_the_sampling():
    p = convert_workflow(samples.stacked_models()).workflow
    (second, _), (first, _), _ = chain(p)
    assert (p[first]["inputs"]["start_percent"], p[first]["inputs"]["end_percent"]) == (0.0, 0.5)
    assert (p[second]["inputs"]["start_percent"], p[second]["inputs"]["end_percent"]) == (0.5, 1.0)
    assert p[p[first]["inputs"]["motion_model"][0]]["inputs"]["model_name"] == samples.MM_V2
    assert p[p[second]["inputs"]["motion_model"][0]]["inputs"]["model_name"] == samples.MM_V2_B
    assert p[first]["inputs"]["model_sampling"] == "keep model's own"
    assert p[second]["inputs"]["model_sampling"] == "sqrt_linear"


def test_shared_motion_model_is_loaded_once_and_applied_per_sampler():
    wf = samples.gen2_static()
    wf["30"] = copy.deepcopy(wf["10"])  # a second Use Evolved Sampling (e.g. an upscale pass) on the same M_MODELS
    wf["30"]["inputs"]["model"] = ["32", 0]  # ... of another MODEL
    wf["32"] = {"class_type": "ALCMTest_RandomSD15", "inputs": {"seed": 9}}
    wf["31"] = copy.deepcopy(wf["90"])
    wf["31"]["inputs"]["model"] = ["30", 0]
    p = convert_workflow(wf).workflow
    a, b = chain(p, "90"), chain(p, "31")
    assert a[0][0] != b[0][0] and a[1][0] != b[1][0]  # two Apply Context Options, two Apply Motion Module
    assert p[a[0][0]]["inputs"]["context_options"] == p[b[0][0]]["inputs"]["context_options"]  # one chain
    assert p[p[a[1][0]]["inputs"]["motion_model"][0]] is p[p[b[1][0]]["inputs"]["motion_model"][0]]
    assert sum(n["class_type"] == "ALCM_LoadMotionModel" for n in p.values()) == 1
    wf["30"]["inputs"]["model"] = ["1", 0]  # the same MODEL twice: one Apply Motion Module serves both
    p = convert_workflow(wf).workflow
    assert chain(p, "90")[1] == chain(p, "31")[1]


def test_context_chain_views_and_fuse_names():
    wf = samples.gen2_static()
    wf["13"]["inputs"]["fuse_method"] = "🔬gauss-sigma inverse"
    wf["16"] = {"class_type": "ADE_StandardUniformViewOptions", "inputs": {
        "view_length": 8, "view_stride": 1, "view_overlap": 2, "fuse_method": "flat"}}
    wf["17"] = {"class_type": "ADE_BatchedContextOptions", "inputs": {
        "context_length": 4, "start_percent": 0.5, "guarantee_steps": 1, "prev_context": ["13", 0]}}
    wf["13"]["inputs"]["view_opts"] = ["16", 0]
    wf["10"]["inputs"]["context_options"] = ["17", 0]
    p = convert_workflow(wf).workflow
    batched = p[p["10"]["inputs"]["context_options"][0]]
    assert batched["class_type"] == "ALCM_ContextOptionsBatched" and batched["inputs"]["start_percent"] == 0.5
    static = p[batched["inputs"]["prev_context"][0]]
    assert static["class_type"] == "ALCM_ContextOptionsStatic"
    assert static["inputs"]["fuse_method"] == "gauss-sigma inverse"
    view = p[static["inputs"]["view_opts"][0]]
    assert view == {"class_type": "ALCM_ViewOptionsUniform", "inputs": {
        "view_length": 8, "view_stride": 1, "view_overlap": 2, "fuse_method": "flat"}}


def test_settings_adjustments_keyframes_and_custom_cfg():
    wf = samples.gen2_static()
    wf.update({
        "40": {"class_type": "ADE_AdjustPESweetspotStretch", "inputs": {"sweetspot": 16, "new_sweetspot": 18,
                                                                        "print_adjustment": False}},
        "41": {"class_type": "ADE_AdjustWeightAllMult", "inputs": {"all_MULT": 1.01, "print_adjustment": True}},
        "42": {"class_type": "ADE_AnimateDiffSettings", "inputs": {"pe_adjust": ["40", 0],
                                                                   "weight_adjust": ["41", 0]}},
        "43": {"class_type": "ADE_MultivalDynamic", "inputs": {"float_val": 0.5}},
        "44": {"class_type": "ADE_AnimateDiffKeyframe", "inputs": {
            "start_percent": 0.0, "inherit_missing": True, "guarantee_steps": 1, "scale_multival": ["43", 0]}},
        "45": {"class_type": "ADE_AnimateDiffKeyframe", "inputs": {
            "start_percent": 0.6, "inherit_missing": True, "guarantee_steps": 1, "prev_ad_keyframes": ["44", 0]}},
        "46": {"class_type": "ADE_CustomCFGSimple", "inputs": {"cfg": 3.5}},
        "47": {"class_type": "ADE_AnimateDiffSamplingSettings", "inputs": {
            "batch_offset": 0, "noise_type": "default", "seed_gen": "comfy", "seed_offset": 0,
            "custom_cfg": ["46", 0]}},
    })
    wf["11"]["inputs"]["ad_settings"] = ["42", 0]
    wf["12"]["inputs"]["ad_keyframes"] = ["45", 0]
    wf["10"]["inputs"]["sample_settings"] = ["47", 0]
    result = convert_workflow(wf)
    p = result.workflow
    settings = p[chain(p)[0][0]]
    assert settings["class_type"] == "ALCM_SampleSettings"
    assert p[settings["inputs"]["custom_cfg"][0]] == {"class_type": "ALCM_CustomCFG", "inputs": {
        "cfg": "3.5", "start_percent": 0.0, "guarantee_steps": 1}}
    apply = p[chain(p)[2][0]]["inputs"]
    weights = p[apply["motion_model"][0]]
    assert weights["class_type"] == "ALCM_MultiplyMotionWeights" and weights["inputs"]["all"] == 1.01
    stretch = p[weights["inputs"]["motion_model"][0]]
    assert stretch["class_type"] == "ALCM_PESweetspotStretch" and stretch["inputs"]["new_sweetspot"] == 18
    late = p[apply["keyframes"][0]]["inputs"]
    early = p[late["prev_keyframes"][0]]["inputs"]
    assert (early["start_percent"], early["scale"], early["effect"]) == (0.0, "0.5", "1.0")
    assert (late["start_percent"], late["scale"]) == (0.6, "0.5")  # inherit_missing: the earlier keyframe's scale
    assert any(e.option == "print_adjustment" for e in entries(result, NOTE, "41"))


@pytest.mark.parametrize("ade,ours", [("autoselect", "auto"), ("use existing", "keep model's own"),
                                      ("linear (AnimateDiff-SDXL)", "linear_sdxl"), ("lcm", "lcm_50"),
                                      ("linear (default)", "linear")])
def test_beta_schedule_names(ade, ours):
    wf = samples.legacy_loader_uniform()
    wf["10"]["inputs"]["beta_schedule"] = ade
    p = convert_workflow(wf).workflow
    sampling = p[chain(p)[1][0]]["inputs"]["model_sampling"]
    assert sampling == ours or (ade == "autoselect" and sampling == "auto (ADE)")


def test_unreproduced_options_are_reported_with_node_and_value_and_strict_refuses():
    wf = samples.gen2_freenoise_looped()
    wf["14"]["inputs"]["iteration_opts"] = ["50", 0]
    wf["50"] = {"class_type": "ADE_IterationOptsDefault", "inputs": {"iterations": 2}}
    wf["12"]["inputs"]["per_block"] = ["51", 0]
    wf["51"] = {"class_type": "ADE_PerBlockHighLevel", "inputs": {}}
    result = convert_workflow(wf)
    lost = {(e.node, e.option) for e in entries(result, NOT_REPRODUCED)}
    assert ("14", "iteration_opts") in lost and ("12", "per_block") in lost
    assert all(str(e).startswith(f"node {e.node} (") for e in result.report)
    with pytest.raises(StrictRefused) as err:
        convert_workflow(wf, strict=True)
    assert "node 14 (ADE_AnimateDiffSamplingSettings)" in str(err.value)
    convert_workflow(samples.legacy_loader_uniform(), strict=True)  # fully reproduced: no refusal


def test_v1_module_names_get_the_groupnorm_difference_by_design():
    wf = samples.legacy_loader_uniform()
    wf["10"]["inputs"]["model_name"] = "mm_sd_v15.ckpt"
    result = convert_workflow(wf)
    assert [e.option for e in entries(result, DIFFERS)] == ["model_name"]


def test_nothing_converted_when_ade_is_installed():
    wf = samples.gen2_static()
    result = convert_workflow(wf, available={n["class_type"] for n in wf.values()})
    assert not result.changed and result.workflow is wf and result.report == []


def test_checkpoint_loader_latent_and_combine():
    wf = {
        "1": {"class_type": "CheckpointLoaderSimpleWithNoiseSelect", "inputs": {
            "ckpt_name": "sd.safetensors", "beta_schedule": "sqrt_linear (AnimateDiff)",
            "use_custom_scale_factor": False, "scale_factor": 0.18215}},
        "2": {"class_type": "ADE_EmptyLatentImageLarge", "inputs": {"width": 512, "height": 512, "batch_size": 64}},
        "3": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "positive": ["4", 0], "negative": ["4", 0],
                                                   "latent_image": ["2", 0], "seed": 0, "steps": 4, "cfg": 7.0,
                                                   "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "x"}},
        "5": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["1", 2]}},
        "6": {"class_type": "ADE_AnimateDiffCombine", "inputs": {
            "images": ["5", 0], "frame_rate": 12, "loop_count": 0, "filename_prefix": "AD", "format": "image/gif",
            "pingpong": True, "save_image": True}},
    }
    result = convert_workflow(wf)
    p = result.workflow
    sampling = p[p["3"]["inputs"]["model"][0]]
    assert sampling["class_type"] == "ALCM_ModelSampling" and sampling["inputs"]["schedule"] == "sqrt_linear"
    assert p[sampling["inputs"]["model"][0]] == {"class_type": "CheckpointLoaderSimple",
                                                 "inputs": {"ckpt_name": "sd.safetensors"}}
    assert p["4"]["inputs"]["clip"][1] == 1 and p["5"]["inputs"]["vae"][1] == 2
    assert p["2"] == {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 64}}
    save = next(n for n in p.values() if n["class_type"] == "SaveAnimatedWEBP")["inputs"]
    assert save["fps"] == 12.0 and save["filename_prefix"] == "AD" and save["images"] == ["5", 0]
    assert {e.option for e in entries(result, NOT_REPRODUCED, "6")} == {"format", "pingpong"}


def test_unconnected_and_unknown_ade_nodes_are_reported():
    wf = samples.legacy_loader_uniform()
    wf["60"] = {"class_type": "ADE_MultivalDynamic", "inputs": {"float_val": 1.0}}  # connected to nothing
    wf["61"] = {"class_type": "ADE_CameraPoseBasic", "inputs": {}}  # no counterpart
    result = convert_workflow(wf)
    assert "60" not in result.workflow and entries(result, NOTE, "60")
    assert "61" in result.workflow and [e.kind for e in entries(result, node="61")] == ["left as is"]


def test_live_definitions_decide_what_is_written():
    """With the installed nodes' definitions (as the runner passes them), only those are written: without the
    context-options chain nodes the first entry goes to AnimateLCM Context Options and the rest is reported."""
    import json
    from tools.convert.targets import SNAPSHOT
    with open(SNAPSHOT, encoding="utf-8") as f:
        definitions = json.load(f)
    older = {k: v for k, v in definitions.items() if not k.startswith(("ALCM_ContextOptions", "ALCM_ApplyContext"))}
    older["ALCM_ContextOptions"] = definitions["ALCM_ContextOptions"]
    wf = samples.legacy_loader_uniform()
    wf["11"]["inputs"]["start_percent"] = 0.2
    result = convert_workflow(wf, available=older)
    p = result.workflow
    ctx = p[chain(p)[0][0]]
    assert ctx["class_type"] == "ALCM_ContextOptions"
    assert {k: ctx["inputs"][k] for k in ("mode", "context_length", "context_overlap", "schedule", "fuse_method")} \
        == {"mode": "full", "context_length": 4, "context_overlap": 2, "schedule": "looped", "fuse_method": "flat"}
    assert [e.option for e in entries(result, NOT_REPRODUCED, "11")] == ["start_percent"]
    p = convert_workflow(wf, available=definitions).workflow
    assert p[chain(p)[0][0]]["class_type"] == "ALCM_ApplyContextOptions"


def test_widgets_fed_by_other_nodes_stay_connected():
    wf = samples.legacy_loader_uniform()
    wf["50"] = {"class_type": "PrimitiveInt", "inputs": {"value": 10}}
    wf["11"]["inputs"]["context_length"] = ["50", 0]
    wf["10"]["inputs"]["beta_schedule"] = ["51", 0]  # a value only a node computes, where a constant is needed
    wf["51"] = {"class_type": "SomeStringNode", "inputs": {}}
    result = convert_workflow(wf)
    p = result.workflow
    assert p["11"]["inputs"]["context_length"] == ["50", 0]
    assert [e.option for e in entries(result, NOT_REPRODUCED, "10")] == ["beta_schedule"]


def test_ade_nodes_feeding_ade_nodes():
    """ADE's checkpoint loader feeding Use Evolved Sampling: the motion chain starts at its replacement."""
    wf = samples.gen2_static()
    wf["1"] = {"class_type": "CheckpointLoaderSimpleWithNoiseSelect", "inputs": {
        "ckpt_name": "sd.safetensors", "beta_schedule": "lcm", "use_custom_scale_factor": False,
        "scale_factor": 0.18215}}
    wf["5"] = {"class_type": "BatchPromptSchedule", "inputs": {  # its CLIP from the same removed loader
        "text": '"0": "a"', "clip": ["1", 1], "max_frames": 12, "print_output": False, "start_frame": 0,
        "end_frame": 0}}
    wf["90"]["inputs"]["positive"] = ["5", 0]
    p = convert_workflow(wf).workflow
    types = [t for _, t in chain(p)]
    assert types == ["ALCM_ApplyContextOptions", "ALCM_ApplyMotionModel", "ALCM_ModelSampling",
                     "CheckpointLoaderSimple"]
    clip = p[p["90"]["inputs"]["positive"][0]]["inputs"]["clip"]
    assert p[clip[0]]["class_type"] == "CheckpointLoaderSimple" and clip[1] == 1
