"""Subgraphs as the frontend queues them: inner nodes under execution ids "<instance>:<inner>", promoted widgets
with each instance's values, nesting, renumbered inner ids, bypassed instances and legacy proxyWidgets by release.
Expected prompts are written by hand."""
import pytest

from tools.ui_graph import WorkflowFormatError, convert
from ui_builder import DEFS, G, Sub, instance, workflow

M, CO, L = "MODEL", "CONDITIONING", "LATENT"


def _sampler_block(sid="aaaaaaaa-0000-4000-8000-000000000001"):
    sub = Sub(sid, "Sampler", [("model", M), ("latent", L), ("seed", "INT"), ("steps", "INT")], [("LATENT", L)])
    sub.node(1, "KSampler", [5, "fixed", 10, 7.0, "euler", "normal", 1.0],
             inputs=[("model", M), ("positive", CO), ("negative", CO), ("latent_image", L), ("seed", "INT", True),
                     ("steps", "INT", True)], outputs=[("LATENT", L)])
    for i, name in enumerate(["model", "latent_image", "seed", "steps"]):
        sub.link("in", i, 1, name)
    sub.link(1, 0, "out", 0)
    return sub


def _root(sub, values, mode=0, extra=None):
    g = G()
    g.node(20, "CheckpointLoaderSimple", ["sd15.safetensors"], outputs=[("MODEL", M), ("CLIP", "CLIP"), ("VAE", "VAE")])
    g.node(21, "EmptyLatentImage", [64, 64, 1], outputs=[("LATENT", L)])
    instance(g, 30, sub, values, mode=mode)
    g.link(20, 0, 30, "model")
    g.link(21, 0, 30, "latent")
    if extra:
        extra(g)
    return workflow(g, subgraphs=[sub])


def _inner(prompt, key="30:1"):
    return prompt[key]["inputs"]


def test_instance_expanded_with_promoted_values():
    sub = _sampler_block()
    prompt = convert(_root(sub, [111, 4]), DEFS.get).prompt
    assert set(prompt) == {"20", "21", "30:1"}
    assert _inner(prompt) == {"seed": 111, "steps": 4, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal",
                              "denoise": 1.0, "model": ["20", 0], "latent_image": ["21", 0]}
    # values the instance lacks: the inner widgets' own
    assert _inner(convert(_root(sub, [222]), DEFS.get).prompt)["steps"] == 10
    assert _inner(convert(_root(sub, []), DEFS.get).prompt)["seed"] == 5


def test_a_link_into_a_promoted_input_wins():
    def steps_from_outside(g):
        g.node(22, "INTConstant", [6], outputs=[("value", "INT")])
        g.link(22, 0, 30, "steps")
    prompt = convert(_root(_sampler_block(), [111, 4], extra=steps_from_outside), DEFS.get).prompt
    assert _inner(prompt)["steps"] == ["22", 0] and _inner(prompt)["seed"] == 111


def test_outputs_lead_to_the_inner_source_and_bypassed_instances_by_release():
    def consumer(g):
        g.node(23, "VAEDecode", inputs=[("samples", L), ("vae", "VAE")], outputs=[("IMAGE", "IMAGE")])
        g.link(30, 0, 23, "samples")
    ui = _root(_sampler_block(), [1, 2], extra=consumer)
    assert convert(ui, DEFS.get).prompt["23"]["inputs"] == {"samples": ["30:1", 0]}
    bypassed = _root(_sampler_block(), [1, 2], mode=4, extra=consumer)
    new = convert(bypassed, DEFS.get, "1.48.7").prompt
    assert new["23"]["inputs"] == {"samples": ["21", 0]} and "30:1" not in new  # the LATENT input passes
    old = convert(bypassed, DEFS.get, "1.27.10").prompt
    assert old["23"]["inputs"] == {"samples": ["21", 0]} and "30:1" in old  # 1.27 still sends the inner node


def test_inner_ids_that_collide_are_renumbered_from_the_files_counter():
    sub = _sampler_block()
    sub.nodes[0]["id"] = 21  # collides with the root's EmptyLatentImage
    for link in sub.links:
        link["origin_id"] = 21 if link["origin_id"] == 1 else link["origin_id"]
        link["target_id"] = 21 if link["target_id"] == 1 else link["target_id"]
    ui = _root(sub, [1, 2])
    assert ui["last_node_id"] == 30
    assert "30:31" in convert(ui, DEFS.get, "1.58.1").prompt
    assert "30:21" in convert(ui, DEFS.get, "1.27.10").prompt


