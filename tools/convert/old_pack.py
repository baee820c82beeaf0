"""The first ComfyUI AnimateDiff pack (ArtVentureX/comfyui-animatediff, 2023): its node types and what they become.

Its sampler node did everything: it injected the motion module (sqrt_linear betas), used sliding windows (the
animatediff-cli "uniform" schedule, flat average) whenever frame_number exceeded the window length (16 without
options), and sampled like KSampler. It becomes Load Motion Module [+ Apply MotionLoRA] -> Apply Motion Module
[-> Context Options: Looped -> Apply Context Options] -> KSampler.
"""
from .ade_misc import combine
from .ade_models import family_note
from .graph import Const
from .widgets import BOOL, COMBO, FLOAT, INT, NodeTable, SEED_MAX, STRING

CONTROL = "control_after_generate"


def _t(node_type, fields, vintages, outputs, sockets=()):
    return NodeTable(node_type, fields, tuple(tuple(v) for v in vintages), frozenset(), {}, tuple(sockets),
                     tuple(outputs))


SAMPLER_WIDGETS = ("inject_method", "frame_number", "seed", CONTROL, "steps", "cfg", "sampler_name", "scheduler",
                   "denoise")
TABLES = [
    _t("AnimateDiffModuleLoader", {"model_name": COMBO()}, [("model_name",)], ("MOTION_MODULE",), ("lora_stack",)),
    _t("AnimateDiffLoraLoader", {"lora_name": COMBO(), "alpha": FLOAT(1.0, 0.0, 10.0)}, [("lora_name", "alpha")],
       ("MOTION_LORA_STACK",), ("lora_stack",)),
    _t("AnimateDiffSlidingWindowOptions",
       {"context_length": INT(16, 2, 32), "context_stride": INT(1, 1, 32), "context_overlap": INT(4, 0, 32),
        "context_schedule": COMBO("uniform", ("uniform", "uniform_constant", "uniform v2")),
        "closed_loop": BOOL(False)},
       [("context_length", "context_stride", "context_overlap", "context_schedule", "closed_loop")],
       ("SLIDING_WINDOW_OPTS",)),
    _t("AnimateDiffSampler",
       {"inject_method": COMBO("default", ("default", "legacy")), "frame_number": INT(16, 2, 10000),
        "seed": INT(0, 0, SEED_MAX), CONTROL: COMBO("fixed"), "steps": INT(20, 1, 10000), "cfg": FLOAT(8.0, 0.0, 100.0),
        "sampler_name": COMBO(), "scheduler": COMBO(), "denoise": FLOAT(1.0, 0.0, 1.0)},
       [SAMPLER_WIDGETS, tuple(n for n in SAMPLER_WIDGETS if n != CONTROL)], ("LATENT",),
       ("motion_module", "model", "positive", "negative", "latent_image", "sliding_window_opts")),
    _t("AnimateDiffCombine",
       {"frame_rate": INT(8, 1, 24), "loop_count": INT(0, 0, 100), "filename_prefix": STRING("animate_diff"),
        "format": COMBO("image/gif"), "pingpong": BOOL(False), "save_image": BOOL(True),
        "save_image_combo": COMBO("Enabled", ("Enabled", "Disabled")),
        "pingpong_combo": COMBO("Disabled", ("Disabled", "Enabled"))},
       [("frame_rate", "loop_count", "save_image", "filename_prefix", "format", "pingpong"),
        ("frame_rate", "loop_count", "save_image_combo", "filename_prefix", "pingpong_combo"),
        ("frame_rate", "loop_count", "save_image_combo", "filename_prefix")], (), ("images",)),
    _t("AnimateDiffUnload", {}, [()], ("MODEL",), ("model",)),
    _t("ImageSizeAndBatchSize", {}, [()], ("INT", "INT", "INT"), ("image",)),
]
OLD = {t.type: t for t in TABLES}
EMPTY_LATENTS = ("EmptyLatentImage", "ADE_EmptyLatentImageLarge")
SLIDING_DEFAULT = 16


def motion_module(s, owner, item):
    node = s.producer(item)
    if not s.handles(node) or node.type != "AnimateDiffModuleLoader":
        s.unsupported_link(owner, "motion_module", item)
        return None
    s.remove(node)
    name = s.literal(node, "model_name")
    family_note(s, node, name if isinstance(name, str) else "")
    out = s.emit("ALCM_LoadMotionModel", node.id, {"model_name": s.arg(node, "model_name")}, memo=("load", node.id))
    chain, stack = [], s.source(node, "lora_stack")
    while stack is not None:
        lora = s.producer(stack)
        if not s.handles(lora) or lora.type != "AnimateDiffLoraLoader" or lora in chain:
            s.unsupported_link(node, "lora_stack", stack)
            break
        chain.append(lora)
        stack = s.source(lora, "lora_stack")
    for lora in reversed(chain):
        s.remove(lora)
        out = s.emit("ALCM_ApplyMotionLoRA", lora.id, {"motion_model": out, "lora_name": s.arg(lora, "lora_name"),
                                                       "strength": s.arg(lora, "alpha")}, memo=("lora", lora.id, out))
    return out


