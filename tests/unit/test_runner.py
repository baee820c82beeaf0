"""The runner's command-line overrides on the shipped API workflows, with stand-in node definitions (no ComfyUI).

The ComfyUI tier runs the runner for real (tests/comfyui/test_comfy_runner.py)."""
import json
import os
from types import SimpleNamespace

import pytest

from tools import run_workflow
from tools.pack_index import needed_node_types
from tools.workflow_api import WORKFLOWS_DIR


class _KSampler:  # the parts of ComfyUI's definitions the overrides read: input names/types, output names
    RETURN_TYPES = ("LATENT",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "seed": ("INT",), "steps": ("INT",), "positive": ("CONDITIONING",),
                             "negative": ("CONDITIONING",), "latent_image": ("LATENT",)}}


class _ControlNetApplyAdvanced:
    RETURN_TYPES = ("CONDITIONING", "CONDITIONING")
    RETURN_NAMES = ("positive", "negative")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"positive": ("CONDITIONING",), "negative": ("CONDITIONING",),
                             "control_net": ("CONTROL_NET",), "image": ("IMAGE",), "strength": ("FLOAT",)}}


NODES = SimpleNamespace(NODE_CLASS_MAPPINGS={"KSampler": _KSampler, "ALCM_Sampler": _KSampler,
                                             "ControlNetApplyAdvanced": _ControlNetApplyAdvanced})


def _prompt(name):
    with open(os.path.join(WORKFLOWS_DIR, "api", name + ".json")) as f:
        return json.load(f)


def _opts(*argv):
    return run_workflow.parse_args(["w.json", *argv])


def _by_type(prompt, kind):
    return {i: n["inputs"] for i, n in prompt.items() if n["class_type"] == kind}


def test_prompt_reaches_the_text_encoders_through_controlnet():
    prompt = _prompt("animatelcm_controlnet_openpose")
    before = json.loads(json.dumps(prompt))
    changes = run_workflow.apply_overrides(prompt, _opts("--prompt", "a robot", "--negative", "ugly", "--seed", "5",
                                                         "--frames", "24", "--width", "768", "--height", "432",
                                                         "--steps", "6"), NODES)
    (sampler,) = _by_type(prompt, "KSampler").values()
    (cn,) = _by_type(prompt, "ControlNetApplyAdvanced").values()
    assert sampler["positive"][0] == sampler["negative"][0]  # both come from the ControlNet node ...
    assert prompt[cn["positive"][0]]["inputs"]["text"] == "a robot"  # ... which passes each one through
    assert prompt[cn["negative"][0]]["inputs"]["text"] == "ugly"
    assert sampler["seed"] == 5 and sampler["steps"] == 6
    (latent,) = _by_type(prompt, "EmptyLatentImage").values()
    assert (latent["width"], latent["height"], latent["batch_size"]) == (768, 432, 24)
    (hints,) = _by_type(prompt, "ImageFromBatch").values()
    assert hints["length"] == 24 and hints["image"] == _by_type(before, "ImageFromBatch").popitem()[1]["image"]
    assert len(changes) == 8  # frames x2, width, height, seed, steps, positive, negative
    # nothing else moved
    for node_id, node in before.items():
        for k, v in node["inputs"].items():
            if not any(f"node {node_id} " in c and f".{k} =" in c for c in changes):
                assert prompt[node_id]["inputs"][k] == v


def test_set_and_media_overrides():
    prompt = _prompt("animatelcm_video2video")
    run_workflow.apply_overrides(prompt, _opts("--set", "12.denoise=0.45", "--set", "4.text=hello world",
                                               "--video", "/somewhere/clip.mp4", "--checkpoint", "mine.safetensors"),
                                 NODES)
    assert prompt["12"]["inputs"]["denoise"] == 0.45 and prompt["4"]["inputs"]["text"] == "hello world"
    assert _by_type(prompt, "CheckpointLoaderSimple").popitem()[1]["ckpt_name"] == "mine.safetensors"
    assert _by_type(prompt, "LoadVideo").popitem()[1]["file"] == "clip.mp4"
    with pytest.raises(run_workflow.RunError, match="NODE_ID.INPUT=VALUE"):
        run_workflow.apply_overrides(prompt, _opts("--set", "99.x=1"), NODES)
    with pytest.raises(run_workflow.RunError, match="no LoadImage node"):
        run_workflow.apply_overrides(prompt, _opts("--image", "a.png"), NODES)


