"""Following links to the node that really produces a value, as the frontend's ExecutableNodeDTO does.

Every node reachable from the root is addressed by its execution id: the ids of the subgraph instances that hold it
and its own, joined by ":" ("5:12"). An input is followed through its link:
- out of a subgraph (a link from the subgraph's input node) to the instance's input, and on outside; an instance
  input without a link gives its promoted widget's value;
- into a subgraph instance's output, to what feeds that subgraph output inside;
- through a bypassed node, to its input of the same slot when the types fit, else its first input of the wanted
  type, else the first that fits both (no fitting input: nothing); a muted node gives nothing;
- through frontend-only nodes (Reroute, Set/Get) to their source.
A cycle, or a link, node or slot that is not there, is an error that names the node (the frontend refuses to queue).
"""
from dataclasses import dataclass

from tools.ui_graph import virtual
from tools.ui_graph.model import MODE_BYPASS, MODE_NEVER, SUBGRAPH_INPUT_NODE, WorkflowFormatError
from tools.ui_graph.subgraphs import promoted_widgets


@dataclass(eq=False)
class Exec:
    state: object  # NodeState
    path: tuple  # execution ids of the subgraph instances holding the node, outermost first
    instance: "Exec | None"  # the subgraph instance holding the node

    @property
    def node(self):
        return self.state.node

    @property
    def id(self) -> str:
        return ":".join((*self.path, self.node.id))

    @property
    def graph(self):
        return self.node.graph

    def describe(self) -> str:
        return self.node.describe() + (f" (execution id {self.id})" if self.path else "")


def build_exec_map(session) -> dict[str, Exec]:
    """Execution id -> Exec for the root's nodes and, recursively, the nodes inside subgraph instances."""
    out = {}
    for node in session.workflow.root.nodes:
        dto = Exec(session.state(node), (), None)
        out[dto.id] = dto
        disabled = node.mode in (MODE_NEVER, MODE_BYPASS)
        if dto.state.kind == "subgraph" and (session.frontend.expands_disabled_subgraphs or not disabled):
            _expand(session, dto, out, ())
    return out


def _expand(session, dto: Exec, out: dict, seen: tuple) -> None:
    if dto.node.type in seen:
        raise WorkflowFormatError(f"{dto.describe()}: subgraph {dto.node.type} contains an instance of itself")
    seen = (*seen, dto.node.type)
    out[dto.id] = dto
    path = (*dto.path, dto.node.id)
    for node in dto.state.subgraph.nodes:
        inner = Exec(session.state(node), path, dto)
        out[inner.id] = inner
        if inner.state.kind == "subgraph":
            _expand(session, inner, out, seen)


def is_valid_connection(a, b) -> bool:
    """LiteGraph.isValidConnection: "*" / "" / none fit anything; comma lists fit when one type does."""
    a = 0 if a in ("", "*") else a
    b = 0 if b in ("", "*") else b
    if not a or not b or a == b:
        return True
    a, b = str(a).lower(), str(b).lower()
    if "," not in a and "," not in b:
        return a == b
    return any(is_valid_connection(x, y) for x in a.split(",") for y in b.split(","))


