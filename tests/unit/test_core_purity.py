"""animatelcm_core never imports ComfyUI: checked on the source and on a fresh interpreter."""
import ast
import pathlib
import subprocess
import sys

CORE = pathlib.Path(__file__).resolve().parents[2] / "animatelcm_core"
COMFY_MODULES = {"comfy", "comfy_extras", "comfy_api", "comfy_execution", "folder_paths", "nodes", "server",
                 "execution", "latent_preview", "node_helpers"}


def test_no_comfy_import_in_source():
    offenders = []
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in COMFY_MODULES]
    assert list(CORE.rglob("*.py")) and offenders == []


def test_importing_core_loads_no_comfy_module():
    code = ("import sys, animatelcm_core, animatelcm_core.context, animatelcm_core.i2v_encoder, "
            "animatelcm_core.schedules; print(sorted(m for m in sys.modules if m.split('.')[0] in %r))" % COMFY_MODULES)
    out = subprocess.run([sys.executable, "-c", code], cwd=CORE.parent, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
