"""Which custom node pack provides a node type: the runner's answer when a workflow names a type that is not installed.

Two sources, facts only:
- ComfyUI-Manager's node map (`extension-node-map.json`: {repository URL: [[node types], {"title_aux": name,
  "nodename_pattern": regex}]}), when ComfyUI-Manager is installed: its own copy in its pack folder and the copies it
  caches from its channel (`<hash>_extension-node-map.json` in `user/default/ComfyUI-Manager/cache/` (Manager 3),
  `user/__manager/cache/` (Manager 4, ComfyUI's `--enable-manager`) or `<its folder>/.cache/` (older));
- `tools/pack_nodes.json`: the node types of the packs AnimateDiff workflows use (AnimateDiff-Evolved,
  Advanced-ControlNet, IPAdapter_plus, VideoHelperSuite, FizzNodes, KJNodes, rgthree, cg-use-everywhere, the old
  ArtVentureX AnimateDiff), read from the packs themselves; the packs tier checks it against their registrations.
  It is the project's one table of which pack provides a node type (tools/widget_table.py's PACK_NODES reads it),
  and of the node types that exist only in a frontend (`frontend_only_types`, also tools/ui_graph's).

Pure Python over JSON: no ComfyUI import.
"""
import glob
import json
import logging
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache

TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pack_nodes.json")
MANAGER_MAP = "extension-node-map.json"
# Node types that exist only in ComfyUI's frontend: never sent to the server, so never "not installed".
CORE_FRONTEND_ONLY = frozenset({"Note", "MarkdownNote", "Reroute", "PrimitiveNode"})
MODE_MUTED, MODE_BYPASSED = 2, 4
MAX_CANDIDATES = 3


@dataclass(frozen=True)
class Pack:
    name: str
    repository: str
    node_types: frozenset = frozenset()
    prefixes: tuple = ()
    suffixes: tuple = ()
    frontend_only: frozenset = frozenset()
    patterns: tuple = ()  # nodename_pattern regexes (ComfyUI-Manager)
    also_core: frozenset = frozenset()  # registered by the pack and by ComfyUI core too: core's wins

    def provides(self, node_type: str) -> bool:
        if node_type in self.also_core:
            return False
        return (node_type in self.node_types or node_type in self.frontend_only
                or node_type.startswith(self.prefixes) or node_type.endswith(self.suffixes)
                or any(re.match(p, node_type) for p in self.patterns))


@dataclass
class PackIndex:
    builtin: list = field(default_factory=list)
    manager: list = field(default_factory=list)
    manager_files: list = field(default_factory=list)

    def providers(self, node_type: str) -> list:
        """The packs that provide `node_type`: the built-in table's answer, else ComfyUI-Manager's (exact names
        before patterns; several packs may list one name)."""
        known = [p for p in self.builtin if p.provides(node_type)]
        if known:
            return known
        exact = [p for p in self.manager if node_type in p.node_types]
        return exact or [p for p in self.manager if p.patterns and p.provides(node_type)]


def builtin_packs(path: str = TABLE) -> list:
    return list(_read_table(path))


@lru_cache(maxsize=4)
def _read_table(path: str) -> tuple:
    with open(path, encoding="utf-8") as f:
        table = json.load(f)
    return tuple(Pack(p["name"], p["repository"], frozenset(p.get("node_types", ())), tuple(p.get("prefixes", ())),
                      tuple(p.get("suffixes", ())), frozenset(p.get("frontend_only", ())),
                      also_core=frozenset(p.get("also_core", ()))) for p in table["packs"])


def builtin_pack_of(node_type: str) -> str | None:
    """The name of the pack of the built-in table that provides `node_type` (None: core, this pack, or unknown)."""
    packs = [p.name for p in _read_table(TABLE) if p.provides(node_type)]
    return packs[0] if packs else None


