"""ADE sample settings, custom CFG and sigma schedules -> Sample Settings (MODEL in, MODEL out) with this pack's
Custom CFG keyframes and Noise Schedule nodes (one node each, same values)."""
from .ade_sigma import has_target, sigma_schedule
from .graph import Const, Src
from .report import ConversionError

DEFAULT_NOISE = {"noise_type": "default", "seed_gen": "comfy", "batch_offset": 0, "seed_offset": 0}
UNREPRODUCED = {"noise_layers": "noise layers", "iteration_opts": "ADE's FreeInit / iteration options (this pack's "
                "FreeInit node follows the paper, not ADE's variant)", "image_inject": "image injection",
                "ancestral_opts": "ancestral noise options", "iter_opts": "iteration options",
                "noise_calib": "noise calibration"}


def sample_settings(s, sink, model, item):
    """The MODEL with ADE's sample settings (the node behind `item`) applied."""
    node = s.producer(item)
    if not s.handles(node) or node.type != "ADE_AnimateDiffSamplingSettings":
        s.unsupported_link(sink, "sample_settings", item)
        return model
    s.remove(node)
    for name, what in UNREPRODUCED.items():
        linked = s.source(node, name)
        if linked is not None:
            s.not_reproduced(node, name, f"<from node {linked.out.node}>", f"{what} has no counterpart here")
    if s.literal(node, "adapt_denoise_steps"):
        s.note(node, "adapt_denoise_steps=True has no effect in ADE either (stored, never read)",
               "adapt_denoise_steps", True)
    noise = {name: s.arg(node, name) for name in DEFAULT_NOISE}
    custom = s.source(node, "custom_cfg")
    sigma = s.source(node, "sigma_schedule")
    seed_override = s.source(node, "seed_override")
    default_noise = all(isinstance(v, Const) and v.value == DEFAULT_NOISE[k] for k, v in noise.items())
    if seed_override is not None and default_noise and s.source(node, "noise_layers") is None:
        s.note(node, "seed_override is ignored by ADE with default noise settings; left out", "seed_override")
        seed_override = None
    cfg_chain = custom_cfg(s, node, custom) if custom is not None else None
    schedule = sigma_schedule(s, node, sigma) if sigma is not None else None
    if default_noise and seed_override is None and cfg_chain is None and schedule is None:
        s.note(node, "default sample settings: nothing to convert")
        return model
    if not s.targets.has("ALCM_SampleSettings"):
        s.not_reproduced(node, "sample_settings", "<settings>", "this checkout has no Sample Settings node")
        return model
    return s.emit("ALCM_SampleSettings", node.id, {"model": model, **noise, "seed_override": seed_override,
                                                   "custom_cfg": cfg_chain, "noise_schedule": schedule},
                  memo=("sample_settings", node.id, model))


def _number(value) -> str:
    return repr(float(value))


def _constant_multival(s, owner, item):
    """The float of an ADE MULTIVAL that is one number (no mask), else None (reported)."""
    src = s.producer(item)
    if s.handles(src) and src.type == "ADE_MultivalDynamic" and s.source(src, "mask_optional") is None:
        value = s.arg(src, "float_val")
        if isinstance(value, Const):
            s.remove(src)
            return value.value
    s.unsupported_link(owner, "cfg_multival", item)
    return None


KEYFRAME_SETS = {"ADE_CustomCFGKeyframeInterpolation": "ALCM_CustomCFGInterpolated",
                 "ADE_CustomCFGKeyframeFromList": "ALCM_CustomCFGFromList"}
CFG_TYPES = ("ADE_CustomCFGSimple", "ADE_CustomCFG", "ADE_CustomCFGKeyframeSimple", "ADE_CustomCFGKeyframe",
             *KEYFRAME_SETS)


