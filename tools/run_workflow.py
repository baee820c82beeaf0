"""Run a ComfyUI workflow headless: ComfyUI's own validation and executor, in this process, no web UI.

    python tools/run_workflow.py workflows/animatelcm_t2v.json --output out/
    python -m tools.run_workflow workflows/animatelcm_t2v.json --comfyui ~/ComfyUI --prompt "a cat surfing" --seed 7

The workflow may be in UI format (what the ComfyUI frontend saves, e.g. workflows/*.json) or API format (what
`/prompt` takes, e.g. workflows/api/*.json or ComfyUI's "Export (API)").

ComfyUI is the one given with --comfyui, else $COMFYUI_PATH, else the ComfyUI this pack is installed in
(ComfyUI/custom_nodes/<this pack>). This pack is loaded from where this file is; other custom node packs only with
--all-custom-nodes.

Before any model is loaded, every model file the workflow names (checkpoints, LoRAs, ControlNets, VAEs, motion
modules, MotionLoRAs, ...) and every input image / video is looked up; if any is missing the run stops with a list
of the missing files and the folders searched. With --download-missing, missing model files are first downloaded
from the workflow's own links (tools/download.py): the shipped UI workflows link every file they load.

Exit status: 0 success, 1 the workflow failed validation or execution, 2 bad command line / workflow file /
ComfyUI not found, 3 model or input files missing.
"""
import argparse
import asyncio
import importlib.util
import json
import logging
import os
import sys
import time
import uuid

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if __package__ in (None, ""):  # run as a script: make `tools` importable
    sys.path.insert(0, PACK_DIR)

from tools.errors import EXIT_MISSING, EXIT_USAGE, RunError  # noqa: E402
from tools.model_files import download_missing, missing_files, missing_report  # noqa: E402
from tools.overrides import apply_overrides  # noqa: E402
from tools.workflow_api import (WorkflowFormatError, is_api_workflow, is_ui_workflow, node_definition,  # noqa: E402
                                required_widget_count, ui_to_api, widget_names)

# --models DIR adds DIR/<folder> for these folders (and for the optional ones when DIR has them)
MAIN_MODEL_FOLDERS = ("checkpoints", "loras", "controlnet", "vae", "animatediff_models", "animatediff_motion_lora")
OPTIONAL_MODEL_FOLDERS = ("clip_vision", "embeddings", "upscale_models", "text_encoders", "diffusion_models")


def _is_comfyui(path: str | None) -> bool:
    return bool(path) and os.path.isfile(os.path.join(path, "main.py")) and os.path.isdir(os.path.join(path, "comfy"))


def pack_paths() -> list[str]:
    """Where this pack is, as the user reached it: the file's own path, and the same folder through the shell's
    logical working directory ($PWD keeps the symlinks that os.getcwd() resolves), for a pack that is a symlink in
    ComfyUI/custom_nodes/."""
    paths = [PACK_DIR]
    logical_cwd = os.environ.get("PWD")
    try:
        if logical_cwd and os.path.samefile(logical_cwd, os.getcwd()):
            paths.append(os.path.normpath(os.path.join(logical_cwd, os.path.relpath(PACK_DIR, os.getcwd()))))
    except OSError:
        pass
    return paths


def find_comfyui(explicit: str | None) -> str:
    installed_in = [os.path.dirname(os.path.dirname(p)) for p in pack_paths()]
    candidates = [explicit] if explicit else [os.environ.get("COMFYUI_PATH"), *installed_in]
    for path in candidates:
        if _is_comfyui(path):
            return os.path.abspath(path)
    where = explicit or "$COMFYUI_PATH and the folder this pack is installed in (" + ", ".join(installed_in) + ")"
    raise RunError(f"ComfyUI not found ({where}): pass --comfyui PATH, the folder that holds ComfyUI's main.py",
                   EXIT_USAGE)


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


