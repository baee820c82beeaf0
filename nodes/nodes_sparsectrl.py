"""V3 node: Load SparseCtrl (AnimateDiff v3's sparse ControlNet) as a CONTROL_NET for any ControlNet apply node."""
import comfy.model_management
import folder_paths
from comfy_api.latest import io

from ..animatelcm_core.sparse_frames import CONTEXT_AWARE, SPREADS, SparseSettings, parse_indexes
from .nodes_motion import CATEGORY
from .sparsectrl import SparseControl
from .sparsectrl_model import load_sparsectrl_model

FOLDER = "controlnet"  # where Advanced-ControlNet users keep SparseCtrl files, so existing downloads just work


def _multiplier(name: str, what: str):
    return io.Float.Input(name, default=1.0, min=0.0, max=10.0, step=0.001, optional=True, tooltip=what)


def sparse_method_indexes(sparse_method) -> tuple[tuple[int, ...], str | None]:
    """Indexes and spread of an Advanced-ControlNet SPARSE_METHOD (its index or spread method nodes)."""
    idxs, spread = getattr(sparse_method, "idxs", None), getattr(sparse_method, "spread", None)
    if idxs is None and spread is None:
        raise ValueError(f"sparse_method: expected Advanced-ControlNet's SparseCtrl Index Method or Spread Method, "
                         f"got {type(sparse_method).__name__}.")
    return (tuple(int(i) for i in idxs) if idxs is not None else ()), spread


class LoadSparseCtrl(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_LoadSparseCtrl", display_name="Load SparseCtrl", category=CATEGORY,
            description="Loads AnimateDiff v3's SparseCtrl (v3_sd15_sparsectrl_rgb.ckpt or "
                        "v3_sd15_sparsectrl_scribble.ckpt) from models/controlnet. Connect it to any ControlNet apply "
                        "node with a batch of keyframes: each image conditions one chosen frame, the other frames "
                        "stay unconditioned. RGB takes ordinary images and needs the VAE on the apply node.",
            inputs=[io.Combo.Input("sparsectrl_name", options=folder_paths.get_filename_list(FOLDER),
                                   tooltip="SparseCtrl file in models/controlnet; RGB or scribble is detected."),
                    io.Float.Input("motion_strength", default=1.0, min=0.0, max=10.0, step=0.001,
                                   tooltip="Effect of SparseCtrl's own motion modules (0: frames are conditioned "
                                           "independently)."),
                    io.Float.Input("motion_scale", default=1.0, min=0.0, max=10.0, step=0.001,
                                   tooltip="Scales the attention keys of SparseCtrl's motion modules."),
                    io.String.Input("indexes", default="",
                                    tooltip="Frame of each keyframe image, in image order: '0, 15' (negative counts "
                                            "from the end: '0, -1'). Empty: spread the images over the video."),
                    io.Combo.Input("spread", options=list(SPREADS), default="uniform",
                                   tooltip="Without indexes: uniform (first to last frame), starting, ending or "
                                           "center."),
                    io.Combo.Input("context_aware", options=list(CONTEXT_AWARE), default="off",
                                   tooltip="Full-mode context windows: off keeps every hint on its own frame (a window "
                                           "without one is unconditioned); nearest_hint gives such a window the "
                                           "nearest hint at its edge, as Advanced-ControlNet does."),
                    _multiplier("hint_multiplier", "Scales the control on frames that have a hint."),
                    _multiplier("nonhint_multiplier", "Scales the control on frames without a hint."),
                    _multiplier("mask_multiplier", "Value of the mask channel on hinted frames."),
                    io.Custom("SPARSE_METHOD").Input(
                        "sparse_method", optional=True,
                        tooltip="Advanced-ControlNet's SparseCtrl Index/Spread Method; replaces indexes and spread.")],
            outputs=[io.ControlNet.Output(tooltip="The SparseCtrl ControlNet.")])

    @classmethod
    def execute(cls, sparsectrl_name, motion_strength, motion_scale, indexes, spread, context_aware,
                hint_multiplier=1.0, nonhint_multiplier=1.0, mask_multiplier=1.0, sparse_method=None):
        chosen = parse_indexes(indexes)  # bad input fails before the file is read
        if sparse_method is not None:
            chosen, method_spread = sparse_method_indexes(sparse_method)
            spread = method_spread or spread
        settings = SparseSettings(indexes=chosen, spread=spread, context_aware=context_aware,
                                  motion_strength=motion_strength, motion_scale=motion_scale,
                                  hint_multiplier=hint_multiplier, nonhint_multiplier=nonhint_multiplier,
                                  mask_multiplier=mask_multiplier)
        path = folder_paths.get_full_path_or_raise(FOLDER, sparsectrl_name)
        network = load_sparsectrl_model(path, sparsectrl_name)
        load_device = comfy.model_management.get_torch_device()
        manual_cast = comfy.model_management.unet_manual_cast(network.dtype, load_device)
        return io.NodeOutput(SparseControl(network, settings, sparsectrl_name, load_device, manual_cast))


NODES = [LoadSparseCtrl]
