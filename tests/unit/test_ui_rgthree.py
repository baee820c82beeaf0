"""rgthree-comfy's frontend-only nodes in UI workflows (tools/ui_graph, tools/pack_index): never sent, its Reroute
passed through, its muters' and bypassers' effect read from the saved modes, its Random Unmuter applied as its web
code applies it when a workflow is queued. One list of frontend-only node types serves the runner's node-type check
and the conversion."""
import pytest

from tools import pack_index
from tools.ui_graph import WorkflowFormatError, convert
from tools.ui_graph import configure
from ui_builder import DEFS, G, workflow

L, I, V = "LATENT", "IMAGE", "VAE"
RG = " (rgthree)"


def _graph(bypassed_lora=True):
    """EmptyLatentImage -> Reroute (rgthree) -> VAEDecode; an rgthree muter linked to the latent node, a bypassed
    LoRA node that a Fast Groups Bypasser switched off (saved as mode 4), labels and bookmarks."""
    g = G()
    g.node(1, "EmptyLatentImage", [64, 64, 2], outputs=[("LATENT", L)])
    g.node(2, "Reroute" + RG, inputs=[("", "*")], outputs=[("", L)], props={"resizable": False})
    g.node(3, "VAEDecode", inputs=[("samples", L), ("vae", V)], outputs=[("IMAGE", I)])
    g.node(4, "PreviewImage", inputs=[("images", I)])
    g.node(5, "Fast Muter" + RG, inputs=[("EmptyLatentImage", "*")], outputs=[("OPT_CONNECTION", "*")],
           props={"toggleRestriction": "default"})
    g.node(6, "Fast Groups Bypasser" + RG, outputs=[("OPT_CONNECTION", "*")])
    g.node(7, "Label" + RG, props={"fontSize": 30})
    g.node(8, "Bookmark" + RG, props={"shortcut_key": "1"})
    g.node(9, "LoraLoaderModelOnly", ["a.safetensors", 1.0], inputs=[("model", "MODEL")],
           outputs=[("MODEL", "MODEL")], mode=4 if bypassed_lora else 0)
    g.link(1, 0, 2, "")
    g.link(2, 0, 3, "samples")
    g.link(3, 0, 4, "images")
    g.link(1, 0, 5, "EmptyLatentImage")
    return g


def test_virtual_nodes_are_skipped_and_the_reroute_passes_its_input_on():
    prompt = convert(workflow(_graph()), DEFS.get).prompt
    assert sorted(prompt) == ["1", "3", "4"]  # no rgthree node, and the bypassed LoRA node is not sent
    assert prompt["3"]["inputs"] == {"samples": ["1", 0]}
    assert prompt["4"]["inputs"] == {"images": ["3", 0]}


def test_what_a_bypasser_did_is_the_saved_mode():
    prompt = convert(workflow(_graph(bypassed_lora=False)), DEFS.get).prompt
    assert prompt["9"]["class_type"] == "LoraLoaderModelOnly"  # switched on again: sent


def test_one_list_of_frontend_only_types():
    rgthree = {t + RG for t in ("Bookmark", "Fast Actions Button", "Fast Bypasser", "Fast Groups Bypasser",
                                "Fast Groups Muter", "Fast Muter", "Label", "Mute / Bypass Relay",
                                "Mute / Bypass Repeater", "Node Collector", "Power Conductor", "Random Unmuter",
                                "Reroute")}
    shared = pack_index.frontend_only_types()
    assert configure.FRONTEND_ONLY_TYPES == shared
    assert rgthree | {"Note", "MarkdownNote", "Reroute", "PrimitiveNode", "SetNode", "GetNode"} <= shared
    assert not {"Power Lora Loader" + RG, "Seed" + RG, "Context" + RG} & shared  # rgthree's server nodes are real
    for kind in sorted(rgthree):  # each one alone beside a real node: skipped, as the runner's check skips it
        g = G()
        g.node(1, "EmptyLatentImage", [64, 64, 1], outputs=[("LATENT", L)])
        g.node(2, kind)
        ui = workflow(g)
        assert list(convert(ui, DEFS.get).prompt) == ["1"], kind
        assert pack_index.needed_node_types(ui) == {"EmptyLatentImage": ["1"]}


def test_server_nodes_of_rgthree_still_need_their_pack():
    g = G()
    g.node(1, "Seed" + RG, [5])
    with pytest.raises(WorkflowFormatError, match=r"unknown node type 'Seed \(rgthree\)'"):
        convert(workflow(g), DEFS.get)


def _unmuter_graph(modes=(2, 2)):
    """Two muted preview branches linked to a Random Unmuter, one through a Node Collector and a reroute."""
    g = G()
    g.node(1, "EmptyLatentImage", [64, 64, 1], outputs=[("LATENT", L)])
    g.node(2, "VAEDecode", inputs=[("samples", L), ("vae", V)], outputs=[("IMAGE", I)])
    g.node(3, "PreviewImage", inputs=[("images", I)], mode=modes[0])
    g.node(4, "PreviewImage", inputs=[("images", I)], mode=modes[1])
    g.node(5, "Reroute", inputs=[("", "*")], outputs=[("", "*")])
    g.node(6, "Node Collector" + RG, inputs=[("PreviewImage", "*"), ("Reroute", "*")],
           outputs=[("Output", "*")])
    g.node(7, "Random Unmuter" + RG, inputs=[("Node Collector", "*")])
    g.link(1, 0, 2, "samples")
    g.link(2, 0, 3, "images")
    g.link(2, 0, 4, "images")
    # rgthree links a node's first output (or a dummy one) into its helpers' "*" inputs
    g.nodes[2]["outputs"] = [{"name": "", "type": "*", "links": [], "slot_index": 0}]
    g.nodes[3]["outputs"] = [{"name": "", "type": "*", "links": [], "slot_index": 0}]
    g.link(3, 0, 6, "PreviewImage", typ="*")
    g.link(4, 0, 5, "", typ="*")
    g.link(5, 0, 6, "Reroute", typ="*")
    g.link(6, 0, 7, "Node Collector", typ="*")
    return g


def test_random_unmuter_unmutes_one_muted_node_when_queued():
    seen = []

    def pick(options):
        seen.append([o.id for o in options])
        return options[-1]
    conversion = convert(workflow(_unmuter_graph()), DEFS.get, choose=pick)
    assert seen == [["3", "4"]]  # through the collector and the reroute; they themselves are passed through
    assert sorted(conversion.prompt) == ["1", "2", "4"]
    assert any("Random Unmuter" in n and "node 4 (PreviewImage)" in n for n in conversion.notes)


def test_random_unmuter_does_nothing_while_one_of_its_nodes_is_on():
    conversion = convert(workflow(_unmuter_graph(modes=(0, 2))), DEFS.get, choose=lambda o: pytest.fail("picked"))
    assert sorted(conversion.prompt) == ["1", "2", "3"]
