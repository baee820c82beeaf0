"""What packs' own frontend code does to their nodes when a workflow loads (their web/js, read, not run).

- VideoHelperSuite: vhs.py.
- KJNodes, VideoHelperSuite and a few of ComfyUI's own nodes append widgets (buttons, previews) after the
  definition's: TRAILING_WIDGETS, as the frontends of both hosts and 1.58.1 create them.
- AnimateDiff-Evolved / Advanced-ControlNet: their ADEAUTOSIZE / ADEWARN / ACNAUTOSIZE inputs are widgets that are
  saved (as "") and never sent (widgets.PACK_WIDGET_TYPES).
- cg-use-everywhere broadcasts outputs to inputs that have no link, by rules of its own frontend (types, input
  names, titles, groups, colours, priorities) that changed across its releases: not reproduced; such workflows are
  refused with the node named (export the API format from the web UI instead).
"""
from tools.ui_graph import vhs
from tools.ui_graph.model import Node, WorkflowFormatError
from tools.ui_graph.widgets import Widget

USE_EVERYWHERE = ("Anything Everywhere", "Anything Everywhere3", "Anything Everywhere?", "Prompts Everywhere",
                  "Seed Everywhere")
_UPDATE = [("Update inputs", True, True, None)]  # KJNodes' button that adds sockets: saved, sent as null
_SET_ALL = [("Set all", True, True, None)]
_PREVIEW = [("preview", True, False, "")]
# Widgets that frontend code (a pack's, or ComfyUI's own for a few core nodes) appends after the definition's:
# (name, saved, sent, value), as the frontends of both hosts and 1.58.1 create them.
TRAILING_WIDGETS = {
    **dict.fromkeys(("ConditioningMultiCombine", "CrossFadeImagesMulti", "ImageAddMulti", "ImageBatchMulti",
                     "ImageConcatMulti", "JoinStringMulti", "MaskBatchMulti", "TransitionImagesMulti"), _UPDATE),
    **dict.fromkeys(("FluxBlockLoraSelect", "HunyuanVideoBlockLoraSelect", "Wan21BlockLoraSelect",
                     "LTX2BlockLoraSelect"), _SET_ALL),
    **dict.fromkeys(("FastPreviewBatch", "HDRPreviewKJ", "ModelPreviewOverrideKJ", "ImageTransformKJ",
                     "ContextWindowsVisualizerKJ"), _PREVIEW),
    "PointsEditor": _PREVIEW * 2,
    "SplineEditor": _PREVIEW * 2,
    "ScreencapStream": [("Start capture", True, True, None), ("preview", True, False, ""),
                        ("Hide preview", True, True, None)],
    "SoundReactive": [("Start mic capture", True, True, None), ("Stop mic capture", True, True, None)],
    "VHS_BatchManager": [("count", True, True, 0)],
    "Preview3D": [("image", True, True, "")],
    "SaveGLB": [("image", True, True, "")],
    "RecordAudio": [("audio", True, True, ""), ("record", True, False, "")],
    "ImageCropV2": [(n, True, False, v) for n, v in (("x", 0), ("y", 0), ("width", 512), ("height", 512))],
    "CustomCombo": [("index", True, True, -1), ("option1", True, True, "")],
}
# 1.27 only: unsaved widgets that are sent ("" values)
TRAILING_WIDGETS_1_27 = {**dict.fromkeys(("SaveAudio", "SaveAudioMP3", "SaveAudioOpus", "PreviewAudio"),
                                         [("audioUI", False, True, "")]),
                         "PreviewAny": [("preview", False, True, "")],
                         "Preview3DAnimation": [("image", True, True, "")]}
# Node types whose widgets their frontend code builds in ways not reproduced here (3D viewers, webcam, image
# compare, KJNodes' weight lists): a conversion notes them.
UNMODELED = ("Load3D", "Load3DAnimation", "Load3DAdvanced", "Preview3DAnimation", "Preview3DAdvanced",
             "PreviewGaussianSplat", "PreviewPointCloud", "Save3DAdvanced", "SaveGaussianSplat", "SavePointCloud",
             "WebcamCapture", "ImageCompare", "CustomControlNetWeightsFluxFromList")


def refuse_unsupported(node: Node) -> None:
    if node.type in USE_EVERYWHERE:
        raise WorkflowFormatError(
            f"{node.describe()}: cg-use-everywhere's broadcast links exist only in its web UI code and are not "
            f"reproduced here; open the workflow in the ComfyUI web UI and export the API format (Workflow > Export "
            f"(API)), then run that file")


def fresh_widgets(node_type: str, widgets: list[Widget], definition: dict | None, frontend) -> list[Widget]:
    """The widgets after packs' (and the frontend's own per-node) code ran on a fresh node."""
    if node_type.startswith("VHS_") and definition is not None:
        widgets = vhs.fresh_widgets(node_type, widgets, definition)
    extra = TRAILING_WIDGETS.get(node_type, [])
    if frontend.version < (1, 28, 0):
        extra = TRAILING_WIDGETS_1_27.get(node_type, extra)
        if node_type == "LoadAudio":  # the audio player sits between the combo and its upload button
            widgets.insert(1, Widget("audioUI", "", saved=False, kind="button"))
    return widgets + [Widget(n, v, to_prompt=sent, saved=saved, kind="button") for n, saved, sent, v in extra]


def after_configure(state, values, definition: dict | None, frontend, notes: list[str]) -> None:
    if state.node.type in UNMODELED:
        notes.append(f"{state.node.describe()}: its widgets are built by frontend code not reproduced here; if its "
                     f"values look wrong, export the API format from the web UI")
    if state.node.type.startswith("VHS_") and definition is not None:
        vhs.restore(state, values, definition, notes)


