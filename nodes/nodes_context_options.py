"""V3 nodes that build context options: a chain of options (prev_context: different windows for different parts of
sampling) with optional view options, as AnimateDiff-Evolved's context-options nodes do (same inputs in the same
order). `Apply Context Options` (nodes_context.py) attaches the chain to a MODEL.
"""
from comfy_api.latest import io

from ..animatelcm_core.context import FUSE_METHODS_SLIDING, FUSE_METHODS_STATIC, ContextOptions
from ..animatelcm_core.context_chain import ContextChain, ContextEntry
from .nodes_motion import CATEGORY

CONTEXT_CATEGORY = f"{CATEGORY}/context options"
ContextOptionsType = io.Custom("ALCM_CONTEXT_OPTIONS")
ViewOptionsType = io.Custom("ALCM_VIEW_OPTIONS")
MAX_LENGTH, MAX_STRIDE = 128, 32


def length_input(name="context_length", what="window"):
    return io.Int.Input(name, default=16, min=1, max=MAX_LENGTH,
                        tooltip=f"Frames per {what}; at most the motion module's limit (24 for v1/HotshotXL, 32 for "
                                "v2/v3/SDXL, 64 for AnimateLCM) unless position encodings are stretched.")


def overlap_input(name="context_overlap"):
    return io.Int.Input(name, default=4, min=0, max=MAX_LENGTH - 1,
                        tooltip="Frames shared by neighbouring windows; must be below the length.")


def stride_input(name="context_stride"):
    return io.Int.Input(name, default=1, min=1, max=MAX_STRIDE,
                        tooltip="Stride levels: 1 = contiguous windows only; 2 adds windows of every 2nd frame, 3 of "
                                "every 4th... (at most ceil(log2(frames / length)) + 1 levels are used).")


def closed_loop_input():
    return io.Boolean.Input("closed_loop", default=False,
                            tooltip="Let windows wrap around so the last frames flow into the first (a looping video).")


def fuse_input(methods, default="pyramid"):
    return io.Combo.Input("fuse_method", options=list(methods), default=default, optional=True,
                          tooltip="How overlapping windows are blended: pyramid favours window centres, flat "
                                  "averages, overlap-linear crossfades across the overlap, relative weighs by the "
                                  "distance to the window centre; the -sigma methods change with the noise level; "
                                  "random draws weights from the seed.")


def equal_length_input():
    return io.Boolean.Input("use_on_equal_length", default=False, optional=True,
                            tooltip="Also window a video exactly as long as the length (looped windows then rotate "
                                    "the frames).")


def chain_inputs(view_opts: bool = True):
    inputs = [io.Float.Input("start_percent", default=0.0, min=0.0, max=1.0, step=0.001, optional=True,
                             tooltip="Fraction of sampling from which these options take over from the previous "
                                     "ones in the chain (the first options act from the start)."),
              io.Int.Input("guarantee_steps", default=1, min=0, max=10000, optional=True,
                           tooltip="Steps these options act at least once they take over."),
              ContextOptionsType.Input("prev_context", optional=True,
                                       tooltip="Earlier options of the chain (other windows for other steps).")]
    if view_opts:
        inputs.append(ViewOptionsType.Input("view_opts", optional=True,
                                            tooltip="Windows inside the motion modules' attention within each "
                                                    "context window."))
    return inputs


def chained(prev_context, options: ContextOptions, start_percent: float, guarantee_steps: int) -> io.NodeOutput:
    chain = prev_context if prev_context is not None else ContextChain()
    return io.NodeOutput(chain.then(ContextEntry(options, float(start_percent), int(guarantee_steps))))


def options_schema(node_id, display_name, description, inputs):
    return io.Schema(node_id=node_id, display_name=display_name, category=CONTEXT_CATEGORY, description=description,
                     inputs=inputs, outputs=[ContextOptionsType.Output(display_name="context_options")])


