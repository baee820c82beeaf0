"""UI-format workflows (what the ComfyUI frontend loads and saves) to API format (what `/prompt` and the executor take).

A UI workflow stores each node's widget values as a list (`widgets_values`) in the order the frontend creates the
widgets; the API format names every input. Mapping one to the other needs the widget names in that order. The
frontend derives them from the node definition (`/object_info`):

- every input that is not a socket becomes a widget, required inputs first, then optional, in definition order: a
  combo (a list of options, or the type "COMBO"), INT, FLOAT, STRING, BOOLEAN (unless `forceInput`);
- an INT named `seed` / `noise_seed`, or any input with `control_after_generate`, is followed by a frontend-only
  "control after generate" widget (fixed / increment / decrement / randomize);
- a combo with `image_upload` / `video_upload` / `animated_image_upload` gets a frontend-only upload button widget
  after the last required input (its saved value is "image").

Frontend-only widgets are saved in `widgets_values` but never sent to the server.

Two sources of widget names: `WIDGETS` (tools/widget_table.py), a table for the node types of the shipped workflows (the unit tier has
no ComfyUI; the ComfyUI tier checks this table against the real node definitions and the real frontend), and
`widget_names(definition)`, which applies the rules above to a live node definition (what the runner uses, so it
handles any node of any installed pack).

`python -m tools.workflow_api` regenerates `workflows/api/<name>.json` from every `workflows/<name>.json`;
`--check` only reports which are out of date (exit status 1).
"""
import argparse
import json
import os
import sys

from tools.widget_table import CONTROL, CORE_NODES, UPLOAD, WIDGETS  # noqa: F401 (re-exported)

FRONTEND_ONLY = (CONTROL, UPLOAD)
NOTE_NODES = ("Note", "MarkdownNote")  # frontend-only nodes: text on the canvas, never sent to the server
WIDGET_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO",
                "COMFY_DYNAMICCOMBO_V3")  # a combo whose options add inputs (SaveVideo.codec in 0.33): one widget
MODE_NEVER, MODE_BYPASS = 2, 4  # LiteGraph node modes: muted, bypassed

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKFLOWS_DIR = os.path.join(REPO, "workflows")
API_DIR = os.path.join(WORKFLOWS_DIR, "api")


class WorkflowFormatError(ValueError):
    pass


def _is_widget(spec) -> bool:
    kind = spec[0]
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if options.get("forceInput"):
        return False
    return isinstance(kind, (list, tuple)) or kind in WIDGET_TYPES


def widget_names(definition: dict) -> list[str]:
    """Widget names in `widgets_values` order for a node definition shaped like `/object_info`'s entries
    (`input`: {"required": {name: spec}, "optional": {...}}, optional `input_order`)."""
    names = []
    inputs = definition.get("input", {})
    order = definition.get("input_order") or {k: list(v) for k, v in inputs.items()}
    upload_after_required = False
    for section in ("required", "optional"):
        for name in order.get(section, []):
            spec = inputs[section][name]
            if not _is_widget(spec):
                continue
            options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            names.append(name)
            seed_like = spec[0] == "INT" and name in ("seed", "noise_seed")
            if options.get(CONTROL, seed_like):
                names.append(CONTROL)
            if section == "required" and any(options.get(k) for k in
                                             ("image_upload", "video_upload", "animated_image_upload")):
                upload_after_required = True
        if section == "required" and upload_after_required:
            names.append(UPLOAD)
    return names


def required_widget_count(definition: dict) -> int:
    """How many leading `widgets_values` a saved node must hold: the widgets of required inputs (and the frontend-only
    widgets that follow them). Trailing optional widgets may be absent: a workflow saved before a release added an
    optional input (e.g. CreateVideo's `bit_depth`) loads with that input's default, in the frontend and here."""
    inputs = definition.get("input", {})
    required = set(inputs.get("required", {}))
    names = widget_names(definition)
    count = 0
    for i, name in enumerate(names):
        if name in required:
            count = i + 1
            while count < len(names) and names[count] in FRONTEND_ONLY:
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


