"""ADE's raw / combined sigma schedules, Sigma Schedule To Sigmas and its interpolated / from-list custom CFG keyframes
-> this pack's Noise Schedule and Custom CFG nodes. Expected values are ADE's inputs under this pack's names as
tests/packs/test_sampling_parity.py pairs them (ADE "schedule_A" = our "schedule_a", "idx_split_percent" =
"split_percent", "cfgs_float" = "cfgs", its beta-schedule names per docs/converting.md), written out by hand."""
import pytest

from ade_workflows import samples
from ade_workflows.builder import UIWorkflow, ui_from_api
from ade_workflows.checks import check_ui, link_fields
from tools.convert import ConversionError, StrictRefused, convert_workflow
from tools.convert.report import CONVERTED, DIFFERS, LEFT, NOT_REPRODUCED, NOTE

RAW = {"raw_beta_schedule": "sqrt", "linear_start": 0.0009, "linear_end": 0.014, "sampling": "lcm",
       "lcm_original_timesteps": 40, "zsnr": False}
RAW_OURS = {"beta_schedule": "sqrt", "linear_start": 0.0009, "linear_end": 0.014, "sampling": "lcm",
            "lcm_original_timesteps": 40, "zsnr": False}


def entries(result, kind=None, node=None):
    return [e for e in result.report if (kind is None or e.kind == kind) and (node is None or e.node == node)]


def with_settings(nodes: dict, **links) -> dict:
    """gen2_static with ADE Sample Settings (node 47, default noise) linking `links`, plus `nodes`."""
    wf = samples.gen2_static()
    wf.update(nodes)
    wf["47"] = {"class_type": "ADE_AnimateDiffSamplingSettings", "inputs": {
        "batch_offset": 0, "noise_type": "default", "seed_gen": "comfy", "seed_offset": 0,
        **{k: [v, 0] for k, v in links.items()}}}
    wf["10"]["inputs"]["sample_settings"] = ["47", 0]
    return wf


def settings_input(p, name):
    """The node feeding input `name` of the converted Sample Settings (the sampler's MODEL)."""
    settings = p[p["90"]["inputs"]["model"][0]]
    assert settings["class_type"] == "ALCM_SampleSettings"
    return p[settings["inputs"][name][0]]


def named(beta):
    return {"class_type": "ADE_SigmaSchedule", "inputs": {"beta_schedule": beta}}


# ---- sigma schedules ----------------------------------------------------------------------------------------

def test_raw_sigma_schedule_feeds_sample_settings():
    result = convert_workflow(with_settings({"50": {"class_type": "ADE_RawSigmaSchedule", "inputs": dict(RAW)}},
                                            sigma_schedule="50"))
    assert settings_input(result.workflow, "noise_schedule") == {"class_type": "ALCM_NoiseScheduleRaw",
                                                                 "inputs": RAW_OURS}
    assert [e.new[0][1] for e in entries(result, CONVERTED, "50")] == ["ALCM_NoiseScheduleRaw"]
    assert not entries(result, NOT_REPRODUCED) and not entries(result, LEFT)


def test_raw_sigma_schedule_before_the_zsnr_rename():
    """ADE until 2024-08 named zsnr lcm_zsnr and applied it only with sampling lcm."""
    old = {**RAW, "sampling": "eps", "lcm_zsnr": True}
    del old["zsnr"]
    result = convert_workflow(with_settings({"50": {"class_type": "ADE_RawSigmaSchedule", "inputs": old}},
                                            sigma_schedule="50"))
    assert settings_input(result.workflow, "noise_schedule")["inputs"]["zsnr"] is False
    assert [e.option for e in entries(result, NOTE, "50")] == ["lcm_zsnr"]
    old["sampling"] = "lcm"
    p = convert_workflow(with_settings({"50": {"class_type": "ADE_RawSigmaSchedule", "inputs": old}},
                                       sigma_schedule="50")).workflow
    assert settings_input(p, "noise_schedule")["inputs"]["zsnr"] is True


def test_weighted_mean_of_two_schedules():
    wf = with_settings({"50": named("sqrt_linear (AnimateDiff)"), "51": named("linear (HotshotXL/default)"),
                        "52": {"class_type": "ADE_SigmaScheduleWeightedAverage", "inputs": {
                            "schedule_A": ["50", 0], "schedule_B": ["51", 0], "weight_A": 0.3}}},
                       sigma_schedule="52")
    p = convert_workflow(wf).workflow
    mean = settings_input(p, "noise_schedule")
    assert mean["class_type"] == "ALCM_NoiseScheduleMean" and mean["inputs"]["weight_a"] == 0.3
    assert p[mean["inputs"]["schedule_a"][0]] == {"class_type": "ALCM_NoiseSchedule",
                                                  "inputs": {"schedule": "sqrt_linear"}}
    assert p[mean["inputs"]["schedule_b"][0]]["inputs"] == {"schedule": "linear"}


