"""The frontend is the ground truth of UI-to-API: each test workflow (tests/fixtures/ui_workflows, written by hand,
and the shipped workflows/*.json) is loaded into the real frontend in headless Chromium and the prompt it would
queue (`app.graphToPrompt()`) is compared with tools/ui_graph's conversion of the same file, with the same node
definitions (the server's /object_info): equal node for node (execution ids), input for input, title for title.

Frontends: the host's bundled one, and on the 0.33 host also comfyui-frontend-package 1.58.1 when installed
(ALCM_EXTRA_FRONTEND: a `pip install --target DIR comfyui-frontend-package==1.58.1` folder). One server per frontend
(main.py of a pack-host copy: AnimateDiff-Evolved, VideoHelperSuite, KJNodes, ... with their web code, plus this
pack), one page; the workflows load one after another.

Also checked on each frontend: the widgets a fresh node of every registered type gets (which ones are saved, which
are sent, the values sent) against widgets.py, and the frontend's rules for old value lists on node definitions
registered in the page for the purpose (forceInput realignment, controls, dynamic combos).
"""
import glob
import json
import os
import pathlib
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "comfyui"))

from pack_hosts import pack_host  # noqa: E402
from tools.ui_graph import convert  # noqa: E402
from tools.ui_graph.frontend import frontend_for  # noqa: E402
from tools.ui_graph import packs as pack_widgets  # noqa: E402
from tools.ui_graph.widgets import UNDEFINED, layout_from_definition, spec_parts  # noqa: E402
from web_ui import browser_on, get_json, needs_chromium, server_process  # noqa: E402

import frontend_synthetic  # noqa: E402  (tests/fixtures)

# the hand-written test workflows, and the pack's shipped ones
WORKFLOWS = sorted(glob.glob(os.path.join(REPO, "tests", "fixtures", "ui_workflows", "*.json"))) + \
    sorted(glob.glob(os.path.join(REPO, "workflows", "*.json")))
NAMES = [("shipped-" if "fixtures" not in p else "") + os.path.splitext(os.path.basename(p))[0] for p in WORKFLOWS]
pytestmark = needs_chromium()

LOAD = """(async () => {
  await app.loadGraphData(%s);
  await new Promise(done => setTimeout(done, 200));
  const p = await app.graphToPrompt();
  return JSON.parse(JSON.stringify(p.output));
})()"""
LAYOUTS = r"""(() => {
  const out = {};
  const value = v => v === undefined ? '__undefined__' : v;
  for (const [type, cls] of Object.entries(LiteGraph.registered_node_types)) {
    if (!cls.nodeData) continue;
    const node = LiteGraph.createNode(type);
    if (!node) continue;
    out[type] = (node.widgets || []).map(w => [w.name, w.serialize !== false,
      !(w.options && w.options.serialize === false), JSON.parse(JSON.stringify([value(w.value)]))[0]]);
  }
  return out;
})()"""
REGISTER = "(async () => { await app.registerNodeDef(%s, %s); return true; })()"


def _frontends():
    out = [("bundled", None)]
    extra = os.environ.get("ALCM_EXTRA_FRONTEND")
    if extra:
        out.append(("1.58.1", extra))
    return out


@pytest.fixture(scope="module", params=_frontends(), ids=lambda p: p[0])
def frontend(request, packs):
    """One server (ADE pack-host copy + this pack) serving this frontend; everything the tests compare, collected
    with one page: {"version", "info", "prompts", "layouts", "synthetic"}."""
    label, root = request.param
    static = None
    if root is not None:
        if tuple(int(x) for x in packs.version.split(".")[:2]) < (0, 33):
            pytest.skip("frontend 1.58.1 is checked on the newest host (0.33) only")
        static = os.path.join(root, "comfyui_frontend_package", "static")
        if not os.path.isfile(os.path.join(static, "index.html")):
            raise FileNotFoundError(f"ALCM_EXTRA_FRONTEND={root}: no comfyui_frontend_package/static/index.html")
    comfyui = pack_host(packs.comfyui, sys.executable, "ade")
    base = pathlib.Path(tempfile.mkdtemp(prefix="alcm-frontend-", dir=packs.root))
    (base / "custom_nodes").mkdir()
    (base / "extra_model_paths.yaml").write_text(f"alcm_frontend:\n  base_path: {base}\n"
                                                 f"  custom_nodes: {base / 'custom_nodes'}\n")
    args = ["--extra-model-paths-config", str(base / "extra_model_paths.yaml"), "--input-directory",
            str(base / "input"), "--output-directory", str(base / "output"), "--user-directory", str(base / "user")]
    if static:
        args += ["--front-end-root", static]
    with server_process(comfyui, sys.executable, base, args) as server:
        with browser_on(server["url"]) as page:
            version = page.evaluate("window.__COMFYUI_FRONTEND_VERSION__")
            info = get_json(server["url"] + "/object_info", timeout=120)
            layouts = page.evaluate(LAYOUTS)
            prompts = {name: page.evaluate(LOAD % json.dumps(_read(path))) for name, path in zip(NAMES, WORKFLOWS)}
            for name, definition in frontend_synthetic.definitions(version).items():
                page.evaluate(REGISTER % (json.dumps(name), json.dumps(definition)))
            synthetic = page.evaluate(LOAD % json.dumps(frontend_synthetic.workflow(version)))
    yield {"version": version, "info": info, "prompts": prompts, "layouts": layouts, "synthetic": synthetic}