def custom_cfg(s, owner, item):
    """ADE CUSTOM_CFG chain -> NewOut of Custom CFG keyframes."""
    node = s.producer(item)
    if not s.handles(node) or node.type not in CFG_TYPES:
        s.unsupported_link(owner, "custom_cfg", item)
        return None
    memo = ("custom_cfg", node.id)
    if memo in s.plan.memo:
        return s.plan.memo[memo]
    s.remove(node)
    if s.source(node, "cfg_extras") is not None:
        s.not_reproduced(node, "cfg_extras", "<linked>", "PAG / RescaleCFG extras have no counterpart here")
    prev = s.source(node, "prev_custom_cfg")
    prev_out = custom_cfg(s, node, prev) if prev is not None else None
    if node.type in KEYFRAME_SETS:
        return _keyframe_set(s, node, prev_out, memo)
    if node.type in ("ADE_CustomCFGSimple", "ADE_CustomCFGKeyframeSimple"):
        cfg = s.arg(node, "cfg")
        cfg = Const(_number(cfg.value)) if isinstance(cfg, Const) else Const(_number(s.literal(node, "cfg")))
    else:
        linked = s.source(node, "cfg_multival")
        value = _constant_multival(s, node, linked) if linked is not None else None
        cfg = Const(_number(value if value is not None else 8.0))
    keyed = node.type in ("ADE_CustomCFGKeyframeSimple", "ADE_CustomCFGKeyframe")
    inputs = {"cfg": cfg, "start_percent": s.arg(node, "start_percent") if keyed else 0.0,
              "guarantee_steps": s.arg(node, "guarantee_steps") if keyed else 1, "prev_custom_cfg": prev_out}
    return s.emit("ALCM_CustomCFG", node.id, inputs, memo=memo)


def _keyframe_set(s, node, prev_out, memo):
    """Interpolated keyframes / keyframes from a list, added to `prev_out` (left as `prev_out` when the node cannot
    be written: reported)."""
    target = KEYFRAME_SETS[node.type]
    if not has_target(s, node, target):
        return prev_out
    if s.literal(node, "print_keyframes") is True:
        s.note(node, "print_keyframes=True: the keyframes are not printed", "print_keyframes", True)
    names = [n for n in s.targets.get(target).widget_names() if n in s.tables[node.type].fields]
    inputs = {name: s.arg(node, name) for name in names}
    start, end = s.arg(node, "start_percent"), s.arg(node, "end_percent")
    if isinstance(start, Const) and isinstance(end, Const) and start.value > end.value:
        s.not_reproduced(node, "start_percent", start.value, f"above end_percent ({end.value}): ADE then spreads the "
                         "keyframes backwards and sorts them; this pack's node refuses it")
    if node.type == "ADE_CustomCFGKeyframeFromList":
        inputs["cfgs"] = _cfg_list(s, node)
        if inputs["cfgs"] is None:
            return prev_out
    return s.emit(target, node.id, {**inputs, "prev_custom_cfg": prev_out}, memo=memo)


def _cfg_list(s, node):
    """cfgs text for ADE's cfgs_float: one number from a widget / primitive; a list computed by another node cannot
    be written into this pack's text input (reported, None)."""
    item = s.arg(node, "cfgs_float")
    if node.link("cfgs_float") is None and "cfgs_float" not in s.values(node):
        raise ConversionError(f"{node}: its input 'cfgs_float' is not connected")
    if isinstance(item, Const) and isinstance(item.value, (int, float)) and not isinstance(item.value, bool):
        return Const(_number(item.value))
    if not isinstance(item, Src):
        raise ConversionError(f"{node}: input 'cfgs_float' is {item.value!r}; expected a number or a list of numbers")
    src = s.producer(item)
    s.not_reproduced(node, "cfgs_float", f"<from node {item.out.node}>",
                     f"the cfg list comes from node {item.out.node} ({src.type if src else '?'}); this pack's Custom "
                     "CFG Keyframes From List takes the values as text (cfgs): these keyframes are left out, write "
                     "the values into its cfgs")
    return None


def is_src(item) -> bool:
    return isinstance(item, Src)
