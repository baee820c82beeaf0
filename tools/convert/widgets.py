"""Widget values of other packs' nodes, by name, whatever the vintage of the file.

A UI workflow stores a node's widget values as a list in the order its pack declared the widgets when the file was
saved. Packs add, rename and reorder widgets over time, frontends differ (older ones also store the values of
`forceInput` / `defaultInput` inputs; ADE's frontend adds hidden "" entries for its autosize and deprecation
widgets). A `NodeTable` lists every known widget order of one node type (newest first); `widget_values` picks the
one the saved values fit (count and value types) and checks each value against the pack's own limits.
"""
import math
from dataclasses import dataclass, field

from .report import ConversionError

BIG = 2 ** 53 - 1
SEED_MAX = 0xffffffffffffffff
HIDDEN = ("", None)  # the value ADE's hidden autosize / deprecation-warning widgets store


@dataclass(frozen=True)
class Field:
    kind: str  # INT, FLOAT, BOOLEAN, STRING, COMBO
    default: object = None
    min: float | None = None
    max: float | None = None
    choices: tuple | None = None  # the values the pack accepts (None: any string, e.g. a file name)
    api_default: object = "__same__"  # the value the pack's function uses when an API prompt leaves it out


@dataclass(frozen=True)
class NodeTable:
    type: str
    fields: dict
    vintages: tuple  # widget-name orders, newest first
    force: frozenset = frozenset()  # inputs some frontends store as widgets and newer ones do not
    renames: dict = field(default_factory=dict)  # old widget name -> current name
    sockets: tuple = ()  # names of linked inputs (for the report of unknown connections)
    outputs: tuple = ()  # output types in slot order

    def candidates(self):
        for order in self.vintages:
            yield order
            without = tuple(n for n in order if n not in self.force)
            if without != order:
                yield without


def fits(kind: str, value) -> bool:
    if value is None:
        return kind in ("COMBO", "STRING")
    if kind == "INT":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    if kind == "FLOAT":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "BOOLEAN":
        return isinstance(value, bool)
    return isinstance(value, str)


def _match(table: NodeTable, values: list):
    for extra in (0, 1, 2):  # trailing hidden ADE widgets
        if extra and not all(v in HIDDEN for v in values[len(values) - extra:]):
            break
        body = values[:len(values) - extra]
        for order in table.candidates():
            if len(order) == len(body) and all(fits(table.fields[n].kind, v) for n, v in zip(order, body)):
                return dict(zip(order, body))
    return None


def widget_values(table: NodeTable, node) -> dict:
    """{name: value} of the widgets saved on a UI node (or the literal inputs of an API node), renamed to the current
    names, missing ones left out (the caller applies defaults), each checked against the pack's limits."""
    if node.graph.fmt == "api":
        raw = {table.renames.get(k, k): v for k, v in (node.raw.get("inputs") or {}).items()
               if not (isinstance(v, list) and len(v) == 2)}
        found = {k: v for k, v in raw.items() if k in table.fields}
    else:
        raw = node.raw.get("widgets_values")
        if raw is None:
            raw = []
        if isinstance(raw, dict):
            found = {table.renames.get(k, k): v for k, v in raw.items()}
            found = {k: v for k, v in found.items() if k in table.fields}
        elif isinstance(raw, list):
            found = _match(table, raw)
            if found is None:
                known = "; ".join("[" + ", ".join(o) + "]" for o in table.candidates())
                raise ConversionError(
                    f"{node}: its {len(raw)} widget values {_short(raw)} match no known version of this node "
                    f"(known widget orders: {known})")
            found = {table.renames.get(k, k): v for k, v in found.items()}
        else:
            raise ConversionError(f"{node}: widgets_values is neither a list nor an object")
    for name, value in found.items():
        check_value(node, name, table.fields[name], value)
    return found


def check_value(node, name: str, spec: Field, value):
    """ConversionError naming node, input, value and what was expected, for a value the pack would refuse."""
    if not fits(spec.kind, value):
        raise ConversionError(f"{node}: input {name!r} is {value!r}; expected a {spec.kind.lower()}")
    if spec.kind in ("INT", "FLOAT"):
        if not math.isfinite(value):
            raise ConversionError(f"{node}: input {name!r} is {value!r}; expected a finite number")
        low = -math.inf if spec.min is None else spec.min
        high = math.inf if spec.max is None else spec.max
        if not low <= value <= high:
            raise ConversionError(f"{node}: input {name!r} is {value!r}; expected a number from {spec.min} to "
                                  f"{spec.max}")
    if spec.choices is not None and value is not None and value not in spec.choices:
        raise ConversionError(f"{node}: input {name!r} is {value!r}; expected one of {list(spec.choices)}")


def _short(values) -> str:
    text = repr(values)
    return text if len(text) < 200 else text[:200] + "...]"


# Field shorthands for the node tables
def INT(default, lo=None, hi=None):
    return Field("INT", default, lo, hi)


def FLOAT(default, lo=None, hi=None):
    return Field("FLOAT", default, lo, hi)


def BOOL(default, api_default="__same__"):
    return Field("BOOLEAN", default, api_default=api_default)


def COMBO(default=None, choices=None):
    return Field("COMBO", default, choices=tuple(choices) if choices is not None else None)


def STRING(default=""):
    return Field("STRING", default)