def _read(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _comparable(prompt: dict) -> dict:
    return {k: (v.get("class_type"), v.get("_meta", {}).get("title"), v["inputs"]) for k, v in prompt.items()}


def _differences(ours: dict, theirs: dict) -> list[str]:
    out = []
    for k in sorted(set(ours) | set(theirs)):
        if k not in ours or k not in theirs:
            out.append(f"node {k}: {'only the frontend' if k in theirs else 'only ui_to_api'} has it")
            continue
        (a_type, a_title, a), (b_type, b_title, b) = ours[k], theirs[k]
        if (a_type, a_title) != (b_type, b_title):
            out.append(f"node {k}: {a_type!r} / {a_title!r} vs the frontend's {b_type!r} / {b_title!r}")
        for name in sorted(set(a) | set(b)):
            if a.get(name, "<absent>") != b.get(name, "<absent>"):
                out.append(f"node {k} input {name!r}: {a.get(name, '<absent>')!r} vs the frontend's "
                           f"{b.get(name, '<absent>')!r}")
    return out


@pytest.mark.parametrize("name", NAMES)
def test_frontend_queues_what_ui_to_api_builds(frontend, name):
    workflow = _read(WORKFLOWS[NAMES.index(name)])
    ours = convert(workflow, frontend["info"].get, frontend["version"]).prompt
    differences = _differences(_comparable(ours), _comparable(frontend["prompts"][name]))
    assert not differences, f"frontend {frontend['version']}, {name}:\n" + "\n".join(differences)


def test_old_value_lists_on_registered_definitions(frontend):
    """forceInput realignment, controls, short and long lists, dynamic combos: each release's own rules."""
    definitions = {**frontend["info"], **frontend_synthetic.definitions(frontend["version"])}
    ours = convert(frontend_synthetic.workflow(frontend["version"]), definitions.get, frontend["version"]).prompt
    differences = _differences(_comparable(ours), _comparable(frontend["synthetic"]))
    assert not differences, f"frontend {frontend['version']}:\n" + "\n".join(differences)


def test_fresh_widgets_of_every_node_type(frontend):
    """Saved / sent widgets of a new node, in order, with the values sent, for every type the server registers
    (except the few whose widgets their own frontend code builds: packs.UNMODELED)."""
    fe = frontend_for(frontend["version"])
    checked, differences = 0, []
    for node_type, theirs in frontend["layouts"].items():
        definition = frontend["info"].get(node_type)
        if definition is None or node_type in pack_widgets.UNMODELED:
            continue
        widgets = pack_widgets.fresh_widgets(node_type, layout_from_definition(definition, fe).widgets, definition, fe)
        ours = [(w.name, w.saved, w.to_prompt, w.value) for w in widgets if w.saved or w.to_prompt]
        mine = [tuple(w) for w in theirs if w[1] or w[2]]
        checked += 1
        if _views(ours, mine, definition) != _views(mine, mine, definition):
            differences.append(f"{node_type}: {_views(ours, mine, definition)} vs the frontend's "
                               f"{_views(mine, mine, definition)}")
    assert checked > 900
    assert not differences, f"frontend {frontend['version']}: {len(differences)} of {checked} types differ:\n" + \
        "\n".join(differences[:20])


def _views(widgets: list, frontend_widgets: list, definition: dict) -> list:
    """(name if sent, saved, sent, value if sent) per widget. A combo's value is left out where it depends on the
    server's file lists at the moment the page loaded (no options, remote options, or a frontend value that is not
    among the options of the /object_info fetched after it)."""
    choices = {}
    for section in ("required", "optional"):
        for name, spec in ((definition.get("input") or {}).get(section) or {}).items():
            kind, options, listed = spec_parts(spec)
            if kind == "COMBO":
                choices[name] = None if options.get("remote") else (listed or None)
    out = []
    for i, (name, saved, sent, value) in enumerate(widgets):
        if value is UNDEFINED or value == "__undefined__":
            value = None
        theirs = frontend_widgets[i][3] if i < len(frontend_widgets) else None
        if name in choices and (choices[name] is None or theirs not in choices[name]):
            value = "-"
        out.append((name if sent else "-", saved, sent, value if sent else "-"))
    return out
