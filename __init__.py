"""ComfyUI entry point. Importing this package does no work; ComfyUI calls `comfy_entrypoint` to get the nodes."""


async def comfy_entrypoint():
    from .nodes import AnimateLCMExtension
    return AnimateLCMExtension()