# ----------------------------------------------------------------------------------------------------------- boot
def boot(comfyui: str, cpu: bool, output_dir: str, input_dir: str | None, models: list[str], all_custom_nodes: bool):
    """Import ComfyUI from `comfyui` the way main.py sets it up (minus the server) and load this pack."""
    # ComfyUI's top-level modules (nodes, utils, ...) must win over this pack's folders of the same name.
    ours = {PACK_DIR, os.path.join(PACK_DIR, "tools")}
    sys.path[:] = [comfyui] + [p for p in sys.path if os.path.abspath(p or os.getcwd()) not in ours]
    for name in [m for m in sys.modules if m == "nodes" or m.startswith("nodes.") or m == "utils"]:
        del sys.modules[name]
    import utils.install_util  # noqa: F401  (ComfyUI's utils package, before comfy/ can shadow it)
    import torch
    from comfy.cli_args import args
    args.cpu = cpu or not torch.cuda.is_available()
    args.disable_all_custom_nodes = False
    import folder_paths
    import utils.extra_config
    default_yaml = os.path.join(comfyui, "extra_model_paths.yaml")
    if os.path.isfile(default_yaml):
        utils.extra_config.load_extra_path_config(default_yaml)
    for root in models:
        for key in MAIN_MODEL_FOLDERS + OPTIONAL_MODEL_FOLDERS:
            path = os.path.join(root, key)
            if key in MAIN_MODEL_FOLDERS or os.path.isdir(path):
                folder_paths.add_model_folder_path(key, path, is_default=True)
    folder_paths.set_output_directory(output_dir)
    if input_dir:
        folder_paths.set_input_directory(input_dir)
    import nodes
    asyncio.run(nodes.init_extra_nodes(init_custom_nodes=all_custom_nodes, init_api_nodes=False))
    loaded = {os.path.realpath(d) for d in getattr(nodes, "LOADED_MODULE_DIRS", {}).values()}
    if os.path.realpath(PACK_DIR) not in loaded and not asyncio.run(nodes.load_custom_node(PACK_DIR)):
        raise RunError(f"this pack ({PACK_DIR}) failed to load into ComfyUI: see the log above")
    return nodes


# ------------------------------------------------------------------------------------------------------ workflow
def registry_widgets(nodes):
    """(widget names, required widget count) lookups from the live node definitions."""
    cache = {}

    def definition(kind):
        if kind not in cache:
            cls = nodes.NODE_CLASS_MAPPINGS.get(kind)
            cache[kind] = None if cls is None else node_definition(cls)
        return cache[kind]

    def names(kind):
        d = definition(kind)
        return None if d is None else widget_names(d)
    return names, lambda kind: required_widget_count(definition(kind))


def to_api(workflow: dict, nodes) -> dict:
    if is_api_workflow(workflow):
        prompt = json.loads(json.dumps(workflow))
    elif is_ui_workflow(workflow):
        unknown = sorted({n["type"] for n in workflow["nodes"]
                          if n["type"] not in nodes.NODE_CLASS_MAPPINGS
                          and n["type"] not in ("Note", "MarkdownNote", "Reroute", "PrimitiveNode")})
        if unknown:
            raise RunError("the workflow uses node types that are not installed: " + ", ".join(unknown) +
                           " (install the packs that provide them; add --all-custom-nodes to load the packs in "
                           "ComfyUI's custom_nodes folder)")
        try:
            prompt = ui_to_api(workflow, *registry_widgets(nodes))
        except WorkflowFormatError as e:
            raise RunError(f"cannot convert the UI workflow: {e}", EXIT_USAGE)
    else:
        raise RunError("not a ComfyUI workflow: expected the UI format (`nodes`, `links`) or the API format "
                       "({id: {class_type, inputs}})", EXIT_USAGE)
    unknown = sorted({n["class_type"] for n in prompt.values() if n["class_type"] not in nodes.NODE_CLASS_MAPPINGS})
    if unknown:
        raise RunError("the workflow uses node types that are not installed: " + ", ".join(unknown) +
                       " (add --all-custom-nodes to load the packs in ComfyUI's custom_nodes folder)")
    return prompt


