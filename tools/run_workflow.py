"""Run a ComfyUI workflow headless: ComfyUI's own validation, queue and executor, in this process, no web UI.

    python tools/run_workflow.py workflows/animatelcm_t2v.json --output out/
    python -m tools.run_workflow workflows/animatelcm_t2v.json --comfyui ~/ComfyUI --prompt "a cat surfing" --seed 7

The workflow may be in UI format (what the ComfyUI frontend saves, e.g. workflows/*.json) or API format (what
`/prompt` takes, e.g. workflows/api/*.json or ComfyUI's "Export (API)").

ComfyUI is the one given with --comfyui, else $COMFYUI_PATH, else the ComfyUI this pack is installed in
(ComfyUI/custom_nodes/<this pack>). It starts as its main.py starts it (tools/comfy_boot.py: its server object
included, so packs that need it at import load; no port is opened). Core nodes and this pack (from where this file
is) are loaded first; when the workflow names node types neither provides, the packs installed in ComfyUI's
custom_nodes folders are loaded too, as the web UI loads them, and the workflow is checked again
(--all-custom-nodes: load them always; --no-custom-nodes: never). A workflow made with ComfyUI-AnimateDiff-Evolved,
the old ComfyUI AnimateDiff pack or FizzNodes' prompt schedules, whose nodes are not installed, is converted to this
pack's nodes in memory (tools/convert; the file is left as it is) and the conversion report printed: each node
converted and each option that is not reproduced (--strict-convert: refuse instead). A node type still missing is
reported with the pack that provides it (tools/pack_index.py).

Before any model is loaded, every model file the workflow names (checkpoints, LoRAs, ControlNets, VAEs, motion
modules, MotionLoRAs, ...) and every input image / video is looked up; if any is missing the run stops with a list
of the missing files and the folders searched. With --download-missing, missing model files are first downloaded
from the workflow's own links (tools/download.py): the shipped UI workflows link every file they load.

Exit status: 0 success, 1 the workflow failed validation or execution (or names node types that are not installed),
2 bad command line / workflow file / ComfyUI not found, 3 model or input files missing.
"""
import argparse
import json
import logging
import os
import sys
import time

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if __package__ in (None, ""):  # run as a script: make `tools` importable
    sys.path.insert(0, PACK_DIR)

from tools.comfy_boot import boot, host_features, load_installed_packs, stand_in_for_main  # noqa: E402,F401
from tools.convert import ConversionError, StrictRefused, convert_workflow  # noqa: E402
from tools.convert.core import is_foreign_type  # noqa: E402
from tools.errors import EXIT_MISSING, EXIT_USAGE, RunError  # noqa: E402
from tools.model_files import download_missing, missing_files, missing_report  # noqa: E402
from tools.overrides import apply_overrides  # noqa: E402
from tools.pack_index import build_index, needed_node_types, unknown_types_report  # noqa: E402
from tools.runner_server import execute, validate  # noqa: E402
from tools.ui_graph import WorkflowFormatError, convert, installed_frontend_version  # noqa: E402
from tools.workflow_api import is_api_workflow, is_ui_workflow, node_definition  # noqa: E402

NOT_A_WORKFLOW = ("not a ComfyUI workflow: expected the UI format (`nodes`, `links`) or the API format "
                  "({id: {class_type, inputs}})")


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


# ------------------------------------------------------------------------------------------------------ workflow
def missing_node_types(workflow: dict, booted) -> dict:
    """{node type: [node id, ...]} the workflow needs and ComfyUI cannot run: not registered, and not an old type the
    server replaces (0.33's node replacements)."""
    have = set(booted.nodes.NODE_CLASS_MAPPINGS) | booted.host.replaceable_node_types(booted.server)
    return {kind: ids for kind, ids in needed_node_types(workflow).items() if kind not in have}


def foreign_node_types(workflow: dict, installed: set) -> list:
    """The node types of other AnimateDiff packs (ADE, the old ComfyUI AnimateDiff pack, FizzNodes' schedules) that
    the workflow's active nodes need and that are not installed. Muted and bypassed ones alone need nothing: the UI
    conversion keeps them as the frontend keeps nodes of missing types (never sent; a bypassed one passes its inputs
    on); with active ones, the converter takes them all."""
    return sorted(k for k in needed_node_types(workflow) if is_foreign_type(k) and k not in installed)


def convert_workflow_step(workflow: dict, installed: set, strict: bool = False) -> dict:
    """Issue 19: a workflow of another AnimateDiff pack runs as it is. When it names that pack's node types and they
    are not installed, it is converted to this pack's nodes (tools/convert, in memory) and the report printed, every
    line; with the pack installed nothing changes. `strict`: refuse (exit 1) when the conversion would not reproduce
    every option."""
    foreign = foreign_node_types(workflow, installed)
    if not foreign:
        return workflow
    names = ", ".join(foreign)
    try:
        result = convert_workflow(workflow, available=installed, strict=strict)
    except StrictRefused as e:
        raise RunError(f"the workflow uses {names}, which are not installed here; --strict-convert: {e}")
    except ConversionError as e:
        raise RunError(f"the workflow uses {names}, which are not installed here, and cannot be converted to this "
                       f"pack's nodes: {e}", EXIT_USAGE)
    print(f"the workflow uses {names}, which are not installed here: converted to this pack's nodes for this run "
          f"(the file is unchanged; python -m tools.convert_workflow writes the converted workflow):", file=sys.stderr)
    for line in result.lines:
        print("  " + line, file=sys.stderr)
    sys.stderr.flush()
    return result.workflow


