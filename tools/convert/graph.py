"""A workflow (UI or API format) read as a graph of nodes with named inputs.

Links are followed to the node that really produces the value: through Reroute nodes, bypassed nodes (mode 4: an
output passes on the node's first input of the same type), KJNodes' SetNode/GetNode pairs (wires by name) and
PrimitiveNodes (a constant). Both the real producer and the node the link comes from (`via`) are kept, so that a
converted graph is wired through the same reroutes. Nothing here changes the input.
"""
from dataclasses import dataclass

from .report import ConversionError

MODE_MUTED, MODE_BYPASS = 2, 4
SUBGRAPH_INPUT, SUBGRAPH_OUTPUT = -10, -20  # the boundary pseudo-nodes of a subgraph definition's links
REROUTES = ("Reroute",)
SET_NODE, GET_NODE = "SetNode", "GetNode"  # KJNodes: a value set under a name, read elsewhere by that name
PRIMITIVE = "PrimitiveNode"
NOTES = ("Note", "MarkdownNote")


@dataclass(frozen=True)
class Out:
    """An output slot of a node of the input graph."""
    node: object
    slot: int
    type: str | None = None


@dataclass(frozen=True)
class Src:
    """An input fed by a node's output: `out` is the real producer, `via` where the link itself starts."""
    out: Out
    via: Out


@dataclass(frozen=True)
class Const:
    """A constant input: a widget value, or the value of a PrimitiveNode (`via`)."""
    value: object
    via: Out | None = None


class NodeView:
    """One node: id, type, mode, title and its raw dict (UI node or API entry)."""

    def __init__(self, graph, raw: dict, node_id, node_type: str):
        self.graph, self.raw, self.id, self.type = graph, raw, node_id, node_type
        self.mode = raw.get("mode", 0) if graph.fmt == "ui" else 0
        self.title = raw.get("title") if graph.fmt == "ui" else (raw.get("_meta") or {}).get("title")
        self.values = None  # widget values by name, filled by the node tables (tools.convert.widgets)

    def __repr__(self):
        return f"node {self.id} ({self.type})"

    def link(self, name: str):
        """Src / Const for the input `name` when something is connected to it, else None."""
        return self.graph.input_source(self, name)

    def connected_inputs(self) -> list[str]:
        return self.graph.connected_inputs(self)

    def widgets_raw(self):
        return self.raw.get("widgets_values") if self.graph.fmt == "ui" else None


