"""Nodes that exist only in the frontend and decide links the server never sees.

- Reroute (the legacy node): its output is its input's link.
- PrimitiveNode (the legacy frontend primitive): before queueing, its value (with the text replacements of
  replace.py when its "Run widget replace on values" property is on) is written into the widget of every input its
  output links to directly (PrimitiveNode.applyToGraph); those inputs then carry that widget value.
- KJNodes' Set/Get (web/js/setgetnodes.js): a GetNode stands for the link into the SetNode whose `Constant` equals
  its own. In its own graph the first such SetNode (in node order) is used; a GetNode inside a subgraph also sees
  SetNodes of the graphs above it (its graph first, then the graph that holds an instance of it, up to the root), and
  refuses a name that two SetNodes in that scope share. A name with no SetNode leaves the input unconnected.
- Note / MarkdownNote: text only.
"""
from tools.ui_graph.model import Graph, Link, Workflow
from tools.ui_graph.replace import apply_text_replacements

REPLACE_PROPERTY = "Run widget replace on values"


def constant(state) -> object:
    w = state.widget("Constant")
    return None if w is None else w.value


def setter_in_graph(session, graph: Graph, name):
    """The first SetNode of `graph` (in node order) named `name` (GetNode.getInputLink)."""
    if name in (None, ""):
        return None
    for node in graph.nodes:
        if node.type == "SetNode" and constant(session.state(node)) == name:
            return node
    return None


def set_input_link(graph: Graph, node) -> Link | None:
    link_id = node.inputs[0].link if node.inputs else None
    return None if link_id is None else graph.links.get(link_id)


def graph_ancestors(workflow: Workflow, graph: Graph) -> list[Graph]:
    """KJNodes' getGraphAncestors: the graph, the graph holding an instance of it (the root first, then the other
    subgraphs in definition order), and so on up to the root."""
    root = workflow.root
    if graph is root:
        return [root]
    chain, seen, current = [graph], {id(graph)}, graph
    while current is not root:
        if any(n.type == current.id for n in root.nodes):
            chain.append(root)
            break
        parent = next((g for g in workflow.subgraphs.values()
                       if g is not current and any(n.type == current.id for n in g.nodes)), None)
        if parent is None or id(parent) in seen:
            chain.append(root)
            break
        seen.add(id(parent))
        chain.append(parent)
        current = parent
    return chain


def scoped_setters(session, graph: Graph, name) -> list:
    """(node, graph) of every SetNode named `name` in `graph` and the graphs above it."""
    found = []
    for g in graph_ancestors(session.workflow, graph):
        found += [(n, g) for n in g.nodes if n.type == "SetNode" and constant(session.state(n)) == name]
    return found


def virtual_source(session, get_node):
    """GetNode.resolveVirtualOutput: (source node, its graph, output slot) when the SetNode is in a graph above."""
    name = constant(session.state(get_node))
    if name in (None, ""):
        return None
    setters = scoped_setters(session, get_node.graph, name)
    if not setters or setters[0][1] is get_node.graph:
        return None
    if len(setters) > 1:
        session.notes.append(f"{get_node.describe()}: {len(setters)} SetNodes named {name!r} in its scope; KJNodes "
                             f"leaves it unconnected")
        return None
    setter, graph = setters[0]
    link = set_input_link(graph, setter)
    if link is None:
        return None
    source = graph.node(link.origin_id)
    return None if source is None else (source, graph, link.origin_slot)


def apply_primitives(session, graph: Graph) -> None:
    """Every PrimitiveNode of `graph` writes its value into the widgets its output links to directly. 1.27 looks its
    output's link ids up in the root graph's links even inside a subgraph (so there it mostly writes nothing)."""
    table = session.workflow.root.links if session.frontend.version < (1, 28, 0) else graph.links
    for node in graph.nodes:
        if node.type != "PrimitiveNode" or not node.outputs:
            continue
        values = node.widgets_values if isinstance(node.widgets_values, list) else []
        links = [table[i] for i in node.outputs[0].links if i in table]
        if not node.outputs[0].links or not values:
            continue
        value = values[0]
        if node.properties.get(REPLACE_PROPERTY) and isinstance(value, str) and value:
            value = apply_text_replacements(session, value, graph)
        for link in links:
            target = graph.node(link.target_id)
            if target is None:
                continue
            state = session.state(target)  # the input holding the link (its saved slot index may be of an old layout)
            slot = next((s for s in state.inputs if s.link == link.id), None)
            widget = state.widget(slot.widget) if slot is not None and slot.widget else None
            if widget is not None:
                widget.value = value