class ContextOptionsStatic(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return options_schema(
            "ALCM_ContextOptionsStatic", "Context Options: Static",
            "Fixed windows every (length - overlap) frames; the last one ends on the last frame.",
            [length_input(), overlap_input(), fuse_input(FUSE_METHODS_STATIC), equal_length_input(), *chain_inputs()])

    @classmethod
    def execute(cls, context_length, context_overlap, fuse_method="pyramid", use_on_equal_length=False,
                start_percent=0.0, guarantee_steps=1, prev_context=None, view_opts=None):
        opts = ContextOptions(context_length, context_overlap, "static", 1, False, fuse_method, use_on_equal_length,
                              view_opts)
        return chained(prev_context, opts, start_percent, guarantee_steps)


class ContextOptionsUniform(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return options_schema(
            "ALCM_ContextOptionsUniform", "Context Options: Uniform",
            "Windows that shift every step; none wraps around the end.",
            [length_input(), stride_input(), overlap_input(), fuse_input(FUSE_METHODS_SLIDING), equal_length_input(),
             *chain_inputs()])

    @classmethod
    def execute(cls, context_length, context_stride, context_overlap, fuse_method="pyramid",
                use_on_equal_length=False, start_percent=0.0, guarantee_steps=1, prev_context=None, view_opts=None):
        opts = ContextOptions(context_length, context_overlap, "uniform", context_stride, False, fuse_method,
                              use_on_equal_length, view_opts)
        return chained(prev_context, opts, start_percent, guarantee_steps)


class ContextOptionsLooped(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return options_schema(
            "ALCM_ContextOptionsLooped", "Context Options: Looped",
            "Windows that shift every step and may wrap around the end (closed_loop: more wrapping windows, for "
            "looping videos).",
            [length_input(), stride_input(), overlap_input(), closed_loop_input(), fuse_input(FUSE_METHODS_SLIDING),
             equal_length_input(), *chain_inputs()])

    @classmethod
    def execute(cls, context_length, context_stride, context_overlap, closed_loop, fuse_method="pyramid",
                use_on_equal_length=False, start_percent=0.0, guarantee_steps=1, prev_context=None, view_opts=None):
        opts = ContextOptions(context_length, context_overlap, "looped", context_stride, closed_loop, fuse_method,
                              use_on_equal_length, view_opts)
        return chained(prev_context, opts, start_percent, guarantee_steps)


class ContextOptionsBatched(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return options_schema(
            "ALCM_ContextOptionsBatched", "Context Options: Batched",
            "Consecutive windows without overlap (the last may be shorter); works without a motion module too.",
            [length_input(), *chain_inputs(view_opts=False)])

    @classmethod
    def execute(cls, context_length, start_percent=0.0, guarantee_steps=1, prev_context=None):
        opts = ContextOptions(context_length, 0, "batched", 1, False, "flat")
        return chained(prev_context, opts, start_percent, guarantee_steps)


class ContextOptionsViewsOnly(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return options_schema(
            "ALCM_ContextOptionsViewsOnly", "Context Options: Views Only",
            "No windows around the UNet: all frames at once, the view options window the motion modules' attention "
            "(memory of the whole video).",
            [ViewOptionsType.Input("view_opts", tooltip="Windows inside the motion modules' attention."),
             *chain_inputs(view_opts=False)])

    @classmethod
    def execute(cls, view_opts, start_percent=0.0, guarantee_steps=1, prev_context=None):
        opts = ContextOptions(schedule="views_only", use_on_equal_length=True, views=view_opts)
        return chained(prev_context, opts, start_percent, guarantee_steps)


def view_schema(node_id, display_name, description, inputs):
    return io.Schema(node_id=node_id, display_name=display_name, category=CONTEXT_CATEGORY, description=description,
                     inputs=inputs, outputs=[ViewOptionsType.Output(display_name="view_opts")])


def _views(length, overlap, schedule, stride, closed_loop, fuse_method, use_on_equal_length) -> io.NodeOutput:
    views = ContextOptions(length, overlap, schedule, stride, closed_loop, fuse_method, use_on_equal_length)
    ContextOptions(views=views).validate()  # errors name view_length / view_overlap
    return io.NodeOutput(views)


class ViewOptionsStatic(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return view_schema("ALCM_ViewOptionsStatic", "View Options: Static",
                           "Fixed windows inside the motion modules' attention.",
                           [length_input("view_length", "view"), overlap_input("view_overlap"),
                            fuse_input(FUSE_METHODS_SLIDING)])

    @classmethod
    def execute(cls, view_length, view_overlap, fuse_method="pyramid"):
        return _views(view_length, view_overlap, "static", 1, False, fuse_method, False)


class ViewOptionsUniform(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return view_schema("ALCM_ViewOptionsUniform", "View Options: Uniform",
                           "Shifting windows inside the motion modules' attention.",
                           [length_input("view_length", "view"), stride_input("view_stride"),
                            overlap_input("view_overlap"), fuse_input(FUSE_METHODS_SLIDING)])

    @classmethod
    def execute(cls, view_length, view_stride, view_overlap, fuse_method="pyramid"):
        return _views(view_length, view_overlap, "uniform", view_stride, False, fuse_method, False)


class ViewOptionsLooped(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return view_schema("ALCM_ViewOptionsLooped", "View Options: Looped",
                           "Shifting, wrapping windows inside the motion modules' attention.",
                           [length_input("view_length", "view"), stride_input("view_stride"),
                            overlap_input("view_overlap"), closed_loop_input(), fuse_input(FUSE_METHODS_SLIDING),
                            equal_length_input()])

    @classmethod
    def execute(cls, view_length, view_stride, view_overlap, closed_loop, fuse_method="pyramid",
                use_on_equal_length=False):
        return _views(view_length, view_overlap, "looped", view_stride, closed_loop, fuse_method, use_on_equal_length)


NODES = [ContextOptionsStatic, ContextOptionsUniform, ContextOptionsLooped, ContextOptionsBatched,
         ContextOptionsViewsOnly, ViewOptionsStatic, ViewOptionsUniform, ViewOptionsLooped]
