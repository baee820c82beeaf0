"""Start ComfyUI inside the runner's process as its main.py starts it, minus serving a port.

main.py, before it loads custom nodes (both 0.3.64 and 0.33.0): model and input/output folders; each pack's
`prestartup_script.py`; an asyncio event loop and `server.PromptServer(loop)` (packs read `PromptServer.instance`
at import; 0.33's core node replacements register on it); ComfyUI's functions saved around the pack imports
(`hook_breaker_ac10a0`); then `nodes.init_extra_nodes`: core's extra nodes and every pack in the custom_nodes
folders. The runner does the same, in two steps: core and this pack first, the installed packs when the workflow
needs them (`load_installed_packs`); `nodes/host.py` holds the release differences. The runner stands in for main.py
in one more way (`stand_in_for_main`): packs that locate ComfyUI through the running script (`__main__.__file__`:
FizzNodes copies its web scripts to `<that folder>/web/extensions/FizzleDorf`) find ComfyUI's main.py.
"""
import asyncio
import importlib.util
import logging
import os
import sys
import time
from dataclasses import dataclass, field

from tools.errors import EXIT_USAGE, RunError

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# --models DIR adds DIR/<folder> for these folders (and for the optional ones when DIR has them)
MAIN_MODEL_FOLDERS = ("checkpoints", "loras", "controlnet", "vae", "animatediff_models", "animatediff_motion_lora")
OPTIONAL_MODEL_FOLDERS = ("clip_vision", "embeddings", "upscale_models", "text_encoders", "diffusion_models",
                          "ipadapter")


@dataclass
class Booted:
    """A ComfyUI started in this process."""
    comfyui: str
    nodes: object  # ComfyUI's nodes module (NODE_CLASS_MAPPINGS, load_custom_node)
    server: object  # tools.runner_server: ComfyUI's PromptServer with the runner's printer
    loop: asyncio.AbstractEventLoop
    host: object  # nodes/host.py
    core_types: frozenset  # node types before any custom node pack
    own_types: frozenset = frozenset()  # core's and this pack's: other packs (another copy of this one) keep off them
    pack_dirs: set = field(default_factory=set)  # real paths of this pack (never loaded twice)
    packs_loaded: bool = False
    failed_packs: set = field(default_factory=set)  # real paths of packs that failed to import
    pack_count: int = 0

    def custom_node_dirs(self) -> list[str]:
        import folder_paths
        return list(folder_paths.get_folder_paths("custom_nodes"))

    def user_dir(self) -> str:
        import folder_paths
        return folder_paths.get_user_directory()


