"""Which ComfyUI frontend a conversion imitates.

The frontend turns a saved UI workflow into the prompt it queues (`app.graphToPrompt`), and a few of its rules changed
between releases. The differences that change a prompt, as read in each release's own source and checked against
the running frontend (tests/packs/test_frontend_prompt.py):

- up to 1.27 a link from a muted node is followed (and the input then dropped, with any widget value it shadowed);
  later releases stop at a muted node and keep the widget's own value;
- up to 1.27 muted and bypassed subgraph nodes still contribute their inner nodes;
- later releases renumber subgraph nodes whose ids collide with others on load (execution ids change with them);
- from 1.28 a subgraph node's `properties.proxyWidgets` (widgets promoted without a subgraph input) are migrated,
  each to the value the host saved for it; 1.27 ignores them;
- how `widgets_values` of an older layout are realigned (`migrateWidgetsValues`) differs in 1.27, 1.4x and 1.5x;
  1.4x reads a dict-shaped `widgets_values` (VideoHelperSuite) positionally, as undefined values, and 1.5x turns a
  dict with one entry per widget input into the list of its values;
- 1.27 configures subgraph definitions in file order (later ones leaf-first), looks a primitive's links up in the
  root graph even inside a subgraph, has no dynamic combos, and sends a few core nodes' player widgets.

Where a rule changed between 1.27 and 1.48 the exact release is not known: 1.28-1.47 are treated as 1.48; 1.49 as
1.48 and 1.50-1.57 as 1.58 for the realignment.
"""
import re
from dataclasses import dataclass

CHECKED = ((1, 27, 10), (1, 48, 7), (1, 58, 1))
NEWEST = CHECKED[-1]


@dataclass(frozen=True)
class Frontend:
    version: tuple[int, int, int] = NEWEST

    @property
    def follows_muted_links(self) -> bool:
        return self.version < (1, 28, 0)

    @property
    def expands_disabled_subgraphs(self) -> bool:
        return self.version < (1, 28, 0)

    @property
    def dedupes_subgraph_node_ids(self) -> bool:
        return self.version >= (1, 28, 0)

    @property
    def migrates_proxy_widgets(self) -> bool:
        return self.version >= (1, 28, 0)

    @property
    def widgets_migration(self) -> str:
        """Which `migrateWidgetsValues` the release has: "1.27", "1.48" or "1.58"."""
        if self.version < (1, 28, 0):
            return "1.27"
        return "1.48" if self.version < (1, 50, 0) else "1.58"

    @property
    def dict_values_positional(self) -> bool:
        """1.4x assigns `widgets_values[i]` to every saved widget even when the values are a dict (all undefined)."""
        return self.widgets_migration == "1.48"

    def __str__(self):
        return "frontend " + ".".join(map(str, self.version))


def parse_version(text: str) -> tuple[int, int, int]:
    match = re.fullmatch(r"\s*v?(\d+)\.(\d+)\.(\d+)\S*\s*", str(text))
    if not match:
        raise ValueError(f"not a frontend version: {text!r} (expected e.g. 1.48.7)")
    return tuple(int(g) for g in match.groups())


def frontend_for(version=None) -> Frontend:
    """A Frontend from None (the newest checked release), a Frontend, "1.48.7" or a (1, 48, 7) tuple."""
    if version is None:
        return Frontend()
    if isinstance(version, Frontend):
        return version
    return Frontend(parse_version(version) if isinstance(version, str) else tuple(version))


def installed_frontend_version() -> str | None:
    """The version of the `comfyui-frontend-package` installed in this Python environment (what ComfyUI serves unless
    started with --front-end-version / --front-end-root), or None."""
    from importlib import metadata
    try:
        return metadata.version("comfyui-frontend-package")
    except metadata.PackageNotFoundError:
        return None
