"""Every shipped workflow validates with ComfyUI's own validation and runs to its output file in a real ComfyUI.

The model files are random-weight files in the real formats at the real SD1.5 and SDXL shapes (tests/fixtures/
checkpoint_files.py), under the names the workflows use. Each API twin runs at a tiny size (64x64, 8 frames,
2 steps; patched here) through one PromptExecutor, as the ComfyUI server does: loaders whose inputs did not change
between workflows come from its cache.

Workflows that load the SDXL checkpoint run with ComfyUI's `--bf16-unet` setting: on this CPU-only tier ComfyUI
would otherwise hold the 2.6 B-parameter UNet in fp32 (9.8 GB; 4.9 GB in bf16), and on a GPU ComfyUI runs SDXL
in 16-bit anyway. The motion module follows the UNet's dtype, as it does on a GPU."""
import asyncio
import contextlib
import logging
import os
import uuid

import numpy as np
import pytest

import checkpoint_files
from tools.widget_table import PACK_NODES
from tools.workflow_api import CORE_NODES, NOTE_NODES, WIDGETS, load_json, node_definition, required_widget_count, \
    widget_names, WORKFLOWS_DIR

SIZE, FRAMES, STEPS = 64, 8, 2
LONG_FRAMES, CONTEXT_LENGTH, CONTEXT_OVERLAP = 12, 8, 4  # windows 0-7 and 4-11
ALL_NAMES = sorted(os.path.splitext(f)[0] for f in os.listdir(os.path.join(WORKFLOWS_DIR, "api")) if f.endswith(".json"))
# workflows with other packs' nodes (tools/widget_table.py PACK_NODES) run in the packs tier (tests/packs)
NAMES = [n for n in ALL_NAMES if not any(node["class_type"] in PACK_NODES for node in
                                         load_json(os.path.join(WORKFLOWS_DIR, "api", n + ".json")).values())]
TRAINED_LORA = "alcm_test_trained_motion_lora"
LOADER_WARNINGS = ("missing", "not loaded", "leftover", "left over", "unexpected")


@pytest.fixture(autouse=True)
def trimmed_memory(host):
    """Between workflows the executor keeps its models (as the server does); the heap they freed goes back."""
    yield
    host.helpers.free_memory(unload=False)


@pytest.fixture(scope="module")
def env(host, tmp_path_factory):
    """Model files registered with ComfyUI, the workflows' input files in a fresh input folder, one executor."""
    import folder_paths
    from tools.run_workflow import host_features
    root = checkpoint_files.ensure_model_files()
    for key in checkpoint_files.FOLDERS:  # first in the search order: a user's own files of the same names lose
        folder_paths.add_model_folder_path(key, os.path.join(root, key), is_default=True)
    media = tmp_path_factory.mktemp("input")
    checkpoint_files.write_input_media(str(media))
    training = checkpoint_files.write_input_media(str(media / "motion_videos"), seed=1)  # MotionLoRA training clips
    video = next(p for p in training.values() if p.endswith(".mp4"))
    with open(os.path.splitext(video)[0] + ".txt", "w") as f:  # its own caption; the others take the node's
        f.write("a slow zoom into a random texture")
    previous_input = folder_paths.get_input_directory()
    folder_paths.set_input_directory(str(media))
    server = _Server()
    state = {"root": root, "executor": host_features().prompt_executor(server), "server": server,
             "output": folder_paths.get_output_directory()}
    yield state
    state.clear()  # the executor's caches hold every model the workflows loaded, SDXL included
    folder_paths.set_input_directory(previous_input)


class _Server:
    def __init__(self):
        self.client_id, self.last_node_id, self.messages = None, None, []

    def send_sync(self, event, data, sid=None):
        self.messages.append((event, data))


def shrink(prompt: dict, name: str) -> int:
    """Tiny size, few frames and steps; returns the number of frames the output must have."""
    windows = any(n["class_type"] == "ALCM_ContextOptions" for n in prompt.values())
    frames = LONG_FRAMES if windows else FRAMES
    for node in prompt.values():
        inputs, kind = node["inputs"], node["class_type"]
        if kind in ("EmptyLatentImage", "ImageScale"):
            inputs["width"] = inputs["height"] = SIZE
        if kind == "EmptyLatentImage":
            inputs["batch_size"] = frames
        if kind == "ImageFromBatch":
            inputs["length"] = frames
        if kind in ("KSampler", "ALCM_Sampler"):
            inputs["steps"] = STEPS
        if kind == "ALCM_ContextOptions":
            inputs["context_length"], inputs["context_overlap"] = CONTEXT_LENGTH, CONTEXT_OVERLAP
        if kind == "ALCM_TrainingClips":
            inputs.update(width=SIZE, height=SIZE, frames=FRAMES, max_clips=2)
        if kind == "ALCM_TrainMotionLoRA":
            inputs.update(steps=STEPS, rank=4, lora_name=TRAINED_LORA, overwrite=True)
    return frames


