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

This file has no relative imports and imports ComfyUI lazily, so `tools/run_workflow.py` can load it by path.
"""
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
