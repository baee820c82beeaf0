"""Opening a workflow of the leading AnimateDiff pack (ADE) in the web UI of a ComfyUI without ADE: this pack offers
"Convert to AnimateLCM nodes", converts it (tools/convert behind the pack's route), the converted graph loads, queues,
finishes and saves. API prompts naming ADE nodes are converted in flight when that is exact, refused otherwise.

Frontends: the host's bundled one, and on the 0.33 host also comfyui-frontend-package 1.58.1 (ALCM_EXTRA_FRONTEND: a
`pip install --target DIR` folder; .ci/run installs it). Screenshots go to out/web_ui/.
"""
import json
import os
import time
import urllib.error
import urllib.request

import pytest

import checkpoint_files
from ade_small_workflows import ade_api_prompt, ade_ui_workflow
from web_ui import SCREENSHOTS, browser_on, comfy_server, get_json, needs_chromium

pytestmark = needs_chromium()


def _frontends():
    out = [("bundled", None)]
    if os.environ.get("ALCM_EXTRA_FRONTEND"):
        out.append(("1.58.1", os.path.join(os.environ["ALCM_EXTRA_FRONTEND"], "comfyui_frontend_package", "static")))
    return out


@pytest.fixture(scope="module", params=_frontends(), ids=lambda p: p[0])
def server(request, host, tmp_path_factory):
    label, static = request.param
    if static is not None and not hasattr(__import__("comfy_api.latest").latest, "ComfyAPI"):
        pytest.skip("frontend 1.58.1 is checked on the newest host only")
    base = tmp_path_factory.mktemp(f"web_convert_{label}")
    models = checkpoint_files.ensure_model_files()
    lines = ["alcm_test:", f"  base_path: {models}", "  is_default: true"] + \
            [f"  {k}: {k}" for k in checkpoint_files.FOLDERS] + [f"  custom_nodes: {base / 'custom_nodes'}"]
    (base / "extra_model_paths.yaml").write_text("\n".join(lines) + "\n")
    args = ["--extra-model-paths-config", str(base / "extra_model_paths.yaml"), "--output-directory",
            str(base / "output"), "--user-directory", str(base / "user")]
    if static:
        args += ["--front-end-root", static]
    with comfy_server(host, base, args) as s:
        yield {**s, "label": label, "base": base}


