"""Each saved node as the frontend holds it after loading: its kind, input/output slots and widget values.

The frontend builds a fresh node from the definition, then overlays what was saved (ComfyNode.configure): each
input the definition has keeps its definition's name, type and widget marker and takes the saved link of the saved
input of the same name; saved inputs the definition lacks (added by a pack's frontend code, or renamed since) follow;
outputs are matched by position. Widget values are restored (widgets.py), then packs' own frontend code runs
(packs.py). Nodes that exist only in the frontend (Note, Reroute, PrimitiveNode, KJNodes' Set/Get, rgthree's virtual
nodes: tools/pack_index.frontend_only_types(), the one list the runner's node-type check uses too) and subgraph
instances are virtual: never sent, only followed. A muted or bypassed node of a type that is not installed is kept as
the frontend keeps it, with its saved slots (never sent; a bypassed one passes its inputs on).
"""
from dataclasses import dataclass, field

from tools.pack_index import frontend_only_types
from tools.ui_graph import packs
from tools.ui_graph.frontend import Frontend
from tools.ui_graph.model import MODE_BYPASS, MODE_NEVER, Node, WorkflowFormatError, Workflow
from tools.ui_graph.widgets import (Layout, SlotDef, UNDEFINED, Widget, layout_from_definition, layout_from_names,
                                    migrate_values, restore_values)

NOTE_NODES = ("Note", "MarkdownNote")
REROUTE, PRIMITIVE, SET_NODE, GET_NODE = "Reroute", "PrimitiveNode", "SetNode", "GetNode"
FRONTEND_ONLY_TYPES = frontend_only_types()  # the above and the packs' (rgthree's virtual nodes)


@dataclass
class Slot:
    name: str
    type: object
    link: int | None
    widget: str | None = None


@dataclass
class NodeState:
    node: Node
    kind: str  # "node", "note", "reroute", "primitive", "set", "get", "subgraph", "frontend" (other frontend-only)
    inputs: list[Slot] = field(default_factory=list)
    outputs: list[SlotDef] = field(default_factory=list)
    widgets: list[Widget] = field(default_factory=list)
    title: str | None = None
    subgraph: object = None  # the Graph of a subgraph instance

    @property
    def virtual(self) -> bool:
        return self.kind != "node"

    def widget(self, name: str) -> Widget | None:
        return next((w for w in self.widgets if w.name == name), None)


class Definitions:
    """Node definitions: `lookup(type)` -> an /object_info-style dict or None; or, without one, a table of widget
    names (tools/widget_table.py) that knows no defaults or slot types."""

    def __init__(self, lookup=None, table=None, minimum=None):
        self.lookup, self.table, self.minimum = lookup, table, minimum

    def layout(self, node_type: str, frontend: Frontend) -> tuple[Layout | None, dict | None]:
        if self.lookup is not None:
            definition = self.lookup(node_type)
            return (None, None) if definition is None else (layout_from_definition(definition, frontend), definition)
        names = self.table(node_type) if self.table else None
        return (None, None) if names is None else (layout_from_names(names), None)


def node_kind(node: Node, workflow: Workflow) -> str:
    if node.type in NOTE_NODES:
        return "note"
    if node.type in workflow.subgraphs:
        return "subgraph"
    special = {REROUTE: "reroute", PRIMITIVE: "primitive", SET_NODE: "set", GET_NODE: "get"}.get(node.type)
    return special or ("frontend" if node.type in FRONTEND_ONLY_TYPES else "node")


