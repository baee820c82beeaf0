"""convert_workflow: ADE / old AnimateDiff / FizzNodes nodes of a workflow -> this pack's and ComfyUI core's nodes.

The input (a dict) is never changed. Each graph (the workflow, and each subgraph definition of a UI workflow) is
read, checked (links, cycles, every converted node's widget values) before anything is written, turned into a plan
(tools/convert/plan.py) by the converters of each node family, and the plan is applied to a copy.
"""
import copy
from dataclasses import dataclass

from . import ade_misc, ade_sigma, ade_sinks, fizz, old_pack
from .ade_tables import ADE
from .graph import MODE_BYPASS, Graph, Out
from .report import CONVERTED, LEFT, NOT_REPRODUCED, NOTE, ConversionError, NotAWorkflow, Report, StrictRefused
from .session import Session
from .targets import Targets
from .write_api import apply_api
from .write_ui import UiGraph, apply_ui

TABLES = {**ADE, **old_pack.OLD, **fizz.FIZZ}
SINKS = {**ade_sinks.SINKS, **ade_sigma.SINKS, **old_pack.SINKS, **fizz.SINKS,
         "CheckpointLoaderSimpleWithNoiseSelect": ade_misc.checkpoint_loader,
         "ADE_EmptyLatentImageLarge": ade_misc.empty_latent_large, "ADE_AnimateDiffCombine": ade_misc.combine}
ADE_OTHER_IDS = ("CheckpointLoaderSimpleWithNoiseSelect", "AnimateDiffLoaderV1")
OLD_PACK_OTHER_IDS = ("AnimateDiffLoader", "AnimateDiffLoader_v2", "AnimateDiffInject", "AnimateDiffMotionModuleLoader",
                      "AnimatedDiffUnload", "AnimateDiffCombile")


@dataclass
class ConversionResult:
    workflow: dict  # same format as the input (UI or API); the input itself when nothing changed
    report: list  # ReportEntry (str() gives one line)
    changed: bool

    @property
    def lines(self) -> list:
        return [str(e) for e in self.report]


def workflow_format(data) -> str:
    if isinstance(data, dict) and isinstance(data.get("nodes"), list) and isinstance(data.get("links"), list):
        return "ui"
    if isinstance(data, dict) and data and all(isinstance(v, dict) and isinstance(v.get("class_type"), str)
                                               for v in data.values()):
        return "api"
    if isinstance(data, dict):
        keys = ", ".join(list(map(str, data))[:8]) or "none"
        raise NotAWorkflow(f"not a ComfyUI workflow: a UI workflow has `nodes` and `links` lists, an API workflow maps "
                           f"node ids to {{\"class_type\", \"inputs\"}}; found keys: {keys}")
    raise NotAWorkflow(f"not a ComfyUI workflow: expected a JSON object, found {type(data).__name__}")


def is_foreign_type(node_type: str) -> bool:
    """ADE / old-pack types, known or not (the latter are reported, not converted)."""
    return (node_type.startswith("ADE_") or node_type in ADE_OTHER_IDS or node_type in OLD_PACK_OTHER_IDS
            or node_type in TABLES)


def convert_workflow(data, available=None, strict: bool = False) -> ConversionResult:
    """Convert `data` (UI or API workflow as a dict). `available`: the node types installed (a set; or a dict of
    their /object_info definitions, used to write this pack's nodes): installed types are left alone, so with ADE
    installed nothing of ADE is converted. `strict`: raise StrictRefused instead of converting with differences."""
    fmt = workflow_format(data)
    definitions = available if isinstance(available, dict) else None
    targets = Targets({k: v for k, v in definitions.items()} if definitions else None)
    available = set(available or ())
    work = copy.deepcopy(data)
    report = Report()
    if fmt == "api":
        changed = _convert_api(work, targets, available, report)
    else:
        changed = _convert_ui(work, targets, available, report)
    if strict and report.refusing():
        raise StrictRefused(report.refusing())
    return ConversionResult(work if changed else data, report.entries, changed)


def _convert_api(work, targets, available, report) -> bool:
    graph = Graph("api", list(work.items()))
    session = _plan(graph, targets, available, report)
    if session is None:
        return False
    ids, lost = apply_api(work, session.plan, targets)
    _finish_report(session, ids, lost)
    return True


def _containers(work) -> list:
    subgraphs = ((work.get("definitions") or {}).get("subgraphs")) or []
    if not isinstance(subgraphs, list):
        raise ConversionError("definitions.subgraphs is not a list")
    out = [("workflow", work)]
    for sub in subgraphs:
        if not isinstance(sub, dict) or not isinstance(sub.get("nodes"), list):
            raise ConversionError(f"a subgraph definition without nodes: {str(sub)[:100]}")
        out.append((f"subgraph {sub.get('name') or sub.get('id')}", sub))
    return out


