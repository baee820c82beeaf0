"""A node's widgets and slots as the frontend builds them from the node definition, and its saved values restored.

The frontend creates a node from its `/object_info` definition: inputs in `input_order` (required, then optional,
then any others), first a socket for each input that has no widget, then for each widget input its widget(s) and a
socket (new frontends give every widget an input socket). A widget input is one whose type (or `widgetType`) the
frontend has a widget for and that is not `forceInput`. Some widgets are the frontend's own and never reach the
prompt (`options.serialize = false`) but still take a slot in the saved `widgets_values`: the "control after
generate" combo after a seed (INT named seed/noise_seed, or any input with `control_after_generate`; a combo with it
also gets a filter-list text), the upload button that `image_upload`/`video_upload`/`animated_image_upload`/
`audio_upload` combos get (an extra `upload` input added to the required inputs, so it follows the optional ones
when the definition has an `input_order`), and the refresh toggle and button of a remote combo. A dynamic combo
(V3 API) adds the widgets of its chosen option right after it, named "<combo>.<input>".

Saved values are restored as the frontend does: an older layout is realigned first (`migrateWidgetsValues`, whose
rules differ by release), then values are given to the saved widgets in order; a widget past the end of the list
keeps its default (the file predates it), values past the last widget are ignored. Both are reported as notes.
"""
from dataclasses import dataclass, field

from tools.ui_graph.frontend import Frontend

CONTROL = "control_after_generate"
FILTER = "control_filter_list"
UPLOAD = "upload"
UPLOAD_FLAGS = ("image_upload", "video_upload", "animated_image_upload")
# Widget types of the frontend itself (its ComfyWidgets table, 1.27-1.58) and the dynamic ones of the V3 node API.
CORE_WIDGET_TYPES = {"INT", "FLOAT", "BOOLEAN", "STRING", "MARKDOWN", "COMBO", "IMAGEUPLOAD", "FILEUPLOAD", "COLOR",
                     "IMAGECOMPARE", "TREESELECT", "MULTISELECT", "CHART", "GALLERIA", "SELECTBUTTON", "TEXTAREA",
                     "BOUNDING_BOX", "PAINTER", "COMPOSITOR", "CURVE", "RANGE", "BOUNDING_BOXES", "COLORS",
                     "VIDEO_EDIT", "RESOLUTION_PREVIEW", "LIGHT_INFO_PREVIEW", "COMFY_DYNAMICCOMBO_V3", "AUDIOUPLOAD"}
# Widget types that packs' frontend code registers: name -> (sent in the prompt, saved in widgets_values, value;
# None: the definition's default, else 0).
PACK_WIDGET_TYPES = {
    "ADEAUTOSIZE": (False, True, ""),  # AnimateDiff-Evolved: layout helper, saved as ""
    "ADEWARN": (False, True, ""),  # AnimateDiff-Evolved: deprecation text, saved as ""
    "ACNAUTOSIZE": (False, True, ""),  # Advanced-ControlNet 1.5.6: layout helper, saved as ""
    "VHSTIMESTAMP": (True, True, None),  # VideoHelperSuite: a time in seconds
}
DYNAMIC_COMBO = "COMFY_DYNAMICCOMBO_V3"  # a combo whose chosen option adds widgets "<combo>.<input>" after it


class Undefined:
    """JavaScript's undefined: a widget value that JSON.stringify drops (the input is then absent)."""

    def __repr__(self):
        return "undefined"


UNDEFINED = Undefined()


@dataclass
class Widget:
    name: str
    value: object
    to_prompt: bool = True  # false: the frontend's own (options.serialize = false)
    saved: bool = True  # takes a slot in widgets_values
    dynamic_prompts: bool = False  # {a|b} choices and // comments are resolved when queued
    kind: str = ""
    choices: dict | None = None  # a dynamic combo's option -> the inputs it adds
    options: dict = field(default_factory=dict)  # the input's options (packs' frontend code reads them)


@dataclass
class SlotDef:
    name: str
    type: object
    widget: bool = False


@dataclass
class Layout:
    """A fresh node of one type: its widgets, input sockets and outputs, and what migrateWidgetsValues reads."""
    widgets: list[Widget]
    inputs: list[SlotDef]
    outputs: list[SlotDef]
    # (name, forceInput, control_after_generate, has widget, has seed-like name) of each input with a widget or
    # forceInput, in the definition's own order
    widget_inputs: list[tuple] = field(default_factory=list)
    known: bool = True  # built from a definition (False: from a table of widget names only)


