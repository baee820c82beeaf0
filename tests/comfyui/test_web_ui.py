"""The real ComfyUI server and its web page, in headless Chromium, with this pack installed as a custom node.

The server runs as a user runs it (`main.py --cpu --listen ...`), with an extra_model_paths YAML pointing at the
random-weight model files and at a custom_nodes folder that holds a link to this pack. The page is driven over the
Chrome DevTools protocol (a websocket: aiohttp is one of ComfyUI's own requirements), so nothing beyond Debian's
chromium is needed. Each workflow is opened the way the template browser opens it (fetched from
/api/workflow_templates/<pack>/<name>.json, then `app.loadGraphData`); a screenshot of each goes to out/web_ui/.
"""
import asyncio
import base64
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

import checkpoint_files
from tools.workflow_api import WORKFLOWS_DIR, api_path_for, load_json, ui_workflow_files

PACK_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACK_NAME = "comfyui-animatelcm"
SCREENSHOTS = os.path.join(PACK_DIR, "out", "web_ui")
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
NAMES = [os.path.splitext(os.path.basename(p))[0] for p in ui_workflow_files()]
OUR_NODES = ["ALCM_LoadMotionModel", "ALCM_ApplyMotionLoRA", "ALCM_ApplyMotionModel", "ALCM_LCMSigmas", "ALCM_Sampler",
             "ALCM_ImageToVideo", "ALCM_ContextOptions", "ALCM_PromptSchedule", "ALCM_MotionKeyframe",
             "ALCM_FreeNoise", "ALCM_FreeInit", "ALCM_TrainingClips", "ALCM_TrainMotionLoRA"]

if CHROMIUM is None and os.environ.get("ALCM_REQUIRE_HOST") == "1":
    raise RuntimeError("ALCM_REQUIRE_HOST=1 but no Chromium for the web UI tests (apt-get install chromium)")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="web UI test skipped: no Chromium (apt-get install chromium)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def server(host, tmp_path_factory):
    comfyui = os.path.dirname(os.path.abspath(host.nodes.__file__))
    base = tmp_path_factory.mktemp("web")
    for sub in ("custom_nodes", "user", "output"):
        (base / sub).mkdir()
    os.symlink(PACK_DIR, base / "custom_nodes" / PACK_NAME)
    models = checkpoint_files.ensure_model_files()
    # is_default: our files come first, before a user's own files of the same names in this ComfyUI's models/
    lines = ["alcm_test:", f"  base_path: {models}", "  is_default: true"] + \
            [f"  {k}: {k}" for k in checkpoint_files.FOLDERS] + [f"  custom_nodes: {base / 'custom_nodes'}"]
    (base / "extra_model_paths.yaml").write_text("\n".join(lines) + "\n")
    checkpoint_files.write_input_media(str(base / "input"))
    port = _free_port()
    log_path = base / "server.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, os.path.join(comfyui, "main.py"), "--cpu", "--listen", "127.0.0.1", "--port", str(port),
             "--extra-model-paths-config", str(base / "extra_model_paths.yaml"), "--input-directory",
             str(base / "input"), "--output-directory", str(base / "output"), "--user-directory", str(base / "user"),
             "--database-url", "sqlite:///:memory:", "--disable-auto-launch"],
            cwd=str(base), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 300
        while True:
            try:
                _get(url + "/system_stats", timeout=5)
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"ComfyUI did not start:\n{log_path.read_text()[-3000:]}")
                time.sleep(1)
        # a new user's first visit opens the template browser; this is a returning user
        req = urllib.request.Request(url + "/api/settings/Comfy.TutorialCompleted", data=b"true", method="POST")
        urllib.request.urlopen(req, timeout=30).close()
        yield {"url": url, "log": log_path}
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


