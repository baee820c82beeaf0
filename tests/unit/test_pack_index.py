"""tools/pack_index.py: which pack provides a node type (built-in table, ComfyUI-Manager's node map), which node types
a workflow needs, and the runner's message for the ones that are not installed. No ComfyUI needed.

The built-in table is checked against the packs' own registrations in the packs tier (test_runner_packs.py)."""
import json
import os
import re
import time

import pytest

from tools import pack_index
from tools.pack_index import PackIndex, build_index, builtin_packs, needed_node_types, unknown_types_report

VHS = "https://github.com/Kosinkadink/ComfyUI-VideoHelperSuite"
ADE = "https://github.com/Kosinkadink/ComfyUI-AnimateDiff-Evolved"


def _names(packs):
    return [p.name for p in packs]


@pytest.mark.parametrize("node_type, pack", [
    ("ADE_UseEvolvedSampling", "ComfyUI-AnimateDiff-Evolved"),  # prefix
    ("CheckpointLoaderSimpleWithNoiseSelect", "ComfyUI-AnimateDiff-Evolved"),  # ADE's unprefixed types
    ("ACN_SparseCtrlLoaderAdvanced", "ComfyUI-Advanced-ControlNet"),
    ("TimestepKeyframe", "ComfyUI-Advanced-ControlNet"),
    ("VHS_VideoCombine", "ComfyUI-VideoHelperSuite"),
    ("IPAdapterUnifiedLoader", "ComfyUI_IPAdapter_plus"),
    ("BatchPromptSchedule", "ComfyUI_FizzNodes"),
    ("GetImageSizeAndCount", "ComfyUI-KJNodes"),
    ("SetNode", "ComfyUI-KJNodes"),  # frontend-only
    ("Power Lora Loader (rgthree)", "rgthree-comfy"),  # suffix
    ("Anything Everywhere?", "cg-use-everywhere"),
])
def test_builtin_table_names_the_pack(node_type, pack):
    assert _names(PackIndex(builtin_packs()).providers(node_type)) == [pack]


def test_old_animatediff_pack_and_unknown_types():
    index = PackIndex(builtin_packs())
    (old,) = index.providers("AnimateDiffModuleLoader")
    assert old.repository == "https://github.com/ArtVentureX/comfyui-animatediff"
    assert index.providers("NoSuchNode") == []
    assert index.providers("ADE") == []  # a prefix is a prefix: "ADE" alone names no node


def test_builtin_table_is_consistent():
    packs = builtin_packs()
    assert len(packs) == 9
    claimed = {}
    for pack in packs:
        assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", pack.repository), pack.repository
        assert pack.node_types or pack.prefixes or pack.suffixes
        assert not pack.node_types & pack.frontend_only
        for kind in pack.node_types | pack.frontend_only:
            assert kind not in claimed, f"{kind}: {claimed.get(kind)} and {pack.name}"
            claimed[kind] = pack.name
    for pack in packs:  # a prefix or suffix rule never takes another pack's listed type
        for kind, owner in claimed.items():
            if owner != pack.name:
                assert not kind.startswith(pack.prefixes) and not kind.endswith(pack.suffixes), (kind, pack.name)
    assert pack_index.frontend_only_types() >= {"Note", "Reroute", "PrimitiveNode", "SetNode", "GetNode",
                                                 "Fast Groups Bypasser (rgthree)"}


def test_one_table_says_which_pack_provides_a_node_type():
    """tools/pack_nodes.json is the one table: the widget table's PACK_NODES (other packs' node types the shipped
    workflows use) is read from it, and a type ComfyUI core also registers (core's wins) is core's, not a pack's."""
    from tools.widget_table import CORE_NODES, PACK_NODES, WIDGETS
    index = PackIndex(builtin_packs())
    assert PACK_NODES == {t: _names(index.providers(t))[0] for t in WIDGETS if index.providers(t)}
    assert {"IPAdapterModelLoader", "IPAdapterWeights", "IPAdapterBatch"} <= set(PACK_NODES)
    assert PACK_NODES["IPAdapterBatch"] == "ComfyUI_IPAdapter_plus"
    assert index.providers("LoadVideo") == [] and pack_index.builtin_pack_of("LoadVideo") is None
    assert "LoadVideo" in CORE_NODES and not set(PACK_NODES) & set(CORE_NODES)
    (old,) = [p for p in builtin_packs() if "ArtVentureX" in p.repository]
    assert "LoadVideo" in old.also_core  # the old pack registers one too: kept as a fact, never its provider


