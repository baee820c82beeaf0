"""The saved UI workflow as a graph: nodes, their input/output slots, links, and subgraph definitions.

A UI workflow (what the ComfyUI frontend saves) holds `nodes` and `links`; links are arrays
`[id, origin_id, origin_slot, target_id, target_slot, type]` (schema 0.4) or objects (schema 1 and every subgraph).
Subgraphs (`definitions.subgraphs`, all at the root, nested ones included) are graphs of their own: their links may
start at the subgraph's input node (id -10, slot = the subgraph input) and end at its output node (id -20). A node
whose type is a subgraph id is an instance of that subgraph.

Parsing checks the shape and names the node (and graph) at fault; links are checked where they are followed.
"""
from dataclasses import dataclass, field

SUBGRAPH_INPUT_NODE, SUBGRAPH_OUTPUT_NODE = "-10", "-20"
MODE_ALWAYS, MODE_NEVER, MODE_BYPASS = 0, 2, 4  # LiteGraph node modes: normal, muted, bypassed


class WorkflowFormatError(ValueError):
    pass


@dataclass
class Link:
    id: int
    origin_id: str
    origin_slot: int
    target_id: str
    target_slot: int
    type: object


@dataclass
class InputSlot:
    name: str
    type: object
    link: int | None
    widget: str | None = None  # the widget this input stands for (old `widget` marker / every widget in new files)


@dataclass
class OutputSlot:
    name: str
    type: object
    links: list = field(default_factory=list)  # the link ids saved on the output


@dataclass
class Node:
    id: str
    type: str
    mode: int
    title: str | None
    inputs: list[InputSlot]
    outputs: list[OutputSlot]
    widgets_values: object
    properties: dict
    graph: "Graph" = field(repr=False, default=None)

    def describe(self) -> str:
        where = "" if self.graph is None or self.graph.id is None else f" in subgraph {self.graph.label()}"
        title = f" {self.title!r}" if self.title else ""
        return f"node {self.id} ({self.type}{title}){where}"


@dataclass
class IOSlot:
    """A subgraph's input or output: its name, type and the inner links that start (input) or end (output) at it."""
    name: str
    type: object
    link_ids: list[int]


@dataclass
class Graph:
    id: str | None  # the subgraph's id (None for the root graph)
    name: str | None
    nodes: list[Node]
    links: dict[int, Link]
    inputs: list[IOSlot] = field(default_factory=list)
    outputs: list[IOSlot] = field(default_factory=list)

    def node(self, node_id) -> Node | None:
        return self._by_id.get(str(node_id))

    def label(self) -> str:
        return f"{self.name!r} ({self.id})" if self.name else str(self.id)

    def __post_init__(self):
        self._by_id = {}
        for n in self.nodes:
            if n.id in self._by_id:
                raise WorkflowFormatError(f"{n.describe()}: a second node with id {n.id}{self._where()}")
            self._by_id[n.id] = n
            n.graph = self

    def _where(self) -> str:
        return "" if self.id is None else f" in subgraph {self.label()}"


@dataclass
class Workflow:
    root: Graph
    subgraphs: dict[str, Graph]  # by subgraph id, in definition order
    last_node_id: int = 0  # the id counter the file saved (`last_node_id`, or `state.lastNodeId` in schema 1)


