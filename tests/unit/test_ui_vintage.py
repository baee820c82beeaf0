"""Widgets built from node definitions and saved values of every vintage, as each frontend release reads them.

Expected values are written here from the frontends' rules (their source, and what the running frontends returned
for the same definitions in tests/packs/test_frontend_prompt.py)."""
import pytest

from tools.ui_graph import convert
from tools.ui_graph.frontend import frontend_for
from tools.ui_graph.widgets import UNDEFINED, layout_from_definition, migrate_values, process_dynamic_prompt
from ui_builder import DEFS, G, workflow

V127, V148, V158 = "1.27.10", "1.48.7", "1.58.1"
VINTAGE = {  # controls after an INT and a combo, forceInput inputs between widgets
    "input": {"required": {"model": ["MODEL", {}], "a": ["INT", {"default": 5, "control_after_generate": True}],
                           "b": ["FLOAT", {"default": 0.5, "forceInput": True}], "c": ["STRING", {"default": "c0"}],
                           "d": [["x", "y", "z"], {"control_after_generate": True}]},
              "optional": {"e": ["BOOLEAN", {"default": True}], "f": ["INT", {"forceInput": True}],
                           "g": ["FLOAT", {"default": 2.5}]}},
    "input_order": {"required": ["model", "a", "b", "c", "d"], "optional": ["e", "f", "g"]},
    "output": ["MODEL"], "output_name": ["MODEL"]}


def _saved(definition, version=V158):
    return [(w.name, w.to_prompt) for w in layout_from_definition(definition, frontend_for(version)).widgets
            if w.saved]


def test_widgets_of_a_definition_in_order_with_the_frontends_own():
    assert _saved(VINTAGE) == [("a", True), ("control_after_generate", False), ("c", True), ("d", True),
                               ("control_after_generate", False), ("control_filter_list", False), ("e", True),
                               ("g", True)]
    seed = {"input": {"required": {"seed": ["INT", {}], "noise_seed": ["INT", {"control_after_generate": False}],
                                   "x": ["FLOAT", {"control_after_generate": True}]}}}
    assert [n for n, _ in _saved(seed, V158)] == ["seed", "control_after_generate", "noise_seed", "x",
                                                  "control_after_generate"]
    assert [n for n, _ in _saved(seed, V127)] == ["seed", "control_after_generate", "noise_seed", "x"]


def test_upload_button_follows_optional_widgets_when_the_definition_has_an_input_order():
    upload = {"input": {"required": {"image": [["a.png"], {"image_upload": True}]},
                        "optional": {"flag": ["BOOLEAN", {}]}}}
    assert [n for n, _ in _saved(upload)] == ["image", "upload", "flag"]
    upload["input_order"] = {"required": ["image"], "optional": ["flag"]}
    assert [n for n, _ in _saved(upload)] == ["image", "flag", "upload"]
    audio = {"input": {"required": {"audio": [[], {"audio_upload": True}]}}}
    assert _saved(audio) == [("audio", True), ("upload", False)]


def test_packs_widget_types_and_remote_combos():
    ade = {"input": {"required": {"model_name": [["mm.ckpt"], {}]}, "optional": {"autosize": ["ADEAUTOSIZE", {}]},
                     "hidden": {"x": ["ADEWARN", {}]}}}
    assert _saved(ade) == [("model_name", True), ("autosize", False)]
    remote = {"input": {"required": {"image": ["COMBO", {"remote": {"refresh_button": True}}]}}}
    assert _saved(remote) == [("image", True), ("Auto-refresh after generation", False), ("refresh", True)]
    assert _saved({"input": {"required": {"image": ["COMBO", {"remote": {}}]}}}) == [("image", True)]


def test_dynamic_combo_brings_the_widgets_of_its_choice():
    definition = {"input": {"required": {"mode": ["COMFY_DYNAMICCOMBO_V3", {"options": [
        {"key": "plain", "inputs": {"required": {}}},
        {"key": "scaled", "inputs": {"required": {"factor": ["FLOAT", {"default": 1.5}]},
                                      "optional": {"note": ["STRING", {"default": "n"}]}}}]}],
        "after": ["INT", {"default": 3}]}}, "output": ["INT"]}
    defs = {"Dyn": definition}.get
    ui = _one_node("Dyn", ["scaled", 2.5, "hello", 7])
    assert convert(ui, defs, V148).prompt["1"]["inputs"] == {"mode": "scaled", "mode.factor": 2.5, "mode.note": "hello",
                                                            "after": 7}
    ui = _one_node("Dyn", ["scaled"])
    assert convert(ui, defs, V158).prompt["1"]["inputs"] == {"mode": "scaled", "mode.factor": 1.5, "mode.note": "n",
                                                            "after": 3}
    assert convert(_one_node("Dyn", ["plain", 9]), defs, V158).prompt["1"]["inputs"] == {"mode": "plain", "after": 9}
    assert convert(_one_node("Dyn", [9]), defs, V127).prompt["1"]["inputs"] == {"after": 9}  # 1.27: a socket


def _one_node(kind, values, inputs=()):
    g = G()
    g.node(1, kind, values, inputs=inputs)
    return workflow(g)


