"""Widget values of every vintage of the node types the converter reads (ADE since 2023-09, the old ArtVentureX
AnimateDiff pack, FizzNodes), as saved files hold them: fewer values in older files, forceInput values kept by older
frontends, ADE's hidden "" autosize / deprecation entries in newer ones. Expected names are written out here from
those packs' histories, not taken from the converter's tables."""
import math

import pytest

from tools.convert.core import TABLES
from tools.convert.graph import Graph
from tools.convert.report import ConversionError
from tools.convert.widgets import widget_values

FIZZ_PW = {"pw_a": 0.5, "pw_b": 0.0, "pw_c": 0.0, "pw_d": 0.0}
CASES = [
    # legacy looped uniform context: 2023-09, 2024-01 (+fuse), 2024-01 (+chain options), 2024-07 (+deprecation "")
    ("ADE_AnimateDiffUniformContextOptions", [16, 1, 4, "uniform", False],
     {"context_length": 16, "context_stride": 1, "context_overlap": 4, "closed_loop": False}),
    ("ADE_AnimateDiffUniformContextOptions", [12, 2, 3, "uniform", True, "flat"],
     {"context_length": 12, "context_stride": 2, "closed_loop": True, "fuse_method": "flat"}),
    ("ADE_AnimateDiffUniformContextOptions", [16, 1, 4, "uniform", False, "pyramid", False, 0.2, 1],
     {"fuse_method": "pyramid", "start_percent": 0.2, "guarantee_steps": 1}),
    ("ADE_AnimateDiffUniformContextOptions", [16, 1, 4, "uniform", False, "flat", True, 0, 2, ""],
     {"use_on_equal_length": True, "start_percent": 0, "guarantee_steps": 2}),
    ("ADE_LoopedUniformContextOptions", [16, 1, 4, True, "🔬gauss-sigma", False, 0.0, 1],
     {"closed_loop": True, "fuse_method": "🔬gauss-sigma"}),
    ("ADE_StandardUniformContextOptions", [16, 2, 4, "pyramid"], {"context_stride": 2, "fuse_method": "pyramid"}),
    ("ADE_StandardUniformContextOptions", [16, 2, 4, "flat", False, 0.5, 3], {"start_percent": 0.5}),
    ("ADE_StandardStaticContextOptions", [16, 4, "relative"], {"context_overlap": 4, "fuse_method": "relative"}),
    ("ADE_StandardStaticContextOptions", [8, 2, "pyramid", True, 0.0, 1], {"context_length": 8,
                                                                          "use_on_equal_length": True}),
    ("ADE_BatchedContextOptions", [16], {"context_length": 16}),
    ("ADE_BatchedContextOptions", [16, 0.3, 2], {"start_percent": 0.3, "guarantee_steps": 2}),
    ("ADE_ViewsOnlyContextOptions", [False, 0.0, 1], {"use_on_equal_length": False, "start_percent": 0.0}),
    ("ADE_ViewsOnlyContextOptions", [0.1, 1, ""], {"start_percent": 0.1, "guarantee_steps": 1}),
    ("ADE_StandardStaticViewOptions", [8, 2, "flat"], {"view_length": 8, "view_overlap": 2}),
    ("ADE_LoopedUniformViewOptions", [8, 1, 2, False, "pyramid"], {"view_stride": 1, "closed_loop": False}),
    ("ADE_LoopedUniformViewOptions", [8, 1, 2, False, "pyramid", True], {"use_on_equal_length": True}),
    # legacy loader: 2023-09 (2 widgets), 2023-10 (+groupnorm hack), 2023-10 (+motion_scale), 2023-11 (+v2
    # properly), 2024-12 (+deprecation "")
    ("ADE_AnimateDiffLoaderWithContext", ["mm.ckpt", "sqrt_linear (AnimateDiff)"],
     {"model_name": "mm.ckpt", "beta_schedule": "sqrt_linear (AnimateDiff)"}),
    ("ADE_AnimateDiffLoaderWithContext", ["mm.ckpt", "linear (default)", True], {"apply_mm_groupnorm_hack": True}),
    ("ADE_AnimateDiffLoaderWithContext", ["mm.ckpt", "sqrt_linear (AnimateDiff)", 1.2], {"motion_scale": 1.2}),
    ("ADE_AnimateDiffLoaderWithContext", ["mm.ckpt", "autoselect", 1, False],
     {"motion_scale": 1, "apply_v2_models_properly": False}),
    ("ADE_AnimateDiffLoaderWithContext", ["mm.ckpt", "autoselect", 1.0, True, ""], {"apply_v2_models_properly": True}),
    ("ADE_AnimateDiffLoaderGen1", ["mm.ckpt", "lcm"], {"beta_schedule": "lcm"}),
    ("ADE_UseEvolvedSampling", ["autoselect"], {"beta_schedule": "autoselect"}),
    ("ADE_LoadAnimateDiffModel", ["mm.ckpt"], {"model_name": "mm.ckpt"}),
    ("ADE_LoadAnimateDiffModel", ["mm.ckpt", ""], {"model_name": "mm.ckpt"}),  # 2024-09: autosize
    ("ADE_ApplyAnimateDiffModelSimple", [], {}),
    ("ADE_ApplyAnimateDiffModelSimple", [""], {}),
    ("ADE_ApplyAnimateDiffModel", [0.0, 0.5], {"start_percent": 0.0, "end_percent": 0.5}),
    ("ADE_ApplyAnimateDiffModel", [0.25, 1.0, ""], {"start_percent": 0.25}),
    ("ADE_ApplyAnimateDiffModel", [0.0, 1.0, False], {"apply_v2_properly": False}),  # 2024-01-03
    ("ADE_AnimateDiffLoRALoader", ["zoom.ckpt", 0.7], {"name": "zoom.ckpt", "strength": 0.7}),
    ("ADE_AnimateDiffLoRALoader", ["zoom.ckpt", 0.7, ""], {"name": "zoom.ckpt"}),
    ("ADE_MultivalDynamic", [1.3], {"float_val": 1.3}),
    ("ADE_MultivalDynamic", [0.5, ""], {"float_val": 0.5}),
    ("ADE_MultivalDynamicFloatInput", [], {}),  # float_val forceInput: newer frontends store nothing
    ("ADE_MultivalDynamicFloatInput", [1.0], {"float_val": 1.0}),
    ("ADE_MultivalScaledMask", [0.2, 0.9], {"min_float_val": 0.2, "max_float_val": 0.9}),
    ("ADE_MultivalScaledMask", [0.2, 0.9, "relative"], {"scaling": "relative"}),
    ("ADE_AnimateDiffKeyframe", [0.5, True, 1], {"start_percent": 0.5, "inherit_missing": True}),
    ("ADE_AnimateDiffKeyframe", [0.5, False, True], {"guarantee_usage": True}),  # 2024-01-07
    ("ADE_AdjustPESweetspotStretch", [16, 18, False], {"sweetspot": 16, "new_sweetspot": 18}),
    ("ADE_AdjustPESweetspotStretch", [16, 18, False, ""], {"new_sweetspot": 18}),
    ("ADE_AdjustWeightAllMult", [1.01, False], {"all_MULT": 1.01}),
    ("ADE_AdjustWeightIndivAttnAdd", [0.0, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0, -0.1, True], {"attn_ADD": 0.1,
                                                                                       "other_ADD": -0.1}),
    ("ADE_AnimateDiffModelSettings", [1.0, 1.0, 1.0, 0, 0, 0, 0], {"pe_strength": 1.0, "final_pe_idx_offset": 0}),
    ("ADE_AnimateDiffModelSettings", [1.0, 0.9, 1.0, 2, 0, 0, 0, 0, 1.0, 1.0, ""], {"attn_strength": 0.9,
                                                                                   "motion_pe_stretch": 2}),
    ("ADE_AnimateDiffModelSettingsSimple", [0, 0.5, 1.0], {"motion_pe_stretch": 0, "min_motion_scale": 0.5}),
    # sample settings: 2023-12 .. 2025 (seed_override was a widget in older frontends)
    ("ADE_AnimateDiffSamplingSettings", ["comfy"], {"seed_gen": "comfy"}),
    ("ADE_AnimateDiffSamplingSettings", [0, "FreeNoise", "comfy"], {"noise_type": "FreeNoise"}),
    # also the one-day 2024-01-01 layout (seed_override in 4th place); the newest reading wins when both fit
    ("ADE_AnimateDiffSamplingSettings", [0, "default", "auto1111", 7], {"seed_gen": "auto1111", "seed_offset": 7}),
    ("ADE_AnimateDiffSamplingSettings", [2, "default", "comfy", 5, 0], {"batch_offset": 2, "seed_offset": 5}),
    ("ADE_AnimateDiffSamplingSettings", [0, "constant", "comfy", 1, 0, False], {"noise_type": "constant",
                                                                                "adapt_denoise_steps": False}),
    ("ADE_AnimateDiffSamplingSettings", [0, "default", "comfy", 1, True], {"adapt_denoise_steps": True}),
    ("ADE_AnimateDiffSamplingSettings", [0, "default", "comfy", 1, True, ""], {"seed_offset": 1}),
    ("ADE_CustomCFGSimple", [6.5], {"cfg": 6.5}),
    ("ADE_CustomCFGSimple", [6.5, ""], {"cfg": 6.5}),
    ("ADE_CustomCFGKeyframeSimple", [5.0, 0.5, 1], {"cfg": 5.0, "start_percent": 0.5}),
    ("ADE_SigmaSchedule", ["lcm >> sqrt_linear"], {"beta_schedule": "lcm >> sqrt_linear"}),
    # raw schedule 2024-02 (6th widget lcm_zsnr until 2024-08, then zsnr), the other sigma / cfg nodes 2024-02 / -07
    ("ADE_RawSigmaSchedule", ["cosine", 0.001, 0.02, "v_prediction", 50, True], {"zsnr": True,
                                                                                  "sampling": "v_prediction"}),
    ("ADE_RawSigmaSchedule", ["sqrt", 0.0009, 0.014, "lcm", 40, False, ""], {"raw_beta_schedule": "sqrt"}),
    ("ADE_SigmaScheduleWeightedAverageInterp", [0.9, 0.2, "ease_in_out", ""], {"weight_A_End": 0.2}),
    ("ADE_SigmaScheduleToSigmas", ["karras", 12, 0.8, ""], {"scheduler": "karras", "steps": 12, "denoise": 0.8}),
    ("ADE_CustomCFGKeyframeInterpolation", [0.0, 0.8, 40.0, 1.0, "ease_in", 5, False, ""], {"intervals": 5}),
    ("ADE_CustomCFGKeyframeFromList", [0.2, 0.9, False], {"start_percent": 0.2, "end_percent": 0.9}),
    ("ADE_CustomCFGKeyframeFromList", [-1, 0.2, 0.9, True], {"cfgs_float": -1, "print_keyframes": True}),
    ("CheckpointLoaderSimpleWithNoiseSelect", ["sd.ckpt", "sqrt_linear (AnimateDiff)"], {"ckpt_name": "sd.ckpt"}),
    ("CheckpointLoaderSimpleWithNoiseSelect", ["sd.ckpt", "use existing", True, 0.13], {"scale_factor": 0.13}),
    ("ADE_EmptyLatentImageLarge", [512, 512, 300], {"batch_size": 300}),
    ("ADE_AnimateDiffCombine", [8, 0, "Enabled", "AnimateDiff"], {"save_image_combo": "Enabled"}),  # 2023-09-07
    ("ADE_AnimateDiffCombine", [8, 0, True, "AnimateDiff", True], {"save_image": True, "pingpong": True}),
    ("ADE_AnimateDiffCombine", [12, 1, "AD", "image/webp", False, True, ""], {"format": "image/webp",
                                                                             "loop_count": 1}),
    # old pack
    ("AnimateDiffModuleLoader", ["mm.ckpt"], {"model_name": "mm.ckpt"}),
    ("AnimateDiffLoraLoader", ["pan.ckpt", 0.5], {"alpha": 0.5}),
    ("AnimateDiffSlidingWindowOptions", [16, 1, 4, "uniform", False], {"context_schedule": "uniform"}),
    ("AnimateDiffSampler", ["default", 24, 5, "randomize", 20, 7.5, "euler", "normal", 1.0],
     {"frame_number": 24, "seed": 5, "control_after_generate": "randomize", "cfg": 7.5}),
    ("AnimateDiffCombine", [8, 0, "Enabled", "ad"], {"save_image_combo": "Enabled"}),
    ("AnimateDiffCombine", [8, 0, "Disabled", "ad", "Enabled"], {"pingpong_combo": "Enabled"}),
    ("AnimateDiffCombine", [8, 0, True, "ad", "image/gif", False], {"save_image": True, "format": "image/gif"}),
    # FizzNodes: 1.0.2 in a new frontend (forceInput inputs not stored), then older frontends / releases
    ("BatchPromptSchedule", ['"0": "a"', 16, False, 0, 0], {"max_frames": 16, "end_frame": 0}),
    ("BatchPromptSchedule", ['"0": "a"', 16, False, "pre", "app", 0, 0, 0.5, 0, 0, 0],
     {"pre_text": "pre", "app_text": "app", **FIZZ_PW}),
    ("BatchPromptSchedule", ['"0": "a"', 16, False, "", "", 0, 0.5, 0, 0, 0], {"start_frame": 0, "pw_a": 0.5}),
    ("BatchPromptSchedule", ['"0": "a"', 16, True, "", "", 0.5, 0, 0, 0], {"print_output": True}),
    ("BatchPromptSchedule", ['"0": "a"', 16, "", "", 0.5, 0, 0, 0], {"pre_text": ""}),
    ("BatchPromptScheduleLatentInput", ['"0": "a"', False, 0, 0], {"start_frame": 0}),
    ("BatchPromptScheduleLatentInput", ['"0": "a"', False, "x", "", 0, 0, 0.5, 0, 0, 0], {"pre_text": "x"}),
]


