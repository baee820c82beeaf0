"""What the web UI tests share: a ComfyUI server started as a user starts it, with this pack installed as a custom
node, and headless Chromium driven over the Chrome DevTools protocol (a websocket: aiohttp is one of ComfyUI's own
requirements), so nothing beyond Debian's chromium is needed."""
import asyncio
import base64
import contextlib
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

PACK_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACK_NAME = "comfyui-animatelcm"
SCREENSHOTS = os.path.join(PACK_DIR, "out", "web_ui")
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


def core_only_workflows() -> list[str]:
    """The shipped UI workflows (names) with no other pack's nodes: those open on a bare host; the others open in the
    packs tier (tests/packs), on a server with those packs."""
    from tools.widget_table import PACK_NODES
    from tools.workflow_api import WORKFLOWS_DIR, load_json, ui_workflow_files
    names = [os.path.splitext(os.path.basename(p))[0] for p in ui_workflow_files()]
    return [n for n in names if not any(node["type"] in PACK_NODES
                                        for node in load_json(os.path.join(WORKFLOWS_DIR, n + ".json"))["nodes"])]


def needs_chromium():
    """The mark for a web UI test module: skipped without Chromium, an error where CI demands the whole tier."""
    import pytest
    if CHROMIUM is None and os.environ.get("ALCM_REQUIRE_HOST") == "1":
        raise RuntimeError("ALCM_REQUIRE_HOST=1 but no Chromium for the web UI tests (apt-get install chromium)")
    return pytest.mark.skipif(CHROMIUM is None, reason="web UI test skipped: no Chromium (apt-get install chromium)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


@contextlib.contextmanager
def comfy_server(host, base, args: list[str]):
    """ComfyUI's main.py on a free loopback port, with `base`/custom_nodes holding a link to this pack and `args`
    saying where models, inputs and outputs are. Yields {"url", "log"}."""
    comfyui = os.path.dirname(os.path.abspath(host.nodes.__file__))
    with server_process(comfyui, sys.executable, base, args) as server:
        yield server


@contextlib.contextmanager
def server_process(comfyui: str, python: str, base, args: list[str]):
    """`python comfyui/main.py` (any ComfyUI folder, e.g. a pack-host copy) on a free loopback port, run from `base`
    (a pathlib.Path) whose custom_nodes/ holds a link to this pack (pass it to ComfyUI through `args`, e.g. an
    extra_model_paths YAML with a custom_nodes entry). Yields {"url", "log"}; the server is stopped on exit.
    ComfyUI's user, input, output and temp folders are `base`'s unless `args` name them: never the ComfyUI folder's
    (the frontend stores its settings in the user folder; main.py empties the temp folder)."""
    for sub in ("custom_nodes", "user", "output", "input"):
        (base / sub).mkdir(exist_ok=True)
    own = {"--user-directory": base / "user", "--input-directory": base / "input",
           "--output-directory": base / "output", "--temp-directory": base}  # main.py adds "temp" to the last
    args = [*args, *(a for flag, path in own.items() if flag not in args for a in (flag, str(path)))]
    if not (base / "custom_nodes" / PACK_NAME).exists():
        os.symlink(PACK_DIR, base / "custom_nodes" / PACK_NAME)
    port = free_port()
    log_path = base / "server.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [python, os.path.join(comfyui, "main.py"), "--cpu", "--listen", "127.0.0.1", "--port", str(port),
             *args, "--database-url", "sqlite:///:memory:", "--disable-auto-launch"],
            cwd=str(base), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 300
        while True:
            try:
                get_json(url + "/system_stats", timeout=5)
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"ComfyUI did not start:\n{log_path.read_text()[-3000:]}") from None
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


@contextlib.contextmanager
def browser_on(url: str):
    profile = tempfile.mkdtemp(prefix="alcm-chromium-")
    try:
        browser = Chromium(profile)
        try:
            browser.open(url + "/")
            yield browser
        finally:
            browser.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


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


# The frontend's missing-models report, whichever way this frontend shows it (feature-detected, not by version):
# - a "missingModel" store and an Errors panel (frontend 1.4x): candidates from the widgets' values, enriched with
#   the links; rows with a download button once the panel's Errors tab is open;
# - a missing-models dialog (frontend 1.2x): one list entry per link whose file the server does not list.
# Returns {"panel": bool, "entries": null (no report) | [{name, directory, url, downloadable}]}.
MISSING_MODELS = r"""(async () => {
  const sleep = ms => new Promise(done => setTimeout(done, ms));
  const pinia = document.querySelector('#vue-app').__vue_app__.config.globalProperties.$pinia;
  const store = pinia._s.get('missingModel');
  if (store) {
    await sleep(2500);  // the overlay opens after a request loadGraphData does not await
    const missing = (store.missingModelCandidates || []).filter(c => c.isMissing !== false);
    if (!missing.length) return {panel: true, entries: null,
                                 group: !!document.querySelector('[data-testid="error-group-missing-model"]')};
    const groupOf = () => document.querySelector('[data-testid="error-group-missing-model"]');
    if (!groupOf()) {
      const open = document.querySelector('[data-testid="error-overlay-see-errors"]') ||
                   document.querySelector('[data-testid="panel-tab-errors"]');
      if (open) open.click();
      for (let i = 0; i < 40 && !groupOf(); i++) await sleep(250);
    }
    const group = groupOf();
    const buttons = group ? Array.from(group.querySelectorAll('[data-testid="missing-model-download"]')) : [];
    return {panel: true, entries: missing.map(c => {
      const button = buttons.find(b => b.getAttribute('aria-label') === 'Download ' + c.name);
      return {name: c.name, directory: c.directory, url: c.url || null, listed: !!group && group.innerText.includes(c.name),
              downloadable: !!button && !button.disabled};
    })};
  }
  await sleep(1000);
  const dialog = document.querySelector('.p-dialog[aria-labelledby="global-missing-models-warning"]');
  if (!dialog) return {panel: false, entries: null};
  return {panel: false, entries: Array.from(dialog.querySelectorAll('.comfy-missing-models .p-listbox-option')).map(li => {
    const label = li.querySelector('span[title]');  // "directory / name", title = url
    const text = label ? label.textContent.trim() : '';
    const cut = text.indexOf(' / ');
    const button = li.querySelector('button');
    return {name: text.slice(cut + 3), directory: text.slice(0, cut), url: label ? label.title : null, listed: true,
            downloadable: !!button && !button.disabled};
  })};
})()"""

# Closes what an earlier workflow left open (a missing-models dialog is not re-rendered for the next workflow).
RESET_REPORTS = r"""(async () => {
  const pinia = document.querySelector('#vue-app').__vue_app__.config.globalProperties.$pinia;
  const dialogs = pinia._s.get('dialog');
  if (dialogs) dialogs.closeDialog({key: 'global-missing-models-warning'});
  const errors = pinia._s.get('executionError');
  if (errors && errors.dismissErrorOverlay) errors.dismissErrorOverlay();
  const panel = pinia._s.get('rightSidePanel');
  if (panel && panel.closePanel) panel.closePanel();
  await new Promise(done => setTimeout(done, 300));
  return true;
})()"""