class Resolver:
    def __init__(self, session, dtos: dict[str, Exec]):
        self.session, self.dtos = session, dtos

    def resolve_input(self, dto: Exec, slot: int, visited: set, wanted=None):
        """("node", execution id, output slot) or ("value", v) or None for input `slot` of `dto`."""
        self._visit(dto, "I", slot, visited)
        if slot >= len(dto.state.inputs):
            raise WorkflowFormatError(f"{dto.describe()}: no input {slot}")
        entry = dto.state.inputs[slot]
        if entry.link is None:
            return None
        link = dto.graph.links.get(entry.link)
        if link is None:
            raise WorkflowFormatError(f"{dto.describe()}: input {entry.name!r} names link {entry.link}, which the "
                                      f"workflow does not have")
        if dto.instance is not None and link.origin_id == SUBGRAPH_INPUT_NODE:
            return self._from_instance_input(dto, link, visited)
        origin = dto.graph.node(link.origin_id)
        if origin is None:
            raise WorkflowFormatError(f"{dto.describe()}: input {entry.name!r} is linked from node {link.origin_id}, "
                                      f"which the workflow does not have")
        return self.resolve_output(self._dto(dto.path, origin, dto), link.origin_slot,
                                   wanted if wanted is not None else entry.type, visited)

    def _from_instance_input(self, dto: Exec, link, visited: set):
        instance = dto.instance
        if link.origin_slot >= len(instance.state.inputs):
            raise WorkflowFormatError(f"{instance.describe()}: its subgraph has no input {link.origin_slot}")
        if instance.state.inputs[link.origin_slot].link is None:
            widget = promoted_widgets(self.session, instance.node)[link.origin_slot]
            return None if widget is None else ("value", widget.value)
        return self.resolve_input(instance, link.origin_slot, visited)

    def resolve_output(self, dto: Exec, slot: int, wanted, visited: set):
        self._visit(dto, "O", slot, visited)
        mode = dto.node.mode
        if mode == MODE_NEVER and not self.session.frontend.follows_muted_links:
            return None
        if mode == MODE_BYPASS:
            index = self._bypass_slot(dto, slot, wanted)
            return None if index < 0 else self.resolve_input(dto, index, visited)
        kind = dto.state.kind
        if kind == "subgraph":
            return self._subgraph_output(dto, slot, wanted, visited)
        if dto.state.virtual:
            return self._virtual_output(dto, slot, wanted, visited)
        return ("node", dto.id, slot)

    def _virtual_output(self, dto: Exec, slot: int, wanted, visited: set):
        if dto.state.kind == "get":
            source = virtual.virtual_source(self.session, dto.node)
            if source is not None:
                node, graph, origin_slot = source
                target = next((d for d in self.dtos.values() if d.node is node), None)
                if target is None:
                    raise WorkflowFormatError(f"{dto.describe()}: its SetNode's source {node.describe()} is not part "
                                              f"of the queued graph")
                return self.resolve_output(target, origin_slot, wanted, visited)
        old = self.session.frontend.follows_muted_links  # 1.27 reads a virtual node's input of the same slot first
        if old and slot < len(dto.state.inputs):
            return self.resolve_input(dto, slot, visited, wanted)
        link = self._virtual_input_link(dto, slot)
        if link is None:
            return None
        if old:
            origin = dto.graph.node(link.origin_id)
            if origin is None:
                raise WorkflowFormatError(f"{dto.describe()}: linked from node {link.origin_id}, which the workflow "
                                          f"does not have")
            return self.resolve_output(self._dto(dto.path, origin, dto), link.origin_slot, wanted, visited)
        target = dto.graph.node(link.target_id)
        if target is None:
            raise WorkflowFormatError(f"{dto.describe()}: its link {link.id} ends at node {link.target_id}, which the "
                                      f"workflow does not have")
        target_dto = self._dto(dto.path, target, dto)
        position = next((i for i, s in enumerate(target_dto.state.inputs) if s.link == link.id), link.target_slot)
        return self.resolve_input(target_dto, position, visited, wanted)

    def _virtual_input_link(self, dto: Exec, slot: int):
        if dto.state.kind == "get":
            setter = virtual.setter_in_graph(self.session, dto.graph, virtual.constant(dto.state))
            return None if setter is None else virtual.set_input_link(dto.graph, setter)
        if slot >= len(dto.state.inputs) or dto.state.inputs[slot].link is None:
            return None
        return dto.graph.links.get(dto.state.inputs[slot].link)

    def _subgraph_output(self, dto: Exec, slot: int, wanted, visited: set):
        subgraph = dto.state.subgraph
        if slot >= len(subgraph.outputs):
            raise WorkflowFormatError(f"{dto.describe()}: its subgraph has no output {slot}")
        ids = subgraph.outputs[slot].link_ids
        link = subgraph.links.get(ids[0]) if ids else None
        if link is None:
            return None
        inner = subgraph.node(link.origin_id)
        if inner is None:
            raise WorkflowFormatError(f"{dto.describe()}: subgraph output {subgraph.outputs[slot].name!r} is fed by "
                                      f"{'its own input' if link.origin_id == SUBGRAPH_INPUT_NODE else 'node ' + link.origin_id}, "
                                      f"which the frontend cannot queue")
        return self.resolve_output(self._dto((*dto.path, dto.node.id), inner, dto), link.origin_slot, wanted,
                                   visited)

    def _bypass_slot(self, dto: Exec, slot: int, wanted) -> int:
        inputs = dto.state.inputs
        if slot >= len(dto.state.outputs):
            raise WorkflowFormatError(f"{dto.describe()}: no output {slot}")
        out_type = dto.state.outputs[slot].type
        if wanted in ("*", ""):
            return slot if len(inputs) > slot else 0
        if slot < len(inputs) and is_valid_connection(inputs[slot].type, out_type) \
                and is_valid_connection(inputs[slot].type, wanted):
            return slot
        exact = next((i for i, s in enumerate(inputs) if s.type == wanted), -1)
        if exact >= 0:
            return exact
        return next((i for i, s in enumerate(inputs)
                     if is_valid_connection(s.type, out_type) and is_valid_connection(s.type, wanted)), -1)

    def _dto(self, path: tuple, node, near: Exec) -> Exec:
        exec_id = ":".join((*path, node.id))
        dto = self.dtos.get(exec_id)
        if dto is None:
            raise WorkflowFormatError(f"{near.describe()}: linked to {node.describe()}, which is not part of the "
                                      f"queued graph")
        return dto

    def _visit(self, dto: Exec, way: str, slot: int, visited: set) -> None:
        scope = dto.instance.node.type if dto.instance is not None else None
        key = (scope, dto.node.id, way, slot)
        if key in visited:
            raise WorkflowFormatError(f"{dto.describe()}: its {'input' if way == 'I' else 'output'} {slot} leads "
                                      f"back to itself (a cycle through links, reroutes, bypassed nodes or subgraphs)")
        visited.add(key)
