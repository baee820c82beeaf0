"""ComfyUI-AnimateDiff-Evolved (ADE) node types the converter reads: widgets (every vintage since 2023-09, from
ADE's history), limits, linked inputs and output types. Facts only; what each becomes is in the ade_* modules.
"""
from .widgets import BIG, BOOL, COMBO, FLOAT, INT, SEED_MAX, NodeTable, STRING

FUSE = ("pyramid", "flat", "relative", "overlap-linear",
        "🔬delayed reverse sawtooth", "🔬pyramid-sigma", "🔬pyramid-sigma inverse", "🔬gauss-sigma",
        "🔬gauss-sigma inverse", "🔬random",
        "delayed reverse sawtooth", "pyramid-sigma", "pyramid-sigma inverse", "gauss-sigma", "gauss-sigma inverse",
        "random")
BETAS = ("autoselect", "use existing", "sqrt_linear (AnimateDiff)", "linear (AnimateDiff-SDXL)",
         "linear (HotshotXL/default)", "avg(sqrt_linear,linear)", "lcm avg(sqrt_linear,linear)", "lcm",
         "lcm[100_ots]", "lcm[25_ots]", "lcm >> sqrt_linear", "sqrt", "cosine", "squaredcos_cap_v2",
         # older ADE releases
         "linear (default)", "autoselect (override patch)", "autoselect (prefer patch)")
NOISE_TYPES = ("default", "constant", "empty", "repeated_context", "FreeNoise")
SEED_GENS = ("comfy", "comfy [gpu]", "auto1111", "auto1111 [gpu]")
RAW_BETAS = ("linear", "sqrt_linear", "sqrt", "cosine", "squaredcos_cap_v2")  # ComfyUI's beta schedule names
SAMPLINGS = ("eps", "v_prediction", "lcm")
INTERPOLATIONS = ("linear", "ease_in", "ease_out", "ease_in_out")

CONTEXT = ("CONTEXT_OPTIONS",)
LENGTH, STRIDE, OVERLAP = INT(16, 1, 128), INT(1, 1, 32), INT(4, 0, 128)
SCHEDULE, HALF = ("SIGMA_SCHEDULE",), FLOAT(0.5, 0.0, 1.0)
PERCENT0, PERCENT1, GUARANTEE = FLOAT(0.0, 0.0, 1.0), FLOAT(1.0, 0.0, 1.0), INT(1, 0, BIG)
CTX_TAIL = ("use_on_equal_length", "start_percent", "guarantee_steps")
CTX_FIELDS = {"context_length": LENGTH, "context_stride": STRIDE, "context_overlap": OVERLAP,
              "closed_loop": BOOL(False), "fuse_method": COMBO("pyramid", FUSE), "use_on_equal_length": BOOL(False),
              "start_percent": PERCENT0, "guarantee_steps": GUARANTEE}


def _table(node_type, fields, vintages, outputs, sockets=(), force=(), renames=None):
    return NodeTable(node_type, fields, tuple(tuple(v) for v in vintages), frozenset(force), renames or {},
                     tuple(sockets), tuple(outputs))


def _ctx(node_type, names, extra_vintages=(), **over):
    fields = {n: CTX_FIELDS[n] for n in names if n in CTX_FIELDS}
    fields.update(over)
    return _table(node_type, fields, [names, *extra_vintages], CONTEXT, ("prev_context", "view_opts"))


