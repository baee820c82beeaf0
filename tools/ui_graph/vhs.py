"""VideoHelperSuite's frontend code (web/js/VHS.core.js of 1.7.9) at load time, reproduced.

- Its nodes keep only widgets that are inputs of their definition, then get an upload button and a preview; their
  INT/FLOAT widgets are its own (VHSINT/VHSFLOAT) with callbacks that clamp and round to the step (`mod` offset), a
  VHSINT ignoring 0 and an undefined step making NaN (sent as null).
- Values are saved as a dict keyed by widget name and read back by name (useKVState): a widget the dict lacks takes
  its definition's default when that is truthy (read loosely: a type name's first letter when there is no default),
  otherwise keeps what it had; each value read runs the widget's callback. An older list of values is first turned
  into a dict through VHS's table of old layouts (`convDict`, when the list is at least that long), the retired
  `force_size` becomes custom_width / custom_height, `save_image` is read for `save_output`.
- Video Combine's `format` adds the chosen format's widgets right after it. A load node's `format` sets the step /
  offset / reset of force_rate, custom_width, custom_height and frame_load_cap (and re-runs their callbacks); a load
  node runs every widget's callback when it is created.
"""
import math

from tools.ui_graph.widgets import UNDEFINED, Widget, _default, spec_parts

OLD_LAYOUTS = {  # convDict: positions of an old list of values (None: the upload button)
    "VHS_LoadImages": ["directory", None, "image_load_cap", "skip_first_images", "select_every_nth"],
    "VHS_LoadImagesPath": ["directory", "image_load_cap", "skip_first_images", "select_every_nth"],
    "VHS_VideoCombine": ["frame_rate", "loop_count", "filename_prefix", "format", "pingpong", "save_image"],
    "VHS_LoadVideo": ["video", "force_rate", "force_size", "frame_load_cap", "skip_first_frames", "select_every_nth"],
    "VHS_LoadVideoPath": ["video", "force_rate", "force_size", "frame_load_cap", "skip_first_frames",
                          "select_every_nth"],
}
RENAMED = {"VHS_VideoCombine": {"save_output": "save_image"}}
UPLOAD = {"VHS_LoadImages": "choose folder to upload", "VHS_LoadVideo": "choose video to upload",
          "VHS_LoadVideoFFmpeg": "choose video to upload", "VHS_LoadAudioUpload": "choose audio to upload"}
LOAD_COMMON = ("VHS_LoadImages", "VHS_LoadImagesPath", "VHS_LoadVideo", "VHS_LoadVideoFFmpeg", "VHS_LoadVideoPath",
               "VHS_LoadVideoFFmpegPath", "VHS_LoadImagePath")
VIDEO_PREVIEW = (*LOAD_COMMON, "VHS_VideoCombine")
AUDIO_PREVIEW = ("VHS_LoadAudio", "VHS_LoadAudioUpload")
FORMAT_TARGETS = ("force_rate", "custom_width", "custom_height", "frame_load_cap")


def fresh_widgets(node_type: str, widgets: list[Widget], definition: dict) -> list[Widget]:
    """A new VHS node: the widgets of its definition's inputs (INT/FLOAT as VHS's own), upload button, preview; a
    load node then runs every widget's callback."""
    section = definition.get("input") or {}
    specs = {**(section.get("optional") or {}), **(section.get("required") or {})}
    out = [w for w in widgets if w.name in specs]
    for w in out:
        if w.kind in ("INT", "FLOAT"):
            w.kind = "VHS" + w.kind
    if node_type in UPLOAD:
        out.append(Widget(UPLOAD[node_type], "image", to_prompt=False, kind="button"))
    if node_type in VIDEO_PREVIEW:
        out.append(Widget("videopreview", UNDEFINED, to_prompt=False, kind="preview"))
    if node_type in AUDIO_PREVIEW:
        out.append(Widget("audiopreview", UNDEFINED, to_prompt=False, kind="preview"))
    if node_type in LOAD_COMMON:
        base = {w.name: dict(w.options) for w in out if w.name in FORMAT_TARGETS}
        for w in out:
            w.base_options = base  # what the load format's callback starts from
        for i in range(len(out)):
            if out[i].kind != "button":
                _callback(node_type, out, i, section)
    return out


