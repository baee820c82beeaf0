"""Following links as the frontend does: reroutes of both kinds, bypassed and muted nodes, legacy primitives,
converted widgets in old layouts, inputs the definition no longer has. Expected prompts are written by hand."""
from tools.ui_graph import convert
from ui_builder import DEFS, G, workflow

M, C, V, CO, L, I = "MODEL", "CLIP", "VAE", "CONDITIONING", "LATENT", "IMAGE"
RR = {"showOutputText": False, "horizontal": False}


def _graph(converted=("seed",)):
    g = G()
    g.node(1, "CheckpointLoaderSimple", ["sd15.safetensors"], outputs=[("MODEL", M), ("CLIP", C), ("VAE", V)])
    g.node(2, "CLIPTextEncode", ["a fox"], inputs=[("clip", C)], outputs=[("CONDITIONING", CO)])
    g.node(3, "EmptyLatentImage", [64, 64, 1], outputs=[("LATENT", L)])
    g.node(4, "KSampler", [3, "fixed", 2, 1.5, "euler", "normal", 1.0],
           inputs=[("model", M), ("positive", CO), ("negative", CO), ("latent_image", L),
                   *[(n, "INT", True) for n in converted]], outputs=[("LATENT", L)])
    g.link(1, 1, 2, "clip")
    g.link(2, 0, 4, "positive")
    g.link(2, 0, 4, "negative")
    g.link(3, 0, 4, "latent_image")
    return g


def _sampler(g, version=None):
    return convert(workflow(g), DEFS.get, version).prompt["4"]["inputs"]


WIDGETS = {"seed": 3, "steps": 2, "cfg": 1.5, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}
LINKED = {"positive": ["2", 0], "negative": ["2", 0], "latent_image": ["3", 0]}


def test_legacy_reroutes_chain_and_fan_out():
    g = _graph()
    for nid, typ in ((10, M), (11, M), (12, "INT")):
        g.node(nid, "Reroute", inputs=[("", "*")], outputs=[("", typ)], props=RR)
    g.node(13, "INTConstant", [77], outputs=[("value", "INT")])
    g.link(1, 0, 10, "")
    g.link(10, 0, 11, "")
    g.link(11, 0, 4, "model")
    g.link(13, 0, 12, "")
    g.link(12, 0, 4, "seed")
    g.node(14, "Reroute", inputs=[("", "*")], outputs=[("", I)], props=RR)  # nothing feeds it
    g.node(15, "PreviewImage", [], inputs=[("images", I)])
    g.link(14, 0, 15, "images")
    prompt = convert(workflow(g), DEFS.get).prompt
    assert prompt["4"]["inputs"] == {**WIDGETS, **LINKED, "model": ["1", 0], "seed": ["13", 0]}
    assert prompt["15"]["inputs"] == {} and not {"10", "11", "12", "14"} & set(prompt)


def test_native_reroutes_are_drawing_only():
    g = _graph(converted=())
    link = g.link(1, 0, 4, "model", parent=2)
    ui = workflow(g, extra={"reroutes": [{"id": 1, "pos": [0, 0], "linkIds": [link]},
                                         {"id": 2, "parentId": 1, "pos": [5, 5], "linkIds": [link]}],
                            "linkExtensions": [{"id": link, "parentId": 2}]})
    ui["floatingLinks"] = [{"id": 50, "origin_id": 3, "origin_slot": 0, "target_id": -1, "target_slot": -1,
                            "type": L, "parentId": 1}]
    assert convert(ui, DEFS.get).prompt["4"]["inputs"] == {**WIDGETS, **LINKED, "model": ["1", 0]}


def test_bypass_passes_the_input_that_fits():
    g = _graph(converted=())
    g.node(20, "LoraLoaderModelOnly", ["a.safetensors", 0.5], inputs=[("model", M)], outputs=[("MODEL", M)], mode=4)
    g.node(21, "LoraLoaderModelOnly", ["a.safetensors", 0.7], inputs=[("model", M)], outputs=[("MODEL", M)], mode=4)
    g.link(1, 0, 20, "model")
    g.link(20, 0, 21, "model")
    g.link(21, 0, 4, "model")
    # a bypassed sampler gives its LATENT input (not its first input, a MODEL)
    g.node(22, "KSampler", [1, "fixed", 1, 1.0, "euler", "normal", 1.0], mode=4,
           inputs=[("model", M), ("positive", CO), ("negative", CO), ("latent_image", L)], outputs=[("LATENT", L)])
    g.link(1, 0, 22, "model")
    g.link(3, 0, 22, "latent_image")
    g.node(23, "VAEDecode", inputs=[("samples", L), ("vae", V)], outputs=[("IMAGE", I)])
    g.link(22, 0, 23, "samples")
    # a bypassed encoder has no LATENT input: nothing reaches the decoder
    g.node(24, "VAEEncode", inputs=[("pixels", I), ("vae", V)], outputs=[("LATENT", L)], mode=4)
    g.node(25, "VAEDecode", inputs=[("samples", L), ("vae", V)], outputs=[("IMAGE", I)])
    g.link(23, 0, 24, "pixels")
    g.link(24, 0, 25, "samples")
    prompt = convert(workflow(g), DEFS.get).prompt
    assert prompt["4"]["inputs"]["model"] == ["1", 0]
    assert prompt["23"]["inputs"] == {"samples": ["3", 0]}
    assert prompt["25"]["inputs"] == {}
    assert not {"20", "21", "22", "24"} & set(prompt)