def _counters(work, containers) -> dict:
    node_ids, link_ids = [0], [0]
    state = work.get("state") if isinstance(work.get("state"), dict) else {}
    for value, bucket in ((work.get("last_node_id"), node_ids), (state.get("lastNodeId"), node_ids),
                          (work.get("last_link_id"), link_ids), (state.get("lastLinkId"), link_ids)):
        if isinstance(value, int):
            bucket.append(value)
    for _, c in containers:
        node_ids += [n.get("id") for n in c["nodes"] if isinstance(n, dict) and isinstance(n.get("id"), int)]
        for link in c.get("links") or []:
            lid = link.get("id") if isinstance(link, dict) else (link[0] if isinstance(link, list) and link else None)
            if isinstance(lid, int):
                link_ids.append(lid)
    return {"node": max(node_ids), "link": max(link_ids)}


def _convert_ui(work, targets, available, report) -> bool:
    containers = _containers(work)
    counters = _counters(work, containers)
    changed = False
    for where, container in containers:
        if not isinstance(container.get("links", []), list):
            raise ConversionError(f"{where}: `links` is not a list")
        graph = Graph("ui", container["nodes"], container.get("links") or [], where)
        session = _plan(graph, targets, available, report)
        if session is None:
            continue
        ids, lost = apply_ui(UiGraph(container, counters), session.plan, targets)
        _finish_report(session, ids, lost)
        changed = True
    if changed:
        if "last_node_id" in work or "state" not in work:
            work["last_node_id"], work["last_link_id"] = counters["node"], counters["link"]
        for _, c in containers:
            if isinstance(c.get("state"), dict):
                c["state"]["lastNodeId"] = max(c["state"].get("lastNodeId") or 0, counters["node"])
                c["state"]["lastLinkId"] = max(c["state"].get("lastLinkId") or 0, counters["link"])
    return changed


def _plan(graph, targets, available, report):
    """The Session with its plan for one graph, or None when the graph has nothing to convert."""
    session = Session(graph, TABLES, targets, available, report)
    nodes = sorted(graph.nodes.values(), key=lambda n: (str(type(n.id)), n.id))
    handled = [n for n in nodes if session.handles(n)]
    unknown = [n for n in nodes if is_foreign_type(n.type) and not session.handles(n) and n.type not in available]
    if not handled and not unknown:
        return None
    graph.check_acyclic()
    _check_dangling(graph, session, report)
    for node in handled:
        session.values(node)  # every widget problem is an error before any conversion work
    for node in handled:
        if node.mode == MODE_BYPASS:
            _bypassed(session, node)
        elif node.type in SINKS and node.id not in session.plan.removed:
            SINKS[node.type](session, node)
    for node in handled:
        if node.id not in session.plan.removed:
            session.remove(node)
            session.note(node, "not connected to anything that was converted: removed")
    for node in unknown:
        _unknown(session, node)
    return session


def _check_dangling(graph, session, report):
    for node_id, name, text in graph.dangling:
        node = graph.nodes.get(node_id)
        if node is not None and session.handles(node):
            raise ConversionError(f"{graph.where}: {node}: {text}")
        report.add(node_id, node.type if node else "?", NOTE, f"{text}; left as it is")


def _bypassed(session, node):
    """A bypassed node passes each output's value on from its first input of the same type (as ComfyUI does)."""
    session.remove(node)
    for slot, kind in enumerate(session.tables[node.type].outputs):
        passed = node.graph.follow(Out(node.id, slot, kind))
        if passed is not None:
            session.reconnect(node, slot, passed)
    session.note(node, "bypassed in the workflow: removed, its input is passed on as ComfyUI does")


def _unknown(session, node):
    consumers = node.graph.consumers(node.id)
    if consumers and all(c[1] in session.plan.removed for c in consumers):
        session.remove(node)
        session.note(node, "removed: it fed only converted nodes (what it set is reported there)")
        return
    session.report.add(node.id, node.type, LEFT, "no counterpart in this pack: left as it is (the workflow still "
                                                 "needs the pack that provides it)")


def _finish_report(session, ids, lost):
    plan, graph = session.plan, session.graph
    for node_id in sorted(plan.removed, key=str):
        node = graph.nodes.get(node_id)
        if node is None:
            continue
        new = [(ids[k], plan.nodes[k].type) for k in plan.origins.get(node_id, [])]
        if new:
            text = "became " + ", ".join(f"{t} (node {i})" for i, t in new)
            session.report.add(node_id, node.type, CONVERTED, text, new=new)
        elif not any(e.node == node_id and e.kind in (NOTE, NOT_REPRODUCED) for e in session.report.entries):
            session.report.add(node_id, node.type, CONVERTED, "folded into the nodes it fed (no node of its own)")
    for target, name, origin in lost:
        node = graph.nodes.get(target)
        src = graph.nodes.get(origin)
        session.report.add(target, node.type if node else "?", NOT_REPRODUCED,
                           f"input {name!r} came from node {origin} ({src.type if src else '?'}), which has no "
                           f"counterpart for it: left unconnected", name, origin)