def test_nested_promotion_and_ids():
    inner = _sampler_block("bbbbbbbb-0000-4000-8000-000000000002")
    outer = Sub("cccccccc-0000-4000-8000-000000000003", "Outer", [("model", M), ("latent", L), ("steps", "INT")],
                [("LATENT", L)])
    instance(outer, 7, inner, [9, 3])
    outer.link("in", 0, 7, "model")
    outer.link("in", 1, 7, "latent")
    outer.link("in", 2, 7, "steps")
    outer.link(7, 0, "out", 0)
    g = G()
    g.node(20, "CheckpointLoaderSimple", ["sd15.safetensors"], outputs=[("MODEL", M), ("CLIP", "CLIP"), ("VAE", "VAE")])
    g.node(21, "EmptyLatentImage", [64, 64, 1], outputs=[("LATENT", L)])
    instance(g, 30, outer, [12])
    instance(g, 31, outer, [])
    for nid in (30, 31):
        g.link(20, 0, nid, "model")
        g.link(21, 0, nid, "latent")
    ui = workflow(g, subgraphs=[inner, outer])  # the inner definition first
    prompt = convert(ui, DEFS.get, "1.58.1").prompt
    assert set(prompt) == {"20", "21", "30:7:1", "31:7:1"}
    assert prompt["30:7:1"]["inputs"]["steps"] == 12 and prompt["30:7:1"]["inputs"]["seed"] == 9
    assert prompt["31:7:1"]["inputs"]["steps"] == 3  # the nested instance's own value
    # 1.27 configures definitions in file order: an instance configured before its subgraph keeps no values
    late = convert(workflow(g, subgraphs=[outer, inner]), DEFS.get, "1.27.10").prompt
    assert late["31:7:1"]["inputs"]["steps"] == 10 and late["31:7:1"]["inputs"]["seed"] == 5


def test_legacy_proxy_widgets_by_release():
    sub = _sampler_block()
    ui = _root(sub, [5.5, 42])
    node = next(n for n in ui["nodes"] if n["id"] == 30)
    node["properties"]["proxyWidgets"] = [["1", "cfg"], ["1", "seed"], ["99", "gone"]]
    new = convert(ui, DEFS.get, "1.48.7")
    assert _inner(new.prompt)["cfg"] == 5.5 and _inner(new.prompt)["seed"] == 42
    assert any("['99', 'gone']" in n for n in new.notes)
    old = convert(ui, DEFS.get, "1.27.10").prompt  # no migration: promoted inputs take the values in order
    assert _inner(old)["cfg"] == 7.0 and _inner(old)["seed"] == 5.5 and _inner(old)["steps"] == 42


def test_a_subgraph_that_contains_itself_is_refused():
    sub = _sampler_block()
    sub.node(5, sub.sid, [], inputs=[], outputs=[("LATENT", L)])
    with pytest.raises(WorkflowFormatError, match="contains an instance of itself"):
        convert(_root(sub, [1, 2]), DEFS.get)


def test_a_subgraph_output_fed_by_its_own_input_is_refused():
    sub = Sub("dddddddd-0000-4000-8000-000000000004", "Pass", [("latent", L)], [("LATENT", L)])
    sub.node(1, "EmptyLatentImage", [64, 64, 1], outputs=[("LATENT", L)])
    sub.link("in", 0, "out", 0)
    g = G()
    g.node(21, "EmptyLatentImage", [64, 64, 1], outputs=[("LATENT", L)])
    instance(g, 30, sub)
    g.node(31, "VAEDecode", inputs=[("samples", L), ("vae", "VAE")], outputs=[("IMAGE", "IMAGE")])
    g.link(21, 0, 30, "latent")
    g.link(30, 0, 31, "samples")
    with pytest.raises(WorkflowFormatError, match="node 30 .*'LATENT' is fed by its own input"):
        convert(workflow(g, subgraphs=[sub]), DEFS.get)
