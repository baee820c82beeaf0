"""ADE's checkpoint loader with noise select, big-batch empty latent and (ADE's and the old pack's) AnimateDiff
Combine -> ComfyUI core nodes (+ this pack's Model Sampling / big-batch latent where core has no counterpart)."""
from .graph import Const, Src
from .names import ADE_BETA_NAMES, KEEP, ade_beta_name

CORE_LATENT_MAX = 4096  # EmptyLatentImage's batch_size limit


def checkpoint_loader(s, node):
    s.remove(node)
    props = node.raw.get("properties") if node.graph.fmt == "ui" else None
    models = {"models": props["models"]} if isinstance(props, dict) and isinstance(props.get("models"), list) else None
    loader = s.emit("CheckpointLoaderSimple", node.id, {"ckpt_name": s.arg(node, "ckpt_name")},
                    memo=("ckpt", node.id), properties=models)
    name = ade_beta_name(s.literal(node, "beta_schedule"))
    schedule = ADE_BETA_NAMES.get(name, KEEP)
    if name == "autoselect":  # ADE's loader has no motion model to select from: it keeps the model's own
        schedule = KEEP
    custom = s.arg(node, "use_custom_scale_factor")
    model = loader
    if schedule != KEEP or not (isinstance(custom, Const) and custom.value is False):
        if s.targets.has("ALCM_ModelSampling"):
            model = s.emit("ALCM_ModelSampling", node.id, {
                "model": loader, "schedule": schedule, "use_custom_scale_factor": custom,
                "scale_factor": s.arg(node, "scale_factor")}, memo=("ckpt_sampling", node.id))
        else:
            s.not_reproduced(node, "beta_schedule", name, "this checkout has no Model Sampling node")
    s.reconnect(node, 0, model)
    s.reconnect(node, 1, loader.__class__(loader.key, 1))
    s.reconnect(node, 2, loader.__class__(loader.key, 2))


def empty_latent_large(s, node):
    s.remove(node)
    size = {k: s.arg(node, k) for k in ("width", "height", "batch_size")}
    batch = size["batch_size"]
    small = isinstance(batch, Const) and batch.value <= CORE_LATENT_MAX
    if small or not s.targets.has("ALCM_EmptyLatentBigBatch"):
        out = s.emit("EmptyLatentImage", node.id, size, memo=("latent", node.id))
    else:
        out = s.emit("ALCM_EmptyLatentBigBatch", node.id, size, memo=("latent", node.id))
    s.reconnect(node, 0, out)


VIDEO_CODECS = {"video/h264-mp4": ("mp4", "h264")}


def combine(s, node):
    """AnimateDiff Combine (ADE's deprecated one and the old pack's): GIF / WEBP -> Save Animated WEBP, videos ->
    Create Video + Save Video."""
    s.remove(node)
    images = s.source(node, "images")
    fmt = s.literal(node, "format")
    fps = s.arg(node, "frame_rate")
    prefix = s.arg(node, "filename_prefix")
    for name, default in (("loop_count", 0), ("pingpong", False)):
        if name in s.tables[node.type].fields and s.literal(node, name) != default:
            s.not_reproduced(node, name, s.literal(node, name), "ComfyUI's save nodes have no such option")
    save = _save_image(s, node)
    if save is False:
        s.not_reproduced(node, "save_image", False, "the animation is saved to the output folder")
    if isinstance(fmt, str) and fmt.startswith("video/"):
        container, codec = VIDEO_CODECS.get(fmt, ("mp4", "h264"))
        if fmt not in VIDEO_CODECS:
            s.not_reproduced(node, "format", fmt, "written as an H.264 MP4 (ComfyUI's Save Video)")
        video = s.emit("CreateVideo", node.id, {"images": images, "fps": _float(fps)}, memo=("video", node.id))
        s.emit("SaveVideo", node.id, {"video": video, "filename_prefix": prefix, "format": container,
                                      "codec": codec}, memo=("save_video", node.id))
        return
    if fmt != "image/webp":
        s.not_reproduced(node, "format", fmt, "written as an animated WEBP (ComfyUI core has no GIF writer)")
    s.emit("SaveAnimatedWEBP", node.id, {"images": images, "filename_prefix": prefix, "fps": _float(fps),
                                         "lossless": False, "quality": 90, "method": "default"},
           memo=("webp", node.id))


def _float(item):
    if isinstance(item, Const) and isinstance(item.value, (int, float)):
        return Const(float(item.value), item.via)
    return item


def _save_image(s, node):
    values = s.values(node)
    if "save_image" in values:
        return values["save_image"]
    if "save_image_combo" in values:
        return values["save_image_combo"] == "Enabled"
    return True


def is_linked(item) -> bool:
    return isinstance(item, Src)