def spec_parts(spec) -> tuple[str, dict, list | None]:
    """(type, options, combo options) of a V1 input spec `[type or [choices...], {options}]`."""
    if not isinstance(spec, (list, tuple)) or not spec:
        return "*", {}, None
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    kind = spec[0]
    if isinstance(kind, (list, tuple)):
        return "COMBO", options, list(kind)
    if kind == "COMBO":
        return "COMBO", options, list(options.get("options") or [])
    return str(kind), options, None


def _default(kind: str, options: dict, choices):
    if kind in ("INT", "FLOAT"):
        return options.get("default", 0) if options.get("default") is not None else 0
    if kind == "BOOLEAN":
        return options.get("default") if options.get("default") is not None else False
    if kind == "STRING":
        return options.get("default") if options.get("default") is not None else ""
    if kind == "COMBO":
        if options.get("default"):
            return options["default"]
        if choices:
            return choices[0]
        return "Loading..." if options.get("remote") else UNDEFINED
    if kind == DYNAMIC_COMBO:
        keys = [o.get("key") for o in options.get("options") or [] if isinstance(o, dict)]
        return options.get("default") or (keys[0] if keys else UNDEFINED)
    return options.get("default", UNDEFINED)


def v2_inputs(definition: dict) -> dict[str, tuple[object, bool]]:
    """name -> (spec, optional) in the order of the frontend's V2 definition: required (with the upload input the
    frontend adds after an upload combo's section), then optional."""
    section = definition.get("input") or {}
    required = dict(section.get("required") or {})
    for name, spec in list(required.items()):
        kind, options, _ = spec_parts(spec)
        if kind == "COMBO" and any(options.get(f) is True for f in UPLOAD_FLAGS):
            required[UPLOAD] = ["IMAGEUPLOAD", {**options, "imageInputName": name}]
            break
    if spec_parts(required.get("audio"))[1].get("audio_upload") is True:
        required[UPLOAD] = ["AUDIOUPLOAD", {}]
    merged = {name: (spec, False) for name, spec in required.items()}
    for name, spec in (section.get("optional") or {}).items():
        merged[name] = (spec, True)
    return merged


def ordered_inputs(definition: dict) -> list[tuple[str, object]]:
    """(name, spec) of each input in the order the frontend creates them (getOrderedInputSpecs)."""
    merged = v2_inputs(definition)
    order = definition.get("input_order")
    if not order:
        return [(n, s) for n, (s, _) in merged.items()]
    out, seen = [], set()
    for optional, key in ((False, "required"), (True, "optional")):
        for name in order.get(key) or []:
            if name in merged and merged[name][1] == optional and name not in seen:
                out.append((name, merged[name][0]))
                seen.add(name)
    return out + [(n, s) for n, (s, _) in merged.items() if n not in seen]


def _is_widget(kind: str, options: dict, frontend: Frontend) -> bool:
    wtype = options.get("widgetType") or kind
    if wtype == DYNAMIC_COMBO and frontend.version < (1, 28, 0):
        return False  # 1.27 has no dynamic widgets: a socket
    return (wtype in CORE_WIDGET_TYPES or wtype in PACK_WIDGET_TYPES) and not options.get("forceInput")


