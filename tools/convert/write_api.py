"""Apply a plan to an API-format prompt ({id: {"class_type", "inputs"}}), in place."""
from .graph import Const, Src
from .plan import NewOut, value_of

CONTROL = "control_after_generate"


def heirs(plan) -> dict:
    """origin id -> the key of the new node that takes its id: the one its first output now comes from, else the
    first node added for it."""
    out = {}
    for (node_id, slot), to in plan.rewire.items():
        if slot == 0 and isinstance(to, NewOut) and plan.nodes[to.key].origin == node_id:
            out[node_id] = to.key
    for node in plan.nodes:
        out.setdefault(node.origin, node.key)
    return out


def assign_ids(plan, existing_ids, next_id) -> dict:
    """key -> id: an heir reuses its origin's id (which the plan removes); every other node gets next_id(),
    counting up."""
    ids, heir = {}, heirs(plan)
    taken = set(existing_ids) - set(plan.removed)
    for node in plan.nodes:
        if heir.get(node.origin) == node.key and node.origin in plan.removed and node.origin not in taken:
            ids[node.key] = node.origin
            taken.add(node.origin)
    for node in plan.nodes:
        if node.key not in ids:
            ids[node.key] = next_id()
    return ids


def _numeric_max(keys) -> int:
    return max([int(k) for k in keys if str(k).isdigit()] or [0])


def apply_api(prompt: dict, plan, target_info) -> tuple:
    """Returns (ids, lost): the new nodes' ids and [(consumer id, input name, removed source id)] links that lead
    nowhere now."""
    counter = [_numeric_max(prompt)]

    def next_id():
        counter[0] += 1
        return str(counter[0])
    ids = assign_ids(plan, prompt.keys(), next_id)
    for node_id in plan.removed:
        prompt.pop(node_id, None)
    lost = []
    for node_id, entry in prompt.items():
        for name, value in list((entry.get("inputs") or {}).items()):
            if isinstance(value, list) and len(value) == 2 and value[0] in plan.removed:
                to = plan.resolve(plan.rewire.get((value[0], value[1])))
                if to is None:
                    del entry["inputs"][name]
                    lost.append((node_id, name, value[0]))
                else:
                    entry["inputs"][name] = _ref(to, ids)
    for node in plan.nodes:
        inputs = {}
        for name, item in node.inputs.items():
            item = plan.resolve(item)
            if name == CONTROL or item is None:
                continue
            inputs[name] = _ref(item, ids) if isinstance(item, (Src, NewOut)) else value_of(item)
        entry = {"inputs": inputs, "class_type": node.type}
        if node.title:
            entry["_meta"] = {"title": node.title}
        prompt[ids[node.key]] = entry
    return ids, lost


def _ref(item, ids) -> list:
    if isinstance(item, NewOut):
        return [ids[item.key], item.slot]
    return [item.out.node, item.out.slot]


def is_const(item) -> bool:
    return isinstance(item, Const)
