"""Subgraph instances: their promoted widgets and the values their host node saved for them.

A subgraph input that links to a widget input of an inner node is shown on each instance as a widget (promoted):
it starts with that inner widget's value, then takes the instance's saved `widgets_values` in input order, and an
inner input linked to that subgraph input receives it when the instance's input has no link of its own. A nested
instance's promoted widget can be promoted again.

Files saved by frontends of about 1.28-1.4x may also list `properties.proxyWidgets`: [inner node id, widget name]
pairs promoted without a subgraph input, the instance's `widgets_values` holding their values in that order. From
1.48 the frontend migrates them on load: an entry that an existing subgraph input already promotes gives its value to
that input; any other plain widget becomes a new promoted input carrying the host's value; entries it cannot place
(missing node or widget, previews) are set aside. 1.27 ignores them.
"""
import json

from tools.ui_graph.model import SUBGRAPH_INPUT_NODE, Node, WorkflowFormatError
from tools.ui_graph.widgets import UNDEFINED, Widget

PREVIEW_PREFIX = "$$"


def promoted_widgets(session, node: Node) -> list[Widget | None]:
    """Per input of the instance `node`: its promoted widget (with this instance's value) or None."""
    key = id(node)
    if key in session.promoted:
        return session.promoted[key]
    if key in session.promoting:
        raise WorkflowFormatError(f"{node.describe()}: subgraph {node.type} contains an instance of itself")
    session.promoting.add(key)
    state = session.state(node)
    widgets = [_promoted(session, state.subgraph, i) for i in range(len(state.subgraph.inputs))]
    if not _configured_before_its_subgraph(session, node):
        _apply_host_values(widgets, node.widgets_values, session.frontend)
    session.promoted[key] = widgets
    if session.frontend.migrates_proxy_widgets:
        _migrate_proxy_widgets(session, node, widgets)
    session.promoting.discard(key)
    return widgets


def _configured_before_its_subgraph(session, node: Node) -> bool:
    """1.27 configures subgraph definitions in file order: an instance inside a definition that comes before its own
    subgraph's definition is configured while that subgraph is still empty, so its saved values reach nothing (its
    promoted widgets appear later, with the inner widgets' values)."""
    if session.frontend.version >= (1, 28, 0) or node.graph is None or node.graph.id is None:
        return False
    order = list(session.workflow.subgraphs)
    return order.index(node.type) > order.index(node.graph.id)


def _promoted(session, subgraph, index: int) -> Widget | None:
    io = subgraph.inputs[index]
    for link_id in io.link_ids:
        link = subgraph.links.get(link_id)
        target = subgraph.node(link.target_id) if link else None
        if target is None:
            continue
        inner = _inner_widget(session, target, link_id)
        if inner is not None:
            return Widget(io.name, inner.value, inner.to_prompt, inner.saved, kind="promoted")
    return None


def _inner_widget(session, target: Node, link_id: int) -> Widget | None:
    state = session.state(target)
    position = next((i for i, s in enumerate(state.inputs) if s.link == link_id), None)
    if position is None:
        return None
    if state.kind == "subgraph":
        return promoted_widgets(session, target)[position]
    slot = state.inputs[position]
    return state.widget(slot.widget) if slot.widget else None


def _apply_host_values(widgets: list, values, frontend) -> None:
    if not isinstance(values, list):
        return
    if frontend.migrates_proxy_widgets:  # 1.48: one value per promoted input, undefined skipped
        index = 0
        for w in widgets:
            if w is None:
                continue
            if index < len(values):
                w.value = values[index]
            index += 1
        return
    saved = [w for w in widgets if w is not None and w.saved]  # 1.27: the instance's own widgets in order
    for w, v in zip(saved, values):
        w.value = v


def _proxy_entries(node: Node) -> list:
    raw = node.properties.get("proxyWidgets")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return []
    if not isinstance(raw, list):
        return []
    return [e for e in raw if isinstance(e, (list, tuple)) and len(e) in (2, 3)
            and all(isinstance(x, str) for x in e)]


def _migrate_proxy_widgets(session, node: Node, widgets: list) -> None:
    values = node.widgets_values if isinstance(node.widgets_values, list) else []
    subgraph = session.state(node).subgraph
    for k, entry in enumerate(_proxy_entries(node)):
        source_id, name = entry[0], entry[1]
        value = values[k] if k < len(values) else UNDEFINED
        linked = _input_promoting(session, subgraph, widgets, source_id, name)
        if linked is not None:
            if value is not UNDEFINED:
                linked.value = value
            continue
        source = subgraph.node(source_id)
        if source is None or name.startswith(PREVIEW_PREFIX):
            session.notes.append(f"{node.describe()}: promoted widget {entry!r} not found; the frontend sets it "
                                 f"aside")
            continue
        if source.type == "PrimitiveNode":
            targets = [lk for lk in subgraph.links.values() if lk.origin_id == source.id]
            for lk in targets:
                _override_target(session, node, subgraph, lk, value)
            continue
        widget = session.state(source).widget(name)
        if widget is None:
            session.notes.append(f"{node.describe()}: promoted widget {entry!r} not found; the frontend sets it "
                                 f"aside")
            continue
        if value is not UNDEFINED:
            session.overrides.setdefault((id(node), source.id), {})[name] = value


def _override_target(session, node: Node, subgraph, link, value) -> None:
    target = subgraph.node(link.target_id)
    if target is None or value is UNDEFINED:
        return
    slot = next((s for s in session.state(target).inputs if s.link == link.id), None)
    if slot is not None and slot.widget:
        session.overrides.setdefault((id(node), target.id), {})[slot.widget] = value


def _input_promoting(session, subgraph, widgets: list, source_id: str, name: str) -> Widget | None:
    """The instance's promoted widget whose subgraph input links to `name` of inner node `source_id`, if any."""
    for index, io in enumerate(subgraph.inputs):
        if widgets[index] is None:
            continue
        for link_id in io.link_ids:
            link = subgraph.links.get(link_id)
            if link is None or link.origin_id != SUBGRAPH_INPUT_NODE or link.target_id != source_id:
                continue
            target = subgraph.node(link.target_id)
            slot = next((s for s in session.state(target).inputs if s.link == link_id), None) if target else None
            if slot is not None and (slot.widget == name or slot.name == name):
                return widgets[index]
    return None
