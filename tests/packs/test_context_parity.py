"""Context options against AnimateDiff-Evolved (issue 20, option 1): for each option, this pack's nodes and ADE's on
the same graph give the same latents (relative max difference <= 1e-3), and the option visibly acts (> 1e-2 against
the same graph without it, on this pack).

The graph: the reduced-width random SD1.5 MODEL -> ALCMTest_FrameMixer (tests/packs/context_parity_nodes.py: mixes the
frames of each model call, in order, as a motion module would; ADE cannot load reduced-width motion modules) ->
context options (ours: the options nodes + Apply Context Options, full mode; ADE: its options nodes + Use Evolved
Sampling) -> KSampler -> latents. View options act inside motion modules only: they are compared with ADE's own
temporal module class at reduced width on the same weights and input (test_view_options_equal_ade).
"""
import pytest
import torch

FRAMES, SIZE, STEPS, CFG, SEED = 16, 64, 3, 1.0, 5
ADE_IDS = {"static": "ADE_StandardStaticContextOptions", "uniform": "ADE_StandardUniformContextOptions",
           "looped": "ADE_LoopedUniformContextOptions", "legacy": "ADE_AnimateDiffUniformContextOptions",
           "batched": "ADE_BatchedContextOptions"}
OUR_IDS = {"static": "ALCM_ContextOptionsStatic", "uniform": "ALCM_ContextOptionsUniform",
           "looped": "ALCM_ContextOptionsLooped", "legacy": "ALCM_ContextOptionsLooped",
           "batched": "ALCM_ContextOptionsBatched"}
EXPERIMENTAL = ("random", "gauss-sigma", "gauss-sigma inverse", "delayed reverse sawtooth", "pyramid-sigma",
                "pyramid-sigma inverse")
HELPERS = "tests/packs/context_parity_nodes.py"


def entry(kind, length=8, overlap=4, **inputs):
    """One context-options node: (kind, inputs) with the inputs both packs name alike."""
    values = {"context_length": length}
    if kind != "batched":
        values["context_overlap"] = overlap
    if kind in ("uniform", "looped", "legacy"):
        values["context_stride"] = inputs.pop("context_stride", 1)
    if kind in ("looped", "legacy"):
        values["closed_loop"] = inputs.pop("closed_loop", False)
    if kind != "batched":  # always given: a missing fuse_method is flat in ADE's looped nodes, pyramid elsewhere
        values["fuse_method"] = inputs.pop("fuse_method", "pyramid")
    return kind, {**values, **inputs}


# option -> (this pack's node / input, chain with the option, the same chain without it)
CASES = {
    "legacy looped uniform (closed_loop off, flat)": (
        "Context Options: Looped", [entry("legacy", fuse_method="flat")], None),
    "looped uniform, closed_loop": (
        "Context Options: Looped / closed_loop", [entry("looped", closed_loop=True)], [entry("looped")]),
    "standard uniform": ("Context Options: Uniform", [entry("uniform")], None),
    "standard static": ("Context Options: Static", [entry("static")], None),
    "context_stride 2": (
        "Looped / context_stride", [entry("looped", context_stride=2)], [entry("looped")]),
    "batched": ("Context Options: Batched", [entry("batched")], None),
    "use_on_equal_length": (
        "Looped / use_on_equal_length", [entry("looped", length=FRAMES, overlap=4, use_on_equal_length=True)],
        [entry("looped", length=FRAMES, overlap=4)]),
    "prev_context chain, start_percent": (
        "prev_context + start_percent", [entry("static"), entry("looped", length=12, start_percent=0.3)],
        [entry("static")]),
    "guarantee_steps": (  # uniform holds steps 1-2 with 2; with 0 the looped entry, reached too, takes them
        "guarantee_steps", [entry("static"), entry("uniform", start_percent=0.01, guarantee_steps=2),
                            entry("looped", length=12, start_percent=0.02)],
        [entry("static"), entry("uniform", start_percent=0.01, guarantee_steps=0),
         entry("looped", length=12, start_percent=0.02)]),
}
for _method in ("relative", "flat", "overlap-linear", "delayed reverse sawtooth", "pyramid-sigma",
                "pyramid-sigma inverse", "gauss-sigma", "gauss-sigma inverse"):
    _kind = "static" if _method == "relative" else "looped"  # ADE offers relative with static windows only
    CASES[f"fuse {_method}"] = ("fuse_method", [entry(_kind, fuse_method=_method)],
                                [entry(_kind, fuse_method="pyramid" if _method in ("flat", "gauss-sigma") else "flat")])


