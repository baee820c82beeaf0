"""What a conversion does to one graph, independent of the file format: nodes to add, nodes to remove, and where the
consumers of each removed output are reconnected. tools/convert/write_ui.py and write_api.py apply it.
"""
from dataclasses import dataclass, field

from .graph import Const, Src


@dataclass(frozen=True)
class NewOut:
    """An output of a node the plan adds."""
    key: int
    slot: int = 0


@dataclass
class NewNode:
    key: int
    type: str
    origin: object  # the input node it stands for: its id, position and group are reused when free
    inputs: dict  # name -> Src | NewOut | Const | plain value
    title: str | None = None
    properties: dict | None = None
    mode: int = 0


@dataclass
class Plan:
    nodes: list = field(default_factory=list)
    removed: set = field(default_factory=set)
    rewire: dict = field(default_factory=dict)  # (removed node id, output slot) -> Src | NewOut
    memo: dict = field(default_factory=dict)
    origins: dict = field(default_factory=dict)  # input node id -> [new node keys] (for the report)

    def add(self, node_type: str, origin, inputs: dict, title=None, properties=None, mode=0, memo=None) -> NewOut:
        """Add a node (once per `memo` key) and return its first output."""
        if memo is not None and memo in self.memo:
            return self.memo[memo]
        node = NewNode(len(self.nodes), node_type, origin, dict(inputs), title, properties, mode)
        self.nodes.append(node)
        self.origins.setdefault(origin, []).append(node.key)
        out = NewOut(node.key, 0)
        if memo is not None:
            self.memo[memo] = out
        return out

    def remove(self, node_id):
        self.removed.add(node_id)

    def reconnect(self, node_id, slot: int, to):
        self.rewire[(node_id, slot)] = to

    def resolve(self, item):
        """`item` with links to removed nodes replaced by what their consumers get instead (a removed ADE node
        may feed another one: the checkpoint loader with noise select feeding Use Evolved Sampling)."""
        seen = set()
        while isinstance(item, Src) and item.out.node in self.removed:
            key = (item.out.node, item.out.slot)
            if key in seen or key not in self.rewire:
                return None
            seen.add(key)
            item = self.rewire[key]
        return item

    @property
    def empty(self) -> bool:
        return not self.nodes and not self.removed


def value_of(item):
    """The plain value of a Const or a plain value; None for links."""
    if isinstance(item, Const):
        return item.value
    if isinstance(item, (Src, NewOut)):
        return None
    return item