def test_interpolated_mean_of_a_named_and_a_raw_schedule():
    wf = with_settings({"50": named("lcm >> sqrt_linear"), "51": {"class_type": "ADE_RawSigmaSchedule",
                                                                  "inputs": dict(RAW)},
                        "52": {"class_type": "ADE_SigmaScheduleWeightedAverageInterp", "inputs": {
                            "schedule_A": ["50", 0], "schedule_B": ["51", 0], "weight_A_Start": 0.9,
                            "weight_A_End": 0.2, "interpolation": "ease_in_out"}}}, sigma_schedule="52")
    p = convert_workflow(wf).workflow
    mean = settings_input(p, "noise_schedule")
    assert mean["class_type"] == "ALCM_NoiseScheduleInterpMean"
    assert {k: v for k, v in mean["inputs"].items() if not k.startswith("schedule")} == {
        "weight_a_start": 0.9, "weight_a_end": 0.2, "interpolation": "ease_in_out"}
    assert p[mean["inputs"]["schedule_a"][0]]["inputs"] == {"schedule": "lcm_50_sqrt_linear"}
    assert p[mean["inputs"]["schedule_b"][0]] == {"class_type": "ALCM_NoiseScheduleRaw", "inputs": RAW_OURS}


def test_split_and_combine_keeps_start_and_end():
    wf = with_settings({"50": named("sqrt_linear (AnimateDiff)"), "51": named("cosine"),
                        "52": {"class_type": "ADE_SigmaScheduleSplitAndCombine", "inputs": {
                            "schedule_Start": ["50", 0], "schedule_End": ["51", 0], "idx_split_percent": 0.4}}},
                       sigma_schedule="52")
    p = convert_workflow(wf).workflow
    split = settings_input(p, "noise_schedule")
    assert split["class_type"] == "ALCM_NoiseScheduleSplit" and split["inputs"]["split_percent"] == 0.4
    assert p[split["inputs"]["schedule_start"][0]]["inputs"] == {"schedule": "sqrt_linear"}
    assert p[split["inputs"]["schedule_end"][0]]["inputs"] == {"schedule": "cosine"}


def sampler_custom(wf, sigmas="53"):
    wf["91"] = {"class_type": "SamplerCustom", "inputs": {
        "model": ["10", 0], "add_noise": True, "noise_seed": 3, "cfg": 2.0, "positive": ["2", 0],
        "negative": ["3", 0], "sampler": ["92", 0], "sigmas": [sigmas, 0], "latent_image": ["4", 0]}}
    wf["92"] = {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "lcm"}}
    return wf


def test_sigma_schedule_to_sigmas_feeds_sampler_custom_and_shares_the_schedule():
    wf = sampler_custom(with_settings({"50": {"class_type": "ADE_RawSigmaSchedule", "inputs": dict(RAW)},
                                       "53": {"class_type": "ADE_SigmaScheduleToSigmas", "inputs": {
                                           "sigma_schedule": ["50", 0], "scheduler": "karras", "steps": 12,
                                           "denoise": 0.8}}}, sigma_schedule="50"))
    result = convert_workflow(wf)
    p = result.workflow
    sigmas = p[p["91"]["inputs"]["sigmas"][0]]
    assert sigmas["class_type"] == "ALCM_NoiseScheduleToSigmas"
    assert (sigmas["inputs"]["scheduler"], sigmas["inputs"]["steps"], sigmas["inputs"]["denoise"]) == \
           ("karras", 12, 0.8)
    assert sigmas["inputs"]["noise_schedule"] == p[p["90"]["inputs"]["model"][0]]["inputs"]["noise_schedule"]
    assert sum(n["class_type"] == "ALCM_NoiseScheduleRaw" for n in p.values()) == 1
    assert not entries(result, NOT_REPRODUCED)
    # ADE's own To Sigmas node fails with every scheduler (tests/packs/test_sampling_parity.py): said, and --strict
    # refuses it (a converted workflow would run where the original failed)
    assert [e.node for e in entries(result, DIFFERS)] == ["53"]
    with pytest.raises(StrictRefused, match="node 53"):
        convert_workflow(wf, strict=True)