class Chromium:
    """Headless Chromium over the DevTools protocol."""
    FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
             "--remote-debugging-port=0", "--window-size=1600,1000", "--hide-scrollbars", "--mute-audio"]

    def __init__(self, profile_dir: str):
        self.profile = profile_dir
        self.proc = subprocess.Popen([CHROMIUM, *self.FLAGS, f"--user-data-dir={profile_dir}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.loop = asyncio.new_event_loop()
        self.ids = itertools.count(1)
        self.pending, self.events = {}, []
        self.loop.run_until_complete(self._connect())

    async def _connect(self):
        import aiohttp
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.time() + 60
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError("Chromium did not start")
            await asyncio.sleep(0.2)
        port = int(open(port_file).read().split()[0])
        self.session = aiohttp.ClientSession()
        async with self.session.get(f"http://127.0.0.1:{port}/json/list") as r:
            page = next(t for t in await r.json() if t["type"] == "page")
        self.ws = await self.session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)
        self.reader = self.loop.create_task(self._read())
        for domain in ("Page", "Runtime", "Log"):
            await self._send(f"{domain}.enable")

    async def _read(self):
        async for msg in self.ws:
            data = json.loads(msg.data)
            if data.get("id") in self.pending:
                self.pending.pop(data["id"]).set_result(data)
            elif "method" in data:
                self.events.append(data)

    async def _send(self, method, **params):
        i = next(self.ids)
        self.pending[i] = self.loop.create_future()
        await self.ws.send_str(json.dumps({"id": i, "method": method, "params": params}))
        data = await asyncio.wait_for(self.pending[i], 180)
        if "error" in data:
            raise RuntimeError(f"{method}: {data['error']}")
        return data["result"]

    def send(self, method, **params):
        return self.loop.run_until_complete(self._send(method, **params))

    def evaluate(self, expression: str):
        r = self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"page error: {json.dumps(r['exceptionDetails'])[:3000]}")
        return r["result"].get("value")

    def sleep(self, seconds: float):
        self.loop.run_until_complete(asyncio.sleep(seconds))

    def wait_for(self, expression: str, timeout: float = 120):
        deadline = time.time() + timeout
        while not self.evaluate(expression):
            if time.time() > deadline:
                raise TimeoutError(expression)
            self.sleep(0.5)

    def open(self, url: str):
        self.send("Page.navigate", url=url)
        self.wait_for("!!(window.app && window.app.graph && window.LiteGraph && window.LiteGraph.registered_node_types"
                      " && Object.keys(window.LiteGraph.registered_node_types).length > 100)")
        self.sleep(2)

    def screenshot(self, path: str):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"]))

    def problems(self) -> list[str]:
        """Page exceptions, console errors and failed requests to the server since the events were last cleared."""
        out = []
        for e in self.events:
            p = e["params"]
            if e["method"] == "Runtime.exceptionThrown":
                out.append("exception: " + json.dumps(p["exceptionDetails"].get("exception", p["exceptionDetails"]))[:500])
            elif e["method"] == "Runtime.consoleAPICalled" and p["type"] == "error":
                out.append("console.error: " + json.dumps(p["args"])[:500])
            elif e["method"] == "Log.entryAdded" and p["entry"]["level"] == "error" and \
                    p["entry"].get("url", "").startswith("http://127.0.0.1"):
                out.append(f"{p['entry']['text']}: {p['entry']['url']}")
        return out

    def close(self):
        try:
            self.reader.cancel()
            self.loop.run_until_complete(self.ws.close())
            self.loop.run_until_complete(self.session.close())
        finally:
            self.proc.terminate()
            self.proc.wait(30)
            self.loop.close()


@pytest.fixture(scope="module")
def page(server):
    browser = Chromium(tempfile.mkdtemp(prefix="alcm-chromium-"))
    try:
        browser.open(server["url"] + "/")
        yield browser
    finally:
        browser.close()


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
    info = _get(server["url"] + "/object_info")
    assert [n for n in OUR_NODES if n not in info] == []
    listed = info["ALCM_LoadMotionModel"]["input"]["required"]["model_name"][1]["options"]
    ours = [name for folder, name in checkpoint_files.FILES if folder == "animatediff_models"]
    assert set(ours) <= set(listed), listed  # a user's ComfyUI may list files of its own too
    templates = _get(server["url"] + "/workflow_templates")
    assert sorted(templates.get(PACK_NAME, [])) == sorted(NAMES), templates


@pytest.mark.parametrize("name", NAMES)
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
    assert page.problems() == []
    # the frontend reads every widget value where the file put it (a release may append optional widgets, which
    # then hold their defaults), and sends what the API twin holds
    info = _get(server["url"] + "/object_info")
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
