"""tools/run_workflow.py started the way a user starts it: a separate Python process, from a shell."""
import json
import os
import shlex
import subprocess
import sys

import pytest

import checkpoint_files

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


def linked_install(comfyui: str, root) -> str:
    """A ComfyUI folder whose custom_nodes/ holds this pack as a symlink (a common install of a pack under
    development), without touching the real ComfyUI: its other entries are links to the real ones."""
    tree = root / "ComfyUI"
    (tree / "custom_nodes").mkdir(parents=True)
    for entry in os.listdir(comfyui):
        if entry != "custom_nodes":
            os.symlink(os.path.join(comfyui, entry), tree / entry)
    os.symlink(PACK_DIR, tree / "custom_nodes" / "comfyui-animatelcm")
    return str(tree / "custom_nodes" / "comfyui-animatelcm")


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
                   "--comfyui", _comfyui(host), "--models", str(models), "--output", str(out), "--cpu"],
                  cwd=PACK_DIR, timeout=300)
    assert result.returncode == 3, result.stderr[-3000:]
    assert MISSING[1] in result.stderr and str(models / MISSING[0]) in result.stderr, result.stderr
    assert "v1-5-pruned-emaonly-fp16.safetensors" not in result.stderr  # present files are not reported
    assert "node 3" in result.stderr and "ALCM_LoadMotionModel" in result.stderr
    assert "[1/" not in result.stderr, "a node ran before the check"
    assert not any(files for _, _, files in os.walk(out))