def test_unknown_scheduler_and_unconvertible_schedules_are_reported():
    wf = sampler_custom(with_settings({
        "50": {"class_type": "ADE_SomeFutureSchedule", "inputs": {}}, "51": named("cosine"),
        "52": {"class_type": "ADE_SigmaScheduleWeightedAverage", "inputs": {
            "schedule_A": ["50", 0], "schedule_B": ["51", 0], "weight_A": 0.5}},
        "53": {"class_type": "ADE_SigmaScheduleToSigmas", "inputs": {
            "sigma_schedule": ["51", 0], "scheduler": "AYS SD1", "steps": 8, "denoise": 1.0}}},
        sigma_schedule="52"))
    result = convert_workflow(wf)
    lost = {(e.node, e.option, e.value) for e in entries(result, NOT_REPRODUCED)}
    assert {("52", "schedule_A", "50"), ("52", "node", "ADE_SigmaScheduleWeightedAverage"),
            ("53", "scheduler", "AYS SD1")} <= lost
    assert not entries(result, CONVERTED, "52")  # left out, not "folded"
    assert "noise_schedule" not in result.workflow[result.workflow["90"]["inputs"]["model"][0]]["inputs"]
    with pytest.raises(StrictRefused, match="node 52"):
        convert_workflow(wf, strict=True)


def test_a_combined_schedule_without_its_inputs_is_refused():
    wf = with_settings({"51": named("cosine"), "52": {"class_type": "ADE_SigmaScheduleSplitAndCombine", "inputs": {
        "schedule_Start": ["51", 0], "idx_split_percent": 0.5}}}, sigma_schedule="52")
    with pytest.raises(ConversionError, match="node 52 .*schedule_End"):
        convert_workflow(wf)


# ---- custom cfg keyframes -----------------------------------------------------------------------------------

INTERP = {"start_percent": 0.0, "end_percent": 0.8, "cfg_start": 40.0, "cfg_end": 1.0, "interpolation": "ease_in",
          "intervals": 5, "print_keyframes": False}


def test_interpolated_keyframes_chained_into_sample_settings():
    wf = with_settings({"60": {"class_type": "ADE_CustomCFGKeyframeSimple", "inputs": {
                            "cfg": 6.5, "start_percent": 0.0, "guarantee_steps": 1}},
                        "61": {"class_type": "ADE_CustomCFGKeyframeInterpolation", "inputs": {
                            **INTERP, "start_percent": 0.2, "print_keyframes": True, "prev_custom_cfg": ["60", 0]}}},
                       custom_cfg="61")
    result = convert_workflow(wf)
    p = result.workflow
    interp = settings_input(p, "custom_cfg")
    assert interp["class_type"] == "ALCM_CustomCFGInterpolated"
    assert {k: v for k, v in interp["inputs"].items() if k != "prev_custom_cfg"} == {
        "start_percent": 0.2, "end_percent": 0.8, "cfg_start": 40.0, "cfg_end": 1.0, "interpolation": "ease_in",
        "intervals": 5}
    assert p[interp["inputs"]["prev_custom_cfg"][0]] == {"class_type": "ALCM_CustomCFG", "inputs": {
        "cfg": "6.5", "start_percent": 0.0, "guarantee_steps": 1}}
    assert [e.option for e in entries(result, NOTE, "61")] == ["print_keyframes"]
    assert not entries(result, NOT_REPRODUCED)


def test_keyframes_from_a_constant_and_from_a_computed_list():
    wf = with_settings({"60": {"class_type": "ADE_CustomCFGKeyframeFromList", "inputs": {
                            "cfgs_float": 7.5, "start_percent": 0.0, "end_percent": 1.0, "print_keyframes": False}},
                        "61": {"class_type": "ADE_ValueScheduling", "inputs": {
                            "values": "0 = 40, 1 = 20, 2 = 1", "max_length": 3, "print_schedule": False}},
                        "62": {"class_type": "ADE_CustomCFGKeyframeFromList", "inputs": {
                            "cfgs_float": ["61", 0], "start_percent": 0.5, "end_percent": 1.0,
                            "print_keyframes": False, "prev_custom_cfg": ["60", 0]}}}, custom_cfg="62")
    result = convert_workflow(wf)
    assert settings_input(result.workflow, "custom_cfg") == {"class_type": "ALCM_CustomCFGFromList", "inputs": {
        "cfgs": "7.5", "start_percent": 0.0, "end_percent": 1.0}}  # node 62's keyframes left out, reported
    assert [(e.option, e.value) for e in entries(result, NOT_REPRODUCED, "62")] == [("cfgs_float", "<from node 61>")]
    assert "61" not in result.workflow  # fed only converted nodes
    assert not entries(result, CONVERTED, "62")


