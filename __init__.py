"""ComfyUI entry point. Importing this package does no work; ComfyUI calls `comfy_entrypoint` to get the nodes."""

WEB_DIRECTORY = "./web/js"  # the frontend extension that offers to convert other packs' AnimateDiff workflows


async def comfy_entrypoint():
    from .nodes import AnimateLCMExtension
    return AnimateLCMExtension()
