"""The runner (tools/run_workflow.py) on a ComfyUI with the packs AnimateDiff users install (a pack-host copy of the
host: VideoHelperSuite, Advanced-ControlNet, IPAdapter_plus, FizzNodes, KJNodes), started as a user starts it.

The render uses the reduced-width random SD1.5 model, VAE and conditioning of tests/comfyui/comfy_helpers.py,
registered by a small test pack that the runner finds through `--extra-model-paths-config` (a custom_nodes entry, as
ComfyUI's extra_model_paths.yaml allows), and a reduced-width random AnimateLCM motion module."""
import json
import os
import subprocess
import sys

from pack_hosts import pack_host
from runner_trees import random_nodes_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNNER = os.path.join(REPO, "tools", "run_workflow.py")
PREVIEW = {"hidden": False, "paused": False, "params": {}}  # what VideoHelperSuite's frontend keeps per node


def ui_workflow(nodes: list) -> dict:
    """A UI-format workflow as the frontend saves it, from (id, type, widgets_values, {input: (source id, slot,
    type)}) entries: links, and each node's input and output slots."""
    links, outputs = [], {}
    for node_id, _, _, inputs in nodes:
        for name, (source, slot, kind) in inputs.items():
            links.append([len(links) + 1, source, slot, node_id, None, kind])
            outputs.setdefault(source, {}).setdefault(slot, (kind, []))[1].append(len(links))
    ui_nodes = []
    for node_id, kind, widgets, inputs in nodes:
        ins = [{"name": name, "type": k, "link": next(link[0] for link in links if link[3] == node_id and
                                                        link[1] == s and link[2] == slot)}
               for name, (s, slot, k) in inputs.items()]
        for i, entry in enumerate(ins):
            links[entry["link"] - 1][4] = i
        outs = [{"name": k, "type": k, "slot_index": slot, "links": ids}
                for slot, (k, ids) in sorted(outputs.get(node_id, {}).items())]
        ui_nodes.append({"id": node_id, "type": kind, "pos": [0, 0], "size": [300, 100], "flags": {}, "order": 0,
                         "mode": 0, "inputs": ins, "outputs": outs, "properties": {}, "widgets_values": widgets})
    return {"last_node_id": max(n[0] for n in nodes), "last_link_id": len(links), "nodes": ui_nodes, "links": links,
            "groups": [], "config": {}, "extra": {}, "version": 0.4}


def vhs_workflow(motion_module: str) -> dict:
    """VHS Load Video (64x64, skip 2, every 2nd, at most 4 frames) -> VAE encode -> this pack's motion module and
    sampler -> VAE decode -> VHS Video Combine (H.264 MP4), widgets as VideoHelperSuite's frontend saves them."""
    load = {"video": "input_video.mp4", "force_rate": 0, "custom_width": 64, "custom_height": 64,
            "frame_load_cap": 4, "skip_first_frames": 2, "select_every_nth": 2, "format": "AnimateDiff",
            "choose video to upload": "image", "videopreview": PREVIEW}
    combine = {"frame_rate": 8, "loop_count": 0, "filename_prefix": "runner_vhs", "format": "video/h264-mp4",
               "pix_fmt": "yuv420p", "crf": 19, "save_metadata": True, "trim_to_audio": False, "pingpong": False,
               "save_output": True, "videopreview": PREVIEW}
    return ui_workflow([
        (1, "VHS_LoadVideo", load, {}),
        (2, "ALCMTest_RandomVAE", [0, "fixed"], {}),
        (3, "VAEEncode", [], {"pixels": (1, 0, "IMAGE"), "vae": (2, 0, "VAE")}),
        (4, "ALCMTest_RandomSD15", [0, "fixed"], {}),
        (5, "ALCM_LoadMotionModel", [motion_module], {}),
        (6, "ALCM_ApplyMotionModel", ["auto", 1.0, 1.0, 0.0, 1.0], {"model": (4, 0, "MODEL"),
                                                                     "motion_model": (5, 0, "MOTION_MODEL_ALCM")}),
        (7, "ALCMTest_RandomCond", [1, "fixed"], {}),
        (8, "ALCMTest_RandomCond", [2, "fixed"], {}),
        (9, "ALCM_Sampler", [7, "fixed", 2, 1.0, 0.6], {"model": (6, 0, "MODEL"), "positive": (7, 0, "CONDITIONING"),
                                                        "negative": (8, 0, "CONDITIONING"),
                                                        "latent_image": (3, 0, "LATENT")}),
        (10, "VAEDecode", [], {"samples": (9, 0, "LATENT"), "vae": (2, 0, "VAE")}),
        (11, "VHS_VideoCombine", combine, {"images": (10, 0, "IMAGE")}),
    ])


