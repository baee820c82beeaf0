"""python -m tools.convert_workflow IN -o OUT [--strict]: exit 0 converted, 1 refused under --strict, 2 not a
workflow; the report on stderr; OUT written atomically, never over IN; IN never modified."""
import json
import os
import subprocess
import sys

import pytest

from ade_workflows import samples
from tools import convert_workflow as cli

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write(path, data):
    text = data if isinstance(data, str) else json.dumps(data)
    path.write_text(text, encoding="utf-8")
    return path.read_bytes()


def test_converts_writes_and_reports(tmp_path, capsys):
    src, out = tmp_path / "ade.json", tmp_path / "out.json"
    before = write(src, samples.gen2_static())
    assert cli.main([str(src), "-o", str(out)]) == 0
    assert src.read_bytes() == before
    converted = json.loads(out.read_text(encoding="utf-8"))
    assert converted["10"]["class_type"] == "ALCM_ApplyContextOptions"
    err = capsys.readouterr().err
    assert "node 10 (ADE_UseEvolvedSampling) converted: became ALCM_ApplyContextOptions (node 10)" in err
    assert f"wrote {out}" in err
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".convert-")] == []


def test_strict_refuses_and_writes_nothing(tmp_path, capsys):
    wf = samples.gen2_static()
    wf["12"]["inputs"]["per_block"] = ["50", 0]  # per-block motion settings: not reproduced here
    wf["50"] = {"class_type": "ADE_PerBlockHighLevel", "inputs": {}}
    src, out = tmp_path / "ade.json", tmp_path / "out.json"
    write(src, wf)
    assert cli.main([str(src), "-o", str(out), "--strict"]) == 1
    assert not out.exists()
    assert "refused (strict)" in capsys.readouterr().err
    assert cli.main([str(src), "-o", str(out)]) == 0 and out.exists()


@pytest.mark.parametrize("text", ["{not json", "[1, 2, 3]", '{"hello": "world"}', "\ufeff\x00\x01"])
def test_not_a_workflow_exits_2(tmp_path, capsys, text):
    src, out = tmp_path / "in.json", tmp_path / "out.json"
    write(src, text)
    assert cli.main([str(src), "-o", str(out)]) == 2
    assert not out.exists()
    assert "error:" in capsys.readouterr().err


def test_malformed_ade_node_exits_2_naming_it(tmp_path, capsys):
    wf = samples.gen2_static()
    wf["13"]["inputs"]["context_overlap"] = 8  # = context_length
    src, out = tmp_path / "in.json", tmp_path / "out.json"
    write(src, wf)
    assert cli.main([str(src), "-o", str(out)]) == 2
    assert "node 13 (ADE_StandardStaticContextOptions)" in capsys.readouterr().err and not out.exists()


def test_never_writes_over_its_input(tmp_path, capsys):
    src = tmp_path / "ade.json"
    before = write(src, samples.gen2_static())
    link = tmp_path / "link.json"
    link.symlink_to(src)
    for target in (src, link, tmp_path / "." / "ade.json"):
        assert cli.main([str(src), "-o", str(target)]) == 2
        assert src.read_bytes() == before
    assert "the input file" in capsys.readouterr().err


def test_nothing_to_convert_writes_a_copy(tmp_path, capsys):
    src, out = tmp_path / "plain.json", tmp_path / "out.json"
    wf = {"1": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}}}
    write(src, wf)
    assert cli.main([str(src), "-o", str(out)]) == 0
    assert json.loads(out.read_text()) == wf and "nothing to convert" in capsys.readouterr().err


def test_failed_write_leaves_no_output_and_no_temp_file(tmp_path, monkeypatch):
    src, out = tmp_path / "ade.json", tmp_path / "out.json"
    write(src, samples.gen2_static())
    write(out, "previous")

    def broken(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(cli.json, "dump", broken)
    with pytest.raises(OSError):
        cli.main([str(src), "-o", str(out)])
    assert out.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] and not [p for p in tmp_path.iterdir() if ".convert-" in p.name]


def test_runs_as_a_module(tmp_path):
    src, out = tmp_path / "ade.json", tmp_path / "out.json"
    write(src, samples.legacy_loader_uniform())
    proc = subprocess.run([sys.executable, "-m", "tools.convert_workflow", str(src), "-o", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "ADE_AnimateDiffLoaderWithContext" in proc.stderr and out.exists()
