"""ADE motion-model settings (positional-encoding and weight adjustments, the deprecated all-in-one settings nodes)
and AnimateDiff keyframes -> this pack's motion-model transforms and Motion Keyframe chain."""
from .graph import Const, Src

PE_NODES = {
    "ADE_AdjustPESweetspotStretch": ("ALCM_PESweetspotStretch", {"sweetspot": "sweetspot",
                                                                 "new_sweetspot": "new_sweetspot"}),
    "ADE_AdjustPEFullStretch": ("ALCM_AdjustPE", {"pe_stretch": "pe_stretch"}),
    "ADE_AdjustPEManual": ("ALCM_AdjustPE", {n: n for n in ("cap_initial_pe_length", "interpolate_pe_to_length",
                                                            "initial_pe_idx_offset", "final_pe_idx_offset")}),
}
WEIGHT_NODES = {t: ("ALCM_AddMotionWeights" if t.endswith("Add") else "ALCM_MultiplyMotionWeights")
                for t in ("ADE_AdjustWeightAllAdd", "ADE_AdjustWeightAllMult", "ADE_AdjustWeightIndivAdd",
                          "ADE_AdjustWeightIndivMult", "ADE_AdjustWeightIndivAttnAdd", "ADE_AdjustWeightIndivAttnMult")}
OLD_SETTINGS = ("ADE_AnimateDiffModelSettings", "ADE_AnimateDiffModelSettingsAdvancedAttnStrengths",
                "ADE_AnimateDiffModelSettingsSimple", "ADE_AnimateDiffModelSettings_Release")
PE_FIELDS = ("cap_initial_pe_length", "interpolate_pe_to_length", "initial_pe_idx_offset", "final_pe_idx_offset")


def _walk(s, owner, name, item, prev_name, types):
    """The nodes of an ADE linked list (prev_* first), each checked to be one of `types`."""
    chain, seen = [], set()
    while item is not None:
        node = s.producer(item)
        if not s.handles(node) or node.type not in types or node.id in seen:
            s.unsupported_link(owner, name, item)
            break
        seen.add(node.id)
        chain.append(node)
        item = s.source(node, prev_name)
    return list(reversed(chain))


def _print_note(s, node):
    if s.literal(node, "print_adjustment") is True:
        s.note(node, "print_adjustment=True: the adjustment is not printed", "print_adjustment", True)


def settings_chain(s, owner, item, motion):
    node = s.producer(item)
    if not s.handles(node) or node.type not in ("ADE_AnimateDiffSettings",) + OLD_SETTINGS:
        s.unsupported_link(owner, "ad_settings", item)
        return motion
    s.remove(node)
    if node.type in OLD_SETTINGS:
        return _old_settings(s, node, motion)
    pe = s.source(node, "pe_adjust")
    for adj in _walk(s, node, "pe_adjust", pe, "prev_pe_adjust", PE_NODES) if pe else []:
        ours, names = PE_NODES[adj.type]
        _print_note(s, adj)
        s.remove(adj)
        inputs = {ours_name: s.arg(adj, ade) for ade, ours_name in names.items()}
        motion = s.emit(ours, adj.id, {"motion_model": motion, **inputs}, memo=("pe", adj.id, motion))
    weights = s.source(node, "weight_adjust")
    for adj in _walk(s, node, "weight_adjust", weights, "prev_weight_adjust", WEIGHT_NODES) if weights else []:
        _print_note(s, adj)
        s.remove(adj)
        parts = {name.rsplit("_", 1)[0]: s.arg(adj, name) for name in s.tables[adj.type].fields
                 if name != "print_adjustment"}
        motion = s.emit(WEIGHT_NODES[adj.type], adj.id, {"motion_model": motion, **parts},
                        memo=("weights", adj.id, motion))
    return motion


def _old_settings(s, node, motion):
    """ADE's deprecated settings nodes: PE options, strengths (a weight multiply), a motion-scale mask."""
    fields = s.tables[node.type].fields
    pe = {n: s.literal(node, n) for n in PE_FIELDS if n in fields}
    if "motion_pe_stretch" in fields:
        pe["pe_stretch"] = s.literal(node, "motion_pe_stretch")
    if any(v for v in pe.values()):
        motion = s.emit("ALCM_AdjustPE", node.id, {"motion_model": motion, **pe}, memo=("old_pe", node.id, motion))
    strengths = {n[:-len("_strength")]: s.arg(node, n) for n in fields if n.endswith("_strength")}
    if any(not (isinstance(v, Const) and v.value == 1.0) for v in strengths.values()):
        motion = s.emit("ALCM_MultiplyMotionWeights", node.id, {"motion_model": motion, **strengths},
                        memo=("old_weights", node.id, motion))
    if s.source(node, "mask_motion_scale") is not None:
        s.not_reproduced(node, "mask_motion_scale", "<linked>", "connect the mask to a 'Multival from Mask' node "
                         "(min_motion_scale..max_motion_scale) on Apply Motion Module's scale_multival")
    return motion


def keyframe_chain(s, owner, item):
    """ADE AD_KEYFRAMES -> NewOut of a Motion Keyframe chain (or None when nothing is reproducible)."""
    nodes = _walk(s, owner, "ad_keyframes", item, "prev_ad_keyframes", ("ADE_AnimateDiffKeyframe",))
    keyed = sorted(((s.literal(n, "start_percent"), i, n) for i, n in enumerate(nodes)), key=lambda t: t[:2])
    out, last, used = None, {"scale": "1.0", "effect": "1.0"}, set()
    for start, _, node in keyed:
        s.remove(node)
        if start in used:
            s.not_reproduced(node, "start_percent", start, "two keyframes start at the same percent; this one is "
                                                           "left out")
            continue
        used.add(start)
        if s.literal(node, "guarantee_steps") != 1:
            s.not_reproduced(node, "guarantee_steps", s.literal(node, "guarantee_steps"))
        if s.source(node, "per_block_replace") is not None:
            s.not_reproduced(node, "per_block_replace", "<linked>", "no per-block motion settings in this pack")
        values = {}
        for kind in ("scale", "effect"):
            text = _keyframe_value(s, node, kind)
            if text is None:
                text = last[kind] if s.literal(node, "inherit_missing") else "1.0"
            values[kind] = last[kind] = text
        out = s.emit("ALCM_MotionKeyframe", node.id, {"start_percent": start, "effect": values["effect"],
                                                      "scale": values["scale"], "prev_keyframes": out},
                     memo=("keyframe", node.id, out))
    return out


def _keyframe_value(s, node, kind):
    item = s.source(node, f"{kind}_multival")
    if item is None:
        return None
    src = s.producer(item)
    if s.handles(src) and src.type == "ADE_MultivalDynamic" and s.source(src, "mask_optional") is None:
        value = s.arg(src, "float_val")
        if isinstance(value, Const):
            s.remove(src)
            return repr(float(value.value))
    s.unsupported_link(node, f"{kind}_multival", item)
    return None
