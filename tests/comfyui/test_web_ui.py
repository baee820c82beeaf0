"""The real ComfyUI server and its web page, in headless Chromium, with this pack installed as a custom node.

The server runs as a user runs it (`main.py --cpu --listen ...`), with an extra_model_paths YAML pointing at the
random-weight model files and at a custom_nodes folder that holds a link to this pack (tests/comfyui/web_ui.py).
Each workflow is opened the way the template browser opens it (fetched from
/api/workflow_templates/<pack>/<name>.json, then `app.loadGraphData`); a screenshot of each goes to out/web_ui/.
"""
import json
import os

import pytest

import checkpoint_files
from tools.workflow_api import WORKFLOWS_DIR, api_path_for, load_json, ui_workflow_files
from web_ui import (MISSING_MODELS, PACK_NAME, RESET_REPORTS, SCREENSHOTS, browser_on, comfy_server,
                    core_only_workflows, get_json, needs_chromium)

NAMES = [os.path.splitext(os.path.basename(p))[0] for p in ui_workflow_files()]
CORE_ONLY = core_only_workflows()
OUR_NODES = ["ALCM_LoadMotionModel", "ALCM_ApplyMotionLoRA", "ALCM_ApplyMotionModel", "ALCM_LCMSigmas", "ALCM_Sampler",
             "ALCM_ImageToVideo", "ALCM_ContextOptions", "ALCM_PromptSchedule", "ALCM_MotionKeyframe",
             "ALCM_FreeNoise", "ALCM_FreeInit", "ALCM_TrainingClips", "ALCM_TrainMotionLoRA", "ALCM_LoadSparseCtrl"]
pytestmark = needs_chromium()


@pytest.fixture(scope="module")
def server(host, tmp_path_factory):
    """The models are the random-weight files under the workflows' names, listed first (is_default) so a user's
    own files of the same names in this ComfyUI's models/ do not matter."""
    base = tmp_path_factory.mktemp("web")
    models = checkpoint_files.ensure_model_files()
    lines = ["alcm_test:", f"  base_path: {models}", "  is_default: true"] + \
            [f"  {k}: {k}" for k in checkpoint_files.FOLDERS] + [f"  custom_nodes: {base / 'custom_nodes'}"]
    (base / "extra_model_paths.yaml").write_text("\n".join(lines) + "\n")
    checkpoint_files.write_input_media(str(base / "input"))
    with comfy_server(host, base, ["--extra-model-paths-config", str(base / "extra_model_paths.yaml"),
                                   "--input-directory", str(base / "input"), "--output-directory",
                                   str(base / "output"), "--user-directory", str(base / "user")]) as s:
        yield s


@pytest.fixture(scope="module")
def page(server):
    with browser_on(server["url"]) as browser:
        yield browser


LOAD = """(async () => {
  const r = await fetch(%s);
  if (!r.ok) throw new Error('template fetch failed: ' + r.status);
  await app.loadGraphData(await r.json());
  await new Promise(done => setTimeout(done, 1500));
  const visible = el => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  const prompt = await app.graphToPrompt();
  return {
    dialogs: Array.from(document.querySelectorAll('.p-dialog')).filter(visible).map(d => d.innerText.slice(0, 400)),
    text: document.body.innerText,
    missing: app.graph.nodes.filter(n => !(n.type in LiteGraph.registered_node_types)).map(n => n.type),
    errors: app.graph.nodes.filter(n => n.has_errors).map(n => n.id + ' ' + n.type),
    nodes: app.graph.nodes.length,
    saved: JSON.parse(JSON.stringify(app.graph.serialize())),
    prompt: JSON.parse(JSON.stringify(prompt.output)),
  };
})()"""


def _load(page, url_path: str) -> dict:
    page.evaluate(RESET_REPORTS)
    page.events.clear()
    return page.evaluate(LOAD % json.dumps(url_path))


def _declared(prompt: dict, info: dict) -> dict:
    """class_type and the inputs the node definitions declare (what the server reads); `_meta` and anything else
    dropped. The frontend adds inputs of its own for some display widgets (LoadVideo's `video-preview`)."""
    out = {}
    for node_id, node in prompt.items():
        spec = info[node["class_type"]]["input"]
        names = set(spec.get("required", {})) | set(spec.get("optional", {}))
        out[node_id] = {"class_type": node["class_type"],
                        "inputs": {k: v for k, v in node["inputs"].items() if k in names}}
    return out