# ------------------------------------------------------------------------------------------------------ execute
class _Progress:
    """Stands in for ComfyUI's server: prints each node as it runs and a step bar for samplers."""

    def __init__(self, prompt: dict, quiet: bool):
        self.client_id = "run_workflow"
        self.last_node_id = None
        self.prompt = prompt
        self.quiet = quiet
        self.done = 0
        self.bar = None
        self.bar_node = None
        self.errors = []

    def send_sync(self, event, data, sid=None):
        if event == "executing" and data.get("node") is not None:
            self._close_bar()
            self.done += 1
            node_id = str(data["node"])
            kind = self.prompt.get(node_id, {}).get("class_type", "?")
            self._print(f"[{self.done}/{len(self.prompt)}] node {node_id}: {kind}")
        elif event == "execution_cached" and data.get("nodes"):
            self.done += len(data["nodes"])
        elif event == "execution_error":
            self.errors.append(data)

    def send_progress_text(self, *args, **kwargs):
        pass

    def hook(self, value, total, preview=None, node_id=None):
        if self.quiet:
            return
        from tqdm import tqdm
        if self.bar is None or self.bar_node != node_id or self.bar.total != total:
            self._close_bar()
            self.bar = tqdm(total=total, desc="  steps", unit="step", leave=False, file=sys.stderr, dynamic_ncols=True)
            self.bar_node = node_id
        self.bar.update(value - self.bar.n)

    def _close_bar(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _print(self, text):
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)


def output_files(history: dict, output_dir: str) -> list[str]:
    files = []
    for ui in history.get("outputs", {}).values():
        for items in ui.values():
            for item in items if isinstance(items, list) else []:
                if isinstance(item, dict) and item.get("type") == "output" and "filename" in item:
                    files.append(os.path.join(output_dir, item.get("subfolder", ""), item["filename"]))
    return files


def execute(prompt: dict, extra_data: dict, quiet: bool) -> list[str]:
    import comfy.utils
    import execution
    import folder_paths
    prompt_id = str(uuid.uuid4())
    valid, error, outputs, node_errors = asyncio.run(execution.validate_prompt(prompt_id, prompt, None))
    if not valid:
        lines = [f"the workflow failed ComfyUI's validation: {error.get('message')} {error.get('details', '')}".strip()]
        for node_id, info in (node_errors or {}).items():
            for e in info.get("errors", []):
                lines.append(f"  node {node_id} ({info.get('class_type')}): {e.get('message')}: {e.get('details')}")
        raise RunError("\n".join(lines))
    server = _Progress(prompt, quiet)
    comfy.utils.set_progress_bar_global_hook(server.hook)
    comfy.utils.set_progress_bar_enabled(False)  # our bar replaces the samplers' own tqdm output (public setter)
    executor = host_features().prompt_executor(server)
    executor.execute(prompt, prompt_id, {**extra_data, "client_id": server.client_id}, outputs)
    server._close_bar()
    if not executor.success:
        errors = server.errors or [d for e, d in executor.status_messages if e == "execution_error"]
        if errors:
            e = errors[0]
            tb = "".join(e.get("traceback") or [])
            raise RunError(f"node {e.get('node_id')} ({e.get('node_type')}) failed: {e.get('exception_type')}: "
                           f"{e.get('exception_message')}\n{tb}")
        raise RunError("the workflow failed (interrupted)")
    return output_files(executor.history_result, folder_paths.get_output_directory())