def _windows(s, node, model, frames):
    item = s.source(node, "sliding_window_opts")
    opts = s.producer(item) if item is not None else None
    if item is not None and (not s.handles(opts) or opts.type != "AnimateDiffSlidingWindowOptions"):
        s.unsupported_link(node, "sliding_window_opts", item)
        opts = None
    values = {"context_length": SLIDING_DEFAULT, "context_stride": 1, "context_overlap": 4, "closed_loop": False}
    origin = node.id
    if opts is not None:
        s.remove(opts)
        values = {k: s.literal(opts, k) for k in values}
        origin = opts.id
        if s.literal(opts, "context_schedule") != "uniform":
            s.not_reproduced(opts, "context_schedule", s.literal(opts, "context_schedule"),
                             "the old pack's variants of 'uniform' are not offered; ADE's looped uniform is used")
    if not isinstance(frames, int) or frames <= values["context_length"]:
        return model
    chain = s.emit("ALCM_ContextOptionsLooped", origin, {**values, "fuse_method": "flat"}, memo=("old_ctx", origin))
    return s.emit("ALCM_ApplyContextOptions", node.id, {"model": model, "context_options": chain, "mode": "full"},
                  memo=("old_apply_ctx", node.id, model))


def _latent(s, node, frames):
    """The latent to sample: the old pack padded a shorter latent to frame_number frames (last frame repeated)."""
    item = s.source(node, "latent_image")
    src = s.producer(item) if item is not None else None
    batch = None
    if src is not None and src.type in EMPTY_LATENTS and src.link("batch_size") is None:
        values = s.values(src) if src.type in s.tables else None
        raw = src.raw.get("widgets_values") if src.graph.fmt == "ui" else None
        batch = values.get("batch_size") if values else (raw[2] if isinstance(raw, list) and len(raw) > 2 else
                                                         (src.raw.get("inputs") or {}).get("batch_size"))
    if batch == frames or not isinstance(frames, int):
        return item
    if src is not None and src.type in EMPTY_LATENTS and isinstance(batch, int) and batch < frames:
        size = {k: _widget(s, src, k, i) for i, k in enumerate(("width", "height"))}
        return s.emit("EmptyLatentImage", node.id, {**size, "batch_size": frames}, memo=("old_latent", node.id))
    s.not_reproduced(node, "frame_number", frames, "this pack takes the frame count from the latent's batch "
                     f"({batch if batch is not None else 'unknown here'}); the old pack padded or split it")
    return item


def _widget(s, node, name, index):
    if node.type in s.tables:
        return s.arg(node, name)
    if node.graph.fmt == "api":
        return Const((node.raw.get("inputs") or {}).get(name))
    return Const((node.raw.get("widgets_values") or [None] * 3)[index])


def sampler(s, node):
    s.remove(node)
    model = s.source(node, "model")
    motion = motion_module(s, node, s.source(node, "motion_module"))
    frames = s.literal(node, "frame_number")
    if s.literal(node, "inject_method") != "default":
        s.not_reproduced(node, "inject_method", s.literal(node, "inject_method"),
                         "the legacy injection places some motion modules differently")
    out = model
    if motion is not None:
        out = s.emit("ALCM_ApplyMotionModel", node.id, {
            "model": model, "motion_model": motion, "model_sampling": "sqrt_linear", "effect": 1.0, "scale": 1.0,
            "start_percent": 0.0, "end_percent": 1.0}, memo=("old_apply", node.id))
        out = _windows(s, node, out, frames)
    inputs = {name: s.arg(node, name) for name in ("seed", "steps", "cfg", "sampler_name", "scheduler", "denoise")}
    inputs.update(model=out, positive=s.source(node, "positive"), negative=s.source(node, "negative"),
                  latent_image=_latent(s, node, frames))
    inputs[CONTROL] = s.values(node).get(CONTROL, "fixed")
    sampled = s.emit("KSampler", node.id, inputs, memo=("old_sampler", node.id))
    s.reconnect(node, 0, sampled)


def unload(s, node):
    s.remove(node)
    s.reconnect(node, 0, s.source(node, "model"))
    s.note(node, "removed: this pack needs no unload node; its MODEL is passed on")


def image_size(s, node):
    """ImageSizeAndBatchSize -> ComfyUI's Get Image Size (the same outputs: width, height, batch size)."""
    s.remove(node)
    out = s.emit("GetImageSize", node.id, {"image": s.source(node, "image")}, memo=("size", node.id))
    for slot in range(3):
        s.reconnect(node, slot, out.__class__(out.key, slot))


SINKS = {"AnimateDiffSampler": sampler, "AnimateDiffCombine": combine, "AnimateDiffUnload": unload,
         "ImageSizeAndBatchSize": image_size}
