"""A ComfyUI worker process for the packs tier: boots one ComfyUI (a pack-host copy) with all its installed packs,
optionally this pack, and the test nodes; then runs prompts and test functions sent by the test process.

    python tests/packs/worker.py --comfyui PATH --address HOST:PORT --models DIR --output DIR --input DIR [--with-pack]

The authentication key comes on stdin (one hex line). Requests and answers are `torch.save`d tuples over a
multiprocessing connection (tensors travel as bytes, never as shared-memory handles):
    ("run", prompt)                      -> {"outputs": {node_id: [value, ...]}, "messages": [...]}
    ("call", "path.py:function", args, kwargs) -> the function's return value
    ("node_types",)                      -> sorted node type names
    ("info",)                            -> {"version": ..., "packs": [...]}
    ("free",)                            -> None (models unloaded, memory returned)
Answers are ("ok", value) or ("error", formatted traceback).
"""
import argparse
import asyncio
import importlib.util
import io
import os
import sys
import traceback
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MODEL_FOLDERS = ("checkpoints", "loras", "controlnet", "vae", "clip_vision", "ipadapter", "animatediff_models",
                 "animatediff_motion_lora", "upscale_models", "embeddings", "clip", "text_encoders",
                 "diffusion_models")
CAPTURED: dict[str, list] = {}
LOOP = None  # the event loop the PromptServer was built on (main.py's)


def _load_module(path: str, name: str | None = None):
    name = name or "alcm_worker_" + os.path.splitext(os.path.basename(path))[0]
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def boot(comfyui: str, models: str, output: str, input_dir: str, with_pack: bool):
    """Set ComfyUI up as its main.py does (event loop, PromptServer, custom nodes), then add test folders/nodes."""
    sys.path[:] = [comfyui] + [p for p in sys.path if os.path.abspath(p or os.getcwd()) != REPO] + [
        os.path.join(REPO, "tests", "comfyui"), os.path.join(REPO, "tests", "fixtures")]
    os.chdir(comfyui)
    # Packs that locate ComfyUI through the running script (FizzNodes copies its scripts to <main.py's folder>/web)
    # must find ComfyUI's main.py, as under a real server, not this file.
    sys.modules["__main__"].__file__ = os.path.join(comfyui, "main.py")
    import utils.install_util  # noqa: F401  (ComfyUI's utils package before comfy/ can shadow it)
    from comfy.cli_args import args
    args.cpu = True
    args.disable_all_custom_nodes = False
    import folder_paths
    folder_paths.set_output_directory(output)
    folder_paths.set_input_directory(input_dir)
    global LOOP
    loop = LOOP = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    import server
    server.PromptServer(loop)
    import nodes
    try:
        import hook_breaker_ac10a0 as hook_breaker
    except ImportError:
        hook_breaker = None
    if hook_breaker:
        hook_breaker.save_functions()
    loop.run_until_complete(nodes.init_extra_nodes(init_custom_nodes=True, init_api_nodes=False))
    if with_pack and not loop.run_until_complete(nodes.load_custom_node(REPO)):
        raise RuntimeError("this pack failed to load")
    if hook_breaker:
        hook_breaker.restore_functions()
    for key in MODEL_FOLDERS:  # after the packs registered theirs: the test files come first
        os.makedirs(os.path.join(models, key), exist_ok=True)
        folder_paths.add_model_folder_path(key, os.path.join(models, key), is_default=True)
    import comfy_helpers
    comfy_helpers.register_test_nodes(nodes)
    comfy_helpers.register_vae_node(nodes)
    _register_capture_nodes(nodes)
    return nodes


