"""The frontend's text replacements in output file names (applyTextReplacements), done when a prompt is queued.

The `filename_prefix` of ComfyUI's save nodes (and of VideoHelperSuite's Video Combine) is sent with each `%...%`
replaced: `%date:yyyy-MM-dd%` by the date and time now (tokens yyyy yy M MM d dd h hh m mm s ss), `%Node.widget%` by
that widget's value on the first node (root graph first, each subgraph's nodes before its instance) whose
"Node name for S&R" property, else whose title, is `Node` (characters not allowed in file names become "_");
anything else stays as written.
"""
import re
from datetime import datetime

SAVE_NODES_1_27 = {"SaveImage", "SaveAnimatedWEBP", "SaveWEBM", "SaveAudio", "SaveGLB", "SaveAnimatedPNG",
                   "CLIPSave", "VAESave", "ModelSave", "LoraSave", "SaveLatent"}
SAVE_NODES = SAVE_NODES_1_27 | {"SaveImageAdvanced", "SaveSVGNode", "SaveVideo", "SaveAudioMP3", "SaveAudioOpus",
                                "SaveAudioAdvanced", "Save3DAdvanced", "SaveGaussianSplat", "SavePointCloud"}
PACK_NODES = {"VHS_VideoCombine"}  # VideoHelperSuite's addDateFormatting
SR_PROPERTY = "Node name for S&R"
_DATE_TOKENS = re.compile(r"dd?|MM?|hh?|mm?|ss?|yyy?y?")
_NOT_IN_FILE_NAMES = re.compile(r'[/?<>\\:*|"\x00-\x1F\x7F]')


def replaces_filename_prefix(node_type: str, frontend) -> bool:
    types = SAVE_NODES_1_27 if frontend.version < (1, 28, 0) else SAVE_NODES
    return node_type in types or node_type in PACK_NODES


def apply_text_replacements(session, value: str, graph=None) -> str:
    """`value` with its %...% patterns replaced, nodes looked up from `graph` (default: the root) down."""
    now = session.now or datetime.now()
    graph = graph or session.workflow.root

    def replace(match):
        text = match.group(1)
        parts = text.split(".")
        if len(parts) != 2:
            return format_date(parts[0][5:], now) if parts[0].startswith("date:") else match.group(0)
        node = _find_node(session, graph, parts[0])
        widget = None if node is None else session.state(node).widget(parts[1])
        if widget is None:
            return match.group(0)
        return _NOT_IN_FILE_NAMES.sub("_", _js_string(widget.value))

    return re.sub(r"%([^%]+)%", replace, value)


def format_date(text: str, date: datetime) -> str:
    values = {"d": date.day, "M": date.month, "h": date.hour, "m": date.minute, "s": date.second}

    def token(match):
        t = match.group(0)
        if t == "yy":
            return str(date.year)[2:]
        if t == "yyyy":
            return str(date.year)
        if t[0] in values:
            return str(values[t[0]]).rjust(len(t), "0")
        return t
    return _DATE_TOKENS.sub(token, text)


def _all_nodes(session, graph, seen=()) -> list:
    out = []
    for node in graph.nodes:
        sub = session.workflow.subgraphs.get(node.type)
        if sub is not None and sub.id not in seen:
            out += _all_nodes(session, sub, (*seen, sub.id))
        out.append(node)
    return out


def _find_node(session, graph, name: str):
    nodes = _all_nodes(session, graph)
    by_property = [n for n in nodes if _sr_name(session, n) == name]
    if by_property:
        return by_property[0]
    by_title = [n for n in nodes if _title(session, n) == name]
    return by_title[0] if by_title else None


def _sr_name(session, node):
    if SR_PROPERTY in node.properties:
        return node.properties[SR_PROPERTY]
    state = session.state(node)
    # the frontend gives every node of a server definition this property, save nodes excepted
    return node.type if state.kind == "node" and not replaces_filename_prefix(node.type, session.frontend) else None


def _title(session, node):
    state = session.state(node)
    return state.title if state.kind == "node" else node.title


def _js_string(value) -> str:
    """`(value ?? '') + ''`."""
    from tools.ui_graph.widgets import UNDEFINED
    if value is None or value is UNDEFINED:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