LSO = ("context_length", "context_stride", "context_overlap")
TABLES = [
    # ---- context options --------------------------------------------------------------------------------
    _ctx("ADE_AnimateDiffUniformContextOptions", LSO + ("context_schedule", "closed_loop", "fuse_method") + CTX_TAIL,
         [LSO + ("context_schedule", "closed_loop", "fuse_method"), LSO + ("context_schedule", "closed_loop")],
         context_schedule=COMBO("uniform"), fuse_method=COMBO("flat", FUSE)),
    _ctx("ADE_LoopedUniformContextOptions", LSO + ("closed_loop", "fuse_method") + CTX_TAIL),
    _ctx("ADE_StandardUniformContextOptions", LSO + ("fuse_method",) + CTX_TAIL, [LSO + ("fuse_method",)]),
    _ctx("ADE_StandardStaticContextOptions", ("context_length", "context_overlap", "fuse_method") + CTX_TAIL,
         [("context_length", "context_overlap", "fuse_method")]),
    _table("ADE_BatchedContextOptions", {"context_length": LENGTH, "start_percent": PERCENT0,
                                         "guarantee_steps": GUARANTEE},
           [("context_length", "start_percent", "guarantee_steps"), ("context_length",)], CONTEXT, ("prev_context",)),
    _table("ADE_ViewsOnlyContextOptions", {"use_on_equal_length": BOOL(False), "start_percent": PERCENT0,
                                           "guarantee_steps": GUARANTEE},
           [("start_percent", "guarantee_steps"), ("use_on_equal_length", "start_percent", "guarantee_steps")],
           CONTEXT, ("view_opts_req", "prev_context")),
    _table("ADE_StandardStaticViewOptions", {"view_length": LENGTH, "view_overlap": OVERLAP,
                                             "fuse_method": COMBO("pyramid", FUSE)},
           [("view_length", "view_overlap", "fuse_method")], ("VIEW_OPTS",)),
    _table("ADE_StandardUniformViewOptions", {"view_length": LENGTH, "view_stride": STRIDE, "view_overlap": OVERLAP,
                                              "fuse_method": COMBO("pyramid", FUSE)},
           [("view_length", "view_stride", "view_overlap", "fuse_method")], ("VIEW_OPTS",)),
    _table("ADE_LoopedUniformViewOptions", {"view_length": LENGTH, "view_stride": STRIDE, "view_overlap": OVERLAP,
                                            "closed_loop": BOOL(False), "fuse_method": COMBO("pyramid", FUSE),
                                            "use_on_equal_length": BOOL(False)},
           [("view_length", "view_stride", "view_overlap", "closed_loop", "fuse_method", "use_on_equal_length"),
            ("view_length", "view_stride", "view_overlap", "closed_loop", "fuse_method")], ("VIEW_OPTS",)),
    # ---- loaders and motion models ----------------------------------------------------------------------
    _table("ADE_AnimateDiffLoaderWithContext",
           {"model_name": COMBO(), "beta_schedule": COMBO("autoselect", BETAS),
            "apply_mm_groupnorm_hack": BOOL(True), "motion_scale": FLOAT(1.0, 0.0),
            "apply_v2_models_properly": BOOL(True, api_default=False)},
           [("model_name", "beta_schedule", "motion_scale", "apply_v2_models_properly"),
            ("model_name", "beta_schedule", "motion_scale"), ("model_name", "beta_schedule", "apply_mm_groupnorm_hack"),
            ("model_name", "beta_schedule")], ("MODEL",),
           ("model", "context_options", "motion_lora", "ad_settings", "motion_model_settings", "sample_settings",
            "ad_keyframes")),
    _table("ADE_AnimateDiffLoaderGen1", {"model_name": COMBO(), "beta_schedule": COMBO("autoselect", BETAS)},
           [("model_name", "beta_schedule")], ("MODEL",),
           ("model", "context_options", "motion_lora", "ad_settings", "ad_keyframes", "sample_settings",
            "scale_multival", "effect_multival", "per_block")),
    _table("ADE_UseEvolvedSampling", {"beta_schedule": COMBO("autoselect", BETAS)}, [("beta_schedule",)],
           ("MODEL",), ("model", "m_models", "context_options", "sample_settings")),
    _table("ADE_LoadAnimateDiffModel", {"model_name": COMBO()}, [("model_name",)], ("MOTION_MODEL_ADE",),
           ("ad_settings", "mm_settings")),
    _table("ADE_ApplyAnimateDiffModelSimple", {}, [()], ("M_MODELS",),
           ("motion_model", "motion_lora", "scale_multival", "effect_multival", "ad_keyframes", "per_block")),
    _table("ADE_ApplyAnimateDiffModel", {"start_percent": PERCENT0, "end_percent": PERCENT1,
                                         "apply_v2_properly": BOOL(True)},
           [("start_percent", "end_percent"), ("start_percent", "end_percent", "apply_v2_properly")], ("M_MODELS",),
           ("motion_model", "motion_lora", "scale_multival", "effect_multival", "ad_keyframes", "prev_m_models",
            "per_block")),
    _table("ADE_AnimateDiffLoRALoader", {"name": COMBO(), "strength": FLOAT(1.0, 0.0, 10.0)},
           [("name", "strength")], ("MOTION_LORA",), ("prev_motion_lora",), renames={"lora_name": "name"}),
    _table("ADE_AnimateDiffUnload", {}, [()], ("MODEL",), ("model",)),
    # ---- multivals and keyframes ------------------------------------------------------------------------
    _table("ADE_MultivalDynamic", {"float_val": FLOAT(1.0, 0.0)}, [("float_val",)], ("MULTIVAL",),
           ("mask_optional",)),
    _table("ADE_MultivalDynamicFloatInput", {"float_val": FLOAT(1.0, 0.0, 10.0)}, [("float_val",)], ("MULTIVAL",),
           ("mask_optional",), force=("float_val",)),
    _table("ADE_MultivalDynamicFloats", {}, [()], ("MULTIVAL",), ("floats", "mask_optional")),
    _table("ADE_MultivalScaledMask", {"min_float_val": FLOAT(0.0, 0.0), "max_float_val": FLOAT(1.0, 0.0),
                                      "scaling": COMBO("absolute", ("absolute", "relative"))},
           [("min_float_val", "max_float_val", "scaling"), ("min_float_val", "max_float_val")], ("MULTIVAL",),
           ("mask",)),
    _table("ADE_AnimateDiffKeyframe", {"start_percent": PERCENT0, "inherit_missing": BOOL(True),
                                       "guarantee_steps": GUARANTEE, "guarantee_usage": BOOL(True)},
           [("start_percent", "inherit_missing", "guarantee_steps"),
            ("start_percent", "inherit_missing", "guarantee_usage")], ("AD_KEYFRAMES",),
           ("prev_ad_keyframes", "scale_multival", "effect_multival", "per_block_replace")),
    # ---- motion-model settings --------------------------------------------------------------------------
    _table("ADE_AnimateDiffSettings", {}, [()], ("AD_SETTINGS",), ("pe_adjust", "weight_adjust")),
    _table("ADE_AdjustPESweetspotStretch", {"sweetspot": INT(16, 0, BIG), "new_sweetspot": INT(16, 0, BIG),
                                            "print_adjustment": BOOL(False)},
           [("sweetspot", "new_sweetspot", "print_adjustment")], ("PE_ADJUST",), ("prev_pe_adjust",)),
    _table("ADE_AdjustPEFullStretch", {"pe_stretch": INT(0, 0, BIG), "print_adjustment": BOOL(False)},
           [("pe_stretch", "print_adjustment")], ("PE_ADJUST",), ("prev_pe_adjust",)),
    _table("ADE_AdjustPEManual", {"cap_initial_pe_length": INT(0, 0), "interpolate_pe_to_length": INT(0, 0),
                                  "initial_pe_idx_offset": INT(0, 0), "final_pe_idx_offset": INT(0, 0),
                                  "print_adjustment": BOOL(False)},
           [("cap_initial_pe_length", "interpolate_pe_to_length", "initial_pe_idx_offset", "final_pe_idx_offset",
             "print_adjustment")], ("PE_ADJUST",), ("prev_pe_adjust",)),
]


