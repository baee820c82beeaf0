"""The shipped workflow animatelcm_ipadapter.json (AnimateLCM + IPAdapter_plus, per-frame reference images): its
widget table against the installed IPAdapter_plus, its API twin through ComfyUI's executor with IPAdapter_plus
installed (the `ours` worker), and the UI file in the host's own frontend on a server with IPAdapter_plus.

Model files: the full-size random-weight files of tests/fixtures/checkpoint_files.py under the workflow's names, and
an ip-adapter_sd15.safetensors in its real layout and size (random). The ViT-H CLIP vision encoder is the one file
not loaded at full size (2.5 GB; 34 s to encode 8 images on the 2-core CI machine): the run swaps its loader for a
reduced encoder with the same 1024-value image embedding; the web test only needs the file to be listed.
"""
import os
import sys

import numpy as np
import pytest
from PIL import Image
from safetensors.torch import save_file

import checkpoint_files
import companion_models
from tools.widget_table import PACK_NODES, WIDGETS
from tools.workflow_api import WORKFLOWS_DIR, api_path_for, load_json, widget_names

NAME = "animatelcm_ipadapter"
SD15_IPADAPTER_CHANNELS = (320, 320, 640, 640, 1280, 1280, 1280, 1280, 1280, 640, 640, 640, 320, 320, 320, 1280)
REFERENCES = ("reference_start.png", "reference_end.png")
FRAMES, SIZE, STEPS = 4, 64, 1


def write_references(folder: str) -> None:
    rng = np.random.default_rng(5)
    for name in REFERENCES:
        Image.fromarray(rng.integers(0, 256, (96, 80, 3), dtype=np.uint8)).save(os.path.join(folder, name))


@pytest.fixture(scope="module")
def files(packs, ours):
    """The random-weight model files' folder (built, or found in its cache, by the worker: building needs ComfyUI),
    with the IPAdapter file and the reference images in the packs tier's own folders."""
    import torch
    sd = companion_models.ipadapter_state_dict(seed=51, cross_dim=768, clip_dim=1024, channels=SD15_IPADAPTER_CHANNELS)
    save_file({k: v.to(torch.float16) for k, v in sd.items()},
              os.path.join(packs.models, "ipadapter", "ip-adapter_sd15.safetensors"))
    write_references(packs.input)
    linked = {(e["directory"], e["name"]) for node in load_json(os.path.join(WORKFLOWS_DIR, NAME + ".json"))["nodes"]
              for e in (node.get("properties") or {}).get("models", [])}
    return ours.call("tests/fixtures/checkpoint_files.py:ensure_model_files", only=linked & set(checkpoint_files.FILES))


def test_widget_table_matches_the_installed_packs(ours):
    definitions = ours.call("tests/packs/companion_models.py:node_definitions", sorted(PACK_NODES))
    for kind, definition in definitions.items():
        assert widget_names(definition) == WIDGETS[kind], kind


def shrunk_prompt() -> dict:
    """The API twin at 4 frames of 64x64, 1 step, with the reduced CLIP vision encoder in the loader's place."""
    prompt = load_json(os.path.join(WORKFLOWS_DIR, "api", NAME + ".json"))
    for node_id, node in prompt.items():
        kind, inputs = node["class_type"], node["inputs"]
        if kind == "EmptyLatentImage":
            inputs.update(width=SIZE, height=SIZE, batch_size=FRAMES)
        elif kind == "IPAdapterWeights":
            inputs["frames"] = FRAMES
        elif kind == "ALCM_Sampler":
            inputs["steps"] = STEPS
        elif kind == "CLIPVisionLoader":
            prompt[node_id] = {"class_type": "ALCMTest_RandomClipVision",
                               "inputs": {"seed": 52, "projection_dim": 1024}}
    return prompt


def test_shipped_workflow_runs_through_the_executor(ours, packs, files):
    ours.call("tests/packs/companion_models.py:register_nodes")
    ours.call("tests/packs/companion_models.py:add_model_root", files, checkpoint_files.FOLDERS)
    prompt = shrunk_prompt()
    prefix = next(n["inputs"]["filename_prefix"] for n in prompt.values() if n["class_type"] == "SaveAnimatedWEBP")
    before = set(_outputs(packs.output))
    ours.run(prompt)
    written = [p for p in _outputs(packs.output) if p not in before]
    assert len(written) == 1 and os.path.relpath(written[0], packs.output).startswith(prefix), written
    with Image.open(written[0]) as im:
        assert im.n_frames == FRAMES and im.size == (SIZE, SIZE)


def _outputs(folder: str) -> list[str]:
    return [os.path.join(d, f) for d, _, names in os.walk(folder) for f in names if f.endswith(".webp")]


# ---- the UI file in the host's own frontend, on a server with IPAdapter_plus ------------------------------------

@pytest.fixture(scope="module")
def page(packs, files, tmp_path_factory):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "comfyui"))
    import web_ui
    if web_ui.CHROMIUM is None:
        pytest.skip("web UI test skipped: no Chromium (apt-get install chromium)")
    from pack_hosts import pack_host
    base = tmp_path_factory.mktemp("ipadapter_web")
    listed = base / "listed"  # the CLIP vision file only has to be listed (the frontend checks names)
    (listed / "clip_vision").mkdir(parents=True)
    save_file({}, str(listed / "clip_vision" / "CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors"))
    lines = ["alcm_test:", f"  base_path: {files}", "  is_default: true"] + \
            [f"  {k}: {k}" for k in checkpoint_files.FOLDERS] + [f"  custom_nodes: {base / 'custom_nodes'}",
                                                               "alcm_packs:", f"  base_path: {packs.models}",
                                                               "  ipadapter: ipadapter",
                                                               "alcm_listed:", f"  base_path: {listed}",
                                                               "  clip_vision: clip_vision"]
    (base / "extra_model_paths.yaml").write_text("\n".join(lines) + "\n")
    (base / "input").mkdir()
    write_references(str(base / "input"))
    comfyui = pack_host(packs.comfyui, packs.python, "packs")
    args = ["--extra-model-paths-config", str(base / "extra_model_paths.yaml"), "--input-directory",
            str(base / "input"), "--output-directory", str(base / "output"), "--user-directory", str(base / "user")]
    with web_ui.server_process(comfyui, packs.python, base, args) as server, \
            web_ui.browser_on(server["url"]) as browser:
        yield {"browser": browser, "url": server["url"], "web_ui": web_ui}


def test_workflow_opens_in_the_frontend(page):
    import test_web_ui
    browser, url, web_ui = page["browser"], page["url"], page["web_ui"]
    state = test_web_ui._load(browser, f"/api/workflow_templates/{web_ui.PACK_NAME}/{NAME}.json")
    ui = load_json(os.path.join(WORKFLOWS_DIR, NAME + ".json"))
    assert state["nodes"] == len(ui["nodes"])
    assert state["missing"] == [] and state["dialogs"] == [] and state["errors"] == [], state
    assert browser.evaluate(web_ui.MISSING_MODELS)["entries"] is None, "a linked model file is reported missing"
    assert browser.problems() == []
    saved = {n["id"]: n.get("widgets_values", []) for n in state["saved"]["nodes"]}
    for node in ui["nodes"]:
        assert saved[node["id"]][:len(node["widgets_values"])] == node["widgets_values"], (node["id"], node["type"])
    info = web_ui.get_json(url + "/object_info")
    declared = test_web_ui._declared(load_json(api_path_for(os.path.join(WORKFLOWS_DIR, NAME + ".json"))), info)
    test_web_ui._check_frontend_prompt(test_web_ui._declared(state["prompt"], info), declared, info)