class Graph:
    """Nodes and links of one graph: the workflow itself or one subgraph definition (UI format)."""

    def __init__(self, fmt: str, nodes: list, links: list | None = None, where: str = "workflow"):
        self.fmt, self.where = fmt, where
        self.nodes = {}
        self.dangling = []  # (node id, input name, text): links to nodes that do not exist
        if fmt == "ui":
            self.links = {}
            for link in links or []:
                rec = _link_record(link)
                self.links[rec[0]] = rec
            for raw in nodes:
                self._add(raw, raw.get("id"), raw.get("type"))
        else:
            for node_id, raw in nodes:
                self._add(raw, node_id, raw.get("class_type"))
        self._check_links()

    def _add(self, raw, node_id, node_type):
        if not isinstance(node_id, (int, str)) or isinstance(node_id, bool) or not isinstance(node_type, str):
            raise ConversionError(f"{self.where}: a node without a valid id / type: {str(raw)[:120]}")
        if node_id in self.nodes:
            raise ConversionError(f"{self.where}: two nodes have the id {node_id!r}")
        self.nodes[node_id] = NodeView(self, raw, node_id, node_type)

    # ---- inputs -------------------------------------------------------------------------------------------
    def ui_inputs(self, node: NodeView) -> list:
        inputs = node.raw.get("inputs") or []
        if not isinstance(inputs, list):
            raise ConversionError(f"{node}: `inputs` is not a list")
        return inputs

    def connected_inputs(self, node: NodeView) -> list[str]:
        if self.fmt == "api":
            return [k for k, v in (node.raw.get("inputs") or {}).items() if _is_api_link(v)]
        return [_input_name(i) for i in self.ui_inputs(node) if i.get("link") is not None]

    def input_source(self, node: NodeView, name: str):
        if self.fmt == "api":
            value = (node.raw.get("inputs") or {}).get(name)
            if not _is_api_link(value):
                return None
            return self.follow(Out(value[0], value[1]), (node.id,))
        for slot in self.ui_inputs(node):
            if _input_name(slot) == name and slot.get("link") is not None:
                return self.follow_link(slot["link"], (node.id,))
        return None

    def follow_link(self, link_id, seen=()):
        rec = self.links.get(link_id)
        if rec is None:
            return None
        return self.follow(Out(rec[1], rec[2], rec[5]), seen)

    def follow(self, out: Out, seen=()):
        """The real producer behind an output (Src), a constant (Const), or None (muted / unconnected)."""
        return self._follow(out, out, seen)

    def _follow(self, out: Out, via: Out, seen):
        if out.node in (SUBGRAPH_INPUT, SUBGRAPH_OUTPUT):
            return Src(out, via)
        node = self.nodes.get(out.node)
        if node is None:
            return None
        if node.id in seen:
            chain = " -> ".join(str(s) for s in seen + (node.id,))
            raise ConversionError(f"{self.where}: the links form a cycle through nodes {chain}")
        seen = seen + (node.id,)
        if node.type == PRIMITIVE:
            values = node.raw.get("widgets_values") or [None]
            return Const(values[0], via)
        if node.type in REROUTES:
            inputs = self.ui_inputs(node) if self.fmt == "ui" else []
            return self._follow_ui_input(inputs[0] if inputs else {}, via, seen)
        if node.type == GET_NODE and self.fmt == "ui":
            setter = self._setter(node)
            if setter is None:
                return None
            inputs = self.ui_inputs(setter)
            return self._follow_ui_input(inputs[0] if inputs else {}, via, seen + (setter.id,))
        if node.mode == MODE_MUTED:
            return None
        if node.mode == MODE_BYPASS:
            return self._follow_bypass(node, out, via, seen)
        kind = out.type or self._output_type(node, out.slot)
        return Src(Out(node.id, out.slot, kind), via)

    def _follow_ui_input(self, slot: dict, via, seen):
        rec = self.links.get(slot.get("link"))
        if rec is None:
            return None
        return self._follow(Out(rec[1], rec[2], rec[5]), via, seen)

    def _follow_bypass(self, node, out, via, seen):
        kind = out.type or self._output_type(node, out.slot)
        for slot in self.ui_inputs(node):
            if slot.get("link") is not None and slot.get("type") in (kind, "*"):
                return self._follow_ui_input(slot, via, seen)
        return None

    def _setter(self, getter: NodeView):
        name = (getter.raw.get("widgets_values") or [None])[0]
        for node in self.nodes.values():
            if node.type == SET_NODE and (node.raw.get("widgets_values") or [None])[0] == name:
                return node
        return None

    def _output_type(self, node: NodeView, slot: int):
        if self.fmt != "ui":
            return None
        outputs = node.raw.get("outputs") or []
        return outputs[slot].get("type") if 0 <= slot < len(outputs) else None

    # ---- consumers ----------------------------------------------------------------------------------------
    def consumers(self, node_id) -> list:
        """(consumer node id, input name, link id or None) of every direct link from `node_id`'s outputs, with the
        output slot: [(slot, consumer, name, link)]."""
        found = []
        if self.fmt == "api":
            for other in self.nodes.values():
                for name, value in (other.raw.get("inputs") or {}).items():
                    if _is_api_link(value) and value[0] == node_id:
                        found.append((value[1], other.id, name, None))
            return found
        for rec in self.links.values():
            if rec[1] == node_id:
                target = self.nodes.get(rec[3])
                name = None
                if target is not None:
                    inputs = self.ui_inputs(target)
                    name = _input_name(inputs[rec[4]]) if 0 <= rec[4] < len(inputs) else None
                found.append((rec[2], rec[3], name, rec[0]))
        return found

    # ---- checks -------------------------------------------------------------------------------------------
    def _check_links(self):
        if self.fmt == "api":
            for node in self.nodes.values():
                inputs = node.raw.get("inputs")
                if not isinstance(inputs, dict):
                    raise ConversionError(f"{self.where}: {node}: `inputs` is not an object")
                for name, value in inputs.items():
                    if _is_api_link(value) and value[0] not in self.nodes:
                        self.dangling.append((node.id, name, f"input {name!r} links to node {value[0]!r}, "
                                                             f"which is not in the workflow"))
            return
        boundary = (SUBGRAPH_INPUT, SUBGRAPH_OUTPUT)
        for rec in self.links.values():
            for end, what in ((rec[1], "from"), (rec[3], "to")):
                if end not in self.nodes and end not in boundary:
                    self.dangling.append((rec[3] if what == "from" else rec[1], None,
                                          f"link {rec[0]} goes {what} node {end!r}, which is not in the workflow"))
        for node in self.nodes.values():
            for slot in self.ui_inputs(node):
                if slot.get("link") is not None and slot["link"] not in self.links:
                    self.dangling.append((node.id, _input_name(slot),
                                          f"input {_input_name(slot)!r} names link {slot['link']}, which does not "
                                          f"exist"))

    def check_acyclic(self):
        """Raise ConversionError naming the nodes of a cycle of links, if there is one."""
        edges = {}
        for node in self.nodes.values():
            for name in self.connected_inputs(node):
                for src in self._direct_sources(node, name):
                    edges.setdefault(src, set()).add(node.id)
        state = {}
        for start in list(edges):
            cycle = _find_cycle(start, edges, state)
            if cycle:
                raise ConversionError(f"{self.where}: the links form a cycle through nodes "
                                      f"{' -> '.join(str(n) for n in cycle)}")

    def _direct_sources(self, node, name):
        if self.fmt == "api":
            value = node.raw["inputs"][name]
            return [value[0]] if value[0] in self.nodes else []
        return [self.links[i["link"]][1] for i in self.ui_inputs(node)
                if _input_name(i) == name and i.get("link") in self.links and self.links[i["link"]][1] in self.nodes]