def test_unreproduced_keyframe_options_are_reported():
    wf = with_settings({"60": {"class_type": "ADE_CustomCFGKeyframeInterpolation", "inputs": {
                            **INTERP, "start_percent": 0.9, "end_percent": 0.1, "cfg_extras": ["63", 0]}},
                        "63": {"class_type": "ADE_CFGExtrasPAG", "inputs": {}}}, custom_cfg="60")
    result = convert_workflow(wf)
    lost = {(e.option, e.value) for e in entries(result, NOT_REPRODUCED, "60")}
    assert lost == {("cfg_extras", "<linked>"), ("start_percent", 0.9)}


# ---- UI format ----------------------------------------------------------------------------------------------

def test_ui_workflow_with_every_new_type():
    wf = sampler_custom(with_settings({
        "50": named("sqrt_linear (AnimateDiff)"), "51": {"class_type": "ADE_RawSigmaSchedule", "inputs": dict(RAW)},
        "52": {"class_type": "ADE_SigmaScheduleWeightedAverage", "inputs": {
            "schedule_A": ["50", 0], "schedule_B": ["51", 0], "weight_A": 0.25}},
        "54": {"class_type": "ADE_SigmaScheduleWeightedAverageInterp", "inputs": {
            "schedule_A": ["52", 0], "schedule_B": ["50", 0], "weight_A_Start": 1.0, "weight_A_End": 0.0,
            "interpolation": "ease_out"}},
        "55": {"class_type": "ADE_SigmaScheduleSplitAndCombine", "inputs": {
            "schedule_Start": ["54", 0], "schedule_End": ["51", 0], "idx_split_percent": 0.7}},
        "53": {"class_type": "ADE_SigmaScheduleToSigmas", "inputs": {
            "sigma_schedule": ["55", 0], "scheduler": "exponential", "steps": 6, "denoise": 1.0}},
        "60": {"class_type": "ADE_CustomCFGKeyframeInterpolation", "inputs": dict(INTERP)},
        "61": {"class_type": "ADE_CustomCFGKeyframeFromList", "inputs": {
            "start_percent": 0.5, "end_percent": 0.9, "print_keyframes": False, "prev_custom_cfg": ["60", 0]}}},
        sigma_schedule="55", custom_cfg="61"))
    del wf["91"], wf["92"]  # core sampler nodes the UI builder does not know: added by hand below
    ui = UIWorkflow()
    ui.__dict__.update({k: v for k, v in _as_builder(ui_from_api(wf)).items()})
    prim = ui.add("PrimitiveNode", [5.5], node_id=70)
    ui.link(prim, 0, 61, "cfgs_float")
    sampler = ui.add("SamplerCustom", [True, 3, "fixed", 2.0], inputs=[("model", "MODEL"), ("sigmas", "SIGMAS")],
                     outputs=["LATENT", "LATENT"], node_id=91)
    ui.link(53, 0, sampler, "sigmas")
    ui.node(53)["widgets_values"].append("")  # ADE's hidden autosize widget
    result = convert_workflow(ui.ui())
    out = result.workflow
    check_ui(out)
    nodes = {n["id"]: n for n in out["nodes"]}
    assert not any(n["type"].startswith("ADE_") for n in nodes.values())
    assert (nodes[53]["type"], nodes[53]["widgets_values"]) == ("ALCM_NoiseScheduleToSigmas", ["exponential", 6, 1.0])
    assert _feeding(out, 91, "sigmas") == 53
    assert (nodes[55]["type"], nodes[55]["widgets_values"]) == ("ALCM_NoiseScheduleSplit", [0.7])
    assert (nodes[54]["type"], nodes[54]["widgets_values"]) == ("ALCM_NoiseScheduleInterpMean", [1.0, 0.0, "ease_out"])
    assert (nodes[52]["type"], nodes[52]["widgets_values"]) == ("ALCM_NoiseScheduleMean", [0.25])
    assert nodes[51]["widgets_values"] == ["sqrt", 0.0009, 0.014, "lcm", 40, False]
    assert (nodes[61]["type"], nodes[61]["widgets_values"]) == ("ALCM_CustomCFGFromList", ["5.5", 0.5, 0.9])
    assert nodes[60]["widgets_values"] == [0.0, 0.8, 40.0, 1.0, "ease_in", 5]
    assert _feeding(out, 61, "prev_custom_cfg") == 60 and _feeding(out, 54, "schedule_a") == 52
    assert not entries(result, NOT_REPRODUCED) and not entries(result, LEFT)


def _as_builder(ui: dict) -> dict:
    return {"nodes": ui["nodes"], "links": ui["links"], "groups": [], "last_node": ui["last_node_id"],
            "last_link": ui["last_link_id"]}


def _feeding(wf, node_id, name):
    node = next(n for n in wf["nodes"] if n["id"] == node_id)
    slot = next(s for s in node["inputs"] if s["name"] == name)
    return next(link_fields(raw)[1] for raw in wf["links"] if link_fields(raw)[0] == slot["link"])