def test_finds_comfyui_when_the_pack_is_a_symlink_in_custom_nodes(tmp_path, monkeypatch):
    """`cd ComfyUI/custom_nodes/<link to this pack> && python tools/run_workflow.py ...`: the shell's $PWD keeps the
    link that os.getcwd() resolves, and the ComfyUI around the link is found."""
    comfyui = tmp_path / "ComfyUI"
    (comfyui / "comfy").mkdir(parents=True)
    (comfyui / "main.py").write_text("")
    (comfyui / "custom_nodes").mkdir()
    link = comfyui / "custom_nodes" / "comfyui-animatelcm"
    os.symlink(run_workflow.PACK_DIR, link)
    monkeypatch.delenv("COMFYUI_PATH", raising=False)
    monkeypatch.chdir(link)  # the process cwd is the resolved pack folder
    assert os.getcwd() == os.path.realpath(run_workflow.PACK_DIR)
    monkeypatch.setenv("PWD", str(link))
    assert run_workflow.find_comfyui(None) == str(comfyui)
    monkeypatch.setenv("PWD", str(tmp_path))  # a $PWD that is not the working directory is ignored
    if run_workflow._is_comfyui(os.path.dirname(os.path.dirname(run_workflow.PACK_DIR))):
        return  # this checkout itself sits in a ComfyUI's custom_nodes/
    with pytest.raises(run_workflow.RunError, match="ComfyUI not found"):
        run_workflow.find_comfyui(None)


# --------------------------------------------------------------------------------- which packs the runner loads
class _Booted:
    """What check_node_types reads of a booted ComfyUI: the registry, 0.33's replaceable old types, the packs."""

    def __init__(self, tmp_path, registry, installed, replaceable=()):
        self.nodes = SimpleNamespace(NODE_CLASS_MAPPINGS=dict.fromkeys(registry))
        self.host = SimpleNamespace(replaceable_node_types=lambda server: set(replaceable))
        self.server = None
        self.installed = installed  # the node types the installed packs would register
        self.packs_loaded, self.failed_packs, self.pack_count = False, set(), 2
        self.loads = 0
        self.custom = tmp_path / "custom_nodes"
        self.custom.mkdir(exist_ok=True)

    def custom_node_dirs(self):
        return [str(self.custom)]

    def user_dir(self):
        return str(self.custom.parent / "user")


@pytest.fixture
def fake_loading(monkeypatch):
    def load(booted):
        booted.loads += 1
        booted.packs_loaded = True
        booted.nodes.NODE_CLASS_MAPPINGS.update(dict.fromkeys(booted.installed))
    monkeypatch.setattr(run_workflow, "load_installed_packs", load)


def _api(*types):
    return {str(i + 1): {"class_type": kind, "inputs": {}} for i, kind in enumerate(types)}


def test_custom_node_flags():
    assert _opts().custom_nodes == "auto"
    assert _opts("--all-custom-nodes").custom_nodes == "all"
    assert _opts("--no-custom-nodes").custom_nodes == "none"
    with pytest.raises(SystemExit):
        _opts("--all-custom-nodes", "--no-custom-nodes")


def test_installed_packs_load_only_when_the_workflow_needs_them(tmp_path, fake_loading, capsys):
    booted = _Booted(tmp_path, ["KSampler", "ALCM_Sampler"], ["VHS_VideoCombine"])
    run_workflow.check_node_types(_api("KSampler", "ALCM_Sampler"), booted, "auto", quiet=False)
    assert booted.loads == 0  # core and this pack suffice
    run_workflow.check_node_types(_api("KSampler", "VHS_VideoCombine"), booted, "auto", quiet=False)
    assert booted.loads == 1 and "VHS_VideoCombine" in capsys.readouterr().err
    run_workflow.check_node_types(_api("VHS_VideoCombine"), booted, "auto", quiet=False)
    assert booted.loads == 1  # once per run


