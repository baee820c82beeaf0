"""Apply a plan to one UI-format graph (the workflow or a subgraph definition), in place.

Links between untouched nodes keep their ids; a link from a removed node to an untouched one keeps its id and gets
its new origin; links into removed nodes go; new nodes get new links. Frontend-only helpers (Reroute, PrimitiveNode,
KJNodes Set/Get) left without consumers by the conversion go too. Nodes take their origin's position, size, colour
and group; extra nodes for one origin are stacked below it.
"""
from .graph import GET_NODE, PRIMITIVE, REROUTES, SET_NODE, SUBGRAPH_INPUT, SUBGRAPH_OUTPUT, Const, Src
from .plan import NewOut, value_of
from .write_api import CONTROL, assign_ids, heirs

HELPERS = REROUTES + (PRIMITIVE, SET_NODE, GET_NODE)


class UiGraph:
    """The raw dicts of one UI graph, with link editing that keeps both ends' bookkeeping in step."""

    def __init__(self, container: dict, counters: dict):
        self.c, self.counters = container, counters
        self.nodes = {n["id"]: n for n in container["nodes"]}
        self.links = {}
        for raw in container.get("links") or []:
            self.links[raw["id"] if isinstance(raw, dict) else raw[0]] = raw
        self.dict_links = any(isinstance(raw, dict) for raw in container.get("links") or [])

    @staticmethod
    def fields(raw) -> list:
        if isinstance(raw, dict):
            return [raw["id"], raw["origin_id"], raw["origin_slot"], raw["target_id"], raw["target_slot"],
                    raw.get("type")]
        return list(raw[:6]) + [None] * (6 - len(raw))

    def _set(self, raw, origin, slot, kind):
        if isinstance(raw, dict):
            raw.update(origin_id=origin, origin_slot=slot, type=kind)
        else:
            raw[1], raw[2] = origin, slot
            if len(raw) > 5:
                raw[5] = kind

    def _out_links(self, node_id, slot, create=True):
        """The list holding the link ids leaving `node_id`'s output `slot` (a subgraph input's linkIds)."""
        if node_id == SUBGRAPH_INPUT:
            ports = self.c.get("inputs") or []
            return ports[slot].setdefault("linkIds", []) if slot < len(ports) else []
        node = self.nodes.get(node_id)
        if node is None:
            return []
        outputs = node.setdefault("outputs", [])
        if slot >= len(outputs):
            return []
        if outputs[slot].get("links") is None:
            outputs[slot]["links"] = []
        return outputs[slot]["links"]

    def _target_slot(self, node_id, slot):
        if node_id == SUBGRAPH_OUTPUT:
            return None
        node = self.nodes.get(node_id)
        inputs = (node or {}).get("inputs") or []
        return inputs[slot] if slot < len(inputs) else None

    def delete_link(self, link_id):
        raw = self.links.pop(link_id, None)
        if raw is None:
            return
        _, origin, oslot, target, tslot, _ = self.fields(raw)
        links = self._out_links(origin, oslot)
        if link_id in links:
            links.remove(link_id)
        if target == SUBGRAPH_OUTPUT:
            ports = self.c.get("outputs") or []
            if tslot < len(ports) and link_id in (ports[tslot].get("linkIds") or []):
                ports[tslot]["linkIds"].remove(link_id)
        slot = self._target_slot(target, tslot)
        if slot is not None and slot.get("link") == link_id:
            slot["link"] = None

    def move_origin(self, link_id, origin, slot, kind):
        raw = self.links[link_id]
        _, old, old_slot, *_ = self.fields(raw)
        links = self._out_links(old, old_slot)
        if link_id in links:
            links.remove(link_id)
        self._set(raw, origin, slot, kind)
        self._out_links(origin, slot).append(link_id)

    def add_link(self, origin, oslot, target, tslot, kind) -> int:
        self.counters["link"] += 1
        link_id = self.counters["link"]
        if self.dict_links:
            raw = {"id": link_id, "origin_id": origin, "origin_slot": oslot, "target_id": target,
                   "target_slot": tslot, "type": kind}
        else:
            raw = [link_id, origin, oslot, target, tslot, kind]
        self.links[link_id] = raw
        self._out_links(origin, oslot).append(link_id)
        return link_id

    def store(self):
        self.c["nodes"] = list(self.nodes.values())
        self.c["links"] = list(self.links.values())


def apply_ui(ui: UiGraph, plan, targets) -> tuple:
    """Returns (ids, lost) as write_api.apply_api."""
    before = {nid: _consumer_count(ui, nid) for nid, n in ui.nodes.items() if n.get("type") in HELPERS}

    def next_id():
        ui.counters["node"] += 1
        return ui.counters["node"]
    ids = assign_ids(plan, ui.nodes.keys(), next_id)
    created = {node.key: _new_node(ui, node, ids[node.key], targets) for node in plan.nodes}
    _place(ui, plan, ids, created)
    consumers = []
    for link_id, raw in list(ui.links.items()):
        _, origin, oslot, target, tslot, _ = ui.fields(raw)
        if target in plan.removed:
            ui.delete_link(link_id)
        elif origin in plan.removed:
            consumers.append((link_id, origin, oslot, target, tslot))
    for node_id in plan.removed:
        ui.nodes.pop(node_id, None)
    for key, raw in created.items():
        ui.nodes[ids[key]] = raw
    lost = []
    for link_id, origin, oslot, target, tslot in consumers:
        to = plan.resolve(plan.rewire.get((origin, oslot)))
        if to is None:
            lost.append((target, _input_name(ui, target, tslot), origin))
            ui.delete_link(link_id)
            continue
        ui.move_origin(link_id, *_origin_of(ui, plan, to, ids, created))
    for node in plan.nodes:
        _wire_inputs(ui, plan, node, ids, created, targets)
    _drop_orphan_helpers(ui, before)
    ui.store()
    return ids, lost


