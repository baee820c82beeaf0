"""ComfyUI glue. Imported only by ComfyUI (through the pack's comfy_entrypoint), never by animatelcm_core."""
from comfy_api.latest import ComfyExtension, io

from .motion_model import register_model_folders
from .nodes_motion import NODES


class AnimateLCMExtension(ComfyExtension):
    def __init__(self):
        register_model_folders()

    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(NODES)
