"""UI-format conversion: a file the frontend loads (links listed at both ends, ids and last ids right, widget values
in this pack's order), nodes placed where ADE's were (id, position, colour, title), groups, reroutes, primitives,
KJNodes Set/Get, bypassed and muted nodes, other packs' nodes, subgraphs; malformed files refused naming the node."""
import copy

import pytest

from ade_workflows import samples
from ade_workflows.builder import UIWorkflow, ui_from_api
from ade_workflows.checks import check_ui, link_fields
from tools.convert import ConversionError, NotAWorkflow, convert_workflow
from tools.convert.report import NOTE
from tools.convert.targets import Targets

TARGETS = Targets()


def widget_count(node_type):
    return len(TARGETS.get(node_type).widget_names()) if node_type in TARGETS.definitions and \
        node_type.startswith("ALCM_") else None


def by_id(wf):
    return {n["id"]: n for n in wf["nodes"]}


def source(wf, node_id, name):
    """(node id, type) feeding input `name` of node `node_id`."""
    nodes = by_id(wf)
    slot = next(s for s in nodes[node_id]["inputs"] if s["name"] == name)
    link = next(link_fields(raw) for raw in wf["links"] if link_fields(raw)[0] == slot["link"])
    return link[1], nodes[link[1]]["type"]


@pytest.mark.parametrize("build", [samples.legacy_loader_uniform, samples.gen1_lora_multival,
                                   samples.gen2_freenoise_looped, samples.stacked_models,
                                   samples.fizz_schedule_windows])
def test_converted_files_are_loadable_and_free_of_ade(build):
    ui = ui_from_api(build())
    original = copy.deepcopy(ui)
    result = convert_workflow(ui)
    assert ui == original and result.changed
    check_ui(result.workflow, widget_count)
    types = {n["type"] for n in result.workflow["nodes"]}
    assert not any(t.startswith("ADE_") or t.startswith("BatchPrompt") for t in types)
    assert result.workflow["last_node_id"] > original["last_node_id"] or len(result.workflow["nodes"]) <= len(ui["nodes"])


def test_nodes_take_ade_nodes_ids_places_and_looks():
    ui = ui_from_api(samples.legacy_loader_uniform())
    loader = by_id(ui)[10]
    loader.update(pos=[500, 300], size=[320, 200], title="my AnimateDiff", color="#223", bgcolor="#335")
    ui["groups"] = [{"title": "AnimateDiff", "bounding": [480, 260, 400, 700]}]
    wf = convert_workflow(ui).workflow
    nodes = by_id(wf)
    heir = nodes[10]  # the node whose MODEL the sampler now takes keeps the loader's id, place and look
    assert heir["type"] == "ALCM_ApplyContextOptions" and heir["pos"] == [500, 300]
    assert (heir["title"], heir["color"], heir["bgcolor"]) == ("my AnimateDiff", "#223", "#335")
    assert source(wf, 90, "model") == (10, "ALCM_ApplyContextOptions")
    others = [n for n in wf["nodes"] if n["id"] > 99]
    assert {n["type"] for n in others} == {"ALCM_LoadMotionModel", "ALCM_ApplyMotionModel"}
    assert all(n["pos"][1] > 300 and n["color"] == "#223" for n in others)  # stacked below it
    assert wf["groups"] == ui["groups"]
    assert nodes[11]["type"] == "ALCM_ContextOptionsLooped"  # 1:1 nodes keep their id