def check_node_types(workflow: dict, booted, custom_nodes: str, quiet: bool, strict_convert: bool = False) -> dict:
    """Load the installed packs if the workflow needs node types core ComfyUI and this pack lack (custom_nodes
    "auto"), convert other AnimateDiff packs' workflows, and refuse what is still not installed, naming the packs."""
    missing = missing_node_types(workflow, booted)
    if missing and custom_nodes == "auto" and not booted.packs_loaded:
        if not quiet:
            print("loading the packs installed in ComfyUI's custom_nodes folders: the workflow uses " +
                  ", ".join(sorted(missing)), file=sys.stderr, flush=True)
        load_installed_packs(booted)
    # The converter sees the registered node types only, not 0.33's replaceable old types: a UI workflow needs a
    # definition for each node it sends, and the converter knows every vintage of the old packs' widgets, where the
    # server's replacement registry (this pack registers ADE's big-batch latent there) maps single nodes.
    workflow = convert_workflow_step(workflow, set(booted.nodes.NODE_CLASS_MAPPINGS), strict_convert)
    refuse_missing(missing_node_types(workflow, booted), booted)
    return workflow


def refuse_missing(missing: dict, booted) -> None:
    if not missing:
        return
    dirs = booted.custom_node_dirs()
    searched = "ComfyUI's core nodes, this pack"
    if booted.packs_loaded:
        failed = f", {len(booted.failed_packs)} of them failed to import" if booted.failed_packs else ""
        searched += f" and the {booted.pack_count} packs in " + ", ".join(dirs) + failed
    else:
        searched += " (not the packs in " + ", ".join(dirs) + ": --no-custom-nodes)"
    index = build_index(dirs, booted.user_dir())
    raise RunError(unknown_types_report(missing, index, dirs, booted.failed_packs if booted.packs_loaded else None,
                                        searched))


def registry_definitions(nodes):
    """node type -> its live /object_info-style definition (None: not registered), cached."""
    cache = {}

    def definition(kind):
        if kind not in cache:
            cls = nodes.NODE_CLASS_MAPPINGS.get(kind)
            cache[kind] = None if cls is None else node_definition(cls)
        return cache[kind]
    return definition


def to_api(workflow: dict, booted) -> dict:
    """The API prompt of a UI or API workflow (node types already checked): a UI workflow converted as the frontend
    this ComfyUI serves would queue it (tools/ui_graph); the server's node replacements applied as its /prompt route
    applies them."""
    if is_api_workflow(workflow):
        prompt = json.loads(json.dumps(workflow))
    elif is_ui_workflow(workflow):
        try:
            conversion = convert(workflow, definitions=registry_definitions(booted.nodes),
                                 frontend=installed_frontend_version())
        except WorkflowFormatError as e:
            raise RunError(f"cannot convert the UI workflow: {e}", EXIT_USAGE)
        prompt = conversion.prompt
        for note in conversion.notes:  # what the frontend does silently (extra values ignored, defaults used, ...)
            logging.info("workflow: %s", note)
    else:
        raise RunError(NOT_A_WORKFLOW, EXIT_USAGE)
    refuse_missing(missing_node_types(prompt, booted), booted)
    booted.host.apply_node_replacements(booted.server, prompt)
    return prompt


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
    p.add_argument("--extra-model-paths-config", metavar="FILE", action="append", default=[],
                   help="an extra_model_paths.yaml of ComfyUI's format (model folders, custom_nodes folders), as "
                        "main.py's option of this name; ComfyUI's own extra_model_paths.yaml is always read "
                        "(repeatable)")
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
    packs = p.add_mutually_exclusive_group()
    packs.add_argument("--all-custom-nodes", action="store_const", dest="custom_nodes", const="all", default="auto",
                       help="always load every pack installed in ComfyUI's custom_nodes folders, as the web UI does "
                            "(default: load them only when the workflow names node types that core ComfyUI and this "
                            "pack do not provide)")
    packs.add_argument("--no-custom-nodes", action="store_const", dest="custom_nodes", const="none",
                       help="never load the other installed packs: core ComfyUI and this pack only")
    p.add_argument("--strict-convert", action="store_true",
                   help="a workflow of ComfyUI-AnimateDiff-Evolved, the old AnimateDiff pack or FizzNodes' prompt "
                        "schedules whose nodes are not installed is converted to this pack's nodes in memory and the "
                        "conversion report printed (what each node became, each option not reproduced); with this "
                        "flag, refuse it (exit 1) when any option would not be reproduced")
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
        if not (is_api_workflow(workflow) or is_ui_workflow(workflow)):
            raise RunError(f"{opts.workflow}: {NOT_A_WORKFLOW}", EXIT_USAGE)
        for f in (opts.image, opts.video, *opts.extra_model_paths_config):
            if f and not os.path.isfile(f):
                raise RunError(f"no such file: {f}", EXIT_USAGE)
        comfyui = find_comfyui(opts.comfyui)
        stand_in_for_main(comfyui)
        output_dir = os.path.abspath(opts.output)
        os.makedirs(output_dir, exist_ok=True)
        booted = boot(comfyui, opts.cpu, output_dir, _input_dir(opts), [os.path.abspath(m) for m in opts.models],
                      opts.quiet, [os.path.abspath(c) for c in opts.extra_model_paths_config])
        if opts.custom_nodes == "all":
            load_installed_packs(booted)
        workflow = check_node_types(workflow, booted, opts.custom_nodes, opts.quiet, opts.strict_convert)
        prompt = to_api(workflow, booted)
        for change in apply_overrides(prompt, opts, booted.nodes):
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
        outputs = validate(booted, prompt)
        extra = {"extra_pnginfo": {"workflow": workflow}} if is_ui_workflow(workflow) else {}
        files = execute(booted, prompt, extra, outputs)
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
