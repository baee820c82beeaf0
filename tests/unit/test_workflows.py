"""The shipped workflows (workflows/*.json, UI format) and their API twins (workflows/api/*.json), without ComfyUI.

The ComfyUI tier checks what needs the real thing: the core node ids and the widget table against ComfyUI's
registry, validation and execution (tests/comfyui/test_comfy_workflows.py), and the real frontend (test_web_ui.py)."""
import glob
import json
import os
import re

import pytest

from animatelcm_core.schedules import LIGHTNING_SAMPLER
from tools.widget_table import PACK_NODES
from tools.workflow_api import (CONTROL, CORE_NODES, FRONTEND_ONLY, MODE_NEVER, NOTE_NODES, UPLOAD, WIDGETS,
                                WORKFLOWS_DIR, api_path_for, ui_to_api, ui_workflow_files, widget_names)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UI_FILES = ui_workflow_files()
NAMES = [os.path.splitext(os.path.basename(p))[0] for p in UI_FILES]
NODE_KEYS = {"id", "type", "pos", "size", "flags", "order", "mode", "properties", "widgets_values"}


def _our_node_ids() -> set[str]:
    """The node ids declared in nodes/*.py (`node_id="ALCM_..."`): the pack's own source, not our table."""
    ids = set()
    for path in glob.glob(os.path.join(REPO, "nodes", "*.py")):
        with open(path, encoding="utf-8") as f:
            ids |= set(re.findall(r'node_id="(ALCM_\w+)"', f.read()))
    return ids


def _load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module", params=NAMES)
def pair(request):
    ui_path = os.path.join(WORKFLOWS_DIR, request.param + ".json")
    return request.param, _load(ui_path), _load(api_path_for(ui_path))


SHIPPED = {"animatediff_v2_t2v", "animatelcm_t2v", "animatediff_motionlora_camera", "animatelcm_i2v",
           "animatelcm_long_context_windows", "animatelcm_controlnet_openpose", "animatelcm_video2video",
           "animatediff_sdxl_t2v", "hotshotxl_t2v", "animatediff_lightning_4step", "animatelcm_prompt_travel",
           "animatelcm_long_freenoise", "animatediff_freeinit", "train_motionlora", "animatediff_v3_sparsectrl"}


def test_the_workflows_are_shipped():
    assert SHIPPED <= set(NAMES), sorted(SHIPPED - set(NAMES))
    api = sorted(os.path.basename(p) for p in glob.glob(os.path.join(WORKFLOWS_DIR, "api", "*.json")))
    assert api == sorted(os.path.basename(p) for p in UI_FILES), "every UI workflow has one API twin and no other"


def test_ui_format_v04(pair):
    name, ui, _ = pair
    assert {"last_node_id", "last_link_id", "nodes", "links", "groups", "config", "extra", "version"} <= ui.keys()
    assert ui["version"] == 0.4
    ids = [n["id"] for n in ui["nodes"]]
    assert len(ids) == len(set(ids)) and ui["last_node_id"] >= max(ids)
    assert ui["last_link_id"] >= max(link[0] for link in ui["links"])
    assert sorted(n["order"] for n in ui["nodes"]) == list(range(len(ids)))
    for node in ui["nodes"]:
        assert NODE_KEYS <= node.keys(), (name, node["id"], NODE_KEYS - node.keys())
        assert len(node["pos"]) == 2 and len(node["size"]) == 2
        # active, or muted as a documented alternative whose output is not connected (e.g. VAEDecodeTiled)
        assert node["mode"] == 0 or (node["mode"] == MODE_NEVER and not _linked_outputs(node)), (name, node["id"])


def _linked_outputs(node) -> list:
    return [link for out in node.get("outputs", []) for link in (out.get("links") or [])]


def test_links_consistent_both_ends(pair):
    """Each link [id, src, src_slot, dst, dst_slot, type] is listed on its output and its input, with one type."""
    name, ui, _ = pair
    nodes = {n["id"]: n for n in ui["nodes"]}
    for link_id, src, src_slot, dst, dst_slot, kind in ui["links"]:
        out = nodes[src]["outputs"][src_slot]
        inp = nodes[dst]["inputs"][dst_slot]
        assert link_id in out["links"] and inp["link"] == link_id, (name, link_id)
        assert out["type"] == inp["type"] == kind, (name, link_id)
    listed = {l for n in ui["nodes"] for o in n.get("outputs", []) for l in (o.get("links") or [])}
    assert listed == {link[0] for link in ui["links"]}
    # every execution-order position respects the links (what the frontend stores in `order`)
    for _, src, _, dst, _, _ in ui["links"]:
        assert nodes[src]["order"] < nodes[dst]["order"]