def _int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise WorkflowFormatError(f"{what}: expected a number, found {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise WorkflowFormatError(f"{what}: expected a number, found {value!r}") from None
    if number != int(number):
        raise WorkflowFormatError(f"{what}: expected a whole number, found {value!r}")
    return int(number)


def parse_link(raw, where: str) -> Link:
    if isinstance(raw, dict):
        try:
            raw = [raw["id"], raw["origin_id"], raw["origin_slot"], raw["target_id"], raw["target_slot"],
                   raw.get("type")]
        except KeyError as e:
            raise WorkflowFormatError(f"link {raw.get('id', '?')}{where}: no {e.args[0]!r}") from None
    if not isinstance(raw, (list, tuple)) or len(raw) < 5:
        raise WorkflowFormatError(f"a link{where} is neither [id, origin, slot, target, slot, type] nor an object: "
                                  f"{raw!r}")
    link_id = _int(raw[0], f"link id{where}")
    what = f"link {link_id}{where}"
    return Link(link_id, str(_int(raw[1], what)), _int(raw[2], what), str(_int(raw[3], what)), _int(raw[4], what),
                raw[5] if len(raw) > 5 else None)


def _slot_name(raw: dict, index: int, node: str, kind: str) -> str:
    name = raw.get("name")
    if not isinstance(name, str):
        raise WorkflowFormatError(f"{node}: {kind} {index} has no name (found {raw!r})")
    return name


def parse_node(raw, where: str) -> Node:
    if not isinstance(raw, dict) or "id" not in raw or not isinstance(raw.get("type"), str):
        raise WorkflowFormatError(f"a node{where} has no id or type: {str(raw)[:200]}")
    node_id = str(_int(raw["id"], f"node id{where}"))
    label = f"node {node_id} ({raw['type']}){where}"
    inputs, outputs = [], []
    for i, slot in enumerate(raw.get("inputs") or []):
        if not isinstance(slot, dict):
            raise WorkflowFormatError(f"{label}: input {i} is not an object: {slot!r}")
        link = slot.get("link")
        widget = slot.get("widget")
        inputs.append(InputSlot(_slot_name(slot, i, label, "input"), slot.get("type"),
                                None if link is None else _int(link, f"{label}: input {slot.get('name')!r} link"),
                                widget.get("name") if isinstance(widget, dict) else None))
    for i, slot in enumerate(raw.get("outputs") or []):
        if not isinstance(slot, dict):
            raise WorkflowFormatError(f"{label}: output {i} is not an object: {slot!r}")
        links = [x for x in slot.get("links") or [] if isinstance(x, int) and not isinstance(x, bool)]
        outputs.append(OutputSlot(slot.get("name") or "", slot.get("type"), links))
    mode = raw.get("mode") or MODE_ALWAYS
    if not isinstance(mode, int):
        raise WorkflowFormatError(f"{label}: mode {mode!r} is not a number")
    properties = raw.get("properties") if isinstance(raw.get("properties"), dict) else {}
    return Node(node_id, raw["type"], mode, raw.get("title"), inputs, outputs, raw.get("widgets_values"),
                properties)


def parse_graph(raw: dict, graph_id=None, where: str = "") -> Graph:
    nodes = raw.get("nodes")
    if not isinstance(nodes, list):
        raise WorkflowFormatError(f"no node list{where}")
    links = {}
    for item in raw.get("links") or []:
        link = parse_link(item, where)
        links[link.id] = link
    graph = Graph(graph_id, raw.get("name"), [parse_node(n, where) for n in nodes], links)
    for kind in ("inputs", "outputs"):
        for i, slot in enumerate(raw.get(kind) or []):
            if not isinstance(slot, dict):
                raise WorkflowFormatError(f"subgraph {kind[:-1]} {i}{where} is not an object: {slot!r}")
            ids = [_int(x, f"subgraph {kind[:-1]} {slot.get('name')!r}{where}") for x in slot.get("linkIds") or []]
            getattr(graph, kind).append(IOSlot(_slot_name(slot, i, f"subgraph{where}", kind[:-1]), slot.get("type"),
                                               ids))
    return graph


def parse_workflow(ui) -> Workflow:
    if not (isinstance(ui, dict) and isinstance(ui.get("nodes"), list)):
        raise WorkflowFormatError("not a UI-format workflow (no `nodes` / `links`)")
    root = parse_graph(ui)
    subgraphs = {}
    for raw in (ui.get("definitions") or {}).get("subgraphs") or []:
        if not isinstance(raw, dict) or not raw.get("id"):
            raise WorkflowFormatError(f"a subgraph definition has no id: {str(raw)[:200]}")
        sub_id = str(raw["id"])
        name = f" {raw.get('name')!r}" if raw.get("name") else ""
        subgraphs[sub_id] = parse_graph(raw, sub_id, f" in subgraph{name} ({sub_id})")
    last = (ui.get("state") or {}).get("lastNodeId") if isinstance(ui.get("state"), dict) else None
    last = ui.get("last_node_id", last)
    return Workflow(root, subgraphs, last if isinstance(last, int) and not isinstance(last, bool) else 0)


def deduplicate_subgraph_node_ids(workflow: Workflow) -> None:
    """Renumber subgraph nodes whose ids are taken, as frontends from about 1.28 do on load (node ids must be unique
    across the root and all subgraphs): in definition order, a node whose id the root or an earlier subgraph node
    already has gets the next free id after the file's counter; its subgraph's links and the `proxyWidgets` entries
    of that subgraph's instances follow. Execution ids ("5:12") use the new ids."""
    used = {int(n.id) for n in workflow.root.nodes}
    last = workflow.last_node_id
    remapped = {}
    for graph in workflow.subgraphs.values():
        moves = {}
        for node in graph.nodes:
            if int(node.id) in used:
                while last + 1 in used:
                    last += 1
                last += 1
                moves[node.id] = str(last)
                used.add(last)
            else:
                used.add(int(node.id))
                last = max(last, int(node.id))
        if moves:
            remapped[graph.id] = moves
            _renumber(graph, moves)
    for graph in [workflow.root, *workflow.subgraphs.values()]:
        for node in graph.nodes:
            moves = remapped.get(node.type)
            proxies = node.properties.get("proxyWidgets")
            if moves and isinstance(proxies, list):
                node.properties = {**node.properties, "proxyWidgets": [
                    [moves.get(str(e[0]), e[0]), *e[1:]] if isinstance(e, list) and e else e for e in proxies]}


def _renumber(graph: Graph, moves: dict[str, str]) -> None:
    for node in graph.nodes:
        node.id = moves.get(node.id, node.id)
    graph._by_id = {n.id: n for n in graph.nodes}
    for link in graph.links.values():
        link.origin_id = moves.get(link.origin_id, link.origin_id)
        link.target_id = moves.get(link.target_id, link.target_id)
