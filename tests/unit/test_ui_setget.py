"""KJNodes' Set/Get nodes resolved as its frontend code (web/js/setgetnodes.js) does, and cg-use-everywhere refused.
Expected prompts are written by hand."""
import pytest

from tools.ui_graph import WorkflowFormatError, convert
from ui_builder import DEFS, G, Sub, instance, workflow

M, C, V, L, I = "MODEL", "CLIP", "VAE", "LATENT", "IMAGE"
KJ = {"aux_id": "kijai/ComfyUI-KJNodes"}


def _set(g, nid, name, typ):
    return g.node(nid, "SetNode", [name], inputs=[(typ, typ)], outputs=[(typ, typ)], props={**KJ, "previousName": name})


def _get(g, nid, name, typ):
    return g.node(nid, "GetNode", [name], outputs=[(typ, typ)], props=KJ)


def _base():
    g = G()
    g.node(1, "CheckpointLoaderSimple", ["sd15.safetensors"], outputs=[("MODEL", M), ("CLIP", C), ("VAE", V)])
    g.node(2, "LoraLoaderModelOnly", ["a.safetensors", 1.0], inputs=[("model", M)], outputs=[("MODEL", M)])
    g.node(3, "CLIPTextEncode", ["a fox"], inputs=[("clip", C)], outputs=[("CONDITIONING", "CONDITIONING")])
    g.node(4, "VAEDecode", inputs=[("samples", L), ("vae", V)], outputs=[("IMAGE", I)])
    g.node(5, "EmptyLatentImage", [64, 64, 1], outputs=[("LATENT", L)])
    return g


def test_getters_take_the_first_setter_of_their_name():
    g = _base()
    _set(g, 10, "model", M)
    _set(g, 11, "model", M)  # a second setter of the name: not used
    _get(g, 12, "model", M)
    g.node(13, "Reroute", inputs=[("", "*")], outputs=[("", C)], props={"showOutputText": False, "horizontal": False})
    _set(g, 14, "clip", C)
    _get(g, 15, "clip", C)
    _get(g, 16, "nothing by that name", V)
    g.link(1, 0, 10, M)
    g.link(2, 0, 11, M)
    g.link(12, 0, 2, "model")  # the getter feeds the LoRA whose output the second setter holds
    g.link(1, 1, 13, "")
    g.link(13, 0, 14, C)
    g.link(15, 0, 3, "clip")
    g.link(16, 0, 4, "vae")
    g.link(5, 0, 4, "samples")
    conversion = convert(workflow(g), DEFS.get)
    prompt = conversion.prompt
    assert prompt["2"]["inputs"]["model"] == ["1", 0]
    assert prompt["3"]["inputs"] == {"text": "a fox", "clip": ["1", 1]}
    assert prompt["4"]["inputs"] == {"samples": ["5", 0]}  # no setter: the input stays unconnected
    assert not {"10", "11", "12", "13", "14", "15", "16"} & set(prompt)


def test_a_setters_own_output_passes_its_input():
    g = _base()
    _set(g, 10, "clip", C)
    g.link(1, 1, 10, C)
    g.link(10, 0, 3, "clip")
    assert convert(workflow(g), DEFS.get).prompt["3"]["inputs"]["clip"] == ["1", 1]


def _cross_graph(setters=("vae",)):
    sub = Sub("eeeeeeee-0000-4000-8000-000000000005", "Decode", [("samples", L)], [("IMAGE", I)])
    sub.node(1, "VAEDecode", inputs=[("samples", L), ("vae", V)], outputs=[("IMAGE", I)])
    _get(sub, 2, "vae", V)
    sub.link("in", 0, 1, "samples")
    sub.link(2, 0, 1, "vae")
    sub.link(1, 0, "out", 0)
    g = _base()
    for i, name in enumerate(setters):
        _set(g, 20 + i, name, V)
        g.link(1, 2, 20 + i, V)
    instance(g, 30, sub)
    g.link(5, 0, 30, "samples")
    return workflow(g, subgraphs=[sub])


def test_a_getter_inside_a_subgraph_sees_setters_of_the_graphs_above():
    for version in ("1.27.10", "1.48.7", "1.58.1"):
        prompt = convert(_cross_graph(), DEFS.get, version).prompt
        inner = next(k for k in prompt if k.startswith("30:") and prompt[k]["class_type"] == "VAEDecode")
        assert prompt[inner]["inputs"] == {"samples": ["5", 0], "vae": ["1", 2]}


def test_two_setters_of_one_name_in_scope_leave_the_getter_unconnected():
    conversion = convert(_cross_graph(("vae", "vae")), DEFS.get)
    inner = next(k for k in conversion.prompt if k.startswith("30:"))
    assert conversion.prompt[inner]["inputs"] == {"samples": ["5", 0]}
    assert any("2 SetNodes named 'vae'" in n for n in conversion.notes)


def test_use_everywhere_nodes_are_refused_with_the_node_named():
    g = _base()
    g.node(40, "Anything Everywhere", [], inputs=[("anything", "*")], title="Broadcast model")
    with pytest.raises(WorkflowFormatError, match="node 40 \\(Anything Everywhere 'Broadcast model'\\).*Export \\(API\\)"):
        convert(workflow(g), DEFS.get)