def test_node_types_are_ours_or_comfyui_core(pair):
    name, ui, _ = pair
    ours = _our_node_ids()
    for node in ui["nodes"]:
        kind = node["type"]
        assert (kind.startswith("ALCM_") and kind in ours) or kind in CORE_NODES or kind in NOTE_NODES or \
            kind in PACK_NODES, (name, kind)  # PACK_NODES: checked against the installed packs in tests/packs


def test_widget_table_covers_every_node_and_value(pair):
    name, ui, _ = pair
    for node in ui["nodes"]:
        names = WIDGETS.get(node["type"], ["text"] if node["type"] in NOTE_NODES else None)
        assert names is not None, node["type"]
        assert len(node["widgets_values"]) == len(names), (name, node["id"], node["type"])


def test_api_twin_is_the_generated_one(pair):
    """`python -m tools.workflow_api` output is what is committed (regenerate after editing a UI workflow)."""
    name, ui, api = pair
    assert api == ui_to_api(ui), f"workflows/api/{name}.json is out of date: run `python -m tools.workflow_api`"


def test_api_twin_structure_matches_ui(pair):
    """Checked from the two files directly (not through the converter): ids, class types, links, widget values."""
    name, ui, api = pair
    real = [n for n in ui["nodes"] if n["type"] not in NOTE_NODES and n["mode"] != MODE_NEVER]
    assert set(api) == {str(n["id"]) for n in real}
    nodes = {n["id"]: n for n in ui["nodes"]}
    for n in real:
        assert api[str(n["id"])]["class_type"] == n["type"]
    linked = set()
    for _, src, src_slot, dst, dst_slot, _ in ui["links"]:
        if nodes[dst]["mode"] == MODE_NEVER:  # a muted node's inputs are not sent
            continue
        slot = nodes[dst]["inputs"][dst_slot]
        input_name = (slot.get("widget") or {}).get("name", slot["name"])
        assert api[str(dst)]["inputs"][input_name] == [str(src), src_slot], (name, dst, input_name)
        linked.add((str(dst), input_name))
    for n in real:
        inputs = api[str(n["id"])]["inputs"]
        assert {k for k, v in inputs.items() if isinstance(v, list)} == {k for d, k in linked if d == str(n["id"])}
        for widget, value in zip(WIDGETS[n["type"]], n["widgets_values"]):
            if widget in FRONTEND_ONLY:
                continue
            if (str(n["id"]), widget) in linked:
                continue
            assert inputs[widget] == value and type(inputs[widget]) is type(value), (name, n["id"], widget)
        literal = {k for k, v in inputs.items() if not isinstance(v, list)}
        assert literal == {w for w in WIDGETS[n["type"]] if w not in FRONTEND_ONLY} - {k for d, k in linked
                                                                                        if d == str(n["id"])}


def _by_type(api, kind):
    return [n["inputs"] for n in api.values() if n["class_type"] == kind]


def _api(name):
    return _load(os.path.join(WORKFLOWS_DIR, "api", name + ".json"))