def _links(ui: dict) -> dict:
    """link id -> (source node id, source slot, target node id, target slot, type); v0.4 arrays or v1 objects."""
    out = {}
    for link in ui.get("links") or []:
        if isinstance(link, dict):
            link = [link["id"], link["origin_id"], link["origin_slot"], link["target_id"], link["target_slot"],
                    link.get("type")]
        out[link[0]] = tuple(link[1:6])
    return out


def ui_to_api(ui: dict, widgets=WIDGETS.get, minimum=None) -> dict:
    """Convert a UI-format workflow to the API format.

    `widgets(node_type)` returns that type's widget names (see module doc) or None for an unknown type;
    `minimum(node_type)` how many of them a node must hold values for (default: all; see required_widget_count).
    Note nodes and muted nodes are left out; links through Reroute and bypassed nodes are followed to their real
    source; a widget fed by a PrimitiveNode keeps its value."""
    if not is_ui_workflow(ui):
        raise WorkflowFormatError("not a UI-format workflow (no `nodes` / `links`)")
    if ui.get("definitions", {}).get("subgraphs"):
        raise WorkflowFormatError("workflows with subgraphs are not supported: export the API format from ComfyUI "
                                  "(Workflow > Export (API)) and run that file")
    nodes = {n["id"]: n for n in ui["nodes"]}
    links = _links(ui)

    def source(link_id, seen=()):
        """The real (node id, slot) behind a link, or ("value", v) for a PrimitiveNode; None when it leads nowhere."""
        if link_id is None or link_id not in links or link_id in seen:
            return None
        src, slot, _, _, kind = links[link_id]
        node = nodes.get(src)
        if node is None:
            return None
        if node["type"] == "Reroute":
            ins = node.get("inputs") or []
            return source(ins[0].get("link"), seen + (link_id,)) if ins else None
        if node["type"] == "PrimitiveNode":
            return ("value", (node.get("widgets_values") or [None])[0])
        if node.get("mode") == MODE_BYPASS:
            outputs = node.get("outputs") or []
            out_type = outputs[slot]["type"] if slot < len(outputs) else kind
            for inp in node.get("inputs") or []:
                if inp.get("type") == out_type and inp.get("link") is not None:
                    return source(inp["link"], seen + (link_id,))
            return None
        if node.get("mode") == MODE_NEVER:
            return None
        return (str(src), slot)

    prompt = {}
    for node in sorted(nodes.values(), key=lambda n: n["id"]):
        kind = node["type"]
        if kind in NOTE_NODES or kind in ("Reroute", "PrimitiveNode") or node.get("mode") in (MODE_NEVER, MODE_BYPASS):
            continue
        names = widgets(kind)
        if names is None:
            raise WorkflowFormatError(f"node {node['id']}: unknown node type {kind!r} (is the pack that provides it "
                                      f"installed?)")
        values = node.get("widgets_values") or []
        inputs = {}
        if isinstance(values, dict):
            inputs.update({k: v for k, v in values.items() if k in names and k not in FRONTEND_ONLY})
        else:
            least = len(names) if minimum is None else minimum(kind)
            if not least <= len(values) <= len(names):
                raise WorkflowFormatError(f"node {node['id']} ({kind}): {len(values)} widget values for {len(names)} "
                                          f"widgets {names}")
            inputs.update({n: v for n, v in zip(names, values) if n not in FRONTEND_ONLY})
        for slot in node.get("inputs") or []:
            name = (slot.get("widget") or {}).get("name", slot["name"])
            src = source(slot.get("link"))
            if src is None:
                continue
            if src[0] == "value":
                inputs[name] = src[1]
            else:
                inputs[name] = [src[0], src[1]]
        entry = {"inputs": inputs, "class_type": kind}
        if node.get("title"):
            entry["_meta"] = {"title": node["title"]}
        prompt[str(node["id"])] = entry
    return prompt


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
