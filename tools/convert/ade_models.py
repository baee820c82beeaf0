"""ADE motion models -> Load Motion Module [-> motion-model settings] [-> Apply MotionLoRA ...] -> Apply Motion
Module, one Apply per ADE motion model, chained in ADE's execution order; multivals and keyframes on the Apply.
"""
from dataclasses import dataclass

from .graph import Const, Src
from .names import ADE_BETA_NAMES, AUTO, AUTO_ADE, KEEP, ade_beta_name
from .plan import NewOut
from .report import DIFFERS

V1_NAMES = ("mm_sd_v14", "mm_sd_v15.", "mm_sd_v15_", "mm-sd_v14", "mm-sd_v15.", "sdxl", "hsxl", "hotshot")
V2_STYLE = ("v15_v2", "v2", "v3", "animatelcm", "lightning", "temporaldiff")


@dataclass
class MotionSpec:
    """One motion model as ADE applies it."""
    origin: object  # the node the Apply node stands for
    loader: object  # the node with model_name (+ ad_settings)
    lora: Src | None = None  # MOTION_LORA chain
    scale: object = None  # MULTIVAL source or Const
    effect: object = None
    keyframes: Src | None = None
    start: object = Const(0.0)
    end: object = Const(1.0)
    settings: Src | None = None  # AD_SETTINGS (Gen1 / legacy loaders carry it themselves)
    owner: object = None  # the node whose inputs these are (for the report)


def model_name_of(s, loader) -> str:
    name = s.literal(loader, "model_name")
    return name if isinstance(name, str) else ""


def family_note(s, node, name: str):
    """ADE computes every GroupNorm across frames for v1 / SDXL / HotshotXL modules; this pack follows each family's
    original code (spec formats.md 2.6)."""
    low = name.lower()
    if any(k in low for k in V1_NAMES) and not any(k in low for k in V2_STYLE):
        s.report.add(node.id, node.type, DIFFERS,
                     f"{name!r} looks like an AnimateDiff v1 / SDXL / HotshotXL module: ADE normalises every GroupNorm "
                     f"across frames for these, this pack follows the original code (spec formats.md 2.6), so the "
                     f"video differs", "model_name", name)


def sampling_choice(s, node, item, model_name: str):
    """ALCM_ApplyMotionModel `model_sampling` for an ADE beta_schedule input."""
    if isinstance(item, Src):
        s.literal(node, "beta_schedule")
        return AUTO_ADE
    name = ade_beta_name(item.value)
    choice = ADE_BETA_NAMES.get(name)
    options = s.targets.choices("ALCM_ApplyMotionModel", "model_sampling")
    if choice == AUTO_ADE and AUTO_ADE not in options:
        if "animatelcm" in model_name.lower().replace("-", "").replace("_", ""):
            s.not_reproduced(node, "beta_schedule", item.value, "ADE's autoselect picks 'lcm' (scaled-linear, 50 "
                             "original steps) for AnimateLCM; this checkout's model_sampling has no 'auto (ADE)', "
                             "so 'auto' (AnimateLCM's official schedule) is used")
        return AUTO
    if choice is None or (options and choice not in options):
        s.not_reproduced(node, "beta_schedule", item.value, f"no such model sampling here; {AUTO!r} is used")
        return AUTO
    return choice


def motion_chain(s, spec: MotionSpec):
    """NewOut of the motion model: loader, its settings, then the LoRAs."""
    loader = spec.loader
    name = model_name_of(s, loader)
    properties = {"models": loader.raw["properties"]["models"]} if _has_models(loader) else None
    out = s.emit("ALCM_LoadMotionModel", loader.id, {"model_name": s.arg(loader, "model_name")},
                 memo=("load", loader.id), properties=properties)
    family_note(s, loader, name)
    if spec.settings is not None:
        from .ade_settings import settings_chain
        out = settings_chain(s, loader, spec.settings, out)
    if spec.lora is not None:
        out = lora_chain(s, spec.owner, spec.lora, out)
    return out


def _has_models(node) -> bool:
    props = node.raw.get("properties") if node.graph.fmt == "ui" else None
    return isinstance(props, dict) and isinstance(props.get("models"), list)