def _widgets_for(name: str, kind: str, options: dict, choices, frontend: Frontend) -> list[Widget]:
    wtype = options.get("widgetType") or kind
    if wtype == "IMAGEUPLOAD":
        return [Widget(name, "image", to_prompt=False, kind="button")]
    if wtype == "AUDIOUPLOAD":
        return [Widget(name, "", to_prompt=False, kind="button")]
    if wtype in PACK_WIDGET_TYPES:
        to_prompt, saved, value = PACK_WIDGET_TYPES[wtype]
        value = value if value is not None else options.get("default", 0)
        return [Widget(name, value, to_prompt, saved, kind=wtype)]
    if kind == DYNAMIC_COMBO:
        combo = Widget(name, _default(kind, options, choices), kind=kind,
                       choices={o["key"]: o.get("inputs") or {} for o in options.get("options") or []
                                if isinstance(o, dict) and "key" in o})
        return [combo, *dynamic_widgets(combo, frontend)]
    main = Widget(name, _default(kind, options, choices), dynamic_prompts=kind == "STRING" and
                  options.get("dynamicPrompts") is True, kind=kind, options=dict(options))
    remote = options.get("remote") if isinstance(options.get("remote"), dict) else {}
    if kind == "COMBO" and remote.get("refresh_button"):
        return [main, Widget("Auto-refresh after generation", False, to_prompt=False, kind="control"),
                Widget("refresh", "refresh", kind="button")]
    control = options.get(CONTROL)
    if kind == "INT" and control is None:
        control = name in ("seed", "noise_seed")
    if kind == "FLOAT" and frontend.version < (1, 28, 0):
        control = False
    if kind in ("INT", "FLOAT", "COMBO") and control:
        extra = [Widget(CONTROL, "fixed", to_prompt=False, kind="control")]
        if kind == "COMBO":
            extra.append(Widget(FILTER, "", to_prompt=False, kind="control"))
        return [main, *extra]
    return [main]


def dynamic_widgets(combo: Widget, frontend: Frontend) -> list[Widget]:
    """The widgets the chosen option of a dynamic combo adds after it (named "<combo>.<input>")."""
    added = (combo.choices or {}).get(combo.value) if isinstance(combo.value, str) else None
    out = []
    for section in ("required", "optional"):
        for key, spec in ((added or {}).get(section) or {}).items():
            kind, options, choices = spec_parts(spec)
            if _is_widget(kind, options, frontend):
                out += _widgets_for(f"{combo.name}.{key}", kind, options, choices, frontend)
    return out


def set_value(widgets: list[Widget], index: int, value, frontend: Frontend) -> None:
    """widget.value = value, with a dynamic combo's widgets replaced by those of the new choice."""
    w = widgets[index]
    w.value = value
    if w.choices is None:
        return
    end = index + 1
    while end < len(widgets) and widgets[end].name.startswith(w.name + "."):
        end += 1
    widgets[index + 1:end] = dynamic_widgets(w, frontend)


def layout_from_definition(definition: dict, frontend: Frontend) -> Layout:
    """The widgets and slots a fresh node of this definition has in `frontend`."""
    widgets, sockets, widget_sockets, migrate = [], [], [], []
    for name, spec in ordered_inputs(definition):
        kind, options, choices = spec_parts(spec)
        if _is_widget(kind, options, frontend):
            widgets += _widgets_for(name, kind, options, choices, frontend)
            widget_sockets.append(SlotDef(name, kind, widget=True))
        else:
            sockets.append(SlotDef(name, kind))
    for name, (spec, _) in v2_inputs(definition).items():
        kind, options, _ = spec_parts(spec)
        has_widget = _is_widget(kind, options, frontend)
        if has_widget or options.get("forceInput"):
            migrate.append((name, bool(options.get("forceInput")), options.get(CONTROL), has_widget,
                            name in ("seed", "noise_seed")))
    names = definition.get("output_name") or []
    outputs = [SlotDef(names[i] if i < len(names) and names[i] else f"output_{i}",
                       "COMBO" if isinstance(t, (list, tuple)) else t) for i, t in enumerate(definition.get("output")
                                                                                 or [])]
    return Layout(widgets, sockets + widget_sockets, outputs, migrate)


def layout_from_names(names: list[str], frontend_only=(CONTROL, UPLOAD)) -> Layout:
    """A layout from widget names alone (tools/widget_table.py): no defaults, types or sockets are known."""
    return Layout([Widget(n, UNDEFINED, to_prompt=n not in frontend_only) for n in names], [], [], known=False)