def test_reroutes_set_get_and_primitives():
    w = UIWorkflow()
    model = w.add("ALCMTest_RandomSD15", [0])
    ctx = w.add("ADE_StandardStaticContextOptions", [16, 4, "pyramid"])
    r_ctx = w.add("Reroute", [], inputs=[("", "*")], outputs=["CONTEXT_OPTIONS"])
    setter = w.add("SetNode", ["ctx"], inputs=[("CONTEXT_OPTIONS", "CONTEXT_OPTIONS")], outputs=["*"])
    getter = w.add("GetNode", ["ctx"], inputs=[], outputs=["CONTEXT_OPTIONS"])
    loader = w.add("ADE_AnimateDiffLoaderGen1", ["mm.ckpt", "autoselect"])
    mv = w.add("ADE_MultivalDynamic", [1.0])
    prim_len = w.add("PrimitiveNode", [24], outputs=["INT"])
    prim_val = w.add("PrimitiveNode", [0.7], outputs=["FLOAT"])
    w.node(prim_len)["outputs"][0]["widget"] = {"name": "context_length"}
    w.node(prim_val)["outputs"][0]["widget"] = {"name": "float_val"}
    r_model = w.add("Reroute", [], inputs=[("", "*")], outputs=["MODEL"])
    sampler = w.add("KSampler", [1, "fixed", 4, 7.0, "euler", "normal", 1.0])
    w.link(ctx, 0, r_ctx, "")
    w.link(r_ctx, 0, setter, "CONTEXT_OPTIONS")
    w.link(getter, 0, loader, "context_options")
    w.link(model, 0, loader, "model")
    w.link(mv, 0, loader, "scale_multival")
    w.link(prim_len, 0, ctx, "context_length", widget=True)
    w.link(prim_val, 0, mv, "float_val", widget=True)
    w.link(loader, 0, r_model, "")
    w.link(r_model, 0, sampler, "model")
    result = convert_workflow(w.ui())
    wf = result.workflow
    check_ui(wf, widget_count)
    nodes = by_id(wf)
    assert not {r_ctx, setter, getter, prim_val} & set(nodes)  # carried ADE objects only / fed a folded value
    assert nodes[r_model]["type"] == "Reroute" and source(wf, sampler, "model")[0] == r_model
    assert source(wf, r_model, "")[1] == "ALCM_ApplyContextOptions"
    assert source(wf, ctx, "context_length") == (prim_len, "PrimitiveNode")  # same widget: stays connected
    assert nodes[ctx]["widgets_values"][0] == 24
    apply = next(n for n in wf["nodes"] if n["type"] == "ALCM_ApplyMotionModel")
    assert apply["widgets_values"][2] == 0.7  # scale: the primitive's value


def test_bypassed_and_muted_ade_nodes():
    api = samples.gen1_lora_multival()
    ui = ui_from_api(api)
    by_id(ui)[13]["mode"] = 4  # the second LoRA loader bypassed: ComfyUI passes the first one's LoRA on
    by_id(ui)[15]["mode"] = 2  # effect multival muted: the input is left out
    result = convert_workflow(ui)
    wf = result.workflow
    check_ui(wf, widget_count)
    loras = [n for n in wf["nodes"] if n["type"] == "ALCM_ApplyMotionLoRA"]
    assert [n["widgets_values"] for n in loras] == [[samples.LORA_A, 0.6]]
    apply = next(n for n in wf["nodes"] if n["type"] == "ALCM_ApplyMotionModel")
    assert apply["widgets_values"][1:3] == [1.0, 1.5]  # effect default, scale 1.5
    assert any(e.node == 13 and e.kind == NOTE and "bypassed" in e.message for e in result.report)
    ui = ui_from_api(api)
    by_id(ui)[10]["mode"] = 4  # the loader itself bypassed: the sampler gets the plain MODEL
    wf = convert_workflow(ui).workflow
    assert source(wf, 90, "model") == (1, "ALCMTest_RandomSD15")
    assert not any(n["type"].startswith("ALCM_Apply") for n in wf["nodes"])
    ui = ui_from_api(api)
    by_id(ui)[10]["mode"] = 2
    wf = convert_workflow(ui).workflow
    replacing = [n for n in wf["nodes"] if n["id"] == 10 or n["id"] > 99]
    assert len(replacing) == 2 and all(n["mode"] == 2 for n in replacing)


def test_other_packs_nodes_stay_untouched_and_wired():
    ui = ui_from_api(samples.legacy_loader_uniform())
    w_nodes = ui["nodes"]
    vhs = {"id": 50, "type": "VHS_VideoCombine", "pos": [0, 0], "size": [300, 300], "flags": {}, "order": 9,
           "mode": 0, "inputs": [{"name": "images", "type": "IMAGE", "link": None}], "outputs": [],
           "properties": {}, "widgets_values": {"frame_rate": 8, "format": "image/gif", "pingpong": False}}
    w_nodes.append(vhs)
    ui["last_node_id"] = 99
    wf = convert_workflow(ui).workflow
    assert by_id(wf)[50] == vhs