def test_old_lists_realigned_by_each_releases_rules():
    old = [7, "fixed", 0.25, "c1", "y", "fixed", "", False, 99]  # b and f were widgets when this was saved
    layout = lambda v: layout_from_definition(VINTAGE, frontend_for(v))  # noqa: E731
    assert migrate_values(layout(V148), old, frontend_for(V148)) == [7, "fixed", "c1", "y", "fixed", "", 99]
    assert migrate_values(layout(V158), old, frontend_for(V158)) == [7, "fixed", "c1", "y", "fixed", "", 99]
    # 1.27 pairs one value with each input, so the control values shift the inputs it drops
    assert migrate_values(layout(V127), old, frontend_for(V127)) == [7, 0.25, "c1", "y", "", False, 99]
    current = [8, "fixed", "c2", "z", "fixed", "", False, 4.5]
    for v in (V127, V148, V158):
        assert migrate_values(layout(v), current, frontend_for(v)) == current
    fizz = {"input": {"required": {"text": ["STRING", {}], "max_frames": ["INT", {}]},
                      "optional": {"pre_text": ["STRING", {"forceInput": True}], "start": ["INT", {}]}}}
    for v in (V127, V148, V158):
        assert migrate_values(layout_from_definition(fizz, frontend_for(v)), ["t", 16, "pre", 2],
                              frontend_for(v)) == ["t", 16, 2]


def test_short_lists_take_defaults_and_long_lists_are_cut_with_notes():
    defs = {"Vintage": VINTAGE}.get
    short = convert(_one_node("Vintage", [9, "fixed", "c3"], [("model", "MODEL")]), defs, V158)
    assert short.prompt["1"]["inputs"] == {"a": 9, "c": "c3", "d": "x", "e": True, "g": 2.5}
    assert any("no saved value for d (default 'x'), e (default True), g (default 2.5)" in n for n in short.notes)
    # (9 values would be read as the old layout with b and f: see above)
    long = convert(_one_node("Vintage", [8, "fixed", "c2", "z", "fixed", "", False, 4.5, "ghost", 0]), defs, V148)
    assert long.prompt["1"]["inputs"] == {"a": 8, "c": "c2", "d": "z", "e": False, "g": 4.5}
    assert any("ignores the extra values ['ghost', 0]" in n for n in long.notes)


def test_a_dict_of_values_as_each_release_reads_it():
    """VideoHelperSuite saves dicts. 1.27 reads no dict; 1.48 gives widgets_values[i] (undefined) to every widget;
    1.58's realignment turns a dict with one entry per widget input into a list of its values, then reads it in
    order."""
    ui = _one_node("EmptyLatentImage", {"height": 64, "width": 32, "batch_size": 2})
    assert convert(ui, DEFS.get, V127).prompt["1"]["inputs"] == {"width": 512, "height": 512, "batch_size": 1}
    assert convert(ui, DEFS.get, V148).prompt["1"]["inputs"] == {}
    assert convert(ui, DEFS.get, V158).prompt["1"]["inputs"] == {"width": 64, "height": 32, "batch_size": 2}
    ui = _one_node("EmptyLatentImage", {"height": 64, "width": 32})
    assert convert(ui, DEFS.get, V158).prompt["1"]["inputs"] == {"width": 512, "height": 512, "batch_size": 1}
    # 1.48: a combo keeps its value, a multiline text box shows "undefined"
    ui = _one_node("CLIPTextEncode", {"text": "a cat"}, [("clip", "CLIP")])
    assert convert(ui, DEFS.get, V148).prompt["1"]["inputs"] == {"text": "undefined"}
    assert convert(_one_node("LoadImage", {"image": "b.png"}), DEFS.get, V148).prompt["1"]["inputs"] == \
        {"image": "a.png"}


def test_dynamic_prompts_resolved_when_queued():
    first = lambda options: options[0]  # noqa: E731
    assert process_dynamic_prompt("a {red|blue} fox // comment\nruns /* x\ny */ fast", first) == "a red fox \nruns  fast"
    assert process_dynamic_prompt("{a {b|c}|d} \\{kept\\}", first) == "a b \\{kept\\}"
    assert process_dynamic_prompt("{x|y}", lambda o: o[-1]) == "y"
    ui = _one_node("CLIPTextEncode", ["a {cat} // no"], [("clip", "CLIP")])
    assert convert(ui, DEFS.get).prompt["1"]["inputs"] == {"text": "a cat "}


def test_array_values_are_wrapped_and_nan_sent_as_null():
    ui = _one_node("EmptyLatentImage", [[1, 2], float("nan"), 3])
    assert convert(ui, DEFS.get).prompt["1"]["inputs"] == {"width": {"__value__": [1, 2]}, "height": None,
                                                           "batch_size": 3}


def test_without_definitions_the_table_must_match():
    from tools.ui_graph import WorkflowFormatError
    table = {"EmptyLatentImage": ["width", "height", "batch_size"]}.get
    assert convert(_one_node("EmptyLatentImage", [64, 64, 2]), table=table).prompt["1"]["inputs"] == \
        {"width": 64, "height": 64, "batch_size": 2}
    with pytest.raises(WorkflowFormatError, match="node 1 \\(EmptyLatentImage\\): 2 widget values for 3 widgets"):
        convert(_one_node("EmptyLatentImage", [64, 64]), table=table)
    assert UNDEFINED is not None


def test_date_patterns_in_file_names():
    from datetime import datetime
    from tools.ui_graph.replace import format_date
    assert format_date("yyyy-MM-dd hh:mm:ss yy d M/yyy", datetime(2026, 3, 4, 5, 6, 7)) == \
        "2026-03-04 05:06:07 26 4 3/yyy"
