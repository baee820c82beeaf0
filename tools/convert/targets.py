"""The node types the converter writes (this pack's and ComfyUI core's): inputs, widgets, outputs.

`targets.json` is a snapshot of their definitions as ComfyUI's `/object_info` gives them (tooltips and file lists
left out), so the converter runs without ComfyUI; the packs tier checks it against the live registry of both hosts
and `ALCM_UPDATE_TARGETS=1` rewrites it there (tests/packs/test_convert_parity.py). A live registry, when the
caller has one (the runner, the server route), is used instead: `Targets(definitions)`.
"""
import json
import os
import re
from dataclasses import dataclass

SNAPSHOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "targets.json")
NODES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "nodes")
WIDGET_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")
CONTROL = "control_after_generate"
CORE_TYPES = ("CheckpointLoaderSimple", "EmptyLatentImage", "KSampler", "CreateVideo", "SaveVideo",
              "SaveAnimatedWEBP", "SaveAnimatedPNG", "RepeatLatentBatch", "PreviewImage", "GetImageSize")
KEEP_OPTIONS = ("default", "min", "max", "step", "forceInput", "control_after_generate", "multiline", "options")


@dataclass(frozen=True)
class Slot:
    name: str
    type: str
    optional: bool
    spec: dict  # default, min, max, options, ...

    @property
    def is_widget(self) -> bool:
        return (self.type in WIDGET_TYPES or isinstance(self.type, list)) and not self.spec.get("forceInput")


@dataclass(frozen=True)
class Target:
    type: str
    inputs: tuple  # Slot, definition order (required first)
    outputs: tuple  # (name, type)

    @property
    def sockets(self) -> list:
        return [s for s in self.inputs if not s.is_widget]

    @property
    def widgets(self) -> list:
        return [s for s in self.inputs if s.is_widget]

    def widget_names(self) -> list:
        """Names in `widgets_values` order, with the frontend-only control widget after a seed."""
        names = []
        for s in self.widgets:
            names.append(s.name)
            if s.spec.get(CONTROL) or (s.type == "INT" and s.name in ("seed", "noise_seed")):
                names.append(CONTROL)
        return names

    def slot(self, name: str) -> Slot:
        for s in self.inputs:
            if s.name == name:
                return s
        raise KeyError(f"{self.type} has no input {name!r}")

    def output_slot(self, name_or_type: str) -> int:
        for i, (name, kind) in enumerate(self.outputs):
            if name_or_type in (name, kind):
                return i
        raise KeyError(f"{self.type} has no output {name_or_type!r}")


def target_from_definition(node_type: str, definition: dict) -> Target:
    inputs = definition.get("input", {})
    order = definition.get("input_order") or {k: list(v) for k, v in inputs.items()}
    slots = []
    for section in ("required", "optional"):
        for name in order.get(section, []):
            spec = inputs[section][name]
            kind = spec[0]
            options = dict(spec[1]) if len(spec) > 1 and isinstance(spec[1], dict) else {}
            if isinstance(kind, list):
                options["options"], kind = kind, "COMBO"
            slots.append(Slot(name, kind, section == "optional", options))
    names = definition.get("output_name") or definition.get("output") or []
    outputs = tuple(zip(names, definition.get("output") or []))
    return Target(node_type, tuple(slots), outputs)


def slim(definition: dict, keep_options: bool) -> dict:
    """A definition without tooltips (and without combo options when `keep_options` is off: file lists, samplers)."""
    out = {"input": {}, "input_order": {}, "output": list(definition.get("output") or []),
           "output_name": list(definition.get("output_name") or definition.get("output") or [])}
    order = definition.get("input_order") or {k: list(v) for k, v in definition.get("input", {}).items()}
    for section in ("required", "optional"):
        names = order.get(section, [])
        if not names:
            continue
        out["input_order"][section] = list(names)
        out["input"][section] = {}
        for name in names:
            spec = definition["input"][section][name]
            kind = spec[0]
            opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            opts = {k: v for k, v in opts.items() if k in KEEP_OPTIONS and (keep_options or k != "options")}
            if isinstance(kind, list):
                kind = kind if keep_options else "COMBO"
            out["input"][section][name] = [kind, opts]
    return out


def declared_node_ids() -> set:
    """"ALCM_..." strings in nodes/*.py (node ids, some built in loops), for callers without a live registry."""
    ids = set()
    if os.path.isdir(NODES_DIR):
        for name in os.listdir(NODES_DIR):
            if name.endswith(".py"):
                with open(os.path.join(NODES_DIR, name), encoding="utf-8") as f:
                    ids |= set(re.findall(r'"(ALCM_\w+)"', f.read()))
    return ids


class Targets:
    """The node types the converter may write. Without a live registry: the snapshot, limited to this pack's node
    ids still declared in nodes/ and ComfyUI core's types."""

    def __init__(self, definitions: dict | None = None):
        if definitions is None:
            with open(SNAPSHOT, encoding="utf-8") as f:
                definitions = json.load(f)
            declared = declared_node_ids()
            if declared:
                definitions = {k: v for k, v in definitions.items() if not k.startswith("ALCM_") or k in declared}
        self.definitions = definitions
        self._cache = {}

    def has(self, node_type: str, *inputs: str) -> bool:
        if node_type not in self.definitions:
            return False
        target = self.get(node_type)
        names = {s.name for s in target.inputs}
        return all(n in names for n in inputs)

    def choices(self, node_type: str, name: str) -> list:
        return list(self.get(node_type).slot(name).spec.get("options") or [])

    def get(self, node_type: str) -> Target:
        if node_type not in self._cache:
            if node_type not in self.definitions:
                raise KeyError(f"node type {node_type!r} is not available")
            self._cache[node_type] = target_from_definition(node_type, self.definitions[node_type])
        return self._cache[node_type]


FILE_COMBOS = ("model_name", "lora_name", "ckpt_name", "folder")  # options are the user's files: not snapshotted


def snapshot(definitions: dict) -> dict:
    """The targets.json content for live definitions: this pack's nodes and the core types the converter writes."""
    out = {}
    for node_type in sorted(definitions):
        if node_type.startswith("ALCM_") and not node_type.startswith("ALCMTest_"):
            slimmed = slim(definitions[node_type], keep_options=True)
            for section in slimmed["input"].values():
                for name, spec in section.items():
                    if name in FILE_COMBOS:
                        spec[1].pop("options", None)
                        spec[0] = "COMBO" if isinstance(spec[0], list) else spec[0]
            out[node_type] = slimmed
        elif node_type in CORE_TYPES:
            out[node_type] = slim(definitions[node_type], keep_options=False)
    return out
