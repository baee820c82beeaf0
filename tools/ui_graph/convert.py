"""The prompt the frontend would queue for a saved UI workflow (its graphToPrompt), built without a browser.

1. Every node is configured as the frontend loads it (configure.py), subgraph instances are expanded into their
   inner nodes (execution ids "5:12"), and each legacy PrimitiveNode writes its value into the widgets it feeds.
2. Each node that is not frontend-only, muted or bypassed becomes a prompt entry: the values of its widgets that
   reach the server, then each linked input followed to its real source (resolve.py), which replaces the widget's
   value when the input stands for a widget; an input that leads nowhere keeps the widget value or is left out.
3. Inputs linked to a node that is not in the prompt are dropped; array values are sent as {"__value__": [...]}.

File names of save nodes get the frontend's %date:...% / %Node.widget% replacements (replace.py).

Notes name what the frontend does silently: values past the last widget ignored, widgets the file predates given
their defaults, Set/Get names that resolve to nothing.
"""
import math
import random
from dataclasses import dataclass, field
from datetime import datetime

from tools.ui_graph import rgthree, virtual
from tools.ui_graph.configure import Definitions, NodeState, configure_node
from tools.ui_graph.frontend import Frontend, frontend_for
from tools.ui_graph.model import (MODE_BYPASS, MODE_NEVER, Node, Workflow, WorkflowFormatError,
                                  deduplicate_subgraph_node_ids, parse_workflow)
from tools.ui_graph.replace import apply_text_replacements, replaces_filename_prefix
from tools.ui_graph.resolve import Resolver, build_exec_map
from tools.ui_graph.subgraphs import promoted_widgets
from tools.ui_graph.widgets import UNDEFINED, process_dynamic_prompt


@dataclass
class Conversion:
    prompt: dict
    notes: list[str]


@dataclass
class Session:
    workflow: Workflow
    definitions: Definitions
    frontend: Frontend
    notes: list[str] = field(default_factory=list)
    states: dict = field(default_factory=dict)
    promoted: dict = field(default_factory=dict)
    promoting: set = field(default_factory=set)
    overrides: dict = field(default_factory=dict)  # (id(instance node), inner node id) -> {widget: value}
    now: datetime | None = None  # the time %date:...% replacements use (default: when converted)

    def state(self, node: Node) -> NodeState:
        key = id(node)
        if key not in self.states:
            self.states[key] = configure_node(node, self.workflow, self.definitions, self.frontend, self.notes)
        return self.states[key]


def convert(ui: dict, definitions=None, frontend=None, table=None, choose=None, minimum=None,
            now: datetime | None = None) -> Conversion:
    """Convert a UI-format workflow to the API format.

    `definitions(node_type)` returns the type's /object_info-style definition, or None for an unknown type; without
    it, `table(node_type)` gives widget names only (tools/widget_table.py; a saved list must then hold between
    `minimum(node_type)`, default all, and all of them). `frontend` is the frontend release to
    imitate (see frontend.py; default: the newest checked). `choose(options)` picks a dynamic-prompt option, and
    the node a Random Unmuter (rgthree) unmutes (the frontend picks at random); `now` is the time for %date:...% in
    file names (default: now)."""
    session = Session(parse_workflow(ui), Definitions(definitions, table, minimum), frontend_for(frontend), now=now)
    if session.frontend.dedupes_subgraph_node_ids:
        deduplicate_subgraph_node_ids(session.workflow)
    pick = choose or random.choice
    rgthree.apply_random_unmuters(session.workflow, pick, session.notes)
    dtos = build_exec_map(session)
    for dto in dtos.values():  # promoted widgets and legacy proxyWidgets are settled on load
        if dto.state.kind == "subgraph":
            promoted_widgets(session, dto.node)
    for graph in _graphs_in_use(session, dtos):
        virtual.apply_primitives(session, graph)
    resolver = Resolver(session, dtos)
    prompt = {}
    for dto in dtos.values():
        if dto.state.virtual or dto.node.mode in (MODE_NEVER, MODE_BYPASS):
            continue
        inputs = _widget_inputs(session, dto, pick)
        for slot, entry in enumerate(dto.state.inputs):
            resolved = resolver.resolve_input(dto, slot, set())
            if resolved is None:
                continue
            inputs[entry.name] = _wrap(resolved[1]) if resolved[0] == "value" else [resolved[1], resolved[2]]
        node = {"inputs": inputs, "class_type": dto.node.type}
        if dto.state.title:
            node["_meta"] = {"title": dto.state.title}
        prompt[dto.id] = node
    for node in prompt.values():
        for name, value in list(node["inputs"].items()):
            if value is UNDEFINED or (isinstance(value, list) and len(value) == 2 and value[0] not in prompt):
                del node["inputs"][name]
    return Conversion(prompt, session.notes)


def _graphs_in_use(session: Session, dtos: dict) -> list:
    graphs, seen = [session.workflow.root], {id(session.workflow.root)}
    for dto in dtos.values():
        if dto.state.kind == "subgraph" and id(dto.state.subgraph) not in seen:
            seen.add(id(dto.state.subgraph))
            graphs.append(dto.state.subgraph)
    return graphs


def _widget_inputs(session: Session, dto, pick) -> dict:
    overrides = session.overrides.get((id(dto.instance.node), dto.node.id), {}) if dto.instance else {}
    inputs = {}
    for w in dto.state.widgets:
        if not w.name or not w.to_prompt:
            continue
        value = overrides.get(w.name, w.value)
        if w.dynamic_prompts and isinstance(value, str):
            value = process_dynamic_prompt(value, pick)
        if w.name == "filename_prefix" and isinstance(value, str) and replaces_filename_prefix(dto.node.type,
                                                                                                session.frontend):
            value = apply_text_replacements(session, value)
        inputs[w.name] = _wrap(value)
    return inputs


def _wrap(value):
    """Arrays are reserved for links: the frontend wraps an array value as {"__value__": [...]}; NaN and infinities
    become null (JSON.stringify)."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return {"__value__": value} if isinstance(value, list) else value


def ui_to_api(ui: dict, definitions=None, frontend=None, table=None) -> dict:
    return convert(ui, definitions, frontend, table).prompt


__all__ = ["Conversion", "convert", "ui_to_api", "WorkflowFormatError"]