# ---------------------------------------------------------------------------------------------------------- main
def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="run_workflow", description="Run a ComfyUI workflow (UI or API format) headless through ComfyUI's own "
                                         "executor, with this pack loaded.",
        epilog="Exit status: 0 success, 1 validation or execution failed, 2 usage error, 3 model/input files missing.")
    p.add_argument("workflow", help="workflow JSON file: UI format (workflows/*.json) or API format")
    p.add_argument("--comfyui", metavar="PATH", help="ComfyUI folder (default: $COMFYUI_PATH, else the ComfyUI this "
                                                     "pack is installed in)")
    p.add_argument("--models", metavar="DIR", action="append", default=[],
                   help="extra models root, searched first: DIR/checkpoints, DIR/loras, DIR/controlnet, DIR/vae, "
                        "DIR/animatediff_models, DIR/animatediff_motion_lora, ... (repeatable)")
    p.add_argument("--output", metavar="DIR", default="output", help="where the outputs go (default: ./output)")
    p.add_argument("--input", metavar="DIR", help="ComfyUI input folder for LoadImage / LoadVideo (default: "
                                                  "ComfyUI's input/, or the folder of --image / --video)")
    p.add_argument("--image", metavar="FILE", help="image for the LoadImage nodes")
    p.add_argument("--video", metavar="FILE", help="video for the LoadVideo nodes")
    p.add_argument("--checkpoint", metavar="NAME", help="SD1.5 checkpoint file (ckpt_name), e.g. "
                                                        "realisticVisionV60B1_v51VAE.safetensors")
    p.add_argument("--prompt", metavar="TEXT", help="positive prompt (the text encoders feeding the samplers' positive)")
    p.add_argument("--negative", metavar="TEXT", help="negative prompt")
    p.add_argument("--seed", type=int, help="seed of every sampler")
    p.add_argument("--frames", type=int, help="number of frames (EmptyLatentImage batch_size, ImageFromBatch length, "
                                              "RepeatImageBatch amount)")
    p.add_argument("--width", type=int, help="width (EmptyLatentImage, ImageScale)")
    p.add_argument("--height", type=int, help="height (EmptyLatentImage, ImageScale)")
    p.add_argument("--steps", type=int, help="sampling steps")
    p.add_argument("--set", metavar="NODE.INPUT=VALUE", action="append",
                   help="set any input of the API prompt, e.g. --set 9.cfg=1.5 (VALUE is JSON, else a string; "
                        "repeatable)")
    p.add_argument("--download-missing", action="store_true",
                   help="download the missing model files from the workflow's own links (the `properties.models` "
                        "entries of its loader nodes; UI-format workflows) into the folder ComfyUI loads them from, "
                        "checking each file's SHA-256 where the link gives it; https only, existing files untouched")
    p.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is available")
    p.add_argument("--all-custom-nodes", action="store_true", help="also load the other packs in ComfyUI's "
                                                                   "custom_nodes folder")
    p.add_argument("--save-api", metavar="FILE", help="also write the final API prompt (after overrides) to FILE")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.add_argument("-v", "--verbose", action="store_true", help="show ComfyUI's log")
    return p.parse_args(argv)


def _input_dir(opts) -> str | None:
    if opts.input:
        return os.path.abspath(opts.input)
    dirs = {os.path.dirname(os.path.abspath(f)) for f in (opts.image, opts.video) if f}
    if len(dirs) > 1:
        raise RunError("--image and --video are in different folders: put them in one folder, or use --input DIR "
                       "with both files in it", EXIT_USAGE)
    return dirs.pop() if dirs else None


def run(argv=None) -> int:
    opts = parse_args(argv)
    logging.basicConfig(level=logging.INFO if opts.verbose else logging.WARNING, format="%(message)s")
    started = time.time()
    try:
        try:
            with open(opts.workflow, encoding="utf-8") as f:
                workflow = json.load(f)
        except (OSError, ValueError) as e:
            raise RunError(f"cannot read the workflow {opts.workflow}: {e}", EXIT_USAGE)
        for f in (opts.image, opts.video):
            if f and not os.path.isfile(f):
                raise RunError(f"no such file: {f}", EXIT_USAGE)
        comfyui = find_comfyui(opts.comfyui)
        output_dir = os.path.abspath(opts.output)
        os.makedirs(output_dir, exist_ok=True)
        nodes = boot(comfyui, opts.cpu, output_dir, _input_dir(opts), [os.path.abspath(m) for m in opts.models],
                     opts.all_custom_nodes)
        prompt = to_api(workflow, nodes)
        for change in apply_overrides(prompt, opts, nodes):
            logging.info("override: %s", change)
        if opts.save_api:
            with open(opts.save_api, "w", encoding="utf-8") as f:
                json.dump(prompt, f, indent=2)
        missing = missing_files(prompt)
        if missing and opts.download_missing:
            download_missing(missing, workflow, opts.quiet)
            missing = missing_files(prompt)
        if missing:
            raise RunError(missing_report(missing, workflow), EXIT_MISSING)
        extra = {"extra_pnginfo": {"workflow": workflow}} if is_ui_workflow(workflow) else {}
        files = execute(prompt, extra, opts.quiet)
    except RunError as e:
        print(f"run_workflow: error: {e}", file=sys.stderr)
        return e.status
    if not opts.quiet:
        print(f"done in {time.time() - started:.1f} s: {len(files)} output file(s)", file=sys.stderr)
    for f in files:
        print(f)
    return 0


if __name__ == "__main__":
    sys.exit(run())
