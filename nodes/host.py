"""The one place where ComfyUI releases differ for this pack, by feature detection (signatures and attributes),
never by version string. Supported: 0.3.64 and later (tested on 0.3.64 and 0.33.0).

Differences found between 0.3.64 and 0.33.0 and where they are handled:
- `PromptExecutor` takes `cache_size` (0.3.64) or a `cache_args` dict that `execute` indexes (0.33):
  `prompt_executor` (used by the headless runner and the tests).
- Model patchers: 0.33 creates its own models with `comfy.model_patcher.CoreModelPatcher`, which `main.py` points at
  the dynamic-VRAM patcher (comfy-aimdo) when that is on; 0.3.64 has only `ModelPatcher`: `model_patcher_class`.
- `comfy/context_windows.py` was rewritten (its `IndexListContextHandler` gained anchor frames, retained and split
  conditioning, multimodal latents): the pack's full-mode windows implement the small `ContextHandlerABC`
  interface, identical in both, instead of subclassing the handler (`nodes/context.py`); nothing to branch on.
- The headless runner builds what main.py builds before loading custom nodes: 0.33 registers MIME types in main.py
  (`init_mime_types`), queues a sixth "sensitive" field (`queue_item`, `finish_queue_item`) and has a node-replacement
  registry on its server that the /prompt route applies (`replaceable_node_types`, `apply_node_replacements`).

This file has no relative imports and imports ComfyUI lazily, so `tools/run_workflow.py` can load it by path.
"""
import contextlib
import inspect


def model_patcher_class():
    """The patcher class ComfyUI uses for its own models: read at call time, since main.py may swap it."""
    import comfy.model_patcher
    return getattr(comfy.model_patcher, "CoreModelPatcher", comfy.model_patcher.ModelPatcher)


def new_model_patcher(model, load_device, offload_device):
    return model_patcher_class()(model, load_device=load_device, offload_device=offload_device)


def _cache_type(execution, args):
    """The cache type main.py picks from ComfyUI's command-line arguments."""
    kinds = execution.CacheType
    if getattr(args, "cache_classic", False):
        return kinds.CLASSIC
    if getattr(args, "cache_lru", 0) > 0:
        return kinds.LRU
    if getattr(args, "cache_none", False):
        return getattr(kinds, "NONE", None) or getattr(kinds, "DEPENDENCY_AWARE")
    return getattr(kinds, "RAM_PRESSURE", kinds.CLASSIC)


def _ram_cache_args(args) -> dict:
    """RAM-pressure cache headroom in GB, as main.py computes it (10% of RAM within 2..10 GB; --cache-ram wins)."""
    import comfy.model_management
    total_gb = comfy.model_management.total_ram / 1024.0
    ram, inactive = min(10.0, max(2.0, total_gb * 0.10)), min(128.0, total_gb)
    given = list(getattr(args, "cache_ram", None) or [])
    return {"ram": given[0] if given else ram, "ram_inactive": given[1] if len(given) > 1 else inactive}


def prompt_executor(server):
    """`execution.PromptExecutor` built the way the running release's own main.py builds it."""
    import execution
    from comfy.cli_args import args
    params = inspect.signature(execution.PromptExecutor).parameters
    cache_type = _cache_type(execution, args)
    lru = getattr(args, "cache_lru", 0)
    if "cache_args" in params:
        cache_args = {"lru": lru, "ram": 0.0, "ram_inactive": 0.0}
        if cache_type == getattr(execution.CacheType, "RAM_PRESSURE", None):
            cache_args.update(_ram_cache_args(args))
        return execution.PromptExecutor(server, cache_type=cache_type, cache_args=cache_args)
    return execution.PromptExecutor(server, cache_type=cache_type, cache_size=lru)


# ------------------------------------------------------------------ the headless runner's server (tools/comfy_boot.py)
# What main.py builds before it loads custom nodes, so that packs which read `server.PromptServer.instance` at import
# (VideoHelperSuite's routes and queue, 0.33's own comfy_extras/nodes_replacements.py) load in the runner too.

def init_mime_types():
    """0.33's main.py registers ComfyUI's MIME types before loading nodes (`utils.mime_types`); 0.3.64's server
    constructor does it itself."""
    try:
        from utils.mime_types import init_mime_types as init
    except ImportError:
        return
    init()


@contextlib.contextmanager
def custom_node_import():
    """Around importing custom nodes, as main.py does: ComfyUI functions that packs replace at import are saved and
    put back (`hook_breaker_ac10a0`), and 0.33 re-applies its cuDNN benchmark policy afterwards."""
    try:
        import hook_breaker_ac10a0 as hook_breaker
    except ImportError:
        hook_breaker = None
    if hook_breaker is not None:
        hook_breaker.save_functions()
    try:
        yield
    finally:
        if hook_breaker is not None:
            hook_breaker.restore_functions()
        import comfy.model_management
        if hasattr(comfy.model_management, "set_cudnn_benchmark"):
            comfy.model_management.set_cudnn_benchmark()


def queue_item(number: int, prompt_id: str, prompt: dict, extra_data: dict, outputs: list) -> tuple:
    """A prompt-queue entry laid out as the release's /prompt route queues it: 0.33 adds a sixth field, the sensitive
    extra data (kept out of the history), together with `task_done`'s `process_item`."""
    import execution
    item = (number, prompt_id, prompt, extra_data, outputs)
    if "process_item" in inspect.signature(execution.PromptQueue.task_done).parameters:
        item += ({},)
    return item


def finish_queue_item(queue, item_id, executor) -> None:
    """`PromptQueue.task_done` as main.py's prompt worker calls it: the history entry with the run's status."""
    import execution
    status = execution.PromptQueue.ExecutionStatus(status_str="success" if executor.success else "error",
                                                   completed=executor.success, messages=executor.status_messages)
    if "process_item" in inspect.signature(queue.task_done).parameters:
        queue.task_done(item_id, executor.history_result, status=status, process_item=lambda item: item[:5])
    else:
        queue.task_done(item_id, executor.history_result, status=status)


def _node_replacements(server):
    """The server's node-replacement registry (0.33: `ComfyAPI().node_replacement.register`), or None."""
    return getattr(server, "node_replace_manager", None)


def replaceable_node_types(server) -> set:
    """Old node types the server replaces with an installed one before validating a prompt (0.33); empty on 0.3.64."""
    import nodes
    manager = _node_replacements(server)
    if manager is None:
        return set()
    return {old for old, entries in manager.as_dict().items()
            if entries and entries[0].get("new_node_id") in nodes.NODE_CLASS_MAPPINGS}


def apply_node_replacements(server, prompt: dict) -> None:
    """What 0.33's /prompt route does before validation: nodes of a replaced type become their replacement, in
    place. Nothing on releases without the registry."""
    manager = _node_replacements(server)
    if manager is not None:
        manager.apply_replacements(prompt)