def _weights(node_type, parts, op):
    neutral, lo = (0.0, -2.0) if op == "ADD" else (1.0, 0.0)
    names = tuple(f"{p}_{op}" for p in parts) + ("print_adjustment",)
    fields = {n: FLOAT(neutral, lo, 2.0) for n in names[:-1]}
    fields["print_adjustment"] = BOOL(False)
    return _table(node_type, fields, [names], ("WEIGHT_ADJUST",), ("prev_weight_adjust",))


ATTN_PARTS = ("pe", "attn", "attn_q", "attn_k", "attn_v", "attn_out_weight", "attn_out_bias", "other")
TABLES += [_weights("ADE_AdjustWeightAllAdd", ("all",), "ADD"), _weights("ADE_AdjustWeightAllMult", ("all",), "MULT"),
           _weights("ADE_AdjustWeightIndivAdd", ("pe", "attn", "other"), "ADD"),
           _weights("ADE_AdjustWeightIndivMult", ("pe", "attn", "other"), "MULT"),
           _weights("ADE_AdjustWeightIndivAttnAdd", ATTN_PARTS, "ADD"),
           _weights("ADE_AdjustWeightIndivAttnMult", ATTN_PARTS, "MULT")]

# deprecated all-in-one motion-model settings (2023-10 .. ): strengths, PE options, motion-scale mask
_MS_STRENGTH = {n: FLOAT(1.0, 0.0, 10.0) for n in ("pe_strength", "attn_strength", "other_strength")}
_MS_ATTN = {f"attn_{p}_strength": FLOAT(1.0, 0.0, 10.0) for p in ("q", "k", "v", "out_weight", "out_bias")}
_MS_PE = {"motion_pe_stretch": INT(0, 0), "cap_initial_pe_length": INT(0, 0), "interpolate_pe_to_length": INT(0, 0),
          "initial_pe_idx_offset": INT(0, 0), "final_pe_idx_offset": INT(0, 0)}