def test_object_links_and_subgraphs():
    ui = ui_from_api(samples.legacy_loader_uniform())
    ui["links"] = [dict(zip(("id", "origin_id", "origin_slot", "target_id", "target_slot", "type"), raw))
                   for raw in ui["links"]]
    wf = convert_workflow(ui).workflow
    assert all(isinstance(raw, dict) for raw in wf["links"])
    check_ui(wf, widget_count)
    # the same graph inside a subgraph definition: its MODEL comes from the subgraph's input, goes to its output
    inner = ui_from_api(samples.legacy_loader_uniform())
    model_link = next(raw for raw in inner["links"] if raw[1] == 1)
    model_link[1] = -10
    out_link = next(raw for raw in inner["links"] if raw[3] == 90 and raw[4] == 0)
    out_link[3], out_link[4] = -20, 0
    by_id(inner)[90]["inputs"][0]["link"] = None
    sub = {"id": "0b1c", "name": "animate", "nodes": inner["nodes"], "links": inner["links"],
           "inputs": [{"name": "model", "type": "MODEL", "linkIds": [model_link[0]]}],
           "outputs": [{"name": "MODEL", "type": "MODEL", "linkIds": [out_link[0]]}]}
    outer = {"last_node_id": 200, "last_link_id": 200, "nodes": [], "links": [], "version": 0.4,
             "definitions": {"subgraphs": [sub]}}
    result = convert_workflow(outer)
    sub_out = result.workflow["definitions"]["subgraphs"][0]
    nodes = {n["id"]: n for n in sub_out["nodes"]}
    first = next(n for n in nodes.values() if n["type"] == "ALCM_ApplyMotionModel")
    into = next(link_fields(raw) for raw in sub_out["links"] if link_fields(raw)[0] == first["inputs"][0]["link"])
    assert into[1:3] == (-10, 0) and sub_out["inputs"][0]["linkIds"] == [into[0]]
    last = next(link_fields(raw) for raw in sub_out["links"] if link_fields(raw)[0] == out_link[0])
    assert last[1] == 10 and nodes[10]["type"] == "ALCM_ApplyContextOptions"
    assert sub_out["outputs"][0]["linkIds"] == [out_link[0]]
    assert result.workflow["last_node_id"] > 200


def test_model_links_travel_to_the_loader():
    ui = ui_from_api(samples.gen2_static())
    links = [{"name": samples.MM_V2, "url": "https://huggingface.co/x/y/resolve/main/mm.ckpt",
              "directory": "animatediff_models"}]
    by_id(ui)[11]["properties"]["models"] = links
    wf = convert_workflow(ui).workflow
    assert by_id(wf)[11]["type"] == "ALCM_LoadMotionModel" and by_id(wf)[11]["properties"]["models"] == links


@pytest.mark.parametrize("data", [[1, 2], "text", {"nodes": "x", "links": []}, {"a": 1}, {}])
def test_not_a_workflow(data):
    with pytest.raises(NotAWorkflow):
        convert_workflow(data)


def test_dangling_links_and_cycles_name_the_node():
    ui = ui_from_api(samples.legacy_loader_uniform())
    ui["links"] = [raw for raw in ui["links"] if raw[1] != 11]  # the context link gone, the input still names it
    with pytest.raises(ConversionError, match=r"node 10 \(ADE_AnimateDiffLoaderWithContext\).*link"):
        convert_workflow(ui)
    ui = ui_from_api(samples.legacy_loader_uniform())
    ui["links"].append([77, 99, 0, 42, 0, "LATENT"])  # a stale link between nodes that do not exist
    result = convert_workflow(ui)
    assert any(e.kind == NOTE and "link 77" in e.message for e in result.report)
    api = samples.legacy_loader_uniform()
    api["11"]["inputs"]["prev_context"] = ["10", 0]  # context <- loader <- context
    with pytest.raises(ConversionError, match="cycle"):
        convert_workflow(api)


def test_duplicate_node_ids_are_refused():
    ui = ui_from_api(samples.legacy_loader_uniform())
    ui["nodes"].append(copy.deepcopy(ui["nodes"][0]))
    with pytest.raises(ConversionError, match="two nodes have the id"):
        convert_workflow(ui)