def _node(node_type, values):
    graph = Graph("ui", [{"id": 7, "type": node_type, "mode": 0, "inputs": [], "outputs": [],
                          "widgets_values": values}], [])
    return graph.nodes[7]


@pytest.mark.parametrize("node_type,values,expected", CASES, ids=[f"{c[0]}-{len(c[1])}" for c in CASES])
def test_every_vintage_reads_by_name(node_type, values, expected):
    got = widget_values(TABLES[node_type], _node(node_type, values))
    for name, value in expected.items():
        assert got[name] == value, (name, got)
    assert len(got) == len([v for v in values if v != ""]) or "" in values


def test_api_inputs_are_read_by_name_and_renamed():
    graph = Graph("api", [("3", {"class_type": "ADE_AnimateDiffLoRALoader",
                                 "inputs": {"lora_name": "a.ckpt", "strength": 0.4, "prev_motion_lora": ["2", 0]}})])
    assert widget_values(TABLES["ADE_AnimateDiffLoRALoader"], graph.nodes["3"]) == {"name": "a.ckpt", "strength": 0.4}


@pytest.mark.parametrize("node_type,values,words", [
    ("ADE_AnimateDiffUniformContextOptions", [16, 1, 4, "uniform"], ["4 widget values", "known widget orders"]),
    ("ADE_LoopedUniformContextOptions", [16, 1, 4, True, "pyramid", False, 0.0, 1, 9, 9], ["10 widget values"]),
    ("ADE_MultivalDynamic", ["1.0"], ["match no known version"]),
    ("ADE_AnimateDiffLoRALoader", ["a.ckpt", True], ["match no known version"]),
])
def test_unknown_versions_are_refused_naming_the_node(node_type, values, words):
    with pytest.raises(ConversionError) as err:
        widget_values(TABLES[node_type], _node(node_type, values))
    assert f"node 7 ({node_type})" in str(err.value)
    for word in words:
        assert word in str(err.value)