def restore(state, values, definition: dict, notes: list[str]) -> None:
    """useKVState's onConfigure, after the frontend gave the saved values to the widgets in order."""
    if not state.widgets or not isinstance(values, (list, dict)):
        return
    node_type = state.node.type
    saved = values
    if isinstance(values, list) and values and node_type in OLD_LAYOUTS and len(values) >= len(OLD_LAYOUTS[node_type]):
        saved = {name: v for name, v in zip(OLD_LAYOUTS[node_type], values) if name}
    if isinstance(saved, dict):
        saved = dict(saved)
        _force_size(saved)
        _by_name(state, saved, definition.get("input") or {})
    elif len(values) != len(state.widgets):
        notes.append(f"{state.node.describe()}: VideoHelperSuite's web UI reports 'Failed to restore node' ({len(values)} "
                     f"values for {len(state.widgets)} widgets); the values are taken in order")


def _force_size(saved: dict) -> None:
    force = saved.get("force_size")
    if force is None:
        return
    if isinstance(force, str) and "x" in force:
        width, height = force.split("x")[:2]
        saved["custom_width"] = _js_int(width) if width != "?" else 0
        saved["custom_height"] = _js_int(height) if height != "?" else 0
        return
    if force in ("Disabled", "Custom Height"):
        saved["custom_width"] = 0
    if force in ("Disabled", "Custom Width"):
        saved["custom_height"] = 0


def _by_name(state, saved: dict, section: dict) -> None:
    renamed = RENAMED.get(state.node.type, {})
    i = 0
    while i < len(state.widgets):  # callbacks may add widgets after the current one
        w = state.widgets[i]
        i += 1
        if w.kind == "button":
            continue
        if w.name in saved:
            w.value = saved[w.name]
        elif w.name in renamed and renamed[w.name] in saved:
            w.value = saved[renamed[w.name]]
        else:
            initial = _initial(section, w.name)
            if not _truthy(initial):
                continue
            w.value = initial
        _callback(state.node.type, state.widgets, i - 1, section, state)


def _initial(section: dict, name: str):
    for key in ("required", "optional"):
        spec = (section.get(key) or {}).get(name)
        if spec is not None:
            options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            if "default" in options:
                return options["default"]
            return spec[0][0] if spec[0] else None  # a list's first option, or a type name's first letter
    return None


def _callback(node_type: str, widgets: list[Widget], index: int, section: dict, state=None) -> None:
    w = widgets[index]
    if w.kind == "VHSINT":
        _int_callback(w)
    elif w.kind == "VHSFLOAT":
        _float_callback(w)
    if w.name == "format" and node_type == "VHS_VideoCombine" and state is not None:
        _combine_format(state, index, section)
    elif w.name == "format" and node_type in LOAD_COMMON:
        _load_format(node_type, widgets, w, section)


def _int_callback(w: Widget) -> None:
    v, o = w.value, w.options
    if _truthy(o.get("max")) and _gt(v, o["max"]):
        v = o["max"]
    if _truthy(o.get("min")) and _gt(o["min"], v):
        v = o["min"]
    if _loose_zero(v):
        return
    step, mod = _num(o.get("step", UNDEFINED)), _num(o.get("mod") if o.get("mod") is not None else 0)
    w.value = _whole(_js_round(_div(_num(v) - mod, step)) * step + mod)


def _float_callback(w: Widget) -> None:
    v, o = w.value, w.options
    if _truthy(o.get("round")):
        v = _whole(_js_round(_div(_num(v) + 2.220446049250313e-16, _num(o["round"]))) * _num(o["round"]))
    if _truthy(o.get("max")) and _gt(v, o["max"]):
        v = o["max"]
    if _truthy(o.get("min")) and _gt(o.get("max", UNDEFINED), v):  # VHS compares with max here
        v = o["min"]
    w.value = v


