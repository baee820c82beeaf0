"""The runner runs workflows of the leading AnimateDiff pack (ComfyUI-AnimateDiff-Evolved, "ADE") as they are, on a
ComfyUI without ADE (issue 19): converted in memory, the conversion report printed, rendered, the video read back.

UI and API format, started as a user starts the runner, on a copy of the host's ComfyUI tree (tests/fixtures/
runner_trees.py); the ADE graph of tests/fixtures/ade_small_workflows.py with the tier's reduced-width random model,
conditioning and VAE (a test pack found through --extra-model-paths-config) and a reduced-width random v2 motion
module: 8x8 latents, 4 / 3 frames, 2 / 1 steps."""
import json
import os
import subprocess
import sys

import pytest

from ade_small_workflows import ade_api_prompt, ade_ui_workflow
from runner_trees import comfyui_tree, random_nodes_config

PACK_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNNER = os.path.join(PACK_DIR, "tools", "run_workflow.py")
MOTION = "alcm_ade_v2_tiny.safetensors"


def _exif_json(path: str, key: str) -> dict:
    from PIL import Image
    with Image.open(path) as im:
        exif = im.getexif()
    return json.loads(next(v for v in exif.values() if str(v).startswith(key + ":"))[len(key) + 1:])


@pytest.mark.parametrize("fmt, frames", [("ui", 4), ("api", 3)])
def test_an_ade_workflow_runs_converted_with_the_report_printed(host, tmp_path, fmt, frames):
    from tools.convert import convert_workflow
    workflow = (ade_ui_workflow(frames, MOTION, tiny=True, save="ade_ui") if fmt == "ui" else
                ade_api_prompt(frames=frames, motion=MOTION, tiny=True, save="ade_api"))
    path = tmp_path / f"ade_{fmt}.json"
    path.write_text(json.dumps(workflow))
    models, out = tmp_path / "models", tmp_path / "out"
    (models / "animatediff_models").mkdir(parents=True)
    host.helpers.write_motion_module(str(models), "v2", name=MOTION)
    result = subprocess.run(
        [sys.executable, RUNNER, str(path), "--comfyui", comfyui_tree(os.path.dirname(host.nodes.__file__), tmp_path),
         "--models", str(models), "--output", str(out), "--extra-model-paths-config", random_nodes_config(tmp_path),
         "--cpu"], cwd=tmp_path, env={k: v for k, v in os.environ.items() if k != "COMFYUI_PATH"},
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-6000:]
    err = result.stderr
    assert "the workflow uses ADE_AnimateDiffLoaderGen1, ADE_EmptyLatentImageLarge" in err
    assert "which are not installed here: converted to this pack's nodes for this run" in err
    report = convert_workflow(workflow, available=set(host.nodes.NODE_CLASS_MAPPINGS)).lines
    assert any(line.startswith("node 2 (ADE_AnimateDiffLoaderGen1) converted: became ALCM_LoadMotionModel")
               for line in report) and len(report) >= 2
    assert [line for line in report if f"  {line}\n" not in err] == []  # every line of the report
    assert "[1/" in err and "ALCM_ApplyMotionModel" in err  # then rendered, node by node

    files = result.stdout.split()
    assert len(files) == 1 and files[0].endswith(".webp") and os.path.commonpath([files[0], str(out)]) == str(out)
    from PIL import Image
    with Image.open(files[0]) as im:
        assert im.n_frames == frames and im.size == (64, 64)
    executed = _exif_json(files[0], "prompt")
    kinds = {n["class_type"] for n in executed.values()}
    assert {"ALCM_LoadMotionModel", "ALCM_ApplyMotionModel", "KSampler"} <= kinds
    assert not [k for k in kinds if k.startswith("ADE_")]
    if fmt == "ui":  # the converted workflow rides along: the file opens without ADE
        assert not [n for n in _exif_json(files[0], "workflow")["nodes"] if n["type"].startswith("ADE_")]