def configure_node(node: Node, workflow: Workflow, definitions: Definitions, frontend: Frontend,
                   notes: list[str]) -> NodeState:
    packs.refuse_unsupported(node)
    kind = node_kind(node, workflow)
    state = NodeState(node, kind, title=node.title)
    if kind == "subgraph":
        state.subgraph = workflow.subgraphs[node.type]
        state.inputs = _subgraph_inputs(node, state.subgraph)
        state.outputs = [SlotDef(o.name, o.type) for o in state.subgraph.outputs]
        return state
    if kind != "node":
        state.inputs = [Slot(i.name, i.type, i.link, i.widget) for i in node.inputs]
        state.outputs = [SlotDef(o.name, o.type) for o in node.outputs]
        state.widgets = _frontend_node_widgets(node, kind)
        return state
    layout, definition = definitions.layout(node.type, frontend)
    if layout is None and node.mode in (MODE_NEVER, MODE_BYPASS):
        state.inputs = [Slot(i.name, i.type, i.link, i.widget) for i in node.inputs]
        state.outputs = [SlotDef(o.name, o.type) for o in node.outputs]
        return state
    if layout is None:
        raise WorkflowFormatError(f"{node.describe()}: unknown node type {node.type!r} (is the pack that provides it "
                                  f"installed?)")
    state.inputs = _merge_inputs(node, layout)
    state.outputs = _merge_outputs(node, layout)
    state.widgets = packs.fresh_widgets(node.type, [Widget(**vars(w)) for w in layout.widgets], definition,
                                        frontend)
    state.title = node.title or (None if definition is None else definition.get("display_name") or node.type)
    values = node.widgets_values
    if isinstance(values, (list, dict)):
        values = migrate_values(layout, values, frontend)
    if not layout.known:
        least = definitions.minimum(node.type) if definitions.minimum else len(state.widgets)
        _check_table_count(node, values, state.widgets, least)
    restore_values(state.widgets, values, frontend, node.describe(), notes)
    packs.after_configure(state, values, definition, frontend, notes)
    return state


def _merge_inputs(node: Node, layout: Layout) -> list[Slot]:
    if not layout.known:
        return [Slot(i.name, i.type, i.link, i.widget) for i in node.inputs]
    saved = {i.name: i for i in node.inputs}
    merged = []
    for d in layout.inputs:
        s = saved.get(d.name)
        merged.append(Slot(d.name, d.type, s.link if s else None, d.name if d.widget else None))
    defined = {d.name for d in layout.inputs}
    merged += [Slot(i.name, i.type, i.link, i.widget) for i in node.inputs if i.name not in defined]
    return merged


def _merge_outputs(node: Node, layout: Layout) -> list[SlotDef]:
    if not layout.known:
        return [SlotDef(o.name, o.type) for o in node.outputs]
    count = max(len(layout.outputs), len(node.outputs))
    return [layout.outputs[i] if i < len(layout.outputs) else SlotDef(node.outputs[i].name, node.outputs[i].type)
            for i in range(count)]


def _subgraph_inputs(node: Node, subgraph) -> list[Slot]:
    """A subgraph instance's inputs are its subgraph's, each with the saved link of the saved input of that name."""
    saved = {i.name: i for i in node.inputs}
    return [Slot(io.name, io.type, saved[io.name].link if io.name in saved else None) for io in subgraph.inputs]


def _frontend_node_widgets(node: Node, kind: str) -> list[Widget]:
    """The one widget that matters of a frontend-only node: a primitive's value, a Set/Get node's name."""
    values = node.widgets_values if isinstance(node.widgets_values, list) else []
    if kind in ("primitive", "set", "get"):
        name = "value" if kind == "primitive" else "Constant"
        return [Widget(name, values[0] if values else UNDEFINED, to_prompt=False)]
    return []


def _check_table_count(node: Node, values, widgets: list[Widget], least: int) -> None:
    """Without definitions, a saved list must fit the table (nothing else is known to realign it)."""
    if isinstance(values, list) and not least <= len(values) <= len(widgets):
        raise WorkflowFormatError(f"{node.describe()}: {len(values)} widget values for {len(widgets)} widgets "
                                  f"{[w.name for w in widgets]} (convert with the node definitions, e.g. through the "
                                  f"runner, to apply the frontend's rules for older layouts)")