def _find_cycle(start, edges, state):
    stack = [(start, iter(edges.get(start, ())))]
    path = [start]
    state[start] = 1
    while stack:
        node, children = stack[-1]
        child = next(children, None)
        if child is None:
            state[node] = 2
            stack.pop()
            path.pop()
            continue
        if state.get(child) == 1:
            return path[path.index(child):] + [child]
        if state.get(child) is None:
            state[child] = 1
            stack.append((child, iter(edges.get(child, ()))))
            path.append(child)
    return None


def _link_record(link) -> tuple:
    """(id, origin, origin slot, target, target slot, type) of a v0.4 array link or a v1 object link."""
    if isinstance(link, dict):
        keys = ("id", "origin_id", "origin_slot", "target_id", "target_slot")
        if not all(k in link for k in keys):
            raise ConversionError(f"a link without {', '.join(keys)}: {str(link)[:120]}")
        return tuple(link[k] for k in keys) + (link.get("type"),)
    if not isinstance(link, list) or len(link) < 5:
        raise ConversionError(f"a malformed link (expected [id, origin, slot, target, slot, type]): {str(link)[:120]}")
    return tuple(link[:5]) + (link[5] if len(link) > 5 else None,)


def _input_name(slot: dict) -> str:
    return (slot.get("widget") or {}).get("name") or slot.get("name")


def _is_api_link(value) -> bool:
    return (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
            and isinstance(value[1], int) and not isinstance(value[1], bool))
