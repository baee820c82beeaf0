"""UI-format workflows (what the ComfyUI frontend loads and saves) to API format (what `/prompt` and the executor take).

The conversion itself is tools/ui_graph: the prompt the frontend's graphToPrompt would queue, for workflows of every
vintage, with subgraphs, primitives, reroutes, muted/bypassed nodes and KJNodes' Set/Get nodes. It needs each node
type's widgets in `widgets_values` order; the frontend derives them from the node definition (`/object_info`), and
so does `widget_names(definition)` (tools/ui_graph/widgets.py has the rules): what the runner uses, for any node of
any installed pack. Without definitions (the unit tier has no ComfyUI) the names come from `WIDGETS`
(tools/widget_table.py), a table for the node types of the shipped workflows that the ComfyUI tier checks against
the real node definitions and the real frontend.

`python -m tools.workflow_api` regenerates `workflows/api/<name>.json` from every `workflows/<name>.json`;
`--check` only reports which are out of date (exit status 1).
"""
import argparse
import json
import os
import sys

from tools.ui_graph import WorkflowFormatError, convert, frontend_for  # noqa: F401 (WorkflowFormatError re-exported)
from tools.ui_graph.widgets import layout_from_definition
from tools.widget_table import CONTROL, CORE_NODES, UPLOAD, WIDGETS  # noqa: F401 (re-exported)

FRONTEND_ONLY = (CONTROL, UPLOAD)
NOTE_NODES = ("Note", "MarkdownNote")  # frontend-only nodes: text on the canvas, never sent to the server
MODE_NEVER, MODE_BYPASS = 2, 4  # LiteGraph node modes: muted, bypassed

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKFLOWS_DIR = os.path.join(REPO, "workflows")
API_DIR = os.path.join(WORKFLOWS_DIR, "api")


def widget_names(definition: dict, frontend=None) -> list[str]:
    """Widget names in `widgets_values` order for a node definition shaped like `/object_info`'s entries
    (`input`: {"required": {name: spec}, "optional": {...}}, optional `input_order`), as the frontend builds them."""
    return [w.name for w in layout_from_definition(definition, frontend_for(frontend)).widgets if w.saved]


def required_widget_count(definition: dict, frontend=None) -> int:
    """How many leading `widgets_values` a saved node must hold: the widgets of required inputs (and the frontend-only
    widgets that follow them). Trailing optional widgets may be absent: a workflow saved before a release added an
    optional input (e.g. CreateVideo's `bit_depth`) loads with that input's default, in the frontend and here."""
    required = set((definition.get("input") or {}).get("required") or {})
    widgets = [w for w in layout_from_definition(definition, frontend_for(frontend)).widgets if w.saved]
    count = 0
    for i, w in enumerate(widgets):
        if w.name in required:
            count = i + 1
            while count < len(widgets) and not widgets[count].to_prompt:
                count += 1
    return count


def node_definition(node_class) -> dict:
    """`/object_info`-style definition of a registered node class (V1 or V3), without the server."""
    if hasattr(node_class, "GET_NODE_INFO_V1"):
        return node_class.GET_NODE_INFO_V1()
    inputs = node_class.INPUT_TYPES()
    return {"input": inputs, "input_order": {k: list(v) for k, v in inputs.items()},
            "output": list(node_class.RETURN_TYPES),
            "output_name": list(getattr(node_class, "RETURN_NAMES", node_class.RETURN_TYPES))}


def is_api_workflow(data) -> bool:
    return isinstance(data, dict) and bool(data) and all(
        isinstance(v, dict) and "class_type" in v for v in data.values())


def is_ui_workflow(data) -> bool:
    return isinstance(data, dict) and isinstance(data.get("nodes"), list) and "links" in data


def ui_to_api(ui: dict, widgets=None, minimum=None, definitions=None, frontend=None) -> dict:
    """Convert a UI-format workflow to the API format, as the frontend's graphToPrompt does (tools/ui_graph).

    `definitions(node_type)` returns a node type's /object_info-style definition (None: unknown type); `frontend` is
    the frontend release whose rules to follow (default: the newest checked one). Without definitions the widget
    names come from `widgets(node_type)` (default: WIDGETS) and a saved list must hold between `minimum(node_type)`
    (default: all) and all of them; nothing else is known to realign older layouts."""
    if definitions is not None:
        return convert(ui, definitions, frontend).prompt
    return convert(ui, frontend=frontend, table=widgets or WIDGETS.get, minimum=minimum).prompt


def load_json(path: str):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def dump_json(data) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def ui_workflow_files(folder: str = WORKFLOWS_DIR) -> list[str]:
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".json"))


def api_path_for(ui_path: str) -> str:
    return os.path.join(os.path.dirname(ui_path), "api", os.path.basename(ui_path))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.workflow_api", description=(
        "Regenerate the API-format twins workflows/api/<name>.json from the UI workflows workflows/<name>.json."))
    parser.add_argument("--check", action="store_true", help="only report twins that are missing or out of date")
    parser.add_argument("--folder", default=WORKFLOWS_DIR, help="folder of UI workflows (default: %(default)s)")
    args = parser.parse_args(argv)
    texts = {api_path_for(p): dump_json(ui_to_api(load_json(p))) for p in ui_workflow_files(args.folder)}
    return update_files(texts, args.check)


def update_files(texts: dict[str, str], check: bool) -> int:
    """Write each {path: text} whose file differs (with `check`, only report it); exit status 1 when a check found
    files out of date."""
    stale = []
    for path, text in texts.items():
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                if f.read() == text:
                    continue
        stale.append(path)
        if not check:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    for p in stale:
        print(("out of date: " if check else "wrote ") + os.path.relpath(p), file=sys.stderr)
    return 1 if (check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
