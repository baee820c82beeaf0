"""ADE context options and view options -> this pack's context-options nodes (one node each, same widgets, chained
through prev_context), attached to the MODEL by Apply Context Options in ADE's "full" mode (the whole UNet per
window). Without those nodes (older checkouts): the first entry on AnimateLCM Context Options, the rest reported.
"""
from .graph import Const, Src
from .names import fuse_name

# ADE type -> (our type, [(ADE widget, our widget)])
CONTEXT_NODES = {
    "ADE_StandardStaticContextOptions": ("ALCM_ContextOptionsStatic", (
        "context_length", "context_overlap", "fuse_method", "use_on_equal_length", "start_percent",
        "guarantee_steps")),
    "ADE_StandardUniformContextOptions": ("ALCM_ContextOptionsUniform", (
        "context_length", "context_stride", "context_overlap", "fuse_method", "use_on_equal_length",
        "start_percent", "guarantee_steps")),
    "ADE_LoopedUniformContextOptions": ("ALCM_ContextOptionsLooped", (
        "context_length", "context_stride", "context_overlap", "closed_loop", "fuse_method", "use_on_equal_length",
        "start_percent", "guarantee_steps")),
    "ADE_AnimateDiffUniformContextOptions": ("ALCM_ContextOptionsLooped", (
        "context_length", "context_stride", "context_overlap", "closed_loop", "fuse_method", "use_on_equal_length",
        "start_percent", "guarantee_steps")),
    "ADE_BatchedContextOptions": ("ALCM_ContextOptionsBatched", ("context_length", "start_percent",
                                                                 "guarantee_steps")),
    "ADE_ViewsOnlyContextOptions": ("ALCM_ContextOptionsViewsOnly", ("start_percent", "guarantee_steps")),
}
VIEW_NODES = {
    "ADE_StandardStaticViewOptions": ("ALCM_ViewOptionsStatic", ("view_length", "view_overlap", "fuse_method")),
    "ADE_StandardUniformViewOptions": ("ALCM_ViewOptionsUniform", ("view_length", "view_stride", "view_overlap",
                                                                   "fuse_method")),
    "ADE_LoopedUniformViewOptions": ("ALCM_ViewOptionsLooped", ("view_length", "view_stride", "view_overlap",
                                                                "closed_loop", "fuse_method",
                                                                "use_on_equal_length")),
}
# ADE schedule -> this pack's AnimateLCM Context Options `schedule` (the fallback)
FALLBACK_SCHEDULE = {"ADE_StandardStaticContextOptions": "static", "ADE_StandardUniformContextOptions": "uniform",
                     "ADE_LoopedUniformContextOptions": "looped", "ADE_AnimateDiffUniformContextOptions": "looped"}


def _widgets(s, node, names):
    out = {}
    for name in names:
        item = s.arg(node, name)
        if name == "fuse_method" and isinstance(item, Const):
            item = Const(fuse_name(item.value), item.via)
        out[name] = item
    return out


def check_overlap(s, node, length_name, overlap_name):
    from .report import ConversionError
    length, overlap = s.arg(node, length_name), s.arg(node, overlap_name)
    if isinstance(length, Const) and isinstance(overlap, Const) and overlap.value >= length.value \
            and length.value > 1:
        raise ConversionError(f"{node}: {overlap_name} {overlap.value} must be below {length_name} {length.value} "
                              f"(ADE fails on it too)")


def convert_view(s, item):
    node = s.producer(item)
    if not s.handles(node) or node.type not in VIEW_NODES:
        return None
    ours, names = VIEW_NODES[node.type]
    check_overlap(s, node, "view_length", "view_overlap")
    s.remove(node)
    return s.emit(ours, node.id, _widgets(s, node, names), memo=("view", node.id))


def convert_context(s, item):
    """NewOut of our context-options chain for an ADE CONTEXT_OPTIONS source, or None (reported)."""
    node = s.producer(item)
    if not s.handles(node) or node.type not in CONTEXT_NODES:
        return None
    memo = ("context", node.id)
    if memo in s.plan.memo:
        return s.plan.memo[memo]
    ours, names = CONTEXT_NODES[node.type]
    if "context_overlap" in names:
        check_overlap(s, node, "context_length", "context_overlap")
    inputs = _widgets(s, node, names)
    prev = s.source(node, "prev_context")
    if prev is not None:
        inputs["prev_context"] = convert_context(s, prev) or _lost(s, node, "prev_context", prev)
    view_name = "view_opts_req" if node.type == "ADE_ViewsOnlyContextOptions" else "view_opts"
    view = s.source(node, view_name)
    if view is not None:
        inputs["view_opts"] = convert_view(s, view) or _lost(s, node, view_name, view)
    s.remove(node)
    return s.emit(ours, node.id, inputs, memo=memo)


def _lost(s, node, name, item):
    s.unsupported_link(node, name, item)
    return None


def apply_context(s, sink, model, item):
    """The MODEL with the context options of `item` (a CONTEXT_OPTIONS source of sink `sink`)."""
    if s.targets.has("ALCM_ApplyContextOptions") and s.targets.has("ALCM_ContextOptionsLooped"):
        chain = convert_context(s, item)
        if chain is None:
            s.unsupported_link(sink, "context_options", item)
            return model
        return s.emit("ALCM_ApplyContextOptions", sink.id, {"model": model, "context_options": chain,
                                                           "mode": "full"}, memo=("apply_context", sink.id, model))
    return fallback_context(s, sink, model, item)


def fallback_context(s, sink, model, item):
    node = s.producer(item)
    if not s.handles(node) or node.type not in FALLBACK_SCHEDULE:
        s.unsupported_link(sink, "context_options", item)
        return model
    values = {n: s.literal(node, n) for n in ("context_length", "context_overlap", "fuse_method")}
    for name, default in (("use_on_equal_length", False), ("start_percent", 0.0), ("guarantee_steps", 1)):
        if s.literal(node, name) != default:
            s.not_reproduced(node, name, s.literal(node, name), "needs this pack's context-options chain nodes")
    for name in ("prev_context", "view_opts"):
        if s.source(node, name) is not None:
            s.not_reproduced(node, name, "<linked>", "needs this pack's context-options chain nodes")
    s.remove(node)
    stride = s.literal(node, "context_stride") if "context_stride" in s.tables[node.type].fields else 1
    closed = s.literal(node, "closed_loop") if "closed_loop" in s.tables[node.type].fields else False
    return s.emit("ALCM_ContextOptions", node.id, {
        "model": model, "mode": "full", "context_length": values["context_length"],
        "context_overlap": values["context_overlap"], "schedule": FALLBACK_SCHEDULE[node.type], "stride": stride,
        "closed_loop": closed, "fuse_method": fuse_name(values["fuse_method"])}, memo=("fallback_context", node.id))


def context_source(s, node, name="context_options"):
    item = s.source(node, name)
    return item if isinstance(item, Src) else None