def graph(side: str, chain, sampler: str = "euler") -> dict:
    g = {"sd": {"class_type": "ALCMTest_RandomSD15", "inputs": {"seed": 0}},
         "mix": {"class_type": "ALCMTest_FrameMixer", "inputs": {"model": ["sd", 0], "strength": 1.0}},
         "pos": {"class_type": "ALCMTest_RandomCond", "inputs": {"seed": 1}},
         "neg": {"class_type": "ALCMTest_RandomCond", "inputs": {"seed": 2}},
         "latent": {"class_type": "EmptyLatentImage", "inputs": {"width": SIZE, "height": SIZE, "batch_size": FRAMES}}}
    previous = None
    for i, (kind, inputs) in enumerate(chain or []):
        inputs = dict(inputs)
        if side == "ade":
            if inputs.get("fuse_method") in EXPERIMENTAL:
                inputs["fuse_method"] = "\N{MICROSCOPE}" + inputs["fuse_method"]
            if kind == "legacy":
                inputs["context_schedule"] = "uniform"
        if previous:
            inputs["prev_context"] = [previous, 0]
        g[f"ctx{i}"] = {"class_type": (ADE_IDS if side == "ade" else OUR_IDS)[kind], "inputs": inputs}
        previous = f"ctx{i}"
    if side == "ade":
        g["model"] = {"class_type": "ADE_UseEvolvedSampling", "inputs": {"model": ["mix", 0],
                                                                         "beta_schedule": "use existing"}}
        if previous:
            g["model"]["inputs"]["context_options"] = [previous, 0]
    elif previous:
        g["model"] = {"class_type": "ALCM_ApplyContextOptions", "inputs": {
            "model": ["mix", 0], "context_options": [previous, 0], "mode": "full"}}
    model = ["model", 0] if "model" in g else ["mix", 0]
    g["sampled"] = {"class_type": "KSampler", "inputs": {
        "model": model, "positive": ["pos", 0], "negative": ["neg", 0], "latent_image": ["latent", 0], "seed": SEED,
        "steps": STEPS, "cfg": CFG, "sampler_name": sampler, "scheduler": "normal", "denoise": 1.0}}
    g["out"] = {"class_type": "ALCMTest_LatentStats", "inputs": {"samples": ["sampled", 0]}}
    return g


_RUNS: dict = {}


def latents(worker, chain, sampler="euler") -> torch.Tensor:
    """The sampled latents of the graph (runs of the same graph on the same worker are made once)."""
    key = (worker.name, repr(chain), sampler)
    if key not in _RUNS:
        _RUNS[key] = worker.run(graph(worker.name, chain, sampler))["outputs"]["out"][0].double()
    return _RUNS[key]


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


@pytest.fixture(scope="module")
def workers(ours, ade):
    for worker in (ours, ade):
        worker.call(f"{HELPERS}:register_nodes")
    return ours, ade


@pytest.fixture(scope="module")
def plain(workers):
    """This pack's graph without context options (the reference for options whose 'without' is no windows)."""
    return latents(workers[0], None)


FIGURES: dict = {}