# ------------------------------------------------------------------------------------------- ComfyUI-Manager
def _write_map(path, entries: dict, mtime: float | None = None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(entries, f)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def _manager_install(tmp_path):
    custom, user = tmp_path / "custom_nodes", tmp_path / "user"
    now = time.time()
    _write_map(str(custom / "ComfyUI-Manager" / "extension-node-map.json"), {  # its own copy: older
        "https://github.com/someone/old-pack": [["MysteryNode"], {"title_aux": "Old Pack"}]}, now - 100)
    _write_map(str(user / "default" / "ComfyUI-Manager" / "cache" / "1742899825_extension-node-map.json"), {
        "https://github.com/someone/mystery-pack": [["MysteryNode", "OtherNode"], {"title_aux": "Mystery Pack"}],
        "https://github.com/someone/patterned": [[], {"title_aux": "Patterned", "nodename_pattern": "^Pat_"}],
        "https://github.com/someone/bad-regex": [[], {"title_aux": "Bad", "nodename_pattern": "(["}],
        VHS: [["VHS_VideoCombine"], {"title_aux": "Video Helper Suite (Manager's title)"}]}, now)
    _write_map(str(user / "__manager" / "cache" / "1_extension-node-map.json"), {  # Manager 4's folder
        "https://github.com/someone/v4-pack": [["V4Node"], {"title_aux": "V4 Pack"}]}, now - 50)
    (user / "__manager" / "cache" / "2_extension-node-map.json").write_text("{not json")
    return [str(custom)], str(user)


def test_manager_node_map_found_and_read(tmp_path):
    dirs, user = _manager_install(tmp_path)
    index = build_index(dirs, user)
    assert [os.path.relpath(f, tmp_path) for f in index.manager_files] == [  # newest first; not the broken file
        "user/default/ComfyUI-Manager/cache/1742899825_extension-node-map.json",
        "user/__manager/cache/1_extension-node-map.json", "custom_nodes/ComfyUI-Manager/extension-node-map.json"]
    assert _names(index.providers("MysteryNode")) == ["Mystery Pack", "Old Pack"]
    assert _names(index.providers("V4Node")) == ["V4 Pack"]
    assert _names(index.providers("Pat_Anything")) == ["Patterned"]
    assert _names(index.providers("VHS_VideoCombine")) == ["ComfyUI-VideoHelperSuite"]  # the built-in table first
    assert build_index([str(tmp_path / "elsewhere")], None).manager_files == []


def test_installed_folders_registry_names_and_disabled(tmp_path):
    custom = tmp_path / "custom_nodes"
    (custom / "comfyui-videohelpersuite").mkdir(parents=True)  # the registry's folder name
    (custom / ".disabled" / "comfyui-kjnodes@1_5_0").mkdir(parents=True)  # disabled by ComfyUI-Manager
    (custom / "ComfyUI_FizzNodes.disabled").mkdir()
    by_name = {p.name: p for p in builtin_packs()}
    assert pack_index.installed_folder(by_name["ComfyUI-VideoHelperSuite"], [str(custom)]) == (
        str(custom / "comfyui-videohelpersuite"), False)
    assert pack_index.installed_folder(by_name["ComfyUI-KJNodes"], [str(custom)])[1] is True
    assert pack_index.installed_folder(by_name["ComfyUI_FizzNodes"], [str(custom)])[1] is True
    assert pack_index.installed_folder(by_name["ComfyUI-AnimateDiff-Evolved"], [str(custom)]) == (None, False)


# ------------------------------------------------------------------------------------------------- workflows
def _node(node_id, kind, mode=0):
    return {"id": node_id, "type": kind, "mode": mode, "inputs": [], "outputs": [], "widgets_values": []}


def test_needed_node_types_of_a_ui_workflow():
    inner = {"id": "sub-1", "nodes": [_node(1, "VHS_LoadVideo"), _node(2, "KSampler", mode=2), _node(3, "sub-2")]}
    nested = {"id": "sub-2", "nodes": [_node(1, "ADE_UseEvolvedSampling"), _node(2, "sub-2")]}  # contains itself
    workflow = {"nodes": [_node(4, "KSampler"), _node(5, "KSampler"), _node(6, "Note"), _node(7, "Reroute"),
                          _node(8, "PrimitiveNode"), _node(9, "SetNode"), _node(10, "GetNode"),
                          _node(11, "Fast Groups Bypasser (rgthree)"), _node(12, "VHS_VideoCombine", mode=4),
                          _node(13, "ADE_LoadAnimateDiffModel", mode=2), _node(14, "sub-1"), _node(15, "sub-1")],
                "links": [], "definitions": {"subgraphs": [inner, nested]}}
    assert needed_node_types(workflow) == {
        "KSampler": ["4", "5"], "VHS_LoadVideo": ["14:1", "15:1"],
        "ADE_UseEvolvedSampling": ["14:3:1", "15:3:1"]}


def test_needed_node_types_of_an_api_prompt():
    prompt = {"10": {"class_type": "KSampler", "inputs": {}}, "9": {"class_type": "VHS_VideoCombine", "inputs": {}},
              "2": {"class_type": "KSampler", "inputs": {}}}
    assert needed_node_types(prompt) == {"KSampler": ["2", "10"], "VHS_VideoCombine": ["9"]}


# -------------------------------------------------------------------------------------------------- message
def test_message_names_nodes_packs_repositories_and_state(tmp_path):
    dirs, user = _manager_install(tmp_path)
    custom = dirs[0]
    os.makedirs(os.path.join(custom, "ComfyUI-VideoHelperSuite"))
    index = build_index(dirs, user)
    unknown = {"VHS_VideoCombine": ["3", "9"], "ADE_UseEvolvedSampling": ["4"], "MysteryNode": ["5"],
               "NoSuchNode": ["6"]}
    failed = {os.path.realpath(os.path.join(custom, "ComfyUI-VideoHelperSuite"))}
    text = unknown_types_report(unknown, index, dirs, failed, "core and 7 packs")
    lines = text.splitlines()
    assert lines[0] == "the workflow uses node types that are not installed:"
    assert lines[1] == (f"  - nodes 3, 9 (VHS_VideoCombine): ComfyUI-VideoHelperSuite, {VHS} (installed in "
                        f"{os.path.join(custom, 'ComfyUI-VideoHelperSuite')}, but it failed to import: its error is "
                        "in the log above)")
    assert lines[2] == f"  - node 4 (ADE_UseEvolvedSampling): ComfyUI-AnimateDiff-Evolved, {ADE}"
    assert lines[3] == ("  - node 5 (MysteryNode): Mystery Pack, https://github.com/someone/mystery-pack or "
                        "Old Pack, https://github.com/someone/old-pack")
    assert lines[4] == "  - node 6 (NoSuchNode): no pack known to provide it (this runner's table)"
    assert "ComfyUI-Manager" in lines[5] and lines[5].endswith("and re-run.")
    assert lines[6] == "Searched: core and 7 packs."
    assert lines[7].startswith("Pack names from ComfyUI-Manager's node map: ")
    not_loaded = unknown_types_report({"VHS_VideoCombine": ["3"]}, index, dirs, None, "core")
    assert "not loaded: --no-custom-nodes" in not_loaded
    bare = unknown_types_report({"NoSuchNode": ["1"]}, PackIndex(builtin_packs()), [], set(), "core")
    assert "ComfyUI-Manager's node map was not found" in bare


def test_many_packs_listing_one_type_are_cut(tmp_path):
    entries = {f"https://github.com/p{i}/pack{i}": [["Blur"], {"title_aux": f"P{i}"}] for i in range(5)}
    _write_map(str(tmp_path / "user" / "__manager" / "cache" / "9_extension-node-map.json"), entries)
    index = build_index([], str(tmp_path / "user"))
    text = unknown_types_report({"Blur": ["1"]}, index, [], set(), "core")
    assert text.count("https://github.com/p") == 3 and "(and 2 more packs list it)" in text