_MS_SCALE = {"min_motion_scale": FLOAT(1.0, 0.0), "max_motion_scale": FLOAT(1.0, 0.0)}
_PE_ORDER = ("cap_initial_pe_length", "interpolate_pe_to_length", "initial_pe_idx_offset", "final_pe_idx_offset")
TABLES += [
    _table("ADE_AnimateDiffModelSettings", {**_MS_STRENGTH, **_MS_PE, **_MS_SCALE},
           [("pe_strength", "attn_strength", "other_strength", "motion_pe_stretch") + _PE_ORDER +
            ("min_motion_scale", "max_motion_scale"),
            ("pe_strength", "attn_strength", "other_strength", "motion_pe_stretch") + _PE_ORDER,
            ("pe_strength", "attn_strength", "other_strength") + _PE_ORDER],
           ("AD_SETTINGS",), ("mask_motion_scale",)),
    _table("ADE_AnimateDiffModelSettingsAdvancedAttnStrengths", {**_MS_STRENGTH, **_MS_ATTN, **_MS_PE, **_MS_SCALE},
           [("pe_strength", "attn_strength") + tuple(_MS_ATTN) + ("other_strength", "motion_pe_stretch") + _PE_ORDER
            + ("min_motion_scale", "max_motion_scale"),
            ("pe_strength", "attn_strength") + tuple(_MS_ATTN) + ("other_strength", "motion_pe_stretch") + _PE_ORDER],
           ("AD_SETTINGS",), ("mask_motion_scale",)),
    _table("ADE_AnimateDiffModelSettingsSimple", {"motion_pe_stretch": INT(0, 0), **_MS_SCALE},
           [("motion_pe_stretch", "min_motion_scale", "max_motion_scale"), ("motion_pe_stretch",)],
           ("AD_SETTINGS",), ("mask_motion_scale",), renames={"min_scale": "min_motion_scale",
                                                              "max_scale": "max_motion_scale"}),
    _table("ADE_AnimateDiffModelSettings_Release", dict(_MS_SCALE), [("min_motion_scale", "max_motion_scale")],
           ("AD_SETTINGS",), ("mask_motion_scale",)),
]

