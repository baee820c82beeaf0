"""tools/ui_graph against prompts the real frontends returned: tests/fixtures/ui_workflows/frontend/<version>.json
holds, for frontends 1.27.10 (ComfyUI 0.3.64), 1.48.7 and 1.58.1 (0.33.0), `app.graphToPrompt()` of every test
workflow in that folder and the /object_info definitions of the node types they use, recorded from the running
frontends (tests/packs/test_frontend_prompt.py checks the same against live frontends)."""
import glob
import json
import os
from datetime import datetime

import pytest

from tools.ui_graph import convert

HERE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "ui_workflows")
WORKFLOWS = {os.path.splitext(os.path.basename(p))[0]: p for p in sorted(glob.glob(os.path.join(HERE, "*.json")))}
RECORDED = sorted(glob.glob(os.path.join(HERE, "frontend", "*.json")))


def _load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


SNAPSHOTS = {os.path.splitext(os.path.basename(p))[0]: _load(p) for p in RECORDED}


def test_every_workflow_is_recorded_on_every_frontend():
    assert set(SNAPSHOTS) == {"1.27.10", "1.48.7", "1.58.1"}
    assert len(WORKFLOWS) >= 12
    for snapshot in SNAPSHOTS.values():
        assert set(snapshot["prompts"]) == set(WORKFLOWS)


@pytest.mark.parametrize("version", sorted(SNAPSHOTS))
@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_conversion_equals_the_frontends_prompt(version, name):
    snapshot = SNAPSHOTS[version]  # %date:...% in file names: the day of the recording
    now = datetime.fromisoformat(snapshot["recorded_at"])
    prompt = convert(_load(WORKFLOWS[name]), snapshot["definitions"].get, version, now=now).prompt
    ours = {k: {"class_type": v["class_type"], "title": v.get("_meta", {}).get("title"), "inputs": v["inputs"]}
            for k, v in prompt.items()}
    assert ours == snapshot["prompts"][name]


def test_the_frontends_differ_where_the_rules_changed():
    """The recorded prompts themselves show the release differences the conversion follows."""
    bypassed = {v: SNAPSHOTS[v]["prompts"]["08_subgraph_promoted_widgets"] for v in SNAPSHOTS}
    assert "12:1" in bypassed["1.27.10"] and not any(k.startswith("12:") for k in bypassed["1.48.7"])
    muted = {v: SNAPSHOTS[v]["prompts"]["07_bypassed_and_muted"]["5"]["inputs"] for v in SNAPSHOTS}
    assert "seed" not in muted["1.27.10"] and muted["1.48.7"]["seed"] == muted["1.58.1"]["seed"] == 3
    proxy = {v: SNAPSHOTS[v]["prompts"]["13_legacy_proxy_widgets"] for v in SNAPSHOTS}
    assert proxy["1.27.10"]["10:1"]["inputs"]["cfg"] == 7.0 and proxy["1.48.7"]["10:11"]["inputs"]["cfg"] == 5.5
