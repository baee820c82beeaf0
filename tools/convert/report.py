"""The conversion report and the converter's errors.

Every ADE / old-AnimateDiff / FizzNodes node the converter meets gets at least one entry: what it became, and each
option this pack does not reproduce (named with its node id and value). Nothing is dropped without an entry.
"""
from dataclasses import dataclass, field

CONVERTED = "converted"  # the node became these nodes of this pack / ComfyUI core
NOT_REPRODUCED = "not reproduced"  # an option this pack does not reproduce: the result will differ
DIFFERS = "differs by design"  # reproduced on purpose differently from ADE (e.g. v1 GroupNorm, spec 2.6)
LEFT = "left as is"  # a node with no counterpart: the converted workflow still needs its pack
NOTE = "note"  # no effect on the result (print switches, removed unconnected nodes, ...)
REFUSING = (NOT_REPRODUCED, DIFFERS, LEFT)  # what --strict refuses


@dataclass(frozen=True)
class ReportEntry:
    node: object  # node id in the input workflow (int or str)
    old_type: str
    kind: str
    message: str
    option: str | None = None
    value: object = None
    new: tuple = ()  # (node id, type) of the nodes it became

    def __str__(self):
        where = f"node {self.node} ({self.old_type})"
        return f"{where} {self.kind}: {self.message}"

    def to_json(self) -> dict:
        return {"node": self.node, "old_type": self.old_type, "kind": self.kind, "message": self.message,
                "option": self.option, "value": self.value, "new": [list(n) for n in self.new]}


@dataclass
class Report:
    entries: list = field(default_factory=list)

    def add(self, node, old_type, kind, message, option=None, value=None, new=()):
        entry = ReportEntry(node, old_type, kind, message, option, value, tuple(new))
        if entry not in self.entries:
            self.entries.append(entry)
        return entry

    def not_reproduced(self, node, old_type, option, value, why=""):
        text = f"{option}={value!r} is not reproduced" + (f": {why}" if why else "")
        return self.add(node, old_type, NOT_REPRODUCED, text, option, value)

    def refusing(self) -> list:
        return [e for e in self.entries if e.kind in REFUSING]


class ConversionError(ValueError):
    """The input cannot be converted (malformed, unknown node version, absurd value); the message names the node."""


class NotAWorkflow(ConversionError):
    """The input is not a ComfyUI workflow (UI or API format)."""


class StrictRefused(ConversionError):
    """strict=True and the conversion would not reproduce everything; `entries` lists what."""

    def __init__(self, entries):
        self.entries = list(entries)
        lines = "\n".join(f"  {e}" for e in self.entries)
        super().__init__(f"refused (strict): {len(self.entries)} option(s) would not be reproduced:\n{lines}")


def format_report(entries) -> str:
    return "\n".join(str(e) for e in entries)
