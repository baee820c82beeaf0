"""ComfyUI tier: runs against a real ComfyUI checkout (COMFYUI_PATH, or the ComfyUI this pack sits in).

Without one, every test here is skipped with the reason. ComfyUI runs in-process on the CPU.
"""
import asyncio
import os
import sys

import pytest
import torch

import tools.run_workflow  # noqa: F401  (imported before _boot takes this repo off sys.path; helpers use it)

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


def _boot(models_dir: str, output_dir: str):
    # ComfyUI's own top-level modules (nodes, utils, ...) must win over this repo's folders of the same name.
    sys.path[:] = [COMFYUI] + [p for p in sys.path if os.path.abspath(p or ".") != PACK_DIR]
    for name in [m for m in sys.modules if m == "nodes" or m.startswith("nodes.")]:
        del sys.modules[name]
    import utils.install_util  # noqa: F401  (ComfyUI's utils package, before comfy/ shadows it)
    from comfy.cli_args import args
    args.cpu = True
    args.disable_all_custom_nodes = False
    import folder_paths
    folder_paths.set_output_directory(output_dir)
    for key in ("checkpoints", "loras", "controlnet", "vae", "animatediff_models", "animatediff_motion_lora"):
        os.makedirs(os.path.join(models_dir, key), exist_ok=True)
        folder_paths.add_model_folder_path(key, os.path.join(models_dir, key), is_default=True)
    import nodes
    asyncio.run(nodes.init_extra_nodes(init_custom_nodes=False, init_api_nodes=False))
    assert asyncio.run(nodes.load_custom_node(PACK_DIR)), "the pack failed to load"
    return nodes


@pytest.fixture(scope="session")
def host(tmp_path_factory):
    """The booted ComfyUI: returns a namespace with `nodes`, the pack module and the models folder."""
    if COMFYUI is None:
        pytest.skip(SKIP_REASON)
    from types import SimpleNamespace
    models = tmp_path_factory.mktemp("models")
    nodes = _boot(str(models), str(tmp_path_factory.mktemp("output")))
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
