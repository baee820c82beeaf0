"""rgthree-comfy's frontend-only nodes, as its web code treats them when a workflow is queued (read, not run).

Its virtual nodes (`isVirtualNode`: tools/pack_nodes.json lists them, `frontend_only`) are never sent. Its Reroute
passes its input on as ComfyUI's Reroute does. Its muters and bypassers (Fast Muter / Bypasser, Fast Groups Muter /
Bypasser, Mute / Bypass Relay / Repeater, Fast Actions Button, Power Conductor) act when the user clicks or toggles
them: what they did to other nodes is already in those nodes' saved modes, which the conversion reads. Label,
Bookmark and Node Collector do nothing to the prompt.

One acts when the workflow is queued (random_unmuter.ts): a Random Unmuter whose linked input nodes (found through
reroutes and node collectors, which are passed through) are all muted unmutes one of them, picked at random, for that
queueing; a subgraph instance is unmuted with every node inside it.
"""
from tools.ui_graph.model import MODE_ALWAYS, MODE_NEVER, Graph, Node, Workflow

RANDOM_UNMUTER = "Random Unmuter (rgthree)"
PASS_THROUGH = ("Reroute", "Node Combiner", "Node Collector")  # shouldPassThrough: the type contains one of these


def apply_random_unmuters(workflow: Workflow, pick, notes: list[str]) -> None:
    for graph in (workflow.root, *workflow.subgraphs.values()):
        for node in graph.nodes:
            if node.type != RANDOM_UNMUTER:
                continue
            linked = linked_input_nodes(graph, node)
            if linked and all(n.mode == MODE_NEVER for n in linked):
                chosen = pick(linked)
                _unmute(workflow, chosen, set())
                notes.append(f"{node.describe()}: unmuted {chosen.describe()} for this run, picked at random among "
                             f"{len(linked)} muted nodes (as rgthree's web code does when a workflow is queued)")


def _passes_through(node: Node) -> bool:
    return any(p in node.type for p in PASS_THROUGH)


def linked_input_nodes(graph: Graph, start: Node) -> list[Node]:
    """getConnectedInputNodesAndFilterPassThroughs: the nodes linked to `start`'s inputs, in input order, each
    pass-through node followed into its own inputs at once (depth first), each node once, pass-through nodes left
    out."""
    found = []
    _collect(graph, start, found)
    return [n for n in found if not _passes_through(n)]


def _collect(graph: Graph, current: Node, found: list) -> None:
    for slot in current.inputs:
        link = graph.links.get(slot.link) if slot.link is not None else None
        origin = graph.node(link.origin_id) if link is not None else None
        if origin is None or any(n is origin for n in found):
            continue
        found.append(origin)
        if _passes_through(origin):
            _collect(graph, origin, found)


def _unmute(workflow: Workflow, node: Node, seen: set) -> None:
    """changeModeOfNodes: the node and, for a subgraph instance, every node inside it (depth first)."""
    node.mode = MODE_ALWAYS
    subgraph = workflow.subgraphs.get(node.type)
    if subgraph is not None and subgraph.id not in seen:
        for inner in subgraph.nodes:
            _unmute(workflow, inner, seen | {subgraph.id})