def _load_format(node_type: str, widgets: list[Widget], format_widget: Widget, section: dict) -> None:
    spec = (section.get("optional") or {}).get("format") or [[], {}]
    formats = (spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}).get("formats") or {}
    fmt = formats.get(format_widget.value) if isinstance(format_widget.value, str) else None
    if not fmt:
        return
    extra = {}
    if "target_rate" in fmt:
        extra["force_rate"] = {"reset": fmt["target_rate"]}
    if "dim" in fmt:
        dim = fmt["dim"]
        extra["custom_width"] = {"step": dim[0], "mod": dim[1], **({"reset": dim[2]} if _truthy(_at(dim, 2)) else {})}
        extra["custom_height"] = {"step": dim[0], "mod": dim[1], **({"reset": dim[3]} if _truthy(_at(dim, 3)) else {})}
    if "frames" in fmt:
        extra["frame_load_cap"] = {"step": fmt["frames"][0], "mod": fmt["frames"][1]}
    base = getattr(format_widget, "base_options", {})
    for i, w in enumerate(widgets):
        if w.name not in base:
            continue
        was_default = _loose_eq(w.options.get("reset", UNDEFINED), w.value)
        w.options = {**base[w.name], **extra.get(w.name, {})}
        if was_default and w.options.get("reset") is not None:
            w.value = w.options["reset"]
        _callback(node_type, widgets, i, section)


def _combine_format(state, index: int, section: dict) -> None:
    """Video Combine's format callback: the chosen format's widgets replace the previous format's, after it."""
    spec = (section.get("required") or {}).get("format") or [[], {}]
    formats = (spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}).get("formats") or {}
    value = state.widgets[index].value
    added = []
    for wdef in (formats.get(value) if isinstance(value, str) else None) or []:
        kind, options, choices = spec_parts(wdef[1:])
        added.append(Widget(wdef[0], _default(kind, options, choices), kind=kind, options=dict(options)))
    count = getattr(state, "vhs_format_count", 0)
    state.widgets[index + 1:index + 1 + count] = added
    state.vhs_format_count = len(added)


# JavaScript's loose semantics, as VHS's code relies on them
def _truthy(v) -> bool:
    if v is UNDEFINED or v is None:
        return False
    if isinstance(v, float) and math.isnan(v):
        return False
    return bool(v) if isinstance(v, (bool, int, float, str)) else True


def _num(v) -> float:
    """Number(v) as JS arithmetic sees it."""
    if v is UNDEFINED:
        return math.nan
    if v is None or v is False:
        return 0
    if v is True:
        return 1
    if isinstance(v, (int, float)):
        return v
    if isinstance(v, str):
        try:
            return float(v.strip()) if v.strip() else 0
        except ValueError:
            return math.nan
    return math.nan


def _gt(a, b) -> bool:
    if a is UNDEFINED or b is UNDEFINED:
        return False
    x, y = _num(a), _num(b)
    return not (math.isnan(x) or math.isnan(y)) and x > y


def _loose_zero(v) -> bool:
    """v == 0 in JS."""
    if v is UNDEFINED or v is None:
        return False
    return _num(v) == 0 if isinstance(v, (bool, int, float, str)) else False


def _loose_eq(a, b) -> bool:
    if (a is UNDEFINED or a is None) and (b is UNDEFINED or b is None):
        return True
    if a is UNDEFINED or a is None or b is UNDEFINED or b is None:
        return False
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return _num(a) == _num(b)


def _div(a: float, b: float) -> float:
    if b == 0:
        return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a)
    return a / b


def _js_round(x: float) -> float:
    return math.floor(x + 0.5) if not math.isnan(x) and not math.isinf(x) else x


def _whole(x):
    """JS numbers print without ".0": keep integral results as int."""
    return int(x) if isinstance(x, float) and x.is_integer() else x


def _js_int(text: str):
    try:
        return int(text)
    except ValueError:
        return math.nan


def _at(seq, i):
    return seq[i] if i < len(seq) else UNDEFINED
