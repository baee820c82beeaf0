"""ComfyUI tier: runs against a real ComfyUI checkout (COMFYUI_PATH, or the ComfyUI this pack sits in).

Without one, every test here is skipped with the reason. ComfyUI runs in-process on the CPU.
"""
import os
import sys

import pytest
import torch

import tools.run_workflow  # noqa: F401  (imported before _boot takes this repo off sys.path; helpers use it)
from tools.comfy_boot import boot

PACK_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def find_comfyui() -> str | None:
    candidates = [os.environ.get("COMFYUI_PATH"), os.path.dirname(os.path.dirname(PACK_DIR))]
    for path in candidates:
        if path and os.path.isfile(os.path.join(path, "main.py")) and os.path.isdir(os.path.join(path, "comfy")):
            return os.path.abspath(path)
    return None


COMFYUI = find_comfyui()
SKIP_REASON = ("ComfyUI tier skipped: set COMFYUI_PATH to a ComfyUI checkout (see README, 'Running the ComfyUI tests') "
               "or install this pack inside ComfyUI/custom_nodes/")


REQUIRE_HOST = os.environ.get("ALCM_REQUIRE_HOST") == "1"  # CI: a missing host is a failure, not a skip


def pytest_collection_modifyitems(config, items):
    if COMFYUI is None and REQUIRE_HOST:
        raise pytest.UsageError("ALCM_REQUIRE_HOST=1 but no ComfyUI found: " + SKIP_REASON)
    if COMFYUI is None:
        for item in items:
            if "tests/comfyui" in str(item.fspath).replace(os.sep, "/"):
                item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


def _boot(root) -> object:
    """ComfyUI booted in this process as tools/comfy_boot.py boots the runner, which boots it as main.py does: its
    PromptServer built on an event loop (packs and 0.33's core node replacements register on it; it never serves a
    port), core's extra nodes, this pack. Every folder ComfyUI writes to is under `root` (models first in the search
    order, output, input, temp, user): the tier never writes into the ComfyUI it runs."""
    folders = {name: root / name for name in ("models", "output", "input", "temp", "user")}
    for key in ("checkpoints", "loras", "controlnet", "vae", "animatediff_models", "animatediff_motion_lora"):
        (folders["models"] / key).mkdir(parents=True, exist_ok=True)
    for name in ("output", "input", "temp", "user"):
        folders[name].mkdir(exist_ok=True)
    sys.path.insert(0, COMFYUI)
    import utils.install_util  # noqa: F401  (ComfyUI's utils package, before comfy/ can shadow it)
    import folder_paths
    folder_paths.set_temp_directory(str(folders["temp"]))
    folder_paths.set_user_directory(str(folders["user"]))  # before the server's user manager creates it
    booted = boot(COMFYUI, True, str(folders["output"]), str(folders["input"]), [str(folders["models"])], quiet=True)
    assert sys.modules.get("server") is not None and booted.server is sys.modules["server"].PromptServer.instance
    return booted


@pytest.fixture(scope="session")
def host(tmp_path_factory):
    """The booted ComfyUI: returns a namespace with `nodes`, the pack module and the models folder."""
    if COMFYUI is None:
        pytest.skip(SKIP_REASON)
    from types import SimpleNamespace
    root = tmp_path_factory.mktemp("comfyui_folders")
    nodes = _boot(root).nodes
    models = root / "models"
    import comfy_helpers
    comfy_helpers.register_test_nodes(nodes)
    comfy_helpers.register_vae_node(nodes)
    pack = sys.modules[PACK_DIR.replace(".", "_x_")]
    return SimpleNamespace(nodes=nodes, pack=pack, models=str(models), helpers=comfy_helpers)


@pytest.fixture(scope="module", autouse=True)
def release_models_after_module():
    """After each test module (its own fixtures released first), the models it loaded are unloaded and their memory
    returned: the tier runs ~20 modules of full-size SD1.5 and SDXL files in one process on a 2-core, 24 GB machine."""
    yield
    if "comfy.model_management" in sys.modules:
        import comfy_helpers
        comfy_helpers.free_memory(unload=True)
