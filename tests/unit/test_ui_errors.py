"""Malformed workflows: each refused before any work with a message naming the node (and input), what was found and
what was expected. (The frontend refuses to queue the same graphs, or never loads them.)"""
import pytest

from tools.ui_graph import WorkflowFormatError, convert
from ui_builder import DEFS, G, workflow

L, I, V = "LATENT", "IMAGE", "VAE"


def _decode_graph():
    g = G()
    g.node(1, "EmptyLatentImage", [64, 64, 1], outputs=[("LATENT", L)])
    g.node(2, "VAEDecode", inputs=[("samples", L), ("vae", V)], outputs=[("IMAGE", I)])
    g.link(1, 0, 2, "samples")
    return g


def _fails(ui, pattern, **kw):
    with pytest.raises(WorkflowFormatError, match=pattern):
        convert(ui, kw.pop("definitions", DEFS.get), **kw)


def test_a_link_the_workflow_does_not_have():
    ui = workflow(_decode_graph())
    ui["nodes"][1]["inputs"][1]["link"] = 77
    _fails(ui, r"node 2 \(VAEDecode\): input 'vae' names link 77, which the workflow does not have")


def test_a_link_from_a_node_the_workflow_does_not_have():
    ui = workflow(_decode_graph())
    ui["links"][0][1] = 9
    _fails(ui, r"node 2 \(VAEDecode\): input 'samples' is linked from node 9, which the workflow does not have")


def test_a_cycle_through_reroutes_and_bypassed_nodes():
    g = G()
    rr = {"showOutputText": False, "horizontal": False}
    g.node(1, "Reroute", inputs=[("", "*")], outputs=[("", L)], props=rr)
    g.node(2, "Reroute", inputs=[("", "*")], outputs=[("", L)], props=rr)
    g.node(3, "VAEDecode", inputs=[("samples", L), ("vae", V)], outputs=[("IMAGE", I)])
    g.link(1, 0, 2, "")
    g.link(2, 0, 1, "")
    g.link(2, 0, 3, "samples")
    _fails(workflow(g), r"node \d \(Reroute\): its (input|output) 0 leads back to itself")
    g = G()
    g.node(1, "LoraLoaderModelOnly", ["a.safetensors", 1.0], inputs=[("model", "MODEL")], outputs=[("MODEL", "MODEL")],
           mode=4)
    g.node(2, "LoraLoaderModelOnly", ["a.safetensors", 1.0], inputs=[("model", "MODEL")], outputs=[("MODEL", "MODEL")],
           mode=4)
    g.node(3, "LoraLoaderModelOnly", ["a.safetensors", 1.0], inputs=[("model", "MODEL")], outputs=[("MODEL", "MODEL")])
    g.link(1, 0, 2, "model")
    g.link(2, 0, 1, "model")
    g.link(2, 0, 3, "model")
    _fails(workflow(g), r"node [12] \(LoraLoaderModelOnly\): its (input|output) 0 leads back to itself")


def test_unknown_node_types_name_the_node_and_the_subgraph():
    g = _decode_graph()
    g.node(3, "SomePackNode", [1])
    _fails(workflow(g), r"node 3 \(SomePackNode\): unknown node type 'SomePackNode' \(is the pack that provides it "
                        r"installed\?\)")


def test_muted_and_bypassed_nodes_of_types_not_installed_are_kept_as_the_frontend_keeps_them():
    """Never sent, so never refused: a muted one gives nothing, a bypassed one passes its input of the same type on
    (its saved slots are all there is to go by)."""
    g = _decode_graph()
    g.node(3, "SomePackLatentFilter", [0.5], inputs=[("latent", L)], outputs=[("LATENT", L)], mode=4)
    g.node(4, "SomePackNode", [1], mode=2)
    g.links[0]["target_id"], g.links[0]["target_slot"] = 3, 0  # EmptyLatentImage -> filter -> VAEDecode
    g.nodes[1]["inputs"][0]["link"], g.nodes[2]["inputs"][0]["link"] = None, 1
    g.link(3, 0, 2, "samples")
    prompt = convert(workflow(g), DEFS.get).prompt
    assert sorted(prompt) == ["1", "2"] and prompt["2"]["inputs"] == {"samples": ["1", 0]}
    g.nodes[2]["mode"] = 0
    _fails(workflow(g), r"node 3 \(SomePackLatentFilter\): unknown node type")


def test_wrong_shapes_and_types():
    _fails({"links": []}, "not a UI-format workflow")
    _fails({"nodes": [{"id": "x", "type": "VAEDecode"}], "links": []}, "node id: expected a number, found 'x'")
    _fails({"nodes": [{"id": 1}], "links": []}, "a node has no id or type")
    _fails({"nodes": [{"id": 1, "type": "VAEDecode", "inputs": ["samples"]}], "links": []},
           r"node 1 \(VAEDecode\): input 0 is not an object: 'samples'")
    _fails({"nodes": [{"id": 1, "type": "VAEDecode", "mode": "bypass"}], "links": []},
           r"node 1 \(VAEDecode\): mode 'bypass' is not a number")
    _fails({"nodes": [{"id": 1, "type": "VAEDecode"}, {"id": 1, "type": "VAEDecode"}], "links": []},
           r"node 1 \(VAEDecode\): a second node with id 1")
    _fails({"nodes": [], "links": [[1, 2, 0]]}, "neither \\[id, origin, slot, target, slot, type\\] nor an object")
    _fails({"nodes": [], "links": [{"id": 1, "origin_id": 2}]}, "link 1: no 'origin_slot'")
    bad = {"nodes": [], "links": [], "definitions": {"subgraphs": [{"name": "x", "nodes": []}]}}
    _fails(bad, "a subgraph definition has no id")


def test_a_workflow_with_nothing_wrong_passes():
    assert convert(workflow(_decode_graph()), DEFS.get).prompt == {
        "1": {"inputs": {"width": 64, "height": 64, "batch_size": 1}, "class_type": "EmptyLatentImage",
              "_meta": {"title": "EmptyLatentImage"}},
        "2": {"inputs": {"samples": ["1", 0]}, "class_type": "VAEDecode", "_meta": {"title": "VAEDecode"}}}
