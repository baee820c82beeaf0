"""ADE's MODEL-producing nodes (Use Evolved Sampling, the Gen1 loader, the legacy loader with context) -> a chain
of this pack's MODEL-in/MODEL-out nodes: Apply Motion Module per motion model, Apply Context Options, Sample
Settings. The chain's last node takes the ADE node's place for every consumer of its MODEL."""
from .ade_context import apply_context
from .ade_models import KEEP, MotionSpec, apply_motion, model_name_of, sampling_choice
from .ade_sample import sample_settings
from .graph import Const, Src
from .names import ADE_BETA_NAMES, ade_beta_name
from .report import ConversionError

APPLY_TYPES = ("ADE_ApplyAnimateDiffModel", "ADE_ApplyAnimateDiffModelSimple")


def _model_input(s, node):
    model = s.arg(node, "model")
    if not isinstance(model, Src):
        raise ConversionError(f"{node}: its input 'model' is not connected")
    return model


def _finish(s, node, model, out):
    """Context options and sample settings of `node` on `out`; `node`'s MODEL consumers get the result."""
    context = s.source(node, "context_options")
    if context is not None:
        out = apply_context(s, node, out, context)
    settings = s.source(node, "sample_settings")
    if settings is not None:
        out = sample_settings(s, node, out, settings)
    s.remove(node)
    s.reconnect(node, 0, out)


def m_model_specs(s, sink, item) -> list:
    """ADE M_MODELS chain -> MotionSpecs in ADE's execution order (the deepest prev_m_models first)."""
    chain, seen = [], set()
    while item is not None:
        node = s.producer(item)
        if not s.handles(node) or node.type not in APPLY_TYPES or node.id in seen:
            s.unsupported_link(sink, "m_models", item)
            break
        seen.add(node.id)
        chain.append(node)
        item = s.source(node, "prev_m_models") if node.type == "ADE_ApplyAnimateDiffModel" else None
    specs = []
    for node in reversed(chain):
        s.remove(node)
        loader_src = s.source(node, "motion_model")
        loader = s.producer(loader_src) if loader_src is not None else None
        if not s.handles(loader) or loader.type != "ADE_LoadAnimateDiffModel":
            if loader_src is not None:
                s.unsupported_link(node, "motion_model", loader_src)
            else:
                raise ConversionError(f"{node}: its input 'motion_model' is not connected")
            continue
        s.remove(loader)
        _per_block(s, node)
        advanced = node.type == "ADE_ApplyAnimateDiffModel"
        if advanced and s.literal(node, "apply_v2_properly") is False:
            s.not_reproduced(node, "apply_v2_properly", False, "v2 GroupNorm across frames is not offered here")
        specs.append(MotionSpec(
            origin=node.id, loader=loader, lora=s.source(node, "motion_lora"), scale=s.source(node, "scale_multival"),
            effect=s.source(node, "effect_multival"), keyframes=s.source(node, "ad_keyframes"),
            start=s.arg(node, "start_percent") if advanced else Const(0.0),
            end=s.arg(node, "end_percent") if advanced else Const(1.0),
            settings=s.source(loader, "ad_settings") or s.source(loader, "mm_settings"), owner=node))
    return specs


def _per_block(s, node):
    if s.source(node, "per_block") is not None:
        s.not_reproduced(node, "per_block", "<linked>", "no per-block motion settings in this pack")


def use_evolved_sampling(s, node):
    model = _model_input(s, node)
    beta = s.arg(node, "beta_schedule")
    m_models = s.source(node, "m_models")
    specs = m_model_specs(s, node, m_models) if m_models is not None else []
    out = model
    for i, spec in enumerate(specs):
        newest = i == len(specs) - 1
        sampling = sampling_choice(s, node, beta, model_name_of(s, spec.loader)) if newest else KEEP
        out = apply_motion(s, out, spec, sampling, spec.origin)
    if not specs:
        out = _plain_sampling(s, node, out, beta)
    _finish(s, node, model, out)


def _plain_sampling(s, node, model, beta):
    """ADE's beta schedule on a MODEL without motion models (autoselect then keeps the model's own)."""
    name = ade_beta_name(beta.value) if isinstance(beta, Const) else None
    choice = ADE_BETA_NAMES.get(name)
    if name in ("autoselect", "use existing") or choice is None:
        return model
    if not s.targets.has("ALCM_ModelSampling"):
        s.not_reproduced(node, "beta_schedule", name, "this checkout has no Model Sampling node")
        return model
    return s.emit("ALCM_ModelSampling", node.id, {"model": model, "schedule": choice}, memo=("sampling", node.id))


def gen1_loader(s, node):
    model = _model_input(s, node)
    _per_block(s, node)
    spec = MotionSpec(origin=node.id, loader=node, lora=s.source(node, "motion_lora"),
                      scale=s.source(node, "scale_multival"), effect=s.source(node, "effect_multival"),
                      keyframes=s.source(node, "ad_keyframes"), settings=s.source(node, "ad_settings"), owner=node)
    sampling = sampling_choice(s, node, s.arg(node, "beta_schedule"), model_name_of(s, node))
    out = apply_motion(s, model, spec, sampling, node.id)
    _finish(s, node, model, out)


def legacy_loader(s, node):
    """ADE_AnimateDiffLoaderWithContext (deprecated): motion_scale is the motion model's scale."""
    model = _model_input(s, node)
    if s.literal(node, "apply_v2_models_properly") is False:
        s.not_reproduced(node, "apply_v2_models_properly", False,
                         "v2 modules get ADE's GroupNorm across frames then; this pack keeps v2's own per-frame norms")
    if "apply_mm_groupnorm_hack" in s.values(node) and s.values(node)["apply_mm_groupnorm_hack"] is False:
        s.not_reproduced(node, "apply_mm_groupnorm_hack", False)
    settings = s.source(node, "ad_settings") or s.source(node, "motion_model_settings")
    spec = MotionSpec(origin=node.id, loader=node, lora=s.source(node, "motion_lora"),
                      scale=s.arg(node, "motion_scale"), keyframes=s.source(node, "ad_keyframes"),
                      settings=settings, owner=node)
    if isinstance(spec.scale, Src):
        spec.scale = Const(s.literal(node, "motion_scale"))
    sampling = sampling_choice(s, node, s.arg(node, "beta_schedule"), model_name_of(s, node))
    out = apply_motion(s, model, spec, sampling, node.id)
    _finish(s, node, model, out)


def unload(s, node):
    """ADE_AnimateDiffUnload: passes its MODEL on (this pack needs no unloading)."""
    s.remove(node)
    s.reconnect(node, 0, _model_input(s, node))
    s.note(node, "removed: this pack needs no unload node; its MODEL is passed on")


SINKS = {"ADE_UseEvolvedSampling": use_evolved_sampling, "ADE_AnimateDiffLoaderGen1": gen1_loader,
         "ADE_AnimateDiffLoaderWithContext": legacy_loader, "ADE_AnimateDiffUnload": unload}