def host_features():
    """nodes/host.py, the pack's one module of ComfyUI release differences, loaded by path (the pack's `nodes`
    package cannot be imported by name: ComfyUI's own nodes.py holds that name)."""
    name = "animatelcm_host_features"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, os.path.join(PACK_DIR, "nodes", "host.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]


def stand_in_for_main(comfyui: str) -> None:
    """`__main__.__file__` is ComfyUI's main.py for the rest of the run, as under ComfyUI's own server (else the
    packs that write next to it would write into this pack's tools/ folder)."""
    main = sys.modules.get("__main__")
    if main is not None:
        main.__file__ = os.path.join(comfyui, "main.py")


def _import_path(comfyui: str):
    """ComfyUI's top-level modules (nodes, utils, ...) must win over this pack's folders of the same name."""
    ours = {PACK_DIR, os.path.join(PACK_DIR, "tools")}
    sys.path[:] = [comfyui] + [p for p in sys.path if os.path.abspath(p or os.getcwd()) not in ours]
    for name in [m for m in sys.modules if m == "nodes" or m.startswith("nodes.") or m == "utils"]:
        del sys.modules[name]


def _folders(comfyui: str, output_dir: str, input_dir: str | None, models: list[str], configs: list[str]):
    """ComfyUI's folders as main.py sets them: its extra_model_paths.yaml and --extra-model-paths-config files
    (model folders, and custom_nodes folders), then --models, --output, --input."""
    import folder_paths
    import utils.extra_config
    default_yaml = os.path.join(comfyui, "extra_model_paths.yaml")
    for path in ([default_yaml] if os.path.isfile(default_yaml) else []) + configs:
        try:
            utils.extra_config.load_extra_path_config(path)
        except Exception as e:  # noqa: BLE001  (YAML errors, a wrong layout: the file is named, nothing loaded yet)
            raise RunError(f"cannot read the model paths file {path}: {type(e).__name__}: {e} (expected ComfyUI's "
                           "extra_model_paths.yaml format: name: {base_path: DIR, <folder>: SUBDIR})", EXIT_USAGE)
    for root in models:
        for key in MAIN_MODEL_FOLDERS + OPTIONAL_MODEL_FOLDERS:
            path = os.path.join(root, key)
            if key in MAIN_MODEL_FOLDERS or os.path.isdir(path):
                folder_paths.add_model_folder_path(key, path, is_default=True)
    folder_paths.set_output_directory(output_dir)
    if input_dir:
        folder_paths.set_input_directory(input_dir)


def boot(comfyui: str, cpu: bool, output_dir: str, input_dir: str | None, models: list[str], quiet: bool,
         configs: list[str] = ()) -> Booted:
    """ComfyUI from `comfyui` with its core nodes, its server (not serving) and this pack."""
    _import_path(comfyui)
    import utils.install_util  # noqa: F401  (ComfyUI's utils package, before comfy/ can shadow it)
    import torch
    from comfy.cli_args import args
    args.cpu = cpu or not torch.cuda.is_available()
    args.disable_all_custom_nodes = False
    if args.front_end_root is None and importlib.util.find_spec("comfyui_frontend_package") is None:
        args.front_end_root = comfyui  # nothing is served; main.py would exit without the frontend package
    _folders(comfyui, output_dir, input_dir, models, list(configs))
    host = host_features()
    host.init_mime_types()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    from tools.runner_server import new_server
    server = new_server(loop, quiet)
    import nodes
    with host.custom_node_import():
        loop.run_until_complete(nodes.init_extra_nodes(init_custom_nodes=False, init_api_nodes=False))
    booted = Booted(comfyui, nodes, server, loop, host, frozenset(nodes.NODE_CLASS_MAPPINGS),
                    {os.path.realpath(PACK_DIR)})
    with host.custom_node_import():
        if not loop.run_until_complete(nodes.load_custom_node(PACK_DIR, booted.core_types)):
            raise RunError(f"this pack ({PACK_DIR}) failed to load into ComfyUI: see the log above")
    booted.own_types = frozenset(nodes.NODE_CLASS_MAPPINGS)
    return booted


# -------------------------------------------------------------------------------------------- installed packs
def pack_candidates(booted: Booted) -> list[str]:
    """The entries of the custom_nodes folders that ComfyUI loads as packs, in its order (folders and .py files;
    not `.disabled`, not `__pycache__`), without this pack."""
    found = []
    for root in booted.custom_node_dirs():
        try:
            entries = os.listdir(os.path.realpath(root))
        except OSError:
            continue
        for entry in entries:
            path = os.path.join(root, entry)
            if entry == "__pycache__" or entry.endswith(".disabled"):
                continue
            if os.path.isfile(path) and os.path.splitext(path)[1] != ".py":
                continue
            if os.path.realpath(path) not in booted.pack_dirs:
                found.append(path)
    return found


def run_prestartup_scripts(candidates: list[str]) -> None:
    """Each pack's `prestartup_script.py`, as main.py runs them before anything else (a failure is logged)."""
    for path in candidates:
        script = os.path.join(path, "prestartup_script.py")
        if not os.path.isfile(script):
            continue
        try:
            spec = importlib.util.spec_from_file_location(os.path.splitext(script)[0], script)
            spec.loader.exec_module(importlib.util.module_from_spec(spec))
        except Exception as e:  # noqa: BLE001  (as main.py: a pack's failing script does not stop ComfyUI)
            logging.error("Failed to execute startup-script: %s / %s", script, e)


def load_installed_packs(booted: Booted) -> None:
    """Every pack in the custom_nodes folders, as main.py loads them (core node types stay core's, and this pack's
    stay the runner's copy's); a pack that fails to import is logged, as ComfyUI logs it, and remembered for the
    error message."""
    if booted.packs_loaded:
        return
    booted.packs_loaded = True
    candidates = pack_candidates(booted)
    booted.pack_count = len(candidates)
    run_prestartup_scripts(candidates)
    comfy_dir = os.path.join(os.path.dirname(os.path.realpath(booted.nodes.__file__)), "comfy")
    if comfy_dir not in sys.path:
        sys.path.insert(0, comfy_dir)  # ComfyUI adds it for packs that import its modules by their short names
    times = []
    with booted.host.custom_node_import():
        for path in candidates:
            started = time.perf_counter()
            ok = booted.loop.run_until_complete(booted.nodes.load_custom_node(path, booted.own_types))
            times.append((time.perf_counter() - started, path, ok))
            if not ok:
                booted.failed_packs.add(os.path.realpath(path))
    logging.info("\nImport times for custom nodes:")
    for seconds, path, ok in sorted(times):
        logging.info("%6.1f seconds%s: %s", seconds, "" if ok else " (IMPORT FAILED)", path)
