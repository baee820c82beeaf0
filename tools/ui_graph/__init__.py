"""UI-format workflows to the prompt the ComfyUI frontend queues (its graphToPrompt), without a browser.

One concept per module: model (the saved graph and its links), frontend (which release's rules), widgets (widgets
from a node definition, saved values of every vintage), configure (each node as the frontend loads it), packs
(packs' own frontend code: VideoHelperSuite, AnimateDiff-Evolved, cg-use-everywhere), virtual (frontend-only nodes:
Reroute, PrimitiveNode, KJNodes Set/Get), subgraphs (instances and promoted widgets), resolve (following links),
convert (the prompt).
"""
from tools.ui_graph.convert import Conversion, convert, ui_to_api
from tools.ui_graph.frontend import Frontend, frontend_for, installed_frontend_version
from tools.ui_graph.model import WorkflowFormatError

__all__ = ["Conversion", "Frontend", "WorkflowFormatError", "convert", "frontend_for", "installed_frontend_version",
           "ui_to_api"]
