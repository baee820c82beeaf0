"""tools/run_workflow.py started the way a user starts it: a separate Python process, from a shell."""
import json
import os
import shlex
import subprocess
import sys

import pytest

import checkpoint_files
from runner_trees import comfyui_tree, linked_install

PACK_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNNER = os.path.join(PACK_DIR, "tools", "run_workflow.py")
PROMPT = "a lighthouse on a rocky coast at night, waves crashing, moonlight"
MISSING = ("animatediff_models", "AnimateLCM_sd15_t2v.ckpt")


def _comfyui(host) -> str:
    return os.path.dirname(os.path.abspath(host.nodes.__file__))


def _run(args, cwd, timeout=1500):
    env = {k: v for k, v in os.environ.items() if k != "COMFYUI_PATH"}  # the command line says where ComfyUI is
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_help_lists_the_overrides(tmp_path):
    result = _run([RUNNER, "--help"], cwd=tmp_path, timeout=60)
    assert result.returncode == 0
    for option in ("--comfyui", "--models", "--output", "--seed", "--prompt", "--frames", "--cpu"):
        assert option in result.stdout


def test_renders_animatelcm_workflow(host, tmp_path):
    """The UI-format AnimateLCM workflow, run from inside the pack linked into custom_nodes/ (ComfyUI found from
    there: no --comfyui, no COMFYUI_PATH), with overrides: exit 0 and an animated WEBP with the requested frames,
    size, prompt and seed (read back from the metadata ComfyUI embeds in the file)."""
    models = checkpoint_files.ensure_model_files()
    out = tmp_path / "renders"
    pack = linked_install(_comfyui(host), tmp_path)
    args = ["tools/run_workflow.py", "workflows/animatelcm_t2v.json", "--models", models, "--output", str(out),
            "--cpu", "--seed", "1234", "--prompt", PROMPT, "--frames", "8", "--width", "64", "--height", "64",
            "--steps", "2"]
    shell = f"cd {shlex.quote(pack)} && exec {shlex.quote(sys.executable)} " + " ".join(map(shlex.quote, args))
    env = {k: v for k, v in os.environ.items() if k not in ("COMFYUI_PATH", "PWD")}
    result = subprocess.run(["bash", "-c", shell], env=env, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stderr[-4000:]
    assert not import_failures(result.stderr), result.stderr[-4000:]
    files = result.stdout.split()
    assert len(files) == 1 and files[0].endswith(".webp") and os.path.isfile(files[0]), result.stdout
    assert os.path.commonpath([files[0], str(out)]) == str(out)
    assert "ALCM_Sampler" in result.stderr and "steps" in result.stderr  # node-by-node progress, step bar

    from PIL import Image
    with Image.open(files[0]) as im:
        assert im.n_frames == 8 and im.size == (64, 64)
        exif = im.getexif()
    executed = json.loads(next(v for v in exif.values() if str(v).startswith("prompt:"))[len("prompt:"):])
    sampler = next(n for n in executed.values() if n["class_type"] == "ALCM_Sampler")
    assert sampler["inputs"]["seed"] == 1234 and sampler["inputs"]["steps"] == 2
    assert executed[sampler["inputs"]["positive"][0]]["inputs"]["text"] == PROMPT
    negative = executed[sampler["inputs"]["negative"][0]]["inputs"]["text"]
    assert negative != PROMPT and "blurry" in negative
    workflow = json.loads(next(v for v in exif.values() if str(v).startswith("workflow:"))[len("workflow:"):])
    assert workflow["version"] == 0.4  # the UI workflow rides along: the file opens in ComfyUI


def test_missing_model_stops_before_any_work(host, tmp_path):
    """`python -m tools.run_workflow` on the API twin with the motion module absent: non-zero exit, and the message
    names the file and the folders searched; no node ran and nothing was written."""
    import folder_paths
    if any(os.path.isfile(os.path.join(d, MISSING[1])) for d in folder_paths.get_folder_paths(MISSING[0])
           if os.path.commonpath([d, _comfyui(host)]) == _comfyui(host)):
        pytest.skip(f"{MISSING[1]} is installed in this ComfyUI, so it cannot be missing")
    cache = checkpoint_files.ensure_model_files()
    models = tmp_path / "models"
    for folder, name in checkpoint_files.FILES:
        os.makedirs(models / folder, exist_ok=True)
        if (folder, name) != MISSING:
            os.symlink(os.path.join(cache, folder, name), models / folder / name)
    out = tmp_path / "out"
    result = _run(["-m", "tools.run_workflow", os.path.join("workflows", "api", "animatelcm_t2v.json"),
                   "--comfyui", comfyui_tree(_comfyui(host), tmp_path), "--models", str(models), "--output", str(out),
                   "--cpu"],
                  cwd=PACK_DIR, timeout=300)
    assert result.returncode == 3, result.stderr[-3000:]
    assert MISSING[1] in result.stderr and str(models / MISSING[0]) in result.stderr, result.stderr
    assert "v1-5-pruned-emaonly-fp16.safetensors" not in result.stderr  # present files are not reported
    assert "node 3" in result.stderr and "ALCM_LoadMotionModel" in result.stderr
    assert "[1/" not in result.stderr, "a node ran before the check"
    assert not any(files for _, _, files in os.walk(out))


# ------------------------------------------------------------------------------------- packs, server, messages
FAILURE_MARKS = ("IMPORT FAILED", "Cannot import", "Error while calling comfy_entrypoint", "Failed to execute startup")


def import_failures(log: str) -> list[str]:
    """Lines of a runner's log where ComfyUI reports a node module (core or pack) that did not load."""
    return [line for line in log.splitlines() if any(mark in line for mark in FAILURE_MARKS)]


SERVER_PACK = '''"""Test pack: needs ComfyUI's server at import (a route, the prompt queue), as VideoHelperSuite does, and
locates ComfyUI through the running script, as FizzNodes does."""
import os

import __main__
import server

HERE = os.path.dirname(os.path.abspath(__file__))
if not os.path.isfile(os.path.join(HERE, "prestartup.done")):
    raise RuntimeError("prestartup_script.py did not run before the pack was imported")
with open(os.path.join(HERE, "main_file.txt"), "w") as f:
    f.write(os.path.realpath(__main__.__file__))
QUEUE = server.PromptServer.instance.prompt_queue


@server.PromptServer.instance.routes.get("/alcm_test/ping")
async def ping(request):
    return server.web.json_response({"ok": True})


class Requeue:
    CATEGORY = "testing"
    FUNCTION = "run"
    RETURN_TYPES = ("IMAGE",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",), "pass_number": ("INT", {"default": 0})}}

    def run(self, image, pass_number):
        instance = server.PromptServer.instance
        instance.send_sync("alcm_test", {"pass": pass_number})
        if pass_number == 0:  # queue the running prompt once more, as VideoHelperSuite's batch manager does
            item = list(next(iter(QUEUE.currently_running.values())))
            prompt = {k: dict(v, inputs=dict(v["inputs"])) for k, v in item[2].items()}
            for node in prompt.values():
                if node["class_type"] == "ALCMTest_Requeue":
                    node["inputs"]["pass_number"] = 1
            item[:3] = [-instance.number, "requeued", prompt]
            instance.number += 1
            QUEUE.put(tuple(item))
        return (image * 0 + pass_number,)


NODE_CLASS_MAPPINGS = {"ALCMTest_Requeue": Requeue}
'''
PRESTARTUP = '''import os
open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "prestartup.done"), "w").close()
'''


def test_loads_installed_packs_that_need_the_server(host, tmp_path):
    """Default loading: the workflow names a type neither core nor this pack has, so the installed packs load as the
    web UI loads them: the prestartup script first, then a pack that reads `PromptServer.instance` and registers a
    route at import and requeues the running prompt (run until the queue is empty: two passes, two images); core's
    GetImageSize reports through the server. No node module of core or pack fails to import. Packs that locate
    ComfyUI through the running script see ComfyUI's main.py, as under ComfyUI's own server."""
    tree = comfyui_tree(_comfyui(host), tmp_path)
    pack = os.path.join(tree, "custom_nodes", "alcm_test_serverpack")
    os.makedirs(pack)
    for name, text in (("__init__.py", SERVER_PACK), ("prestartup_script.py", PRESTARTUP)):
        with open(os.path.join(pack, name), "w") as f:
            f.write(text)
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 8, "batch_size": 1, "color": 0}},
              "2": {"class_type": "GetImageSize", "inputs": {"image": ["1", 0]}},
              "3": {"class_type": "EmptyImage", "inputs": {"width": ["2", 0], "height": ["2", 1], "batch_size": 1,
                                                           "color": 255}},
              "4": {"class_type": "ALCMTest_Requeue", "inputs": {"image": ["3", 0], "pass_number": 0}},
              "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "server_pack"}}}
    workflow = tmp_path / "server_pack.json"
    workflow.write_text(json.dumps(prompt))
    result = _run([RUNNER, str(workflow), "--comfyui", tree, "--output", str(tmp_path / "out"), "--cpu", "-v"],
                  cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert import_failures(result.stderr) == [], result.stderr[-4000:]
    assert "loading the packs installed in ComfyUI's custom_nodes folders: the workflow uses ALCMTest_Requeue" \
        in result.stderr
    assert "node 2: GetImageSize" in result.stderr
    with open(os.path.join(pack, "main_file.txt")) as f:
        assert f.read() == os.path.realpath(os.path.join(tree, "main.py"))
    files = result.stdout.split()
    assert len(files) == 2 and all(os.path.isfile(f) for f in files), result.stdout

    from PIL import Image
    with Image.open(files[0]) as first, Image.open(files[1]) as second:
        assert first.size == second.size == (16, 8)
        assert first.getextrema() == ((0, 0),) * 3 and second.getextrema() == ((255, 255),) * 3  # passes 0 and 1


def _ui(*nodes) -> dict:
    return {"version": 0.4, "links": [], "nodes": [{"id": node_id, "type": kind, "mode": mode, "inputs": [],
                                                    "outputs": [], "widgets_values": []} for node_id, kind, mode in nodes]}


def test_missing_node_types_name_their_packs(host, tmp_path):
    """Node types that are not installed: each is reported with its nodes and the pack that provides it (built-in
    table, ComfyUI-Manager's cached node map), installed-but-broken and disabled packs said so; muted nodes and
    notes need nothing; where ComfyUI has node replacements (0.33), a replaced old type is not missing."""
    comfyui = _comfyui(host)
    tree = comfyui_tree(comfyui, tmp_path)
    broken = os.path.join(tree, "custom_nodes", "ComfyUI-VideoHelperSuite")
    os.makedirs(broken)
    with open(os.path.join(broken, "__init__.py"), "w") as f:
        f.write("raise ImportError('broken on purpose by the test')\n")
    disabled = os.path.join(tree, "custom_nodes", ".disabled", "comfyui-kjnodes@1_5_0")
    os.makedirs(disabled)
    cache = os.path.join(tree, "user", "default", "ComfyUI-Manager", "cache")
    os.makedirs(cache)
    with open(os.path.join(cache, "1514988643_extension-node-map.json"), "w") as f:
        json.dump({"https://github.com/alcm-test/mystery-pack": [["ALCMTest_Mystery"], {"title_aux": "Mystery"}]}, f)
    workflow = tmp_path / "missing.json"
    workflow.write_text(json.dumps(_ui((3, "ALCMTest_Mystery", 0), (4, "SDV_img2vid_Conditioning", 0),
                                       (5, "GetImageSizeAndCount", 0), (6, "Note", 0), (7, "VHS_VideoCombine", 0),
                                       (8, "ADE_UseEvolvedSampling", 2), (9, "VHS_VideoCombine", 0))))
    result = _run([RUNNER, str(workflow), "--comfyui", tree, "--output", str(tmp_path / "out"), "--cpu"],
                  cwd=tmp_path, timeout=600)
    assert result.returncode == 1, result.stderr[-4000:]
    err = result.stderr
    assert "  - node 3 (ALCMTest_Mystery): Mystery, https://github.com/alcm-test/mystery-pack\n" in err
    assert (f"  - node 5 (GetImageSizeAndCount): ComfyUI-KJNodes, https://github.com/kijai/ComfyUI-KJNodes "
            f"(installed but disabled: {disabled})\n") in err
    assert ("  - nodes 7, 9 (VHS_VideoCombine): ComfyUI-VideoHelperSuite, https://github.com/Kosinkadink/"
            f"ComfyUI-VideoHelperSuite (installed in {broken}, but it failed to import: its error is in the log "
            "above)\n") in err
    assert "broken on purpose by the test" in err and "1 of them failed to import" in err
    assert "ADE_UseEvolvedSampling" not in err and "(Note)" not in err
    if os.path.isfile(os.path.join(comfyui, "comfy_extras", "nodes_replacements.py")):
        assert "SDV_img2vid_Conditioning" not in err  # replaced by SVD_img2vid_Conditioning, as /prompt would
    else:
        assert "  - node 4 (SDV_img2vid_Conditioning): no pack known to provide it" in err
    assert [line for line in import_failures(err) if "ComfyUI-VideoHelperSuite" not in line] == []