def _optional_default(info: dict, kind: str, name: str):
    spec = info[kind]["input"].get("optional", {}).get(name)
    assert spec is not None, f"{kind}.{name} is not an optional input of this ComfyUI"
    return spec[1].get("default")


def _check_frontend_prompt(sent: dict, api: dict, info: dict) -> None:
    """What the frontend sends equals the API twin, except optional inputs this release added after the file was
    written (CreateVideo.bit_depth in 0.33), which it sends at their declared defaults."""
    assert set(sent) == set(api)
    for node_id, node in api.items():
        got = sent[node_id]
        assert got["class_type"] == node["class_type"]
        for name, value in got["inputs"].items():
            expected = node["inputs"][name] if name in node["inputs"] else \
                _optional_default(info, node["class_type"], name)
            assert value == expected, (node_id, node["class_type"], name)
        assert set(node["inputs"]) <= set(got["inputs"]), (node_id, node["class_type"])


def test_pack_loads_without_import_errors(server):
    log = server["log"].read_text()
    assert "IMPORT FAILED" not in log, log[-3000:]
    assert f"custom_nodes/{PACK_NAME}" in log  # listed under "Import times for custom nodes"
    info = get_json(server["url"] + "/object_info")
    assert [n for n in OUR_NODES if n not in info] == []
    listed = info["ALCM_LoadMotionModel"]["input"]["required"]["model_name"][1]["options"]
    ours = [name for folder, name in checkpoint_files.FILES if folder == "animatediff_models"]
    assert set(ours) <= set(listed), listed  # a user's ComfyUI may list files of its own too
    templates = get_json(server["url"] + "/workflow_templates")
    assert sorted(templates.get(PACK_NAME, [])) == sorted(NAMES), templates


@pytest.mark.parametrize("name", CORE_ONLY)
def test_workflow_opens_without_missing_nodes_or_errors(server, page, name):
    state = _load(page, f"/api/workflow_templates/{PACK_NAME}/{name}.json")
    os.makedirs(SCREENSHOTS, exist_ok=True)
    shot = os.path.join(SCREENSHOTS, f"{name}.png")
    page.screenshot(shot)
    print(f"\nscreenshot: {shot}")
    ui = load_json(os.path.join(WORKFLOWS_DIR, name + ".json"))
    assert state["nodes"] == len(ui["nodes"])
    assert state["missing"] == [] and state["dialogs"] == [], state["dialogs"]
    assert state["errors"] == []
    assert page.evaluate(MISSING_MODELS)["entries"] is None  # every linked file is present: no missing-model report
    assert page.problems() == []
    # the frontend reads every widget value where the file put it (a release may append optional widgets, which
    # then hold their defaults), and sends what the API twin holds
    info = get_json(server["url"] + "/object_info")
    saved = {n["id"]: n.get("widgets_values", []) for n in state["saved"]["nodes"]}
    for node in ui["nodes"]:
        values = node["widgets_values"]
        assert saved[node["id"]][:len(values)] == values, (node["id"], node["type"])
    api = load_json(api_path_for(os.path.join(WORKFLOWS_DIR, name + ".json")))
    declared = _declared(api, info)
    assert {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in api.items()} == declared
    _check_frontend_prompt(_declared(state["prompt"], info), declared, info)


def test_a_missing_node_is_detected(server, page):
    """Control: the same checks see a node type that is not installed (dialog, red node)."""
    broken = load_json(os.path.join(WORKFLOWS_DIR, "animatelcm_t2v.json"))
    node = dict(broken["nodes"][0], id=broken["last_node_id"] + 1, type="ALCM_NoSuchNode")
    broken["nodes"].append(node)
    broken["last_node_id"] += 1
    try:
        data_url = "'data:application/json,' + encodeURIComponent(" + json.dumps(json.dumps(broken)) + ")"
        state = page.evaluate(LOAD % data_url)
        assert state["missing"] == ["ALCM_NoSuchNode"]
        assert "ALCM_NoSuchNode" in state["text"]  # named to the user (a dialog or a panel, by frontend release)
        assert state["errors"] == [f"{node['id']} ALCM_NoSuchNode"]
    finally:
        page.open(server["url"] + "/")
