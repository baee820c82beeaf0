"""The runner's ComfyUI server: ComfyUI's own `server.PromptServer`, built on an event loop as main.py builds it but
never serving a port, whose messages are printed instead of sent to browsers; and the prompt run through its queue
as main.py's prompt worker runs it.

Why ComfyUI's server and not a stand-in: packs read `PromptServer.instance` (its routes, its prompt queue, its
`send_sync`) at import and while they run (VideoHelperSuite requeues a workflow for its batch manager and reads the
running prompt from the queue; core nodes such as GetImageSize send progress text through it), and 0.33's node
replacements register on it. One object serves the executor and the packs, so every message reaches the same printer.
"""
import logging
import sys
import uuid

from tools.errors import RunError


class ProgressPrinter:
    """Mixed into ComfyUI's PromptServer class: prints each node as it runs and a step bar for samplers; the
    server's other messages (status, previews, progress text) have no browser to go to and are dropped."""

    def setup_printer(self, quiet: bool):
        self.quiet = quiet
        self.prompt = {}
        self.done = 0
        self.bar = None
        self.bar_node = None
        self.errors = []

    def begin(self, prompt: dict):
        self.prompt, self.done, self.errors = prompt, 0, []

    def send_sync(self, event, data, sid=None):
        if event == "executing" and isinstance(data, dict) and data.get("node") is not None:
            self.close_bar()
            self.done += 1
            node_id = str(data["node"])
            kind = self.prompt.get(node_id, {}).get("class_type", "?")
            self._print(f"[{self.done}/{len(self.prompt)}] node {node_id}: {kind}")
        elif event == "execution_cached" and isinstance(data, dict) and data.get("nodes"):
            self.done += len(data["nodes"])
        elif event == "execution_error":
            self.errors.append(data)

    def hook(self, value, total, preview=None, prompt_id=None, node_id=None):
        if self.quiet:
            return
        from tqdm import tqdm
        if self.bar is None or self.bar_node != node_id or self.bar.total != total:
            self.close_bar()
            self.bar = tqdm(total=total, desc="  steps", unit="step", leave=False, file=sys.stderr, dynamic_ncols=True)
            self.bar_node = node_id
        self.bar.update(value - self.bar.n)

    def close_bar(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _print(self, text):
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)


def new_server(loop, quiet: bool):
    """ComfyUI's PromptServer (with the printer mixed in) on `loop`; it becomes `PromptServer.instance`."""
    import server
    cls = type("RunnerPromptServer", (ProgressPrinter, server.PromptServer), {})
    instance = cls(loop)
    instance.setup_printer(quiet)
    return instance


def output_files(history: dict, output_dir: str) -> list[str]:
    import os
    files = []
    for ui in history.get("outputs", {}).values():
        for items in ui.values():
            for item in items if isinstance(items, list) else []:
                if isinstance(item, dict) and item.get("type") == "output" and "filename" in item:
                    files.append(os.path.join(output_dir, item.get("subfolder", ""), item["filename"]))
    return files


def validate(booted, prompt: dict) -> list:
    """ComfyUI's validation of the prompt (what /prompt does before queueing); the output node ids to execute."""
    import execution
    valid, error, outputs, node_errors = booted.loop.run_until_complete(
        execution.validate_prompt(str(uuid.uuid4()), prompt, None))
    if not valid:
        lines = [f"the workflow failed ComfyUI's validation: {error.get('message')} {error.get('details', '')}".strip()]
        for node_id, info in (node_errors or {}).items():
            for e in info.get("errors", []):
                lines.append(f"  node {node_id} ({info.get('class_type')}): {e.get('message')}: {e.get('details')}")
        raise RunError("\n".join(lines))
    return outputs


def execute(booted, prompt: dict, extra_data: dict, outputs: list) -> list[str]:
    """Queue the prompt on the server and run the queue until it is empty, as main.py's prompt worker does (a pack
    may queue the workflow again: VideoHelperSuite's batch manager); returns the output files of every run."""
    import comfy.utils as comfy_utils
    import folder_paths
    srv, host = booted.server, booted.host
    comfy_utils.set_progress_bar_global_hook(srv.hook)
    comfy_utils.set_progress_bar_enabled(False)  # the printer's bar replaces the samplers' own tqdm output
    executor = host.prompt_executor(srv)
    queue = srv.prompt_queue
    queue.put(host.queue_item(srv.number, str(uuid.uuid4()), prompt, {**extra_data, "client_id": "run_workflow"},
                              outputs))
    srv.number += 1
    files = []
    while (entry := queue.get(timeout=0)) is not None:
        item, item_id = entry
        srv.begin(item[2])
        srv.last_prompt_id = item[1]
        executor.execute(item[2], item[1], {**item[3], **(item[5] if len(item) > 5 else {})}, item[4])
        srv.close_bar()
        host.finish_queue_item(queue, item_id, executor)
        if not executor.success:
            raise _failure(srv, executor)
        files += [f for f in output_files(executor.history_result, folder_paths.get_output_directory())
                  if f not in files]
        logging.info("prompt %s done", item[1])
    return files


def _failure(srv, executor) -> RunError:
    errors = srv.errors or [d for e, d in executor.status_messages if e == "execution_error"]
    if errors:
        e = errors[0]
        tb = "".join(e.get("traceback") or [])
        return RunError(f"node {e.get('node_id')} ({e.get('node_type')}) failed: {e.get('exception_type')}: "
                        f"{e.get('exception_message')}\n{tb}")
    return RunError("the workflow failed (interrupted)")