def lora_chain(s, owner, item, motion):
    """ADE MOTION_LORA chain (prev_motion_lora first) applied to `motion` with Apply MotionLoRA nodes."""
    chain, seen = [], set()
    while item is not None:
        node = s.producer(item)
        if not s.handles(node) or node.type != "ADE_AnimateDiffLoRALoader" or node.id in seen:
            s.unsupported_link(owner, "motion_lora", item)
            break
        seen.add(node.id)
        chain.append(node)
        item = s.source(node, "prev_motion_lora")
    for node in reversed(chain):
        s.remove(node)
        motion = s.emit("ALCM_ApplyMotionLoRA", node.id, {"motion_model": motion, "lora_name": s.arg(node, "name"),
                                                          "strength": s.arg(node, "strength")},
                        memo=("lora", node.id, motion))
    return motion


def multival(s, owner, item, widget_max: float):
    """(widget value, ALCM_MULTIVAL NewOut or None) for an ADE MULTIVAL input (or a plain Const)."""
    if item is None:
        return Const(1.0), None
    if isinstance(item, Const):
        return _number_or_node(s, owner, item, widget_max)
    node = s.producer(item)
    if not s.handles(node):
        s.unsupported_link(owner, "multival", item)
        return Const(1.0), None
    s.remove(node)
    mask = s.source(node, "mask_optional")
    if node.type == "ADE_MultivalDynamic":
        value = s.arg(node, "float_val")
        if mask is None:
            return _number_or_node(s, node, value, widget_max)
        return Const(1.0), _multival_node(s, node, value, mask)
    if node.type == "ADE_MultivalDynamicFloatInput":
        return Const(1.0), _multival_node(s, node, s.arg(node, "float_val"), mask)
    if node.type == "ADE_MultivalScaledMask":
        return Const(1.0), s.emit("ALCM_MultivalScaledMask", node.id, {
            "min_value": s.arg(node, "min_float_val"), "max_value": s.arg(node, "max_float_val"),
            "mask": s.source(node, "mask"), "scaling": s.arg(node, "scaling")}, memo=("multival", node.id))
    s.unsupported_link(owner, "multival", item)  # ADE_MultivalDynamicFloats: a FLOATS list
    return Const(1.0), None


def _number_or_node(s, node, value, widget_max):
    if isinstance(value, Const) and isinstance(value.value, (int, float)) and value.value <= widget_max:
        return value, None
    return Const(1.0), _multival_node(s, node, value, None)


def _multival_node(s, node, value, mask):
    if not s.targets.has("ALCM_Multival"):
        s.not_reproduced(node, "multival", getattr(value, "value", "<linked>"), "this checkout has no Multival node")
        return None
    inputs = {"mask": mask}
    if isinstance(value, Src):
        inputs.update(value="1.0", floats=value)
    else:
        inputs["value"] = _number_text(value.value)
    return s.emit("ALCM_Multival", node.id, inputs, memo=("multival", node.id))


def _number_text(value) -> str:
    return repr(float(value)) if isinstance(value, (int, float)) else str(value)


def apply_motion(s, model, spec: MotionSpec, sampling: str, origin) -> NewOut:
    """ALCM_ApplyMotionModel for one ADE motion model on `model`."""
    motion = motion_chain(s, spec)
    scale, scale_mv = multival(s, spec.owner, spec.scale, 10.0)
    effect, effect_mv = multival(s, spec.owner, spec.effect, 1.0)
    keyframes = None
    if spec.keyframes is not None:
        from .ade_settings import keyframe_chain
        keyframes = keyframe_chain(s, spec.owner, spec.keyframes)
    inputs = {"model": model, "motion_model": motion, "model_sampling": sampling, "effect": effect, "scale": scale,
              "start_percent": spec.start, "end_percent": spec.end, "keyframes": keyframes,
              "scale_multival": scale_mv, "effect_multival": effect_mv}
    return s.emit("ALCM_ApplyMotionModel", origin, inputs, memo=("apply", origin, model))


def keep_sampling() -> str:
    return KEEP