def test_settings_of_each_workflow():
    """The settings the issue asks for, read from the shipped files."""
    ad = _api("animatediff_v2_t2v")
    (ks,) = _by_type(ad, "KSampler")
    assert ks["steps"] == 25 and ks["cfg"] == 7.5 and ks["sampler_name"] in ("euler", "ddim")
    assert _by_type(ad, "ALCM_ApplyMotionModel")[0]["model_sampling"] == "auto"
    assert _by_type(ad, "ALCM_LoadMotionModel")[0]["model_name"] == "mm_sd_v15_v2.ckpt"

    lcm = _api("animatelcm_t2v")
    (s,) = _by_type(lcm, "ALCM_Sampler")
    assert s["steps"] == 4 and s["cfg"] == 1.0
    assert _by_type(lcm, "LoraLoaderModelOnly") == [
        {"lora_name": "AnimateLCM_sd15_t2v_lora.safetensors", "strength_model": 0.8, "model": ["1", 0]}]
    assert _by_type(lcm, "ALCM_LoadMotionModel")[0]["model_name"] == "AnimateLCM_sd15_t2v.ckpt"

    cam = _api("animatediff_motionlora_camera")
    assert [m["lora_name"] for m in _by_type(cam, "ALCM_ApplyMotionLoRA")] == ["v2_lora_ZoomIn.ckpt",
                                                                              "v2_lora_PanLeft.ckpt"]

    i2v = _api("animatelcm_i2v")
    (s,) = _by_type(i2v, "ALCM_Sampler")
    assert s["steps"] == 4 and s["cfg"] == 1.0
    assert _by_type(i2v, "LoraLoaderModelOnly")[0]["lora_name"] == "AnimateLCM_sd15_i2v_lora.safetensors"
    assert _by_type(i2v, "LoraLoaderModelOnly")[0]["strength_model"] == 0.8
    (ref,) = _by_type(i2v, "ALCM_ImageToVideo")
    assert i2v[ref["image"][0]]["class_type"] == "LoadImage" and i2v[ref["vae"][0]]["class_type"] == "CheckpointLoaderSimple"

    long = _api("animatelcm_long_context_windows")
    assert _by_type(long, "EmptyLatentImage")[0]["batch_size"] == 64
    (ctx,) = _by_type(long, "ALCM_ContextOptions")
    assert ctx["context_length"] == 16 and ctx["context_overlap"] < ctx["context_length"]

    cn = _api("animatelcm_controlnet_openpose")
    (apply,) = _by_type(cn, "ControlNetApplyAdvanced")
    assert cn[apply["control_net"][0]]["inputs"]["control_net_name"] == "control_v11p_sd15_openpose.pth"
    hint = cn[apply["image"][0]]
    assert hint["class_type"] == "ImageFromBatch"
    assert hint["inputs"]["length"] == _by_type(cn, "EmptyLatentImage")[0]["batch_size"]  # one hint per frame

    v2v = _api("animatelcm_video2video")
    (s,) = _by_type(v2v, "ALCM_Sampler")
    assert 0 < s["denoise"] < 1 and v2v[s["latent_image"][0]]["class_type"] == "VAEEncode"
    assert _by_type(v2v, "LoadVideo")

    for name in NAMES:  # outputs with core nodes only
        api = _api(name)
        outputs = [n["class_type"] for n in api.values() if n["class_type"] in ("SaveAnimatedWEBP", "SaveVideo")]
        assert len(outputs) == 1, name


def _sdxl_video(name: str, motion: str, size: int, frames: int):
    api = _api(name)
    assert _by_type(api, "CheckpointLoaderSimple")[0]["ckpt_name"] == "sd_xl_base_1.0.safetensors"
    assert _by_type(api, "ALCM_LoadMotionModel")[0]["model_name"] == motion
    assert _by_type(api, "ALCM_ApplyMotionModel")[0]["model_sampling"] == "auto"
    (latent,) = _by_type(api, "EmptyLatentImage")
    assert (latent["width"], latent["height"], latent["batch_size"]) == (size, size, frames)
    ui = _load(os.path.join(WORKFLOWS_DIR, name + ".json"))  # the memory-friendly decoder, muted, ready to swap in
    (tiled,) = [n for n in ui["nodes"] if n["type"] == "VAEDecodeTiled"]
    assert tiled["mode"] == MODE_NEVER and not _linked_outputs(tiled)
    (note,) = [n for n in ui["nodes"] if n["type"] in NOTE_NODES]
    assert "VAE Decode (Tiled)" in note["widgets_values"][0] and "`full`" in note["widgets_values"][0]
    (ks,) = _by_type(api, "KSampler")
    return ks


def test_settings_of_sdxl_workflows():
    """SDXL beta: DiffSynth-Studio's example (1024x1024, 16 frames, cfg 8.5; 50 DDIM steps instead of its 100).
    HotshotXL: 8 frames at 512x512, its inference script's sampler, steps and guidance."""
    ks = _sdxl_video("animatediff_sdxl_t2v", "mm_sdxl_v10_beta.ckpt", 1024, 16)
    assert (ks["cfg"], ks["steps"], ks["sampler_name"], ks["scheduler"]) == (8.5, 50, "ddim", "ddim_uniform")
    ks = _sdxl_video("hotshotxl_t2v", "hsxl_temporal_layers.f16.safetensors", 512, 8)
    assert (ks["cfg"], ks["steps"], ks["sampler_name"], ks["scheduler"]) == (5.0, 30, "euler_ancestral", "normal")


def test_settings_of_lightning_workflow():
    """AnimateDiff-Lightning: the model card's sampler settings, the step count of the file, the explicit preset."""
    api = _api("animatediff_lightning_4step")
    (motion,) = _by_type(api, "ALCM_LoadMotionModel")
    steps = int(re.fullmatch(r"animatediff_lightning_(\d)step_comfyui\.safetensors", motion["model_name"]).group(1))
    (ks,) = _by_type(api, "KSampler")
    s = LIGHTNING_SAMPLER
    assert (ks["sampler_name"], ks["scheduler"], ks["cfg"]) == (s.sampler, s.scheduler, s.cfg)
    assert ks["steps"] == steps == 4 and steps in s.steps
    assert _by_type(api, "ALCM_ApplyMotionModel")[0]["model_sampling"] == "lightning"