def test_muted_sources_by_release():
    g = _graph()
    g.node(30, "INTConstant", [555], outputs=[("value", "INT")], mode=2)
    g.link(30, 0, 4, "seed")
    g.link(1, 0, 4, "model")
    assert _sampler(g, "1.48.7")["seed"] == 3 and _sampler(g, "1.58.1")["seed"] == 3  # the widget's own value
    assert "seed" not in _sampler(g, "1.27.10")  # 1.27 follows the link, then drops it with the widget value
    assert "30" not in convert(workflow(g), DEFS.get).prompt


def test_primitives_write_the_widgets_they_feed():
    g = _graph(converted=("seed", "sampler_name"))
    g.link(1, 0, 4, "model")
    g.node(5, "KSampler", [11, "fixed", 2, 2.0, "euler", "karras", 0.5],
           inputs=[("model", M), ("positive", CO), ("negative", CO), ("latent_image", L), ("seed", "INT", True)],
           outputs=[("LATENT", L)])
    seed = g.node(40, "PrimitiveNode", [77, "fixed"], outputs=[("INT", "INT")])
    seed["outputs"][0]["widget"] = {"name": "seed"}
    g.link(40, 0, 4, "seed")
    g.link(40, 0, 5, "seed")
    combo = g.node(41, "PrimitiveNode", ["dpmpp_2m", "fixed", ""], outputs=[("COMBO", "COMBO")])
    combo["outputs"][0]["widget"] = {"name": "sampler_name"}
    g.link(41, 0, 4, "sampler_name")
    g.node(42, "PrimitiveNode", [999], outputs=[("connect to widget input", "*")])
    latent = next(n for n in g.nodes if n["id"] == 3)
    latent["inputs"] = [{"name": "width", "type": "INT", "widget": {"name": "width"}, "link": None}]
    g.node(43, "PrimitiveNode", [640, "fixed"], outputs=[("INT", "INT")])
    g.node(44, "Reroute", inputs=[("", "*")], outputs=[("", "INT")], props=RR)
    g.link(43, 0, 44, "")
    g.link(44, 0, 3, "width")
    prompt = convert(workflow(g), DEFS.get).prompt
    assert prompt["4"]["inputs"] == {**WIDGETS, **LINKED, "model": ["1", 0], "seed": 77, "sampler_name": "dpmpp_2m"}
    assert prompt["5"]["inputs"]["seed"] == 77
    assert prompt["3"]["inputs"] == {"width": 64, "height": 64, "batch_size": 1}  # not through a Reroute
    assert not {"40", "41", "42", "43", "44"} & set(prompt)


def test_primitive_inside_a_subgraph_with_1_27_looks_in_the_root_links():
    from ui_builder import Sub, instance
    sub = Sub("11111111-2222-4333-8444-555555555555", "S", [], [("LATENT", L)])
    sub.node(1, "EmptyLatentImage", [64, 64, 1], inputs=[("width", "INT", True)], outputs=[("LATENT", L)])
    prim = sub.node(2, "PrimitiveNode", [320, "fixed"], outputs=[("INT", "INT")])
    prim["outputs"][0]["widget"] = {"name": "width"}
    sub.link(2, 0, 1, "width")
    sub.link(1, 0, "out", 0)
    g = G()
    instance(g, 9, sub)
    ui = workflow(g, subgraphs=[sub])
    assert convert(ui, DEFS.get, "1.48.7").prompt["9:1"]["inputs"]["width"] == 320
    assert convert(ui, DEFS.get, "1.27.10").prompt["9:1"]["inputs"]["width"] == 64


def test_converted_widgets_of_an_old_layout_and_inputs_the_definition_lacks():
    g = _graph(converted=("steps",))
    g.link(1, 0, 4, "model")
    g.node(50, "INTConstant", [6], outputs=[("value", "INT")])
    sampler = next(n for n in g.nodes if n["id"] == 4)
    sampler["inputs"].insert(0, {"name": "guidance", "type": "FLOAT", "link": None})  # gone from the definition
    sampler["inputs"].append({"name": "cfg", "type": "FLOAT", "widget": {"name": "cfg"}, "link": None})
    g.link(50, 0, 4, "steps")
    g.link(50, 0, 4, "guidance")
    inputs = _sampler(g)
    assert inputs == {**WIDGETS, **LINKED, "model": ["1", 0], "steps": ["50", 0], "guidance": ["50", 0]}


def test_links_to_nodes_left_out_are_dropped():
    g = _graph(converted=())
    g.node(60, "LoraLoaderModelOnly", ["a.safetensors", 1.0], inputs=[("model", M)], outputs=[("MODEL", M)],
           mode=2)
    g.link(1, 0, 60, "model")
    g.link(60, 0, 4, "model")
    assert _sampler(g, "1.27.10") == {**WIDGETS, **LINKED}
    assert _sampler(g, "1.58.1") == {**WIDGETS, **LINKED}