def frontend_only_types(packs=None) -> frozenset:
    """Node types only a frontend knows, never sent to the server: ComfyUI's notes, reroutes and primitives, and the
    packs' (KJNodes' Set/Get; rgthree's virtual nodes: its reroute, labels, bookmarks, buttons, and its muters and
    bypassers, whose effect on other nodes is already in those nodes' saved modes). tools/ui_graph skips them too."""
    packs = _read_table(TABLE) if packs is None else packs
    return CORE_FRONTEND_ONLY.union(*(p.frontend_only for p in packs))


# ------------------------------------------------------------------------------------------- ComfyUI-Manager
def manager_map_files(custom_node_dirs: list, user_dir: str | None) -> list:
    """ComfyUI-Manager's node-map files on this machine, newest first."""
    found = []
    for root in custom_node_dirs:
        for entry in _listdir(root):
            if entry.lower().startswith("comfyui-manager") and os.path.isdir(os.path.join(root, entry)):
                found.append(os.path.join(root, entry, MANAGER_MAP))
                found += glob.glob(os.path.join(root, entry, ".cache", "*" + MANAGER_MAP))
    if user_dir:
        for cache in (os.path.join(user_dir, "default", "ComfyUI-Manager", "cache"),
                      os.path.join(user_dir, "__manager", "cache")):
            found += glob.glob(os.path.join(cache, "*" + MANAGER_MAP))
    files = {os.path.realpath(f): f for f in found if os.path.isfile(f)}
    return sorted(files.values(), key=lambda f: -os.path.getmtime(f))


def _listdir(path: str) -> list:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def read_manager_map(path: str) -> list:
    """The packs of one node-map file; a file that is not one gives none (and a debug line)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        packs = []
        for url, (node_types, meta) in data.items():
            meta = meta if isinstance(meta, dict) else {}
            pattern = meta.get("nodename_pattern")
            packs.append(Pack(meta.get("title_aux") or meta.get("title") or url.rstrip("/").rsplit("/", 1)[-1], url,
                              frozenset(t for t in node_types if isinstance(t, str)),
                              patterns=(pattern,) if isinstance(pattern, str) and _valid_regex(pattern) else ()))
        return packs
    except (OSError, ValueError, TypeError, AttributeError) as e:
        logging.debug("ComfyUI-Manager node map %s not read: %s", path, e)
        return []


def _valid_regex(pattern: str) -> bool:
    try:
        re.compile(pattern)
        return True
    except re.error:
        return False


def build_index(custom_node_dirs: list, user_dir: str | None) -> PackIndex:
    manager, seen, read = [], set(), []
    for path in manager_map_files(custom_node_dirs, user_dir):
        packs = read_manager_map(path)
        read += [path] if packs else []
        for pack in packs:
            if pack.repository not in seen:
                seen.add(pack.repository)
                manager.append(pack)
    return PackIndex(builtin_packs(), manager, read)


# ----------------------------------------------------------------------------------------- installed folders
def _folder_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower().removesuffix(".disabled"))


def installed_folder(pack: Pack, custom_node_dirs: list) -> tuple[str | None, bool]:
    """(folder, disabled) of `pack` in the custom_nodes folders, matched by its repository's name as
    ComfyUI-Manager and the registry name folders (`ComfyUI-VideoHelperSuite`, `comfyui-videohelpersuite`);
    disabled: a `.disabled` suffix or ComfyUI-Manager's `custom_nodes/.disabled/` folder."""
    key = _folder_key(pack.repository.rstrip("/").rsplit("/", 1)[-1])
    for root in custom_node_dirs:
        for base, disabled in ((root, False), (os.path.join(root, ".disabled"), True)):
            for entry in _listdir(base):
                path = os.path.join(base, entry)
                if os.path.isdir(path) and _folder_key(entry.split("@")[0]) == key:
                    return path, disabled or entry.endswith(".disabled")
    return None, False