@pytest.mark.parametrize("option", list(CASES))
def test_option_equals_ade_and_acts(workers, plain, option):
    ours, ade = workers
    where, chain, without = CASES[option]
    a, b = latents(ours, chain), latents(ade, chain)
    baseline = plain if without is None else latents(ours, without)
    parity, effect = rel(a, b), rel(a, baseline)
    FIGURES[option] = (where, parity, effect)
    print(f"\n{option}: {where}: parity {parity:.2e}, effect {effect:.2e}")
    assert parity <= 1e-3, f"{option}: this pack vs ADE {parity:.2e}"
    assert effect > 1e-2, f"{option}: no visible effect ({effect:.2e})"


def test_step_counting_with_a_two_call_sampler(workers):
    """Heun calls the model twice per step: the windows move per sampler step, as ADE counts them (its callback)."""
    ours, ade = workers
    chain = [entry("looped")]
    a, b = latents(ours, chain, "heun"), latents(ade, chain, "heun")
    assert rel(a, b) <= 1e-3, rel(a, b)


VIEW_CASES = [
    dict(context_length=8, context_overlap=3, context_stride=None, context_schedule="standard_static",
         fuse_method="pyramid"),
    dict(context_length=8, context_overlap=2, context_stride=1, context_schedule="standard_uniform",
         fuse_method="flat"),
    dict(context_length=6, context_overlap=2, context_stride=2, context_schedule="looped_uniform", closed_loop=True,
         fuse_method="\N{MICROSCOPE}gauss-sigma"),
    dict(context_length=16, context_overlap=4, context_stride=1, context_schedule="looped_uniform",
         use_on_equal_length=True, fuse_method="overlap-linear"),
]
OUR_SCHEDULES = {"standard_static": "static", "standard_uniform": "uniform", "looped_uniform": "looped"}


def _module_takes_views() -> bool:
    import inspect
    from animatelcm_core.motion_module import MotionModule
    return "views" in inspect.signature(MotionModule.forward).parameters


@pytest.mark.skipif(not _module_takes_views(), reason="the motion module has no `views` argument yet "
                    "(/work/team/interfaces/H4-views-for-H6.patch)")
@pytest.mark.parametrize("case", range(len(VIEW_CASES)))
def test_view_options_equal_ade(workers, case):
    """View windows inside a temporal module: this pack's MotionModule with a view plan vs ADE's VanillaTemporalModule
    with the same view options, weights and input, at several steps; and the views visibly act."""
    from animatelcm_core.build import motion_model_from_state_dict
    from animatelcm_core.context import ContextOptions
    from animatelcm_core.context_views import view_plan
    from synth_weights import FAMILY_FILES, random_state_dict
    _, ade = workers
    views = VIEW_CASES[case]
    model, _ = motion_model_from_state_dict(random_state_dict(FAMILY_FILES["v3"], seed=3), "v3")
    name = "down_blocks.1.motion_modules.0"
    module = model.get_module(name).float()
    state = {k: v.float().clone() for k, v in module.state_dict().items()}
    frames, channels = 16, state["temporal_transformer.norm.weight"].shape[0]
    x = torch.randn(2 * frames, channels, 4, 4, generator=torch.Generator().manual_seed(case))
    ours_opts = ContextOptions(views["context_length"], views["context_overlap"],
                               OUR_SCHEDULES[views["context_schedule"]], views.get("context_stride") or 1,
                               views.get("closed_loop", False), views["fuse_method"],
                               views.get("use_on_equal_length", False))
    with torch.no_grad():
        without = module(x, frames).double()
    effects = []
    for step, sigma in ((0, 9.0), (1, 2.5), (3, 0.4)):
        plan = view_plan(ours_opts, frames, step, sigma=sigma)
        with torch.no_grad():
            got = module(x, frames, views=plan).double()
        expected = ade.call(f"{HELPERS}:ade_views", state, channels, module.max_frames, x, frames, views, step, sigma)
        assert rel(got, expected.double()) <= 1e-4, (step, rel(got, expected.double()))
        effects.append(rel(got, without))
    # the views act: far above float rounding (~1e-7); 16 frames in views of 16 change only once the looped views
    # rotate, and only through the position encodings (~4e-3 with these weights)
    assert max(effects) > 1e-3, effects