def test_no_custom_nodes_refuses_and_names_the_pack(tmp_path, fake_loading):
    booted = _Booted(tmp_path, ["KSampler"], ["VHS_VideoCombine"])
    (booted.custom / "ComfyUI-VideoHelperSuite").mkdir()
    with pytest.raises(run_workflow.RunError) as e:
        run_workflow.check_node_types(_api("KSampler", "VHS_VideoCombine"), booted, "none", quiet=True)
    assert booted.loads == 0 and e.value.status == 1
    assert "node 2 (VHS_VideoCombine): ComfyUI-VideoHelperSuite, https://github.com/Kosinkadink/" in str(e.value)
    assert "not loaded: --no-custom-nodes" in str(e.value)


def test_still_missing_after_loading_is_refused(tmp_path, fake_loading):
    booted = _Booted(tmp_path, ["KSampler"], ["VHS_VideoCombine"])
    with pytest.raises(run_workflow.RunError, match=r"node 3 \(ACN_AdvancedControlNetApply\): "
                                                    r"ComfyUI-Advanced-ControlNet"):
        run_workflow.check_node_types(_api("KSampler", "VHS_VideoCombine", "ACN_AdvancedControlNetApply"), booted,
                                      "auto", quiet=True)
    assert booted.loads == 1


def test_replaced_old_types_are_not_missing(tmp_path, fake_loading):
    """0.33's server replaces old node types (its node-replacement registry) before validation, as /prompt does."""
    booted = _Booted(tmp_path, ["KSampler"], [], replaceable=["SDV_img2vid_Conditioning"])
    run_workflow.check_node_types(_api("SDV_img2vid_Conditioning"), booted, "auto", quiet=True)
    assert booted.loads == 0


def test_the_converter_sees_the_loaded_packs(tmp_path, fake_loading, monkeypatch):
    """The converter step (other AnimateDiff packs' workflows) runs after the installed packs are loaded, with their
    node types available, and before the missing-type check."""
    seen = []

    def convert(workflow, installed, strict):
        seen.append(set(installed))
        return _api("KSampler")
    monkeypatch.setattr(run_workflow, "convert_workflow_step", convert)
    booted = _Booted(tmp_path, ["KSampler"], ["VHS_VideoCombine"])
    assert run_workflow.check_node_types(_api("ADE_UseEvolvedSampling"), booted, "auto", True) == _api("KSampler")
    assert seen == [{"KSampler", "VHS_VideoCombine"}]


# ----------------------------------------------------------------------- other AnimateDiff packs' workflows (issue 19)
def _registry(*extra):
    """Core ComfyUI's and this pack's node types the converter writes, plus the test nodes of the workflows."""
    from tools.convert.targets import Targets
    return [*Targets().definitions, "VAEDecode", "PreviewImage", "CLIPTextEncode", "SaveAnimatedWEBP",
            "ALCMTest_RandomSD15", "ALCMTest_RandomCond", "ALCMTest_RandomVAE", *extra]


@pytest.mark.parametrize("fmt", ["ui", "api"])
def test_ade_workflows_are_converted_in_memory_with_the_report_printed(tmp_path, fake_loading, capsys, fmt):
    from ade_small_workflows import ade_api_prompt, ade_ui_workflow
    from tools.convert import convert_workflow
    workflow = ade_ui_workflow(tiny=True) if fmt == "ui" else ade_api_prompt(tiny=True)
    before = json.loads(json.dumps(workflow))
    booted = _Booted(tmp_path, _registry(), [], replaceable=["ADE_EmptyLatentImageLarge"])
    converted = run_workflow.check_node_types(workflow, booted, "auto", quiet=True)
    assert workflow == before  # the file's workflow is left as it is
    assert not [t for t in needed_node_types(converted) if t.startswith("ADE_")]
    assert {"ALCM_LoadMotionModel", "ALCM_ApplyMotionModel", "EmptyLatentImage"} <= set(needed_node_types(converted))
    err = capsys.readouterr().err
    assert "ADE_AnimateDiffLoaderGen1, ADE_EmptyLatentImageLarge" in err and "not installed here" in err
    expected = convert_workflow(workflow, available=set(booted.nodes.NODE_CLASS_MAPPINGS)).lines
    assert len(expected) >= 2 and all(f"  {line}\n" in err for line in expected)  # every line of the report
    # the big-batch latent too, though 0.33's server could replace it: the UI conversion needs a definition for it
    assert "node 6 (ADE_EmptyLatentImageLarge) converted: became EmptyLatentImage" in err