def _consumer_count(ui, node_id) -> int:
    node = ui.nodes[node_id]
    if node.get("type") == SET_NODE:
        name = (node.get("widgets_values") or [None])[0]
        return sum(1 for n in ui.nodes.values() if n.get("type") == GET_NODE and
                   (n.get("widgets_values") or [None])[0] == name)
    return sum(len(o.get("links") or []) for o in node.get("outputs") or [])


def _drop_orphan_helpers(ui, before):
    """Remove the Reroute / Primitive / Set / Get nodes that fed only converted nodes."""
    changed = True
    while changed:
        changed = False
        for node_id, count in before.items():
            if node_id in ui.nodes and count > 0 and _consumer_count(ui, node_id) == 0:
                for slot in ui.nodes[node_id].get("inputs") or []:
                    if slot.get("link") is not None:
                        ui.delete_link(slot["link"])
                del ui.nodes[node_id]
                changed = True


def _new_node(ui, node, node_id, targets) -> dict:
    target = targets.get(node.type)
    inputs = [{"name": s.name, "type": s.type, "link": None} for s in target.sockets]
    outputs = [{"name": name, "type": kind, "links": [], "slot_index": i}
               for i, (name, kind) in enumerate(target.outputs)]
    values = []
    for name in target.widget_names():
        item = node.inputs.get(name)
        if name == CONTROL:
            values.append(item if isinstance(item, str) else "fixed")
            continue
        value = value_of(item)
        values.append(target.slot(name).spec.get("default") if value is None else value)
    raw = {"id": node_id, "type": node.type, "pos": [0, 0], "size": _size(target), "flags": {}, "order": 0,
           "mode": node.mode, "inputs": inputs, "outputs": outputs,
           "properties": {"Node name for S&R": node.type, **(node.properties or {})}, "widgets_values": values}
    if node.title:
        raw["title"] = node.title
    return raw


def _size(target) -> list:
    rows = max(len(target.sockets), len(target.outputs))
    tall = sum(66 for s in target.widgets if s.spec.get("multiline"))
    return [320, 30 + 22 * rows + 26 * len(target.widget_names()) + tall]


def _place(ui, plan, ids, created):
    """Heirs take their origin's place, title, colours; other nodes of the same origin stack below it."""
    heir = heirs(plan)
    stacked = {}
    for node in plan.nodes:
        origin = ui.nodes.get(node.origin) or {}
        raw = created[node.key]
        pos = list(origin.get("pos") or [0, 0]) if isinstance(origin.get("pos"), list) else [0, 0]
        for key in ("color", "bgcolor"):
            if key in origin:
                raw[key] = origin[key]
        if heir.get(node.origin) == node.key:
            raw["pos"] = pos
            if "title" in origin and not node.title:
                raw["title"] = origin["title"]
            continue
        below = stacked.get(node.origin, _height(origin) + 40)
        raw["pos"] = [pos[0] + (30 if len(pos) > 1 else 0), pos[1] + below if len(pos) > 1 else 0]
        stacked[node.origin] = below + raw["size"][1] + 40


def _height(node) -> float:
    size = node.get("size")
    if isinstance(size, list) and len(size) > 1:
        return size[1]
    if isinstance(size, dict):
        return size.get("1", 100)
    return 100


def _origin_of(ui, plan, item, ids, created):
    """(node id, slot, type) a link starts from, for a Src (through the same reroute as before) / NewOut."""
    if isinstance(item, NewOut):
        out = created[item.key]["outputs"][item.slot]
        return ids[item.key], item.slot, out["type"]
    via = item.via
    if via.node not in plan.removed and (via.node in ui.nodes or via.node == SUBGRAPH_INPUT):
        return via.node, via.slot, via.type or item.out.type
    return item.out.node, item.out.slot, item.out.type


def _input_name(ui, node_id, slot):
    node = ui.nodes.get(node_id)
    inputs = (node or {}).get("inputs") or []
    return inputs[slot].get("name") if slot < len(inputs) else None


def _wire_inputs(ui, plan, node, ids, created, targets):
    raw = created[node.key]
    target = targets.get(node.type)
    sockets = {s["name"]: i for i, s in enumerate(raw["inputs"])}
    for name, item in node.inputs.items():
        item = plan.resolve(item)
        if name == CONTROL or item is None:
            continue
        slot = target.slot(name)
        if isinstance(item, Const) and item.via is not None and slot.is_widget:
            item = _primitive_link(ui, item, name, raw)
        if not isinstance(item, (Src, NewOut)):
            continue
        if name not in sockets:  # a widget fed by a link
            raw["inputs"].append({"name": name, "type": slot.type, "link": None, "widget": {"name": name}})
            sockets[name] = len(raw["inputs"]) - 1
        origin, oslot, kind = _origin_of(ui, plan, item, ids, created)
        link_id = ui.add_link(origin, oslot, ids[node.key], sockets[name], kind or slot.type)
        raw["inputs"][sockets[name]]["link"] = link_id


def _primitive_link(ui, item, name, raw):
    """Keep a PrimitiveNode connected when it fed a widget of the same name; else just its value."""
    prim = ui.nodes.get(item.via.node)
    outputs = (prim or {}).get("outputs") or []
    widget = (outputs[0].get("widget") or {}).get("name") if outputs else None
    if prim is not None and widget == name:
        return Src(item.via, item.via)
    return item
