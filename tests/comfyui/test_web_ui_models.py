"""The shipped workflows' model links in ComfyUI's own frontend (headless Chromium): on a ComfyUI without the model
files, opening a workflow brings up the frontend's missing-models report with each absent file, its folder and its
download link; with the files present (test_web_ui.py) there is no report. A screenshot of each report goes to
out/web_ui/missing-<name>.png.

The server runs with its own base directory (empty model folders, this pack linked into its custom_nodes), so the
files are absent whatever this ComfyUI's models/ holds; a file that an extra_model_paths.yaml of this ComfyUI still
provides is expected to be present, not reported.
"""
import json
import os

import pytest

import checkpoint_files
from tools.workflow_api import WORKFLOWS_DIR, load_json
from web_ui import MISSING_MODELS, PACK_NAME, RESET_REPORTS, SCREENSHOTS, browser_on, comfy_server, \
    core_only_workflows, get_json, needs_chromium

NAMES = core_only_workflows()  # the others open on pack hosts (tests/packs)
# the loader inputs of the shipped workflows: model folder -> (node type, input)
LOADER_INPUTS = {"checkpoints": ("CheckpointLoaderSimple", "ckpt_name"), "loras": ("LoraLoaderModelOnly", "lora_name"),
                 "controlnet": ("ControlNetLoader", "control_net_name"),
                 "animatediff_models": ("ALCM_LoadMotionModel", "model_name"),
                 "animatediff_motion_lora": ("ALCM_ApplyMotionLoRA", "lora_name")}
pytestmark = needs_chromium()

OPEN = """(async () => {
  const r = await fetch(%s);
  if (!r.ok) throw new Error('template fetch failed: ' + r.status);
  await app.loadGraphData(await r.json());
  return true;
})()"""


@pytest.fixture(scope="module")
def bare_server(host, tmp_path_factory):
    base = tmp_path_factory.mktemp("web-bare")
    for folder in checkpoint_files.FOLDERS:
        (base / "models" / folder).mkdir(parents=True)
    with comfy_server(host, base, ["--base-directory", str(base)]) as server:
        yield server


@pytest.fixture(scope="module")
def bare_page(bare_server):
    with browser_on(bare_server["url"]) as browser:
        yield browser


def _options(spec) -> list:
    """A combo's options, in either form of /object_info (a list, or ["COMBO", {"options": [...]}])."""
    return spec[0] if isinstance(spec[0], list) else spec[1].get("options", [])


def _listed(server) -> dict[str, set]:
    info = get_json(server["url"] + "/object_info")
    return {folder: set(_options(info[kind]["input"]["required"][name]))
            for folder, (kind, name) in LOADER_INPUTS.items()}


@pytest.mark.parametrize("name", NAMES)
def test_absent_models_are_reported_with_their_download_links(bare_server, bare_page, name):
    links = {e["name"]: e for node in load_json(os.path.join(WORKFLOWS_DIR, name + ".json"))["nodes"]
             for e in node.get("properties", {}).get("models", [])}
    listed = _listed(bare_server)
    expected = {n for n, e in links.items() if n not in listed[e["directory"]]}
    if not expected:
        pytest.skip("this ComfyUI provides every file of this workflow (through its extra_model_paths.yaml)")
    bare_page.evaluate(RESET_REPORTS)
    bare_page.evaluate(OPEN % json.dumps(f"/api/workflow_templates/{PACK_NAME}/{name}.json"))
    report = bare_page.evaluate(MISSING_MODELS)
    os.makedirs(SCREENSHOTS, exist_ok=True)
    shot = os.path.join(SCREENSHOTS, f"missing-{name}.png")
    bare_page.screenshot(shot)
    print(f"\nscreenshot: {shot}\nreport: {json.dumps(report, indent=1)}")
    assert report["entries"] is not None, "no missing-models report"
    got = {e["name"]: e for e in report["entries"]}
    assert set(got) == expected
    for file_name, entry in got.items():
        assert entry["listed"], file_name
        assert entry["url"] == links[file_name]["url"], file_name
        assert entry["directory"] == links[file_name]["directory"], file_name
        if file_name.endswith(".safetensors") or report["panel"]:
            # every frontend offers .safetensors from huggingface.co; the Errors panel also .ckpt and .pth
            assert entry["downloadable"], file_name
