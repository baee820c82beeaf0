"""`tools/run_workflow.py --download-missing`, started as a user starts it, against a local HTTPS server on the
loopback interface that serves the random-weight model files.

The shipped AnimateLCM workflow is used with its links pointed at that server, and its file names given a prefix
unique to the test: a user's ComfyUI that already holds the real files under the real names changes nothing, and
the test never writes into it (downloads go to the --models folder, which ComfyUI searches first; the runner runs on a
copied ComfyUI tree, since its server creates ComfyUI's user folder).
"""
import hashlib
import json
import os
import subprocess
import sys
import uuid

import pytest

import checkpoint_files
from https_server import HttpsServer
from runner_trees import comfyui_tree
from tools.workflow_api import WORKFLOWS_DIR, load_json

PACK_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKFLOW = os.path.join(WORKFLOWS_DIR, "animatelcm_t2v.json")
PREFIX = f"alcm-dl-{uuid.uuid4().hex[:8]}-"


def _sha(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(server, {(folder, original name): (served name, sha256)}) for the files of the AnimateLCM workflow."""
    cache = checkpoint_files.ensure_model_files()
    files, names = {}, {}
    for node in load_json(WORKFLOW)["nodes"]:
        for entry in node.get("properties", {}).get("models", []):
            path = os.path.join(cache, entry["directory"], entry["name"])
            files[PREFIX + entry["name"]] = path  # streamed from the file
            names[(entry["directory"], entry["name"])] = (PREFIX + entry["name"], _sha(path))
    assert len(names) == 3  # checkpoint, AnimateLCM LoRA, motion module
    server = HttpsServer(str(tmp_path_factory.mktemp("cert")), files)
    yield server, names
    server.close()


def _workflow(tmp_path, served, edit=None) -> str:
    """The shipped UI workflow with each linked file renamed and its link pointed at the test server."""
    server, names = served
    workflow = load_json(WORKFLOW)
    for node in workflow["nodes"]:
        for entry in node.get("properties", {}).get("models", []):
            new, sha = names[(entry["directory"], entry["name"])]
            node["widgets_values"] = [new if v == entry["name"] else v for v in node["widgets_values"]]
            entry.update(name=new, url=server.url(new), hash=sha)
        if edit:
            edit(node)
    path = tmp_path / "workflow.json"
    path.write_text(json.dumps(workflow))
    return str(path)


def _models(tmp_path):
    models = tmp_path / "models"
    for folder in checkpoint_files.FOLDERS:
        (models / folder).mkdir(parents=True)
    return models


def _run(host, served, workflow, models, *extra, timeout=1500):
    comfyui = comfyui_tree(os.path.dirname(os.path.abspath(host.nodes.__file__)), models.parent)
    env = {k: v for k, v in os.environ.items() if k != "COMFYUI_PATH"}
    env["SSL_CERT_FILE"] = served[0].cafile  # trust the test server's certificate, as a system CA would be
    args = [sys.executable, os.path.join(PACK_DIR, "tools", "run_workflow.py"), workflow, "--comfyui", comfyui,
            "--models", str(models), "--output", str(models.parent / "out"), "--cpu", *extra]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)


def _tree(root) -> dict:
    return {os.path.relpath(os.path.join(d, f), root): os.lstat(os.path.join(d, f)).st_mtime_ns
            for d, _, files in os.walk(root) for f in files}


def test_missing_files_are_fetched_into_their_folders_and_the_workflow_runs(host, served, tmp_path):
    server, names = served
    models = _models(tmp_path)
    checkpoint, _ = names[("checkpoints", checkpoint_files.CHECKPOINT)]
    present = models / "checkpoints" / checkpoint  # an existing file: never requested, never touched
    os.symlink(os.path.join(checkpoint_files.ensure_model_files(), "checkpoints", checkpoint_files.CHECKPOINT),
               present)
    before = (os.readlink(present), os.stat(present).st_mtime_ns)
    requests = len(server.requests)
    result = _run(host, served, _workflow(tmp_path, served), models, "--download-missing", "--frames", "8",
                  "--width", "64", "--height", "64", "--steps", "2", "--seed", "3")
    assert result.returncode == 0, result.stderr[-4000:]
    for (folder, _), (name, sha) in names.items():
        path = models / folder / name
        assert path.is_file() and _sha(str(path)) == sha, path
    assert (os.readlink(present), os.stat(present).st_mtime_ns) == before
    assert sorted(server.requests[requests:]) == sorted(f"/files/{n}" for (f, _), (n, _) in names.items()
                                                        if f != "checkpoints")
    assert not [f for f in _tree(models) if f.endswith(".part")]
    assert "downloading" in result.stderr and str(models / "animatediff_models") in result.stderr
    outputs = result.stdout.split()
    assert len(outputs) == 1 and outputs[0].endswith(".webp") and os.path.isfile(outputs[0])


def test_without_the_flag_the_runner_points_at_it(host, served, tmp_path):
    models = _models(tmp_path)
    result = _run(host, served, _workflow(tmp_path, served), models, timeout=600)
    assert result.returncode == 3, result.stderr[-3000:]
    assert "3 of them can be downloaded from the workflow's own links: add --download-missing" in result.stderr
    assert _tree(models) == {}


@pytest.mark.parametrize("case", ["wrong hash", "dropped connection"])
def test_a_failed_download_leaves_nothing_under_the_real_name(host, served, tmp_path, case):
    def edit(node):
        for entry in node.get("properties", {}).get("models", []):
            if entry["directory"] == "animatediff_models":
                if case == "wrong hash":
                    entry["hash"] = "f" * 64
                else:
                    entry["url"] = entry["url"].replace("/files/", "/drop/")
    models = _models(tmp_path)
    result = _run(host, served, _workflow(tmp_path, served, edit), models, "--download-missing", timeout=600)
    assert result.returncode == 3, result.stderr[-3000:]
    motion, sha = served[1][("animatediff_models", "AnimateLCM_sd15_t2v.ckpt")]
    if case == "wrong hash":
        assert f"expected {'f' * 64}, found {sha}" in result.stderr, result.stderr[-3000:]
    else:
        assert "broke off" in result.stderr, result.stderr[-3000:]
    assert motion in result.stderr
    assert not (models / "animatediff_models" / motion).exists()
    assert not [f for f in _tree(models) if f.endswith(".part")]
    assert "[1/" not in result.stderr  # no node ran


def test_files_without_a_usable_link_stop_the_run_before_any_download(host, served, tmp_path):
    """A file with no link, a link with a hostile name, a link over plain http, a link to another folder: all
    named in one error, before a single request (nothing written anywhere)."""
    server, names = served

    def edit(node):
        for entry in node.get("properties", {}).get("models", []):
            if entry["directory"] == "loras":
                entry["url"] = entry["url"].replace("https://", "http://")
            elif entry["directory"] == "animatediff_models":
                entry["directory"] = "../../outside"  # no longer the folder the node loads from
        if node["type"] == "CheckpointLoaderSimple":
            node["widgets_values"][0] = node["properties"]["models"][0]["name"] = "../../escape.safetensors"
    models = _models(tmp_path)
    requests = len(server.requests)
    result = _run(host, served, _workflow(tmp_path, served, edit), models, "--download-missing", timeout=600)
    assert result.returncode == 3, result.stderr[-3000:]
    err = result.stderr
    assert "3 missing file(s) cannot be downloaded (nothing was)" in err, err[-3000:]
    assert "refused file name '../../escape.safetensors'" in err
    assert "only https:// URLs are allowed" in err
    motion = names[("animatediff_models", "AnimateLCM_sd15_t2v.ckpt")][0]
    assert f"{motion}  (node 3 ALCM_LoadMotionModel.model_name): the workflow has no download link for it in the " \
           "'animatediff_models' folder" in err
    assert len(server.requests) == requests and _tree(tmp_path / "models") == {}
    assert not (tmp_path / "escape.safetensors").exists() and not (tmp_path.parent / "escape.safetensors").exists()


def test_api_workflows_carry_no_links(host, served, tmp_path):
    models = _models(tmp_path)
    api = os.path.join(WORKFLOWS_DIR, "api", "animatelcm_t2v.json")
    prompt = load_json(api)
    for node in prompt.values():  # names no ComfyUI holds
        for key in ("ckpt_name", "lora_name", "model_name"):
            if key in node["inputs"]:
                node["inputs"][key] = PREFIX + node["inputs"][key]
    path = tmp_path / "api.json"
    path.write_text(json.dumps(prompt))
    result = _run(host, served, str(path), models, "--download-missing", timeout=600)
    assert result.returncode == 3 and "API-format workflow, which carries no download links" in result.stderr
    assert _tree(models) == {}