# ------------------------------------------------------------------------------------------------- workflows
def needed_node_types(workflow: dict) -> dict:
    """{node type: [node id, ...]} of the nodes that need their type installed to run: an API prompt's nodes; a UI
    workflow's nodes that are not muted or bypassed and not frontend-only, with the nodes inside its subgraphs
    (ids "instance:inner", as the frontend numbers them)."""
    if not isinstance(workflow.get("nodes"), list):
        return _group({str(i): n.get("class_type") for i, n in workflow.items() if isinstance(n, dict)})
    subgraphs = {s.get("id"): s for s in (workflow.get("definitions") or {}).get("subgraphs") or []
                 if isinstance(s, dict)}
    return _group(dict(_ui_nodes(workflow.get("nodes"), subgraphs, "", frontend_only_types(), set())))


def _ui_nodes(nodes: list, subgraphs: dict, prefix: str, skip: frozenset, active: set):
    for node in nodes or []:
        if not isinstance(node, dict) or node.get("mode") in (MODE_MUTED, MODE_BYPASSED):
            continue
        kind, node_id = node.get("type"), f"{prefix}{node.get('id')}"
        if kind in subgraphs:
            if kind not in active:  # a subgraph that contains itself is the converter's error, not a type
                yield from _ui_nodes(subgraphs[kind].get("nodes"), subgraphs, node_id + ":", skip, active | {kind})
        elif kind not in skip:
            yield node_id, kind


def _group(types: dict) -> dict:
    grouped = {}
    for node_id, kind in sorted(types.items(), key=lambda item: _id_key(item[0])):
        grouped.setdefault(kind if isinstance(kind, str) else repr(kind), []).append(node_id)
    return grouped


def _id_key(node_id: str):
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in str(node_id).split(":")]


# -------------------------------------------------------------------------------------------------- message
def unknown_types_report(unknown: dict, index: PackIndex, custom_node_dirs: list, failed: set | None,
                         searched: str) -> str:
    """The runner's error for node types that are not installed: one line per type with its nodes, the pack that
    provides it and its repository, and whether that pack is installed but failed to import, disabled, or not
    loaded. `failed`: real paths of the pack folders that failed to import in this run; None: packs not loaded."""
    lines = ["the workflow uses node types that are not installed:"]
    for kind, node_ids in unknown.items():
        nodes = ("node " if len(node_ids) == 1 else "nodes ") + ", ".join(node_ids)
        lines.append(f"  - {nodes} ({kind}): " + _provider_text(kind, index, custom_node_dirs, failed))
    lines.append("Install the pack that provides each (ComfyUI-Manager: Install Missing Custom Nodes; or git clone "
                 "its repository into ComfyUI/custom_nodes/ and install its requirements.txt with ComfyUI's Python) "
                 "and re-run.")
    lines.append("Searched: " + searched + ".")
    if index.manager_files:
        lines.append("Pack names from ComfyUI-Manager's node map: " + index.manager_files[0])
    return "\n".join(lines)


def _provider_text(kind: str, index: PackIndex, custom_node_dirs: list, failed: set) -> str:
    packs = index.providers(kind)
    if not packs:
        where = "" if index.manager_files else "; ComfyUI-Manager's node map was not found"
        return f"no pack known to provide it (this runner's table{where})"
    texts = []
    for pack in packs[:MAX_CANDIDATES]:
        text = f"{pack.name}, {pack.repository}"
        folder, disabled = installed_folder(pack, custom_node_dirs)
        if folder and disabled:
            text += f" (installed but disabled: {folder})"
        elif folder and failed is None:
            text += f" (installed in {folder}, not loaded: --no-custom-nodes)"
        elif folder and os.path.realpath(folder) in failed:
            text += f" (installed in {folder}, but it failed to import: its error is in the log above)"
        if kind in pack.frontend_only:
            text += " (a node of its frontend: a workflow with it runs from the UI format, not as an API prompt)"
        texts.append(text)
    more = len(packs) - MAX_CANDIDATES
    return " or ".join(texts) + (f" (and {more} more packs list it)" if more > 0 else "")
