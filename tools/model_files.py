"""The runner's file check: every model and input file a prompt names, looked up before any work; and, with
--download-missing, the missing model files fetched from the workflow's own links (tools/download.py)."""
import os
import sys
from dataclasses import dataclass

from tools.download import DownloadError, check_https, download, expected_sha256, target_path, workflow_links
from tools.errors import EXIT_MISSING, RunError
from tools.model_links import model_folder
from tools.workflow_api import is_ui_workflow

INPUT_FILES = {("LoadImage", "image"), ("LoadImageMask", "image"), ("LoadVideo", "file")}


@dataclass(frozen=True)
class Missing:
    node_id: str
    node_type: str
    input: str
    name: str
    folder: str | None  # the model folder; None for an input file
    why: str

    def __str__(self):
        return f"{self.name}  (node {self.node_id} {self.node_type}.{self.input}): {self.why}"


def missing_files(prompt: dict) -> list[Missing]:
    """Every model or input file the prompt names that is not on disk, with the folders searched."""
    import folder_paths
    found = []
    for node_id in sorted(prompt, key=lambda i: (len(i), i)):
        node = prompt[node_id]
        kind = node["class_type"]
        for name, value in node["inputs"].items():
            if not isinstance(value, str):
                continue
            folder = model_folder(kind, name)
            if folder:
                if folder not in folder_paths.folder_names_and_paths:
                    found.append(Missing(node_id, kind, name, value, folder,
                                         f"ComfyUI has no '{folder}' model folder"))
                elif folder_paths.get_full_path(folder, value) is None:
                    dirs = folder_paths.get_folder_paths(folder)
                    found.append(Missing(node_id, kind, name, value, folder, f"not found in the '{folder}' "
                                         "folders:\n      " + "\n      ".join(dirs)))
            elif (kind, name) in INPUT_FILES and not folder_paths.exists_annotated_filepath(value):
                found.append(Missing(node_id, kind, name, value, None,
                                     f"input file not found in {folder_paths.get_input_directory()}"))
    return found


def missing_report(missing: list[Missing], workflow: dict) -> str:
    links = workflow_links(workflow) if is_ui_workflow(workflow) else {}
    linked = sum((m.folder, m.name) in links for m in missing)
    hint = (f"\n{linked} of them can be downloaded from the workflow's own links: add --download-missing."
            if linked else "")
    return (f"{len(missing)} file(s) the workflow needs are missing:\n" + "\n".join(f"  - {m}" for m in missing) +
            "\nPut each file in one of the folders listed (or pass --models DIR with the files in DIR/<folder>/)." +
            hint)


def _plan(missing: list[Missing], workflow: dict) -> list[tuple[str, str, str | None]]:
    """(url, destination, sha256) for each missing file, every one checked; RunError naming every file that
    cannot be downloaded, before anything is."""
    import folder_paths
    if not is_ui_workflow(workflow):
        raise RunError("--download-missing: this is an API-format workflow, which carries no download links; run "
                       "its UI-format workflow (workflows/<name>.json), whose loader nodes list their files' links.\n"
                       + "\n".join(f"  - {m}" for m in missing), EXIT_MISSING)
    links, plan, problems = workflow_links(workflow), {}, []
    for m in missing:
        entry = links.get((m.folder, m.name)) if m.folder else None
        if m.folder is None:
            problems.append(f"{m}\n      (an input file: put it in the input folder)")
        elif entry is None:
            problems.append(f"{m.name}  (node {m.node_id} {m.node_type}.{m.input}): the workflow has no download "
                            f"link for it in the '{m.folder}' folder")
        else:
            try:
                dirs = folder_paths.get_folder_paths(m.folder)
                if not dirs:
                    raise DownloadError(f"ComfyUI has no '{m.folder}' model folder")
                dest = target_path(dirs[0], m.name)
                plan.setdefault(dest, (check_https(entry.get("url")), dest, expected_sha256(entry)))
            except DownloadError as e:
                problems.append(f"{m.name}  (node {m.node_id} {m.node_type}.{m.input}): {e}")
    if problems:
        raise RunError(f"--download-missing: {len(problems)} missing file(s) cannot be downloaded (nothing was):\n"
                       + "\n".join(f"  - {p}" for p in problems), EXIT_MISSING)
    return list(plan.values())


def download_missing(missing: list[Missing], workflow: dict, quiet: bool = False, context=None) -> list[str]:
    """Download every missing model file from the workflow's links into the first folder ComfyUI searches for its
    type; returns the paths written. A failed download raises RunError; files completed before it stay."""
    written = []
    for url, dest, sha256 in _plan(missing, workflow):
        if not quiet:
            print(f"downloading {url}\n  -> {dest}", file=sys.stderr, flush=True)
        try:
            download(url, dest, sha256, quiet=quiet, context=context)
        except DownloadError as e:
            raise RunError(f"--download-missing: {os.path.basename(dest)}: {e}", EXIT_MISSING) from None
        written.append(dest)
    return written
