"""The first ComfyUI AnimateDiff pack (ArtVentureX/comfyui-animatediff): its all-in-one sampler becomes Load Motion
Module [+ MotionLoRAs] -> Apply Motion Module (sqrt_linear, as it forced) [-> looped windows, flat, when
frame_number exceeds the window] -> KSampler with the same settings; its combine node -> ComfyUI's video nodes."""
from ade_workflows.builder import UIWorkflow
from ade_workflows.checks import check_ui
from tools.convert import convert_workflow
from tools.convert.report import NOT_REPRODUCED


def old_workflow(frames=24, batch=1, sliding=True, inject="default", fmt="video/h264-mp4"):
    wf = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
        "2": {"class_type": "AnimateDiffLoraLoader", "inputs": {"lora_name": "v2_lora_ZoomIn.ckpt", "alpha": 0.9}},
        "3": {"class_type": "AnimateDiffLoraLoader", "inputs": {"lora_name": "v2_lora_PanLeft.ckpt", "alpha": 0.4,
                                                                "lora_stack": ["2", 0]}},
        "4": {"class_type": "AnimateDiffModuleLoader", "inputs": {"model_name": "mm_sd_v15_v2.ckpt",
                                                                  "lora_stack": ["3", 0]}},
        "5": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "a boat"}},
        "6": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 384, "batch_size": batch}},
        "7": {"class_type": "AnimateDiffSampler", "inputs": {
            "motion_module": ["4", 0], "inject_method": inject, "frame_number": frames, "model": ["1", 0],
            "seed": 42, "steps": 20, "cfg": 7.5, "sampler_name": "euler_ancestral", "scheduler": "karras",
            "positive": ["5", 0], "negative": ["5", 0], "latent_image": ["6", 0], "denoise": 0.9}},
        "9": {"class_type": "VAEDecode", "inputs": {"samples": ["7", 0], "vae": ["1", 2]}},
        "10": {"class_type": "AnimateDiffCombine", "inputs": {
            "images": ["9", 0], "frame_rate": 8, "loop_count": 0, "save_image": True, "filename_prefix": "boat",
            "format": fmt, "pingpong": False}},
    }
    if sliding:
        wf["8"] = {"class_type": "AnimateDiffSlidingWindowOptions", "inputs": {
            "context_length": 16, "context_stride": 2, "context_overlap": 4, "context_schedule": "uniform",
            "closed_loop": True}}
        wf["7"]["inputs"]["sliding_window_opts"] = ["8", 0]
    return wf


def test_sampler_becomes_motion_chain_windows_and_ksampler():
    result = convert_workflow(old_workflow())
    p = result.workflow
    sampler = p["7"]
    assert sampler["class_type"] == "KSampler"
    assert {k: sampler["inputs"][k] for k in ("seed", "steps", "cfg", "sampler_name", "scheduler", "denoise")} == \
        {"seed": 42, "steps": 20, "cfg": 7.5, "sampler_name": "euler_ancestral", "scheduler": "karras", "denoise": 0.9}
    latent = p[sampler["inputs"]["latent_image"][0]]
    assert latent == {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 384, "batch_size": 24}}
    ctx = p[sampler["inputs"]["model"][0]]
    assert ctx["class_type"] == "ALCM_ApplyContextOptions" and ctx["inputs"]["mode"] == "full"
    assert p[ctx["inputs"]["context_options"][0]]["inputs"] == {
        "context_length": 16, "context_stride": 2, "context_overlap": 4, "closed_loop": True, "fuse_method": "flat"}
    apply = p[ctx["inputs"]["model"][0]]
    assert apply["inputs"]["model_sampling"] == "sqrt_linear" and apply["inputs"]["model"] == ["1", 0]
    pan = p[apply["inputs"]["motion_model"][0]]
    zoom = p[pan["inputs"]["motion_model"][0]]
    assert (zoom["inputs"]["lora_name"], zoom["inputs"]["strength"]) == ("v2_lora_ZoomIn.ckpt", 0.9)
    assert (pan["inputs"]["lora_name"], pan["inputs"]["strength"]) == ("v2_lora_PanLeft.ckpt", 0.4)
    assert p[zoom["inputs"]["motion_model"][0]] == {"class_type": "ALCM_LoadMotionModel",
                                                    "inputs": {"model_name": "mm_sd_v15_v2.ckpt"}}
    save = next(n for n in p.values() if n["class_type"] == "SaveVideo")
    video = p[save["inputs"]["video"][0]]
    assert video == {"class_type": "CreateVideo", "inputs": {"images": ["9", 0], "fps": 8.0}}
    assert (save["inputs"]["format"], save["inputs"]["codec"], save["inputs"]["filename_prefix"]) == \
        ("mp4", "h264", "boat")
    assert not [e for e in result.report if e.kind == NOT_REPRODUCED]


def test_short_videos_get_no_windows_and_unknown_latents_are_reported():
    wf = old_workflow(frames=12, batch=12, sliding=False)
    p = convert_workflow(wf).workflow
    assert p[p["7"]["inputs"]["model"][0]]["class_type"] == "ALCM_ApplyMotionModel"
    assert p["7"]["inputs"]["latent_image"] == ["6", 0]
    wf = old_workflow(frames=24, sliding=False)  # no options: the old pack still windowed past 16 frames
    p = convert_workflow(wf).workflow
    assert p[p["7"]["inputs"]["model"][0]]["class_type"] == "ALCM_ApplyContextOptions"
    wf = old_workflow(inject="legacy", fmt="video/webm")
    wf["6"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["11", 0], "vae": ["1", 2]}}
    result = convert_workflow(wf)
    lost = {(e.node, e.option) for e in result.report if e.kind == NOT_REPRODUCED}
    assert lost == {("7", "inject_method"), ("7", "frame_number"), ("10", "format")}


def test_old_pack_ui_file():
    w = UIWorkflow()
    ck = w.add("CheckpointLoaderSimple", ["sd15.safetensors"])
    mm = w.add("AnimateDiffModuleLoader", ["mm_sd_v15_v2.ckpt"])
    lat = w.add("EmptyLatentImage", [512, 512, 16])
    pos = w.add("CLIPTextEncode", ["a boat"])
    sampler = w.add("AnimateDiffSampler", ["default", 16, 3, "randomize", 20, 7.0, "euler", "normal", 1.0])
    for src, slot, name in ((mm, 0, "motion_module"), (ck, 0, "model"), (pos, 0, "positive"), (pos, 0, "negative"),
                            (lat, 0, "latent_image")):
        w.link(src, slot, sampler, name)
    w.link(ck, 1, pos, "clip")
    wf = convert_workflow(w.ui()).workflow
    check_ui(wf)
    node = next(n for n in wf["nodes"] if n["id"] == sampler)
    assert node["type"] == "KSampler" and node["widgets_values"] == [3, "randomize", 20, 7.0, "euler", "normal", 1.0]


def test_image_size_node():
    wf = {"1": {"class_type": "LoadImage", "inputs": {"image": "a.png"}},
          "2": {"class_type": "ImageSizeAndBatchSize", "inputs": {"image": ["1", 0]}},
          "3": {"class_type": "EmptyLatentImage", "inputs": {"width": ["2", 0], "height": ["2", 1],
                                                             "batch_size": ["2", 2]}}}
    p = convert_workflow(wf).workflow
    assert p["2"] == {"class_type": "GetImageSize", "inputs": {"image": ["1", 0]}}
    assert [p["3"]["inputs"][k] for k in ("width", "height", "batch_size")] == [["2", 0], ["2", 1], ["2", 2]]