def test_with_ade_installed_nothing_changes(tmp_path, fake_loading, capsys):
    from ade_small_workflows import ade_api_prompt
    workflow = ade_api_prompt(tiny=True)
    booted = _Booted(tmp_path, _registry(), ["ADE_AnimateDiffLoaderGen1", "ADE_EmptyLatentImageLarge"])
    assert run_workflow.check_node_types(workflow, booted, "auto", quiet=True) is workflow
    assert booted.loads == 1 and capsys.readouterr().err == ""


def test_strict_convert_refuses_what_would_differ(tmp_path, fake_loading, capsys):
    from ade_small_workflows import ade_api_prompt
    legacy = ade_api_prompt(legacy=True)
    booted = _Booted(tmp_path, _registry(), [])
    with pytest.raises(run_workflow.RunError) as e:
        run_workflow.check_node_types(legacy, booted, "auto", quiet=True, strict_convert=True)
    assert e.value.status == 1 and "--strict-convert" in str(e.value)
    assert "node 2 (ADE_AnimateDiffLoaderWithContext) not reproduced: apply_v2_models_properly=False" in str(e.value)
    assert capsys.readouterr().err == ""
    run_workflow.check_node_types(legacy, booted, "auto", quiet=True)  # without the flag: converted, and said so
    assert "  node 2 (ADE_AnimateDiffLoaderWithContext) not reproduced: apply_v2_models_properly=False" in \
        capsys.readouterr().err
    assert _help_mentions("--strict-convert")


def _help_mentions(option: str) -> bool:
    import contextlib
    import io
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        run_workflow.parse_args(["--help"])
    return option in out.getvalue()


def test_muted_ade_nodes_alone_need_nothing_and_broken_graphs_are_refused(tmp_path, fake_loading, capsys):
    """Muted or bypassed ADE nodes alone are left to the UI conversion (kept as the frontend keeps nodes of missing
    types); a graph the converter cannot read is refused (exit 2) with the node named."""
    from ade_small_workflows import ade_api_prompt, ade_ui_workflow
    ui = ade_ui_workflow(tiny=True)
    for node in ui["nodes"]:
        node["mode"] = (2 if node["id"] == 2 else 4) if node["type"].startswith("ADE_") else node["mode"]
    booted = _Booted(tmp_path, _registry(), [])
    assert run_workflow.check_node_types(ui, booted, "auto", quiet=True) is ui
    assert capsys.readouterr().err == ""
    ui["nodes"][[n["id"] for n in ui["nodes"]].index(2)]["mode"] = 0  # one active: the converter takes them all
    converted = run_workflow.check_node_types(ui, booted, "auto", quiet=True)
    assert not [n for n in converted["nodes"] if n["type"].startswith("ADE_")]
    broken = ade_api_prompt(tiny=True)
    broken["2"]["inputs"]["model"] = ["99", 0]
    with pytest.raises(run_workflow.RunError, match=r"cannot be converted.*node 2 \(ADE_AnimateDiffLoaderGen1\): "
                                                    r"input 'model' links to node '99'") as e:
        run_workflow.check_node_types(broken, booted, "auto", quiet=True)
    assert e.value.status == 2


def test_bad_files_stop_before_comfyui_is_looked_up(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(run_workflow, "find_comfyui", lambda path: pytest.fail("looked for ComfyUI"))
    workflow = tmp_path / "w.json"
    workflow.write_text(json.dumps(_api("KSampler")))
    assert run_workflow.run([str(workflow), "--extra-model-paths-config", str(tmp_path / "none.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "other.json").write_text(json.dumps({"nodes": "not a list"}))
    assert run_workflow.run([str(tmp_path / "other.json")]) == 2
    assert "not a ComfyUI workflow" in capsys.readouterr().err