# ---- sampling ---------------------------------------------------------------------------------------------
TABLES += [
    _table("ADE_AnimateDiffSamplingSettings",
           {"batch_offset": INT(0, 0, BIG), "noise_type": COMBO("default", NOISE_TYPES),
            "seed_gen": COMBO("comfy", SEED_GENS), "seed_offset": INT(0, -BIG, BIG),
            "seed_override": INT(0, 0, SEED_MAX), "adapt_denoise_steps": BOOL(False)},
           [("batch_offset", "noise_type", "seed_gen", "seed_offset", "seed_override", "adapt_denoise_steps"),
            ("batch_offset", "noise_type", "seed_gen", "seed_offset", "seed_override"),
            ("batch_offset", "noise_type", "seed_gen", "seed_override"),
            ("batch_offset", "noise_type", "seed_gen"), ("seed_gen",)],
           ("SAMPLE_SETTINGS",),
           ("noise_layers", "iteration_opts", "custom_cfg", "sigma_schedule", "image_inject", "ancestral_opts",
            "seed_override", "iter_opts", "noise_calib"), force=("seed_override",)),
    _table("ADE_CustomCFGSimple", {"cfg": FLOAT(8.0, 0.0, 100.0)}, [("cfg",)], ("CUSTOM_CFG",), ("cfg_extras",)),
    _table("ADE_CustomCFG", {}, [()], ("CUSTOM_CFG",), ("cfg_multival", "cfg_extras")),
    _table("ADE_CustomCFGKeyframeSimple", {"cfg": FLOAT(8.0, 0.0, 100.0), "start_percent": PERCENT0,
                                           "guarantee_steps": GUARANTEE},
           [("cfg", "start_percent", "guarantee_steps")], ("CUSTOM_CFG",), ("prev_custom_cfg", "cfg_extras")),
    _table("ADE_CustomCFGKeyframe", {"start_percent": PERCENT0, "guarantee_steps": GUARANTEE},
           [("start_percent", "guarantee_steps")], ("CUSTOM_CFG",), ("cfg_multival", "prev_custom_cfg", "cfg_extras")),
    _table("ADE_SigmaSchedule", {"beta_schedule": COMBO("sqrt_linear (AnimateDiff)", BETAS)}, [("beta_schedule",)],
           ("SIGMA_SCHEDULE",)),
    # 2024-02; lcm_zsnr renamed zsnr 2024-08 (same place)
    _table("ADE_RawSigmaSchedule", {"raw_beta_schedule": COMBO("linear", RAW_BETAS),
                                    "linear_start": FLOAT(0.00085, 0.0, 1.0), "linear_end": FLOAT(0.012, 0.0, 1.0),
                                    "sampling": COMBO("eps", SAMPLINGS), "lcm_original_timesteps": INT(50, 1, 1000),
                                    "zsnr": BOOL(False)},
           [("raw_beta_schedule", "linear_start", "linear_end", "sampling", "lcm_original_timesteps", "zsnr")],
           SCHEDULE, renames={"lcm_zsnr": "zsnr"}),
    _table("ADE_SigmaScheduleWeightedAverage", {"weight_A": HALF}, [("weight_A",)], SCHEDULE,
           ("schedule_A", "schedule_B")),
    _table("ADE_SigmaScheduleWeightedAverageInterp", {"weight_A_Start": HALF, "weight_A_End": HALF,
                                                      "interpolation": COMBO("linear", INTERPOLATIONS)},
           [("weight_A_Start", "weight_A_End", "interpolation")], SCHEDULE, ("schedule_A", "schedule_B")),
    _table("ADE_SigmaScheduleSplitAndCombine", {"idx_split_percent": HALF}, [("idx_split_percent",)], SCHEDULE,
           ("schedule_Start", "schedule_End")),
    # 2024-07; scheduler: ComfyUI's scheduler names (no default: the frontend takes the first, "simple" in current
    # ComfyUI; names this pack's node lacks are reported when written)
    _table("ADE_SigmaScheduleToSigmas", {"scheduler": COMBO("simple"), "steps": INT(20, 1, 10000),
                                         "denoise": FLOAT(1.0, 0.0, 1.0)},
           [("scheduler", "steps", "denoise")], ("SIGMAS",), ("sigma_schedule",)),
    # 2024-07
    _table("ADE_CustomCFGKeyframeInterpolation",
           {"start_percent": PERCENT0, "end_percent": PERCENT1, "cfg_start": FLOAT(8.0, 0.0, 100.0),
            "cfg_end": FLOAT(8.0, 0.0, 100.0), "interpolation": COMBO("linear", INTERPOLATIONS),
            "intervals": INT(50, 2, 100), "print_keyframes": BOOL(False)},
           [("start_percent", "end_percent", "cfg_start", "cfg_end", "interpolation", "intervals", "print_keyframes")],
           ("CUSTOM_CFG",), ("prev_custom_cfg", "cfg_extras")),
    _table("ADE_CustomCFGKeyframeFromList", {"cfgs_float": FLOAT(-1.0, -1.0), "start_percent": PERCENT0,
                                             "end_percent": PERCENT1, "print_keyframes": BOOL(False)},
           [("cfgs_float", "start_percent", "end_percent", "print_keyframes")], ("CUSTOM_CFG",),
           ("cfgs_float", "prev_custom_cfg", "cfg_extras"), force=("cfgs_float",)),
    # ---- checkpoint, latent, output ---------------------------------------------------------------------
    _table("CheckpointLoaderSimpleWithNoiseSelect",
           {"ckpt_name": COMBO(), "beta_schedule": COMBO("use existing", BETAS),
            "use_custom_scale_factor": BOOL(False), "scale_factor": FLOAT(0.18215, 0.0, 1.0)},
           [("ckpt_name", "beta_schedule", "use_custom_scale_factor", "scale_factor"),
            ("ckpt_name", "beta_schedule")], ("MODEL", "CLIP", "VAE")),
    _table("ADE_EmptyLatentImageLarge", {"width": INT(512, 64, 16384), "height": INT(512, 64, 16384),
                                         "batch_size": INT(1, 1, 262144)},
           [("width", "height", "batch_size")], ("LATENT",)),
    _table("ADE_AnimateDiffCombine",
           {"frame_rate": INT(8, 1, 24), "loop_count": INT(0, 0, 100), "filename_prefix": STRING("AnimateDiff"),
            "format": COMBO("image/gif"), "pingpong": BOOL(False), "save_image": BOOL(True),
            "save_image_combo": COMBO("Enabled", ("Enabled", "Disabled"))},
           [("frame_rate", "loop_count", "filename_prefix", "format", "pingpong", "save_image"),
            ("frame_rate", "loop_count", "save_image", "filename_prefix", "pingpong"),
            ("frame_rate", "loop_count", "save_image_combo", "filename_prefix")], (), ("images",)),
]

ADE = {t.type: t for t in TABLES}
# Values that carry ADE objects between its nodes: a link of one of these types has no meaning without ADE.
OBJECT_TYPES = {"CONTEXT_OPTIONS", "VIEW_OPTS", "M_MODELS", "MOTION_MODEL_ADE", "MOTION_LORA", "AD_SETTINGS",
                "PE_ADJUST", "WEIGHT_ADJUST", "MULTIVAL", "AD_KEYFRAMES", "SAMPLE_SETTINGS", "CUSTOM_CFG",
                "SIGMA_SCHEDULE", "NOISE_LAYERS", "ITERATION_OPTS", "PER_BLOCK", "CFG_EXTRAS", "IMAGE_INJECT",
                "ANCESTRAL_OPTS", "MOTION_MODEL_SETTINGS", "CAMERACTRL_POSES", "PIA_INPUT"}