def _register_capture_nodes(nodes) -> None:
    """Output nodes that keep what reaches them, by node id: latents (ALCMTest_LatentStats) and anything else."""
    def capture(kind):
        class Capture:
            CATEGORY = "testing"
            FUNCTION = "keep"
            RETURN_TYPES = ()
            OUTPUT_NODE = True

            @classmethod
            def INPUT_TYPES(cls):
                return {"required": {"samples" if kind == "LATENT" else "value": (kind,)},
                        "hidden": {"unique_id": "UNIQUE_ID"}}

            def keep(self, unique_id, samples=None, value=None):
                kept = samples["samples"] if kind == "LATENT" else value
                kept = kept.detach().clone().cpu() if hasattr(kept, "detach") else kept
                CAPTURED.setdefault(str(unique_id), []).append(kept)
                return {}
        return Capture
    nodes.NODE_CLASS_MAPPINGS["ALCMTest_LatentStats"] = capture("LATENT")
    nodes.NODE_CLASS_MAPPINGS["ALCMTest_CaptureImage"] = capture("IMAGE")
    nodes.NODE_CLASS_MAPPINGS["ALCMTest_CaptureMask"] = capture("MASK")


class _Server:
    """What the executor needs of a server: messages are kept, not sent."""
    def __init__(self):
        self.client_id = None
        self.last_node_id = None
        self.messages = []

    def send_sync(self, event, data, sid=None):
        self.messages.append((event, data if isinstance(data, (dict, list, str, int, float)) else repr(data)))


def run_prompt(prompt: dict) -> dict:
    import execution
    host = _load_module(os.path.join(REPO, "nodes", "host.py"), "animatelcm_host_features")
    pid = str(uuid.uuid4())
    asyncio.set_event_loop(LOOP)
    valid, error, outputs, node_errors = LOOP.run_until_complete(execution.validate_prompt(pid, prompt, None))
    if not valid or node_errors:  # ComfyUI drops an invalid output silently when another one is valid
        raise RuntimeError(f"prompt failed validation: {error} {node_errors}")
    CAPTURED.clear()
    srv = _Server()
    executor = host.prompt_executor(srv)
    executor.execute(prompt, pid, {}, outputs)
    asyncio.set_event_loop(LOOP)  # the executor may have run a loop of its own and unset ours
    if not executor.success:
        errors = [m for m in executor.status_messages if m[0] == "execution_error"]
        raise RuntimeError(f"prompt failed: {errors or executor.status_messages}")
    return {"outputs": {k: list(v) for k, v in CAPTURED.items()}, "messages": srv.messages}


def free() -> None:
    import comfy_helpers
    comfy_helpers.free_memory(unload=True)


def handle(nodes, request):
    kind = request[0]
    if kind == "run":
        return run_prompt(request[1])
    if kind == "call":
        path, function = request[1].rsplit(":", 1)
        module = _load_module(os.path.join(REPO, path))
        return getattr(module, function)(*request[2], **request[3])
    if kind == "node_types":
        return sorted(nodes.NODE_CLASS_MAPPINGS)
    if kind == "info":
        import comfyui_version
        return {"version": comfyui_version.__version__, "packs": sorted(getattr(nodes, "LOADED_MODULE_DIRS", {}))}
    if kind == "free":
        return free()
    raise ValueError(f"unknown request {kind!r}")


def _dumps(obj) -> bytes:
    import torch
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--comfyui", required=True)
    parser.add_argument("--address", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--with-pack", action="store_true")
    a = parser.parse_args()
    authkey = bytes.fromhex(sys.stdin.readline().strip())
    from multiprocessing.connection import Client
    host, port = a.address.rsplit(":", 1)
    conn = Client((host, int(port)), authkey=authkey)
    try:
        nodes = boot(a.comfyui, a.models, a.output, a.input, a.with_pack)
        conn.send_bytes(_dumps(("ok", "ready")))
    except BaseException:
        conn.send_bytes(_dumps(("error", traceback.format_exc())))
        return 1
    import torch
    while True:
        try:
            request = torch.load(io.BytesIO(conn.recv_bytes()), weights_only=False)
        except EOFError:
            return 0
        if request[0] == "exit":
            return 0
        try:
            answer = ("ok", handle(nodes, request))
        except BaseException:
            answer = ("error", traceback.format_exc())
        conn.send_bytes(_dumps(answer))


if __name__ == "__main__":
    sys.exit(main())