# ------------------------------------------------------------------------------------ the converter on its own
def _ui(nodes, links):
    return {"last_node_id": max(n["id"] for n in nodes), "last_link_id": max([l[0] for l in links] or [0]),
            "nodes": nodes, "links": links, "groups": [], "config": {}, "extra": {}, "version": 0.4}


def _node(i, kind, widgets=(), inputs=(), mode=0, outputs=()):
    return {"id": i, "type": kind, "pos": [0, 0], "size": [100, 100], "flags": {}, "order": i, "mode": mode,
            "inputs": [dict(x) for x in inputs], "outputs": [dict(x) for x in outputs], "properties": {},
            "widgets_values": list(widgets)}


def test_widget_names_follow_frontend_rules():
    definition = {"input": {"required": {"model": ["MODEL", {}], "seed": ["INT", {"default": 0}],
                                         "sampler": [["a", "b"], {}], "strength": ["FLOAT", {"forceInput": True}],
                                         "file": ["COMBO", {"options": ["x"], "video_upload": True}],
                                         "count": ["INT", {"control_after_generate": True}]},
                            "optional": {"flag": ["BOOLEAN", {}], "image": ["IMAGE", {}]}},
                  "input_order": {"required": ["model", "seed", "sampler", "strength", "file", "count"],
                                  "optional": ["flag", "image"]}}
    # the upload input the frontend adds is not in input_order, so it follows the optional inputs (checked in
    # frontends 1.27.10 and 1.48.7 with this definition registered through app.registerNodeDef)
    assert widget_names(definition) == ["seed", CONTROL, "sampler", "file", "count", CONTROL, "flag", UPLOAD]


def test_converter_follows_reroutes_bypass_primitives_and_drops_notes():
    nodes = [
        _node(1, "CheckpointLoaderSimple", ["a.safetensors"], outputs=[{"name": "MODEL", "type": "MODEL", "links": [1]}]),
        _node(2, "Reroute", inputs=[{"name": "", "type": "*", "link": 1}],
              outputs=[{"name": "", "type": "MODEL", "links": [2]}]),
        _node(3, "LoraLoaderModelOnly", ["l.safetensors", 1.0], mode=4,
              inputs=[{"name": "model", "type": "MODEL", "link": 2}],
              outputs=[{"name": "MODEL", "type": "MODEL", "links": [3]}]),
        _node(4, "PrimitiveNode", [42, "fixed"], outputs=[{"name": "INT", "type": "INT", "links": [4]}]),
        _node(5, "KSampler", [7, "fixed", 20, 8.0, "euler", "normal", 1.0],
              inputs=[{"name": "model", "type": "MODEL", "link": 3},
                      {"name": "seed", "type": "INT", "widget": {"name": "seed"}, "link": 4}]),
        _node(6, "Note", ["hello"]),
        _node(7, "EmptyLatentImage", [64, 64, 2], mode=2),
    ]
    links = [[1, 1, 0, 2, 0, "MODEL"], [2, 2, 0, 3, 0, "MODEL"], [3, 3, 0, 5, 0, "MODEL"], [4, 4, 0, 5, 1, "INT"]]
    api = ui_to_api(_ui(nodes, links))
    assert set(api) == {"1", "5"}
    assert api["5"]["inputs"] == {"seed": 42, "steps": 20, "cfg": 8.0, "sampler_name": "euler", "scheduler": "normal",
                                  "denoise": 1.0, "model": ["1", 0]}


def test_converter_reads_v1_link_objects_and_rejects_unknown_types():
    from tools.workflow_api import WorkflowFormatError
    nodes = [_node(1, "EmptyLatentImage", [64, 64, 2], outputs=[{"name": "LATENT", "type": "LATENT", "links": [9]}]),
             _node(2, "VAEDecode", inputs=[{"name": "samples", "type": "LATENT", "link": 9},
                                           {"name": "vae", "type": "VAE", "link": None}])]
    ui = _ui(nodes, [])
    ui["links"] = [{"id": 9, "origin_id": 1, "origin_slot": 0, "target_id": 2, "target_slot": 0, "type": "LATENT"}]
    assert ui_to_api(ui)["2"]["inputs"] == {"samples": ["1", 0]}
    ui["nodes"].append(_node(3, "SomePackNode", [1]))
    with pytest.raises(WorkflowFormatError, match="SomePackNode"):
        ui_to_api(ui)
    with pytest.raises(WorkflowFormatError, match="3 widget values for 1"):
        ui_to_api(_ui([_node(1, "CLIPTextEncode", ["a", "b", "c"])], []))