def _post(url: str, data: dict):
    req = urllib.request.Request(url, data=json.dumps(data).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def _wait_history(url: str, prompt_id: str, timeout: float = 600) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        entry = get_json(f"{url}/history/{prompt_id}", timeout=300).get(prompt_id)
        if entry and entry.get("status", {}).get("completed") is not None and \
                entry["status"].get("status_str") in ("success", "error"):
            return entry
        time.sleep(1)
    raise TimeoutError(f"prompt {prompt_id} did not finish")


OPEN = """(async () => {
  await app.loadGraphData(%s);
  for (let i = 0; i < 60 && !document.getElementById('alcm-convert-banner'); i++)
    await new Promise(done => setTimeout(done, 250));
  const banner = document.getElementById('alcm-convert-banner');
  return {state: banner && banner.dataset.state, text: banner ? banner.innerText : '',
          types: app.graph.nodes.map(n => n.type)};
})()"""
CONVERT = """(async () => {
  document.getElementById('alcm-convert-button').click();
  for (let i = 0; i < 120; i++) {
    const b = document.getElementById('alcm-convert-banner');
    if (b && b.dataset.state !== 'offer') break;
    await new Promise(done => setTimeout(done, 250));
  }
  const banner = document.getElementById('alcm-convert-banner');
  const saved = JSON.parse(JSON.stringify(app.graph.serialize()));
  return {state: banner.dataset.state, report: document.getElementById('alcm-convert-report').innerText,
          types: app.graph.nodes.map(n => n.type), saved,
          missing: app.graph.nodes.filter(n => !(n.type in LiteGraph.registered_node_types)).map(n => n.type),
          groups: (saved.groups || []).map(g => g.title)};
})()"""
QUEUE = """(async () => {
  const p = await app.graphToPrompt();
  const r = await api.queuePrompt(0, p);
  return r.prompt_id;
})()"""
SAVE_AND_REOPEN = """(async () => {
  const data = app.graph.serialize();
  const r = await api.storeUserData('workflows/alcm_converted.json', data, {stringify: true, overwrite: true});
  const back = await (await api.getUserData('workflows/alcm_converted.json')).json();
  document.getElementById('alcm-convert-banner')?.remove();
  await app.loadGraphData(back);
  await new Promise(done => setTimeout(done, 1000));
  return {status: r.status, banner: !!document.getElementById('alcm-convert-banner'),
          missing: app.graph.nodes.filter(n => !(n.type in LiteGraph.registered_node_types)).map(n => n.type)};
})()"""


def test_ade_workflow_is_offered_converted_queued_and_saved(server):
    label = server["label"]
    os.makedirs(SCREENSHOTS, exist_ok=True)
    with browser_on(server["url"]) as page:
        page.evaluate("window.api = window.api || window.comfyAPI.api.api; true")
        opened = page.evaluate(OPEN % json.dumps(ade_ui_workflow()))
        assert opened["state"] == "offer", opened
        assert "ADE_AnimateDiffLoaderGen1" in opened["text"] and "Convert to AnimateLCM nodes" in opened["text"]
        page.screenshot(os.path.join(SCREENSHOTS, f"convert_offer_{label}.png"))
        done = page.evaluate(CONVERT)
        assert done["state"] == "converted", done["report"]
        assert not [t for t in done["types"] if t.startswith("ADE_")] and not done["missing"], done["types"]
        assert {"ALCM_LoadMotionModel", "ALCM_ApplyMotionModel", "EmptyLatentImage"} <= set(done["types"])
        assert "ADE_AnimateDiffLoaderGen1" in done["report"] and done["groups"] == ["AnimateDiff"]
        page.screenshot(os.path.join(SCREENSHOTS, f"convert_done_{label}.png"))
        prompt_id = page.evaluate(QUEUE)
        entry = _wait_history(server["url"], prompt_id)
        assert entry["status"]["status_str"] == "success", entry["status"]
        images = [img for out in entry["outputs"].values() for img in out.get("images", [])]
        assert len(images) == 4  # one preview per frame
        saved = page.evaluate(SAVE_AND_REOPEN)
        assert saved["status"] == 200 and not saved["banner"] and not saved["missing"], saved
        assert (server["base"] / "user" / "default" / "workflows" / "alcm_converted.json").is_file()


def test_api_prompt_with_ade_nodes_is_converted_when_exact(server):
    if server["label"] != "bundled":
        pytest.skip("the server side does not depend on the frontend")
    status, body = _post(server["url"] + "/prompt", {"prompt": ade_api_prompt()})
    assert status == 200, body
    entry = _wait_history(server["url"], body["prompt_id"])
    assert entry["status"]["status_str"] == "success", entry["status"]
    assert "ALCM_ApplyMotionModel" in {n["class_type"] for n in entry["prompt"][2].values()}


def test_api_prompt_that_would_differ_is_left_and_explained(server):
    if server["label"] != "bundled":
        pytest.skip("the server side does not depend on the frontend")
    prompt = ade_api_prompt(legacy=True)  # written by hand: no "_meta" (0.33 replaces its big-batch latent node)
    assert "ADE_EmptyLatentImageLarge" in {n["class_type"] for n in prompt.values()}
    status, body = _post(server["url"] + "/prompt", {"prompt": prompt})
    assert status == 400 and "ADE_AnimateDiffLoaderWithContext" in json.dumps(body), body  # an error, never a 500
    log = server["log"].read_text()
    assert "was not converted" in log and "apply_v2_models_properly" in log


def test_convert_route_refuses_what_is_not_a_workflow(server):
    if server["label"] != "bundled":
        pytest.skip("the server side does not depend on the frontend")
    status, body = _post(server["url"] + "/animatelcm/convert", {"workflow": {"hello": 1}})
    assert status == 400 and "not a ComfyUI workflow" in body["error"]
    info = get_json(server["url"] + "/animatelcm/convert/info")
    assert "ADE_UseEvolvedSampling" in info["types"] and info["installed"] == []
    status, body = _post(server["url"] + "/animatelcm/convert", {"workflow": {"nodes": [], "pad": "x" * (33 << 20)}})
    assert status == 413 and "bytes" in body["error"], body  # read no further than its length
