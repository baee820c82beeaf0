"""Widget names, in `widgets_values` order, of the node types the shipped workflows use.

The unit tier has no ComfyUI, so it maps the shipped UI workflows with this table; the ComfyUI tier checks it against
the real node definitions and the real frontend. For any other node the runner derives the names from the live
definition (`tools.workflow_api.widget_names`). Add an entry when a shipped workflow uses a new node type.
"""
from tools.pack_index import builtin_pack_of

CONTROL = "control_after_generate"  # frontend-only widget after a seed
UPLOAD = "upload"  # frontend-only upload button after an upload combo

WIDGETS = {
    # ComfyUI core
    "CheckpointLoaderSimple": ["ckpt_name"],
    "LoraLoaderModelOnly": ["lora_name", "strength_model"],
    "CLIPTextEncode": ["text"],
    "EmptyLatentImage": ["width", "height", "batch_size"],
    "KSampler": ["seed", CONTROL, "steps", "cfg", "sampler_name", "scheduler", "denoise"],
    "VAEDecode": [],
    "PreviewImage": [],
    "VAEDecodeTiled": ["tile_size", "overlap", "temporal_size", "temporal_overlap"],
    "VAEEncode": [],
    "SaveAnimatedWEBP": ["filename_prefix", "fps", "lossless", "quality", "method"],
    "CreateVideo": ["fps"],
    "SaveVideo": ["filename_prefix", "format", "codec"],
    "LoadImage": ["image", UPLOAD],
    "LoadVideo": ["file", UPLOAD],
    "GetVideoComponents": [],
    "ImageFromBatch": ["batch_index", "length"],
    "ImageScale": ["upscale_method", "width", "height", "crop"],
    "ControlNetLoader": ["control_net_name"],
    "ControlNetApplyAdvanced": ["strength", "start_percent", "end_percent"],
    # this pack
    "ALCM_LoadMotionModel": ["model_name"],
    "ALCM_ApplyMotionLoRA": ["lora_name", "strength"],
    "ALCM_ApplyMotionModel": ["model_sampling", "effect", "scale", "start_percent", "end_percent"],
    "ALCM_LCMSigmas": ["steps", "denoise"],
    "ALCM_Sampler": ["seed", CONTROL, "steps", "cfg", "denoise"],
    "ALCM_ImageToVideo": ["strength", "motion_scale", "start_percent", "end_percent"],
    "ALCM_PromptSchedule": ["text", "frames", "interpolation", "pre_text", "app_text"],
    "ALCM_MotionKeyframe": ["start_percent", "effect", "scale"],
    "ALCM_ContextOptions": ["mode", "context_length", "context_overlap", "schedule", "stride", "closed_loop",
                            "fuse_method", "stretch_position_encoding", "freenoise", "use_on_equal_length"],
    "ALCM_FreeNoise": ["context_length", "context_overlap"],
    "ALCM_FreeInit": ["iterations", "filter", "d_s", "d_t", "order", "same_noise"],
    "ALCM_TrainingClips": ["folder", "caption", "frames", "stride", "width", "height", "max_clips", "seed", CONTROL],
    "ALCM_TrainMotionLoRA": ["lora_name", "rank", "learning_rate", "steps", "batch_size", "seed", CONTROL,
                             "gradient_checkpointing", "precision", "overwrite"],
    "ALCM_LoadSparseCtrl": ["sparsectrl_name", "motion_strength", "motion_scale", "indexes", "spread", "context_aware",
                            "hint_multiplier", "nonhint_multiplier", "mask_multiplier"],
    # ComfyUI core, used with IPAdapter_plus
    "CLIPVisionLoader": ["clip_name"],
    "ImageBatch": [],
    # other packs (a workflow using them needs the pack: PACK_NODES)
    "IPAdapterModelLoader": ["ipadapter_file"],
    "IPAdapterWeights": ["weights", "timing", "frames", "start_frame", "end_frame", "add_starting_frames",
                         "add_ending_frames", "method"],
    "IPAdapterBatch": ["weight", "weight_type", "start_at", "end_at", "embeds_scaling", "encode_batch_size"],
}
# node type -> the pack that provides it, for the types above from other packs, from the one table of packs' node
# types (tools/pack_nodes.json); the packs tier checks their widgets against the installed pack and runs the
# workflows that use them
PACK_NODES = {t: pack for t in WIDGETS if (pack := builtin_pack_of(t)) is not None}
# The ComfyUI core node types the shipped workflows use (the ComfyUI tier checks each exists in the real registry).
CORE_NODES = tuple(t for t in WIDGETS if not t.startswith("ALCM_") and t not in PACK_NODES)