def test_vhs_video_in_and_out_through_the_runner(packs, tmp_path):
    """The runner loads the installed packs the workflow needs (VideoHelperSuite reads the server at import) and
    renders: exit 0, and the MP4 Video Combine wrote has the frames Load Video selected, at the size it loaded.
    FizzNodes, installed there too, copies its web scripts next to ComfyUI's main.py, never into this pack (the
    runner stands in for main.py)."""
    import checkpoint_files
    from safetensors.torch import save_file
    from synth_weights import FAMILY_FILES, random_state_dict
    comfyui = pack_host(packs.comfyui, packs.python, "packs")
    models, inputs, out = (tmp_path / d for d in ("models", "input", "out"))
    (models / "animatediff_models").mkdir(parents=True)
    motion_module = "animatelcm_t2v_tiny.safetensors"  # reduced widths, matching the test nodes' SD1.5
    save_file(random_state_dict(FAMILY_FILES["animatelcm_t2v"], seed=0), str(models / "animatediff_models" /
                                                                                motion_module))
    checkpoint_files.write_input_media(str(inputs))  # input_video.mp4: 12 frames at 96x80
    config = random_nodes_config(tmp_path)
    workflow = tmp_path / "vhs_runner.json"
    assert not os.path.exists(os.path.join(REPO, "tools", "web"))
    workflow.write_text(json.dumps(vhs_workflow(motion_module)))
    result = subprocess.run(
        [sys.executable, RUNNER, str(workflow), "--comfyui", comfyui, "--models", str(models), "--input", str(inputs),
         "--output", str(out), "--extra-model-paths-config", str(config), "--cpu"],
        cwd=tmp_path, env={k: v for k, v in os.environ.items() if k != "COMFYUI_PATH"}, capture_output=True,
        text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-6000:]
    assert "VHS_LoadVideo" in result.stderr.split("loading the packs installed")[1].splitlines()[0]
    assert "Missing input for" not in result.stderr  # Video Combine's format widgets reached it, as from the web UI
    assert not os.path.exists(os.path.join(REPO, "tools", "web"))  # FizzNodes' copy: next to ComfyUI's main.py
    assert os.path.isdir(os.path.join(comfyui, "web", "extensions", "FizzleDorf"))
    videos = [f for f in result.stdout.split() if f.endswith(".mp4")]
    assert len(videos) == 1 and os.path.commonpath([videos[0], str(out)]) == str(out), result.stdout

    import cv2
    capture = cv2.VideoCapture(videos[0])
    frames = []
    while (frame := capture.read())[0]:
        frames.append(frame[1])
    capture.release()
    assert len(frames) == 4  # frames 2, 4, 6, 8 of 12
    assert frames[0].shape == (64, 64, 3)


def registered_by_pack() -> dict:
    """(Runs in a worker.) {pack folder: [node type, ...]} of the node types each custom node pack registered."""
    import nodes
    found = {}
    for name, cls in nodes.NODE_CLASS_MAPPINGS.items():
        module = getattr(cls, "RELATIVE_PYTHON_MODULE", "") or ""
        if module.startswith("custom_nodes."):
            found.setdefault(module.split(".", 1)[1], []).append(name)
    return found


def test_the_pack_table_matches_the_packs(ours, ade):
    """tools/pack_nodes.json names the right pack for every node type the installed packs register, on this host
    (both releases of ADE and Advanced-ControlNet are covered by the two hosts), and lists no frontend-only type as
    registered."""
    from tools.pack_index import PackIndex, _folder_key, builtin_packs
    packs = builtin_packs()
    index = PackIndex(packs)
    by_folder = {_folder_key(p.repository.rsplit("/", 1)[-1]): p.name for p in packs}
    checked = set()
    for worker in (ours, ade):
        for folder, types in worker.call("tests/packs/test_runner_packs.py:registered_by_pack").items():
            pack = by_folder.get(_folder_key(folder))
            if pack is None:
                continue  # this pack, or a test pack
            checked.add(pack)
            wrong = {t: [p.name for p in index.providers(t)] for t in types
                     if [p.name for p in index.providers(t)] != [pack]}
            assert wrong == {}, f"{folder}: {wrong}"
            assert not {t for p in packs for t in p.frontend_only} & set(types)
    assert checked == {"ComfyUI-AnimateDiff-Evolved", "ComfyUI-Advanced-ControlNet", "ComfyUI_IPAdapter_plus",
                       "ComfyUI-VideoHelperSuite", "ComfyUI_FizzNodes", "ComfyUI-KJNodes"}