@pytest.mark.parametrize("node_type,values,name", [
    ("ADE_LoopedUniformContextOptions", [0, 1, 4, True, "pyramid", False, 0.0, 1], "context_length"),
    ("ADE_LoopedUniformContextOptions", [16, 1, 4, True, "pyramid", False, 1.5, 1], "start_percent"),
    ("ADE_LoopedUniformContextOptions", [16, 1, 4, True, "sideways", False, 0.0, 1], "fuse_method"),
    ("ADE_AnimateDiffLoRALoader", ["a.ckpt", math.nan], "strength"),
    ("ADE_AnimateDiffLoRALoader", ["a.ckpt", 1e9], "strength"),
    ("ADE_AnimateDiffSamplingSettings", [0, "mystery", "comfy", 0, False], "noise_type"),
    ("ADE_EmptyLatentImageLarge", [512, 512, 10 ** 7], "batch_size"),
    ("ADE_UseEvolvedSampling", ["no such schedule"], "beta_schedule"),
])
def test_absurd_values_are_refused_naming_node_input_and_range(node_type, values, name):
    with pytest.raises(ConversionError) as err:
        widget_values(TABLES[node_type], _node(node_type, values))
    assert f"node 7 ({node_type})" in str(err.value) and repr(name) in str(err.value)


def test_widget_values_as_an_object_are_read_by_name():
    values = {"context_length": 8, "context_overlap": 2, "fuse_method": "flat"}
    got = widget_values(TABLES["ADE_StandardStaticContextOptions"], _node("ADE_StandardStaticContextOptions", values))
    assert got == values