@contextlib.contextmanager
def unet_dtype_for(prompt: dict):
    """bf16 UNet weights (ComfyUI's --bf16-unet) while a prompt that loads the SDXL checkpoint runs."""
    from comfy.cli_args import args
    sdxl = any(n["class_type"] == "CheckpointLoaderSimple" and
               n["inputs"].get("ckpt_name") == checkpoint_files.SDXL_CHECKPOINT for n in prompt.values())
    before = args.bf16_unet
    args.bf16_unet = before or sdxl
    try:
        yield
    finally:
        args.bf16_unet = before


@contextlib.contextmanager
def trained_lora_removed():
    """The MotionLoRA a training workflow writes is not left in the model folders."""
    import folder_paths
    try:
        yield
    finally:
        path = folder_paths.get_full_path("animatediff_motion_lora", TRAINED_LORA + ".safetensors")
        if path:
            os.remove(path)


def read_frames(path: str) -> tuple[np.ndarray, float | None]:
    """Decoded RGB frames (n, h, w, 3) of an animated WEBP (PIL) or a video (PyAV), and the frame rate."""
    if path.endswith(".webp"):
        from PIL import Image
        with Image.open(path) as im:
            frames = []
            for i in range(im.n_frames):
                im.seek(i)
                frames.append(np.asarray(im.convert("RGB")))
            fps = 1000.0 / im.info["duration"] if im.info.get("duration") else None
        return np.stack(frames), fps
    import av
    with av.open(path) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        return np.stack(frames), float(stream.average_rate)


def test_core_node_ids_are_comfyui_core(host):
    """The core node list (tools/workflow_api.py) against the real registry: each exists and is ComfyUI's own."""
    mappings = host.nodes.NODE_CLASS_MAPPINGS
    for kind in CORE_NODES:
        assert kind in mappings, f"{kind} is not a node of this ComfyUI"
        module = getattr(mappings[kind], "RELATIVE_PYTHON_MODULE", "nodes")
        assert module == "nodes" or module.startswith("comfy_extras."), (kind, module)
    for kind in [k for k in WIDGETS if k.startswith("ALCM_")]:
        assert getattr(mappings[kind], "RELATIVE_PYTHON_MODULE", "").startswith("custom_nodes."), kind
    assert not set(NOTE_NODES) & set(mappings), "Note nodes are frontend-only"


def test_widget_table_matches_node_definitions(host):
    """WIDGETS (what the unit tier and the shipped files use) against the live node definitions: our nodes exactly;
    a core node's widgets in the table lead its live widgets and cover every required one (a release may append
    optional widgets, e.g. CreateVideo's bit_depth in 0.33; files without them load with the defaults)."""
    mappings = host.nodes.NODE_CLASS_MAPPINGS
    for kind, names in WIDGETS.items():
        if kind in PACK_NODES:  # not installed here: tests/packs checks them against the installed pack
            continue
        definition = node_definition(mappings[kind])
        live = widget_names(definition)
        if kind.startswith("ALCM_"):
            assert live == names, kind
        else:
            assert live[:len(names)] == names and len(names) >= required_widget_count(definition), (kind, live)


@pytest.mark.parametrize("name", NAMES)
def test_workflow_validates_and_runs(host, env, name, caplog):
    import execution
    prompt = load_json(os.path.join(WORKFLOWS_DIR, "api", name + ".json"))
    frames = shrink(prompt, name)
    prompt_id = str(uuid.uuid4())
    valid, error, outputs, node_errors = asyncio.run(execution.validate_prompt(prompt_id, prompt, None))
    assert valid, f"ComfyUI rejected {name}: {error} {node_errors}"
    executor = env["executor"]
    with caplog.at_level(logging.WARNING), unet_dtype_for(prompt), trained_lora_removed():
        executor.execute(prompt, prompt_id, {}, outputs)
    errors = [d for e, d in executor.status_messages if e == "execution_error"]
    assert executor.success, f"{name} failed: {errors[0]['exception_message'] if errors else executor.status_messages}"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING
                and any(w in r.getMessage().lower() for w in LOADER_WARNINGS)]
    assert not warnings, f"a loader did not take every weight of a fixture file: {warnings[:3]}"

    saved = [os.path.join(env["output"], item["subfolder"], item["filename"])
             for ui in executor.history_result["outputs"].values() for item in ui.get("images", [])
             if item.get("type") == "output"]
    assert len(saved) == 1, saved
    path = saved[0]
    save_node = next(n for n in prompt.values() if n["class_type"] in ("SaveAnimatedWEBP", "SaveVideo"))
    assert path.endswith(".webp" if save_node["class_type"] == "SaveAnimatedWEBP" else ".mp4")
    assert os.path.relpath(path, env["output"]).startswith(save_node["inputs"]["filename_prefix"])
    video, fps = read_frames(path)
    assert video.shape == (frames, SIZE, SIZE, 3)
    assert video.std() > 1.0, "all frames are one flat colour: the pipeline produced no image"
    if name == "animatelcm_video2video":  # CreateVideo's fps comes from the input video
        assert fps == pytest.approx(checkpoint_files.VIDEO_FPS)
    elif save_node["class_type"] == "SaveVideo":
        create = next(n for n in prompt.values() if n["class_type"] == "CreateVideo")
        assert fps == pytest.approx(create["inputs"]["fps"])
    else:
        assert fps == pytest.approx(save_node["inputs"]["fps"], rel=0.05)