def migrate_values(layout: Layout, values: list, frontend: Frontend) -> list:
    """The frontend's migrateWidgetsValues: values of a layout that still had widgets for `forceInput` inputs (and
    the like) realigned to the current widgets. Rules of the release `frontend` imitates."""
    if not layout.known:
        return values
    rules = frontend.widgets_migration
    if rules == "1.27":
        count = sum(2 if control or seed_like else 1 for _, _, control, _, seed_like in layout.widget_inputs)
        if count != _length(values):
            return values
        inputs = layout.widget_inputs  # zipped one value per input, as 1.27 does (misaligned after a seed)
        return [v for i, v in enumerate(values) if i >= len(inputs) or not inputs[i][1]]
    flags = []
    skipped = {w.name for w in layout.widgets if not w.saved}
    for name, force, control, _, _ in layout.widget_inputs:
        if rules == "1.58" and name in skipped:
            continue
        flags += [force, False] if control else [force]
    if rules == "1.48":
        if len(flags) != _length(values):
            return values
        return [v for force, v in zip(flags, _items(values)) if not force]
    saved_count = sum(1 for w in layout.widgets if w.saved)
    if True not in flags and _length(values) == saved_count:
        return values
    compacted = [v for i, v in enumerate(_items(values))
                 if isinstance(values, dict) or i >= len(layout.widgets) or layout.widgets[i].saved]
    if len(compacted) == len(flags):
        aligned = compacted
    elif _length(values) == len(flags):
        aligned = list(values)
    else:
        return values
    return [v for force, v in zip(flags, aligned) if not force]


def _length(values):
    """JavaScript's `values.length`: None for a dict (undefined never equals a count)."""
    return len(values) if isinstance(values, list) else None


def _items(values):
    return list(values.values()) if isinstance(values, dict) else list(values)


def restore_values(widgets: list[Widget], values, frontend: Frontend, where: str, notes: list[str]) -> None:
    """Give the saved values to the saved widgets in order (LGraphNode.configure)."""
    saved = [w for w in widgets if w.saved]
    if isinstance(values, dict):
        if frontend.dict_values_positional:  # widgets_values[i] of a dict: undefined unless a key is "i"
            for i, w in enumerate(saved):
                _assign_undefined_aware(w, values.get(str(i), UNDEFINED))
        return
    if not isinstance(values, list):
        return
    i = used = 0
    while i < len(widgets) and used < len(values):  # a dynamic combo changes the widgets after it as it is set
        if widgets[i].saved:
            set_value(widgets, i, values[used], frontend)
            used += 1
        i += 1
    saved = [w for w in widgets if w.saved]
    if len(values) > len(saved):
        notes.append(f"{where}: {len(values)} saved widget values for {len(saved)} widgets "
                     f"{[w.name for w in saved]}; the frontend ignores the extra values {values[len(saved):]!r}")
    elif len(values) < len(saved):
        missing = [w for w in saved[len(values):] if w.to_prompt]
        if missing:
            notes.append(f"{where}: no saved value for " + ", ".join(f"{w.name} (default {w.value!r})"
                                                                      for w in missing) + " (the file predates them)")


def _assign_undefined_aware(w: Widget, value) -> None:
    """How 1.48's widgets take an undefined value: a combo keeps its own, a multiline text box shows "undefined",
    the others become undefined (checked in the running frontend)."""
    if value is not UNDEFINED:
        w.value = value
    elif w.kind == "STRING" and w.options.get("multiline"):
        w.value = "undefined"
    elif w.kind not in ("COMBO", DYNAMIC_COMBO):
        w.value = UNDEFINED


def process_dynamic_prompt(text: str, choose) -> str:
    """The frontend's dynamic prompts: C-style comments removed, `{a|b|c}` replaced by one option (nested allowed),
    `\\x` kept as written. `choose(options)` picks an option (the frontend picks at random)."""
    import re
    text = re.sub(r"/\*[\s\S]*?\*/|//.*", "", text)
    return _expand(text, [0], choose, top=True)


def _expand(text: str, pos: list, choose, top: bool) -> str:
    out = ""
    while pos[0] < len(text):
        char = text[pos[0]]
        pos[0] += 1
        if char == "\\":
            out += "\\" + (text[pos[0]] if pos[0] < len(text) else "undefined")
            pos[0] += 1
        elif char == "{":
            out += _choice(text, pos, choose)
        else:
            out += char
    return out


def _choice(text: str, pos: list, choose) -> str:
    options, choice, depth = [], "", 0
    while pos[0] < len(text):
        char = text[pos[0]]
        pos[0] += 1
        if char == "\\":
            choice += "\\" + (text[pos[0]] if pos[0] < len(text) else "undefined")
            pos[0] += 1
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            if not depth:
                break
            depth -= 1
        elif char == "|" and not depth:
            options.append(choice)
            choice = ""
            continue
        choice += char
    options.append(choice)
    return _expand(choose(options), [0], choose, top=False)
