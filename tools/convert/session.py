"""The state of converting one graph: the input graph, the node tables, the plan being built, the report.

Converters (ade_*.py, fizz.py, old_pack.py) read node inputs through it (`arg`, `literal`, `source`) and add nodes
to the plan (`emit`). Inputs are read the way the pack that owned the node would get them: a linked input follows
its link, a widget takes its saved value (any vintage), a missing one the pack's default.
"""
from .graph import Const, Src
from .plan import NewOut, Plan
from .report import NOTE, NOT_REPRODUCED, Report
from .widgets import widget_values

UNSET = object()


class Session:
    def __init__(self, graph, tables: dict, targets, available, report: Report):
        self.graph, self.tables, self.targets, self.report = graph, tables, targets, report
        self.available = set(available or ())
        self.plan = Plan()
        self._values = {}

    # ---- which nodes ------------------------------------------------------------------------------------
    def handles(self, node) -> bool:
        return node is not None and node.type in self.tables and node.type not in self.available

    def producer(self, item):
        """The node behind a Src (None for constants, subgraph inputs, missing nodes)."""
        return self.graph.nodes.get(item.out.node) if isinstance(item, Src) else None

    # ---- reading inputs ---------------------------------------------------------------------------------
    def values(self, node) -> dict:
        if node.id not in self._values:
            self._values[node.id] = widget_values(self.tables[node.type], node)
        return self._values[node.id]

    def arg(self, node, name: str):
        """Src (linked), Const (widget value, primitive, default) for input `name`."""
        linked = node.link(name)
        if linked is not None:
            return linked
        table = self.tables[node.type]
        values = self.values(node)
        if name in values:
            return Const(values[name])
        spec = table.fields.get(name)
        if spec is None:
            return None
        if node.graph.fmt == "api" and spec.api_default != "__same__":
            return Const(spec.api_default)
        return Const(spec.default)

    def literal(self, node, name: str, default=UNSET):
        """The plain value of input `name`; a value computed by another node cannot be read here: that is reported
        and the pack's default used."""
        item = self.arg(node, name)
        if isinstance(item, Const):
            return item.value
        fallback = self.tables[node.type].fields[name].default if default is UNSET else default
        if isinstance(item, Src):
            src = self.producer(item)
            self.not_reproduced(node, name, f"<from node {item.out.node}>",
                                f"the value comes from node {item.out.node} ({src.type if src else '?'}) and is "
                                f"needed as a constant here; {fallback!r} is used")
        return fallback

    def source(self, node, name: str):
        """The Src of a linked (socket) input, or None."""
        linked = node.link(name)
        return linked if isinstance(linked, Src) else None

    # ---- writing ----------------------------------------------------------------------------------------
    def emit(self, node_type: str, origin, inputs: dict, memo=None, title=None, properties=None) -> NewOut:
        """Add a node of this pack / ComfyUI core standing for input node `origin`; constant widget values outside
        what the target accepts are reported (with the value used instead)."""
        if memo is not None and memo in self.plan.memo:
            return self.plan.memo[memo]
        origin_node = self.graph.nodes.get(origin)
        target = self.targets.get(node_type)
        checked = {}
        for name, item in inputs.items():
            if item is None:
                continue
            checked[name] = self._fit(origin_node, target, name, item) if origin_node is not None else item
        for slot in target.widgets:  # a prompt needs every required widget: unset ones get their default
            if slot.name not in checked and not slot.optional and slot.spec.get("default") is not None:
                checked[slot.name] = slot.spec["default"]
        mode = 2 if origin_node is not None and origin_node.mode == 2 else 0
        return self.plan.add(node_type, origin, checked, title, properties, mode, memo)

    def _fit(self, node, target, name, item):
        value = item.value if isinstance(item, Const) else item
        if isinstance(item, (Src, NewOut)) or value is None or name == "control_after_generate":
            return item
        slot = target.slot(name)
        spec = slot.spec
        options = spec.get("options")
        if slot.type == "COMBO" and options and value not in options:
            used = spec.get("default", options[0])
            self.not_reproduced(node, name, value, f"{target.type} accepts {options}; {used!r} is used")
            return Const(used)
        if slot.type in ("INT", "FLOAT") and isinstance(value, (int, float)) and not isinstance(value, bool):
            low, high = spec.get("min"), spec.get("max")
            used = min(max(value, low if low is not None else value), high if high is not None else value)
            if used != value:
                self.not_reproduced(node, name, value, f"{target.type}'s {name} goes from {low} to {high}; "
                                                       f"{used!r} is used")
                return Const(used)
        return item

    def remove(self, node):
        self.plan.remove(node.id)

    def reconnect(self, node, slot: int, to):
        self.plan.reconnect(node.id, slot, to)

    # ---- report -----------------------------------------------------------------------------------------
    def not_reproduced(self, node, option, value, why=""):
        self.report.not_reproduced(node.id, node.type, option, value, why)

    def note(self, node, text, option=None, value=None):
        self.report.add(node.id, node.type, NOTE, text, option, value)

    def unsupported_link(self, node, name, item):
        src = self.producer(item)
        what = f"node {item.out.node} ({src.type})" if src is not None else f"node {item.out.node}"
        self.report.add(node.id, node.type, NOT_REPRODUCED, f"input {name!r} from {what} has no counterpart in "
                        f"this pack and is left out", name, item.out.node)
