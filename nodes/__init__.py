"""ComfyUI glue. Imported only by ComfyUI (through the pack's comfy_entrypoint), never by animatelcm_core."""
from comfy_api.latest import ComfyExtension, io

from . import convert_routes
from .motion_model import register_model_folders
from . import nodes_context, nodes_context_options, nodes_i2v, nodes_motion, nodes_noise, nodes_train, nodes_travel
from . import nodes_noise_schedule, nodes_sample_settings
from . import nodes_motion_settings
from . import nodes_sparsectrl


class AnimateLCMExtension(ComfyExtension):
    def __init__(self):
        register_model_folders()
        convert_routes.register()  # only where a server runs (web UI): routes for the workflow converter

    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        await convert_routes.register_replacements()
        return (nodes_motion.NODES + nodes_i2v.NODES + nodes_context.NODES + nodes_context_options.NODES
                + nodes_travel.NODES + nodes_noise.NODES + nodes_train.NODES + nodes_sample_settings.NODES
                + nodes_noise_schedule.NODES + nodes_motion_settings.NODES + nodes_sparsectrl.NODES)
