"""Sample settings, custom CFG, noise schedules, the checkpoint loader's beta schedule and the big-batch latent: this
pack's nodes against ComfyUI-AnimateDiff-Evolved's (ADE) on the same graphs, each side in its own worker.

Every case samples the reduced-width random SD1.5 UNet of the test nodes (ADE cannot load reduced-width motion
modules; these options act on the noise, the guidance and the sigma table, not on the motion module) through ADE's
evolved sampling with its sample settings, and through this pack's nodes with the same values. All cases of a side
run in one prompt. Each case must agree with ADE (relative max difference <= 1e-3) and must act (> 1e-2 against the
same graph without the option). Deliberate differences are pinned here and in the ComfyUI tier:
- ADE ignores seed_override when every other noise option is at its default; this pack uses it.
- ADE's "squaredcos_cap_v2" fails in ComfyUI 0.3.64 and 0.33 (ComfyUI's beta function returns a NumPy array for it),
  and so does its raw schedule's zsnr (it calls a function ComfyUI has moved to comfy.model_sampling); this pack
  computes both (pinned to diffusers' squaredcos_cap_v2 betas and rescale_zero_terminal_snr in the unit tier).
"""
import time

import pytest
import torch

from animatelcm_core.schedule_names import ADE_BETA_NAMES

FRAMES, CONTEXT_FRAMES, SIZE, STEPS, CFG, SEED = 4, 6, 64, 2, 2.0, 7
CONTEXT = {"context_length": 4, "context_overlap": 2}  # static windows 0-3, 2-5
TOLERANCE, ACTS = 1e-3, 1e-2
WORKER = "tests/packs/sampling_parity_worker.py"  # functions run inside the workers
# Schedules are sampled with the lcm sampler on 3 karras sigmas, which span each table's own sigma_min..sigma_max: the
# LCM tables (the same betas as the UNet's own schedule, fewer timesteps) then act visibly, where Euler barely sees them.
SCHEDULE_SAMPLER = ("lcm", "karras", 3)
FIGURES: dict[str, tuple[float, float]] = {}

# case -> (sample settings / custom cfg / schedule of ADE, the same for this pack); see the builders below
NOISE_CASES = {
    "noise_type constant": {"noise_type": "constant"},
    "noise_type empty": {"noise_type": "empty"},
    "seed_gen auto1111": {"seed_gen": "auto1111"},
    "batch_offset": {"batch_offset": 2},
    "seed_offset": {"seed_offset": 3},
    "seed_override (auto1111)": {"seed_gen": "auto1111", "seed_override": 40},
}
CONTEXT_CASES = {
    "noise_type repeated_context": {"noise_type": "repeated_context"},
    "noise_type FreeNoise": {"noise_type": "FreeNoise"},
}
SCHEDULES = ["sqrt_linear (AnimateDiff)", "linear (AnimateDiff-SDXL)", "avg(sqrt_linear,linear)",
             "lcm avg(sqrt_linear,linear)", "lcm", "lcm[100_ots]", "lcm >> sqrt_linear", "sqrt", "cosine"]
MODEL_SCHEDULES = ["lcm"]  # the Model Sampling node builds what Noise Schedule builds; more in the loader test


def link(node: str, slot: int = 0) -> list:
    return [node, slot]


def base() -> dict:
    return {"sd": {"class_type": "ALCMTest_RandomSD15", "inputs": {"seed": 0}},
            "pos": {"class_type": "ALCMTest_RandomCond", "inputs": {"seed": 1}},
            "neg_in": {"class_type": "ALCMTest_RandomCond", "inputs": {"seed": 2}},
            # a zeroed negative: cond and uncond far enough apart for cfg changes to act visibly on the random UNet
            "neg": {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": link("neg_in")}},
            "latent": {"class_type": "EmptyLatentImage", "inputs": {"width": SIZE, "height": SIZE, "batch_size": FRAMES}},
            "latent_long": {"class_type": "EmptyLatentImage", "inputs": {"width": SIZE, "height": SIZE,
                                                                         "batch_size": CONTEXT_FRAMES}}}


def sample(g: dict, case: str, model: list, latent: str = "latent", cfg: float = CFG,
           sampler: tuple[str, str, int] = ("euler", "normal", STEPS)) -> None:
    g[f"{case}/k"] = {"class_type": "KSampler", "inputs": {
        "model": model, "positive": link("pos"), "negative": link("neg"), "latent_image": link(latent), "seed": SEED,
        "steps": sampler[2], "cfg": cfg, "sampler_name": sampler[0], "scheduler": sampler[1], "denoise": 1.0}}
    g[case] = {"class_type": "ALCMTest_LatentStats", "inputs": {"samples": link(f"{case}/k")}}


# ---------------------------------------------------------------- ADE side

def ade_settings(g: dict, case: str, noise: dict | None = None, **links) -> list:
    values = {"batch_offset": 0, "noise_type": "default", "seed_gen": "comfy", "seed_offset": 0, **(noise or {})}
    if "seed_override" in values:
        g[f"{case}/seed"] = {"class_type": "PrimitiveInt", "inputs": {"value": values.pop("seed_override")}}
        links["seed_override"] = link(f"{case}/seed")
    g[f"{case}/ss"] = {"class_type": "ADE_AnimateDiffSamplingSettings", "inputs": {**values, **links}}
    return link(f"{case}/ss")


def ade_model(g: dict, case: str, settings: list | None = None, context: bool = False,
              beta: str = "use existing") -> list:
    inputs = {"model": link("sd"), "beta_schedule": beta}
    if settings:
        inputs["sample_settings"] = settings
    if context:
        g[f"{case}/ctx"] = {"class_type": "ADE_StandardStaticContextOptions", "inputs": {
            **CONTEXT, "fuse_method": "pyramid", "use_on_equal_length": False, "start_percent": 0.0,
            "guarantee_steps": 1}}
        inputs["context_options"] = link(f"{case}/ctx")
    g[f"{case}/m"] = {"class_type": "ADE_UseEvolvedSampling", "inputs": inputs}
    return link(f"{case}/m")


def ade_cfg(g: dict, case: str) -> list:
    """The ADE custom-cfg chain of a cfg case."""
    n = lambda suffix: f"{case}/{suffix}"  # noqa: E731
    if case == "custom cfg":
        g[n("c")] = {"class_type": "ADE_CustomCFGSimple", "inputs": {"cfg": 30.0}}
    elif case == "custom cfg per frame":
        g[n("v")] = {"class_type": "ADE_ValueScheduling", "inputs": {"values": "0 = 1.0, 3 = 40.0", "max_length": FRAMES,
                                                                     "print_schedule": False}}
        g[n("mv")] = {"class_type": "ADE_MultivalDynamicFloats", "inputs": {"floats": link(n("v"), 1)}}
        g[n("c")] = {"class_type": "ADE_CustomCFG", "inputs": {"cfg_multival": link(n("mv"))}}
    elif case == "custom cfg keyframes":
        g[n("a")] = {"class_type": "ADE_CustomCFGKeyframeSimple", "inputs": {"cfg": 40.0, "start_percent": 0.0,
                                                                            "guarantee_steps": 1}}
        g[n("c")] = {"class_type": "ADE_CustomCFGKeyframeSimple", "inputs": {
            "cfg": 1.5, "start_percent": 0.2, "guarantee_steps": 1, "prev_custom_cfg": link(n("a"))}}
    elif case == "custom cfg interpolated":
        g[n("c")] = {"class_type": "ADE_CustomCFGKeyframeInterpolation", "inputs": {
            "start_percent": 0.0, "end_percent": 0.8, "cfg_start": 40.0, "cfg_end": 1.0, "interpolation": "ease_in",
            "intervals": 5, "print_keyframes": False}}
    else:  # from list
        g[n("v")] = {"class_type": "ADE_ValueScheduling", "inputs": {"values": "0 = 40, 1 = 20, 2 = 1", "max_length": 3,
                                                                     "print_schedule": False}}
        g[n("c")] = {"class_type": "ADE_CustomCFGKeyframeFromList", "inputs": {
            "cfgs_float": link(n("v")), "start_percent": 0.0, "end_percent": 1.0, "print_keyframes": False}}
    return link(n("c"))


def ade_schedule(g: dict, case: str, kind: str) -> list:
    n = lambda suffix: f"{case}/{suffix}"  # noqa: E731
    named = lambda suffix, name: g.__setitem__(n(suffix), {"class_type": "ADE_SigmaSchedule",  # noqa: E731
                                                           "inputs": {"beta_schedule": name}})
    if kind.startswith("named:"):
        named("s", kind[6:])
    elif kind == "raw":
        g[n("s")] = {"class_type": "ADE_RawSigmaSchedule", "inputs": {
            "raw_beta_schedule": "sqrt", "linear_start": 0.0009, "linear_end": 0.014, "sampling": "lcm",
            "lcm_original_timesteps": 40, "zsnr": False}}
    elif kind == "mean":
        named("a", "sqrt_linear (AnimateDiff)"), named("b", "linear (HotshotXL/default)")
        g[n("s")] = {"class_type": "ADE_SigmaScheduleWeightedAverage", "inputs": {
            "schedule_A": link(n("a")), "schedule_B": link(n("b")), "weight_A": 0.3}}
    elif kind == "interp":
        named("a", "lcm"), named("b", "lcm >> sqrt_linear")
        g[n("s")] = {"class_type": "ADE_SigmaScheduleWeightedAverageInterp", "inputs": {
            "schedule_A": link(n("a")), "schedule_B": link(n("b")), "weight_A_Start": 0.9, "weight_A_End": 0.2,
            "interpolation": "ease_in_out"}}
    else:  # split
        named("a", "sqrt_linear (AnimateDiff)"), named("b", "cosine")
        g[n("s")] = {"class_type": "ADE_SigmaScheduleSplitAndCombine", "inputs": {
            "schedule_Start": link(n("a")), "schedule_End": link(n("b")), "idx_split_percent": 0.4}}
    return link(n("s"))


# ---------------------------------------------------------------- this pack's side

def ours_settings(g: dict, case: str, model: list, noise: dict | None = None, **links) -> list:
    values = {"noise_type": "default", "seed_gen": "comfy", "batch_offset": 0, "seed_offset": 0, **(noise or {})}
    if "seed_override" in values:
        g[f"{case}/seed"] = {"class_type": "PrimitiveInt", "inputs": {"value": values.pop("seed_override")}}
        links["seed_override"] = link(f"{case}/seed")
    g[f"{case}/ss"] = {"class_type": "ALCM_SampleSettings", "inputs": {"model": model, **values, **links}}
    return link(f"{case}/ss")


def ours_context(g: dict, case: str, motion_file: str) -> list:
    """This pack's full-mode static windows (pyramid), on the UNet inflated with a motion module at effect 0 (the
    plain UNet: frames stay independent, as on ADE's side, which runs no motion module)."""
    g[f"{case}/mm"] = {"class_type": "ALCM_LoadMotionModel", "inputs": {"model_name": motion_file}}
    g[f"{case}/inflated"] = {"class_type": "ALCM_ApplyMotionModel", "inputs": {
        "model": link("sd"), "motion_model": link(f"{case}/mm"), "model_sampling": "keep model's own", "effect": 0.0,
        "scale": 1.0, "start_percent": 0.0, "end_percent": 1.0}}
    g[f"{case}/ctx"] = {"class_type": "ALCM_ContextOptions", "inputs": {
        "model": link(f"{case}/inflated"), "mode": "full", **CONTEXT, "schedule": "static", "stride": 1,
        "closed_loop": False, "fuse_method": "pyramid"}}
    return link(f"{case}/ctx")


def ours_cfg(g: dict, case: str) -> list:
    n = lambda suffix: f"{case}/{suffix}"  # noqa: E731
    if case == "custom cfg":
        g[n("c")] = {"class_type": "ALCM_CustomCFG", "inputs": {"cfg": "30.0", "start_percent": 0.0,
                                                                "guarantee_steps": 1}}
    elif case == "custom cfg per frame":
        g[n("c")] = {"class_type": "ALCM_CustomCFG", "inputs": {"cfg": "0: 1.0, 3: 40.0", "start_percent": 0.0,
                                                                "guarantee_steps": 1}}
    elif case == "custom cfg keyframes":
        g[n("a")] = {"class_type": "ALCM_CustomCFG", "inputs": {"cfg": "40.0", "start_percent": 0.0,
                                                                "guarantee_steps": 1}}
        g[n("c")] = {"class_type": "ALCM_CustomCFG", "inputs": {"cfg": "1.5", "start_percent": 0.2,
                                                                "guarantee_steps": 1, "prev_custom_cfg": link(n("a"))}}
    elif case == "custom cfg interpolated":
        g[n("c")] = {"class_type": "ALCM_CustomCFGInterpolated", "inputs": {
            "start_percent": 0.0, "end_percent": 0.8, "cfg_start": 40.0, "cfg_end": 1.0, "interpolation": "ease_in",
            "intervals": 5}}
    else:
        g[n("c")] = {"class_type": "ALCM_CustomCFGFromList", "inputs": {"cfgs": "40, 20, 1", "start_percent": 0.0,
                                                                        "end_percent": 1.0}}
    return link(n("c"))


def ours_schedule(g: dict, case: str, kind: str) -> list:
    n = lambda suffix: f"{case}/{suffix}"  # noqa: E731
    named = lambda suffix, name: g.__setitem__(n(suffix), {"class_type": "ALCM_NoiseSchedule",  # noqa: E731
                                                           "inputs": {"schedule": ADE_BETA_NAMES[name]}})
    if kind.startswith("named:"):
        named("s", kind[6:])
    elif kind == "raw":
        g[n("s")] = {"class_type": "ALCM_NoiseScheduleRaw", "inputs": {
            "beta_schedule": "sqrt", "linear_start": 0.0009, "linear_end": 0.014, "sampling": "lcm",
            "lcm_original_timesteps": 40, "zsnr": False}}
    elif kind == "mean":
        named("a", "sqrt_linear (AnimateDiff)"), named("b", "linear (HotshotXL/default)")
        g[n("s")] = {"class_type": "ALCM_NoiseScheduleMean", "inputs": {
            "schedule_a": link(n("a")), "schedule_b": link(n("b")), "weight_a": 0.3}}
    elif kind == "interp":
        named("a", "lcm"), named("b", "lcm >> sqrt_linear")
        g[n("s")] = {"class_type": "ALCM_NoiseScheduleInterpMean", "inputs": {
            "schedule_a": link(n("a")), "schedule_b": link(n("b")), "weight_a_start": 0.9, "weight_a_end": 0.2,
            "interpolation": "ease_in_out"}}
    else:
        named("a", "sqrt_linear (AnimateDiff)"), named("b", "cosine")
        g[n("s")] = {"class_type": "ALCM_NoiseScheduleSplit", "inputs": {
            "schedule_start": link(n("a")), "schedule_end": link(n("b")), "split_percent": 0.4}}
    return link(n("s"))


# ---------------------------------------------------------------- the two prompts

CFG_CASES = ["custom cfg", "custom cfg per frame", "custom cfg keyframes", "custom cfg interpolated",
             "custom cfg from list"]
SCHEDULE_CASES = {f"sigma schedule {name}": f"named:{name}" for name in SCHEDULES} | {
    "raw sigma schedule (sqrt, lcm 40)": "raw", "sigma schedule weighted mean": "mean",
    "sigma schedule interpolated mean": "interp", "sigma schedule split": "split"}
BETA_CASES = {f"beta_schedule {name}": name for name in MODEL_SCHEDULES}


def ade_prompt() -> dict:
    g = base()
    for case, noise in NOISE_CASES.items():
        sample(g, case, ade_model(g, case, ade_settings(g, case, noise)))
    sample(g, "ADE seed_override alone", ade_model(g, "ADE seed_override alone",
                                                   ade_settings(g, "ADE seed_override alone", {"seed_override": 40})))
    sample(g, "ADE plain", ade_model(g, "ADE plain"))
    for case, noise in CONTEXT_CASES.items():
        sample(g, case, ade_model(g, case, ade_settings(g, case, noise), context=True), latent="latent_long")
    for case in CFG_CASES:
        sample(g, case, ade_model(g, case, ade_settings(g, case, custom_cfg=ade_cfg(g, case))), cfg=1.0)
    for case, kind in SCHEDULE_CASES.items():
        sample(g, case, ade_model(g, case, ade_settings(g, case, sigma_schedule=ade_schedule(g, case, kind))),
               sampler=SCHEDULE_SAMPLER)
    for case, name in BETA_CASES.items():
        sample(g, case, ade_model(g, case, beta=name), sampler=SCHEDULE_SAMPLER)
    g["big"] = {"class_type": "ADE_EmptyLatentImageLarge", "inputs": {"width": SIZE, "height": SIZE, "batch_size": 10}}
    g["big latent"] = {"class_type": "ALCMTest_LatentStats", "inputs": {"samples": link("big")}}
    return g


def ours_prompt(motion_file: str) -> dict:
    """Each case, and its baseline (the same graph without the option) under the case name + ' /without'."""
    g = base()
    sample(g, "plain", link("sd"))
    for case, noise in NOISE_CASES.items():
        sample(g, case, ours_settings(g, case, link("sd"), noise))
    for case, noise in CONTEXT_CASES.items():
        sample(g, case, ours_settings(g, case, ours_context(g, case, motion_file), noise), latent="latent_long")
        sample(g, case + " /without", ours_context(g, case + " /without", motion_file), latent="latent_long")
    for case in CFG_CASES:
        sample(g, case, ours_settings(g, case, link("sd"), custom_cfg=ours_cfg(g, case)), cfg=1.0)
    sample(g, "plain cfg 1", link("sd"), cfg=1.0)
    sample(g, "plain lcm karras", link("sd"), sampler=SCHEDULE_SAMPLER)
    for case, kind in SCHEDULE_CASES.items():
        sample(g, case, ours_settings(g, case, link("sd"), noise_schedule=ours_schedule(g, case, kind)),
               sampler=SCHEDULE_SAMPLER)
    for case, name in BETA_CASES.items():
        g[f"{case}/m"] = {"class_type": "ALCM_ModelSampling", "inputs": {
            "model": link("sd"), "schedule": ADE_BETA_NAMES[name], "use_custom_scale_factor": False,
            "scale_factor": 0.18215}}
        sample(g, case, link(f"{case}/m"), sampler=SCHEDULE_SAMPLER)
    g["big"] = {"class_type": "ALCM_EmptyLatentBigBatch", "inputs": {"width": SIZE, "height": SIZE, "batch_size": 10}}
    g["big latent"] = {"class_type": "ALCMTest_LatentStats", "inputs": {"samples": link("big")}}
    g["core"] = {"class_type": "EmptyLatentImage", "inputs": {"width": SIZE, "height": SIZE, "batch_size": 10}}
    g["core latent"] = {"class_type": "ALCMTest_LatentStats", "inputs": {"samples": link("core")}}
    return g


def rel(a, b) -> float:
    return float((a - b).abs().max() / b.abs().max())


@pytest.fixture(scope="module")
def results(packs, ours, ade):
    from companion_models import write_motion_module
    prompts = ours_prompt(write_motion_module(packs.models, "animatelcm_t2v", seed=5)), ade_prompt()
    cpu = "tests/packs/sampling_parity_worker.py:cpu_seconds"
    started, cpu_ours, cpu_ade = time.perf_counter(), ours.call(cpu), ade.call(cpu)
    outputs = ours.run(prompts[0])["outputs"], ade.run(prompts[1])["outputs"]
    print(f"\nsampling parity: both prompts ran in {time.perf_counter() - started:.1f} s (CPU: ours "
          f"{ours.call(cpu) - cpu_ours:.1f} s, ADE {ade.call(cpu) - cpu_ade:.1f} s)")
    for prompt, out in zip(prompts, outputs):  # ComfyUI drops an output that fails validation and runs the rest
        assert {k for k, v in prompt.items() if v["class_type"] == "ALCMTest_LatentStats"} == set(out)
    yield outputs
    print("\noption | rel. max diff vs ADE | vs the graph without it")  # the parity table (run with -s)
    for case, (ade_diff, acts) in FIGURES.items():
        print(f"{case} | {ade_diff:.1e} | {acts:.1e}")


def baseline(case: str) -> str:
    if case in CONTEXT_CASES:
        return case + " /without"
    if case in CFG_CASES:
        return "plain cfg 1"
    return "plain lcm karras" if case in SCHEDULE_CASES or case in BETA_CASES else "plain"


ALL_CASES = [*NOISE_CASES, *CONTEXT_CASES, *CFG_CASES, *SCHEDULE_CASES, *BETA_CASES]


@pytest.mark.parametrize("case", ALL_CASES)
def test_option_matches_ade_and_acts(results, case):
    mine, theirs = results
    ours, reference, without = mine[case][0], theirs[case][0], mine[baseline(case)][0]
    FIGURES[case] = (rel(ours, reference), rel(ours, without))
    assert rel(ours, reference) <= TOLERANCE, f"{case}: {rel(ours, reference):.2e} against ADE"
    assert rel(ours, without) > ACTS, f"{case}: acts only {rel(ours, without):.2e}"


def test_ade_ignores_a_lone_seed_override(results):
    """ADE quirk: seed_override with every other noise option at its default leaves ComfyUI's noise (this pack's
    Sample Settings uses the override: see the ComfyUI tier). A converted workflow drops such an override."""
    mine, theirs = results
    assert torch.equal(theirs["ADE seed_override alone"][0], theirs["ADE plain"][0])
    assert rel(theirs["ADE plain"][0], mine["plain"][0]) <= TOLERANCE


def test_big_batch_latent(results):
    mine, theirs = results
    assert torch.equal(mine["big latent"][0], theirs["big latent"][0])
    assert torch.equal(mine["core latent"][0], theirs["big latent"][0])


@pytest.mark.parametrize("kind", ["squaredcos_cap_v2", "zsnr"])
def test_schedules_ade_cannot_build(ade, ours, kind):
    """ADE raises inside ComfyUI for these; this pack's schedules sample (a deliberate difference)."""
    with pytest.raises(Exception, match="cumprod|numpy|rescale_zero_terminal_snr_sigmas"):
        ade.run(_failing_schedule(kind, ade=True))
    out = ours.run(_failing_schedule(kind, ade=False))["outputs"][kind][0]
    assert out.isfinite().all()


def _failing_schedule(kind: str, ade: bool) -> dict:
    g = base()
    if kind == "squaredcos_cap_v2":
        g["s"] = ({"class_type": "ADE_SigmaSchedule", "inputs": {"beta_schedule": kind}} if ade else
                  {"class_type": "ALCM_NoiseSchedule", "inputs": {"schedule": kind}})
    else:
        values = {"linear_start": 0.00085, "linear_end": 0.012, "sampling": "eps", "lcm_original_timesteps": 50,
                  "zsnr": True}
        g["s"] = ({"class_type": "ADE_RawSigmaSchedule", "inputs": {"raw_beta_schedule": "linear", **values}} if ade
                  else {"class_type": "ALCM_NoiseScheduleRaw", "inputs": {"beta_schedule": "linear", **values}})
    model = (ade_model(g, kind, ade_settings(g, kind, sigma_schedule=link("s"))) if ade else
             ours_settings(g, kind, link("sd"), noise_schedule=link("s")))
    sample(g, kind, model)
    return g


def test_checkpoint_loader_beta_schedule_and_scale_factor(ade, ours):
    """ADE's CheckpointLoaderSimpleWithNoiseSelect (its own code, the checkpoint file replaced by the random UNet)
    against core CheckpointLoaderSimple + this pack's Model Sampling node."""
    for beta, scale in (("lcm >> sqrt_linear", None), ("avg(sqrt_linear,linear)", 0.13)):
        theirs = ade.call("tests/packs/sampling_parity_worker.py:ade_checkpoint_loader", beta, scale)
        ours_out = ours.call("tests/packs/sampling_parity_worker.py:ours_model_sampling", ADE_BETA_NAMES[beta], scale)
        plain = ours.call("tests/packs/sampling_parity_worker.py:ours_model_sampling", "keep model's own", None)
        FIGURES[f"checkpoint loader {beta}, scale {scale}"] = (rel(ours_out, theirs), rel(ours_out, plain))
        assert rel(ours_out, theirs) <= TOLERANCE and rel(ours_out, plain) > ACTS


@pytest.mark.parametrize("scheduler", ["simple", "normal", "karras", "sgm_uniform", "ddim_uniform"])
def test_schedule_to_sigmas(ade, ours, scheduler):
    """ADE's Sigma Schedule To Sigmas fails for every scheduler (it hands ComfyUI's schedulers its schedule wrapper,
    not a model sampling object). This pack's Noise Schedule To Sigmas with the `linear` schedule (ADE's "linear
    (HotshotXL/default)": ComfyUI's scaled-linear 0.00085..0.012) gives what ComfyUI's own BasicScheduler gives on an
    SD1.5 model (that schedule is SD1.5's own): the independent reference; ADE's steps / denoise rule (the last
    steps + 1 sigmas of steps / denoise); another schedule gives other sigmas."""
    with pytest.raises(Exception, match="has no attribute"):
        ade.call(f"{WORKER}:ade_to_sigmas", "sqrt_linear (AnimateDiff)", scheduler, 10, 1.0)
    mine = ours.call(f"{WORKER}:ours_to_sigmas", "linear", scheduler, 10, 1.0)
    reference = ours.call(f"{WORKER}:comfy_basic_scheduler", scheduler, 10)
    assert tuple(mine.shape) == tuple(reference.shape) == (11,)
    assert rel(mine, reference) <= 1e-6, (mine, reference)
    partial = ours.call(f"{WORKER}:ours_to_sigmas", "linear", scheduler, 6, 0.5)
    assert torch.allclose(partial, ours.call(f"{WORKER}:comfy_basic_scheduler", scheduler, 12)[-7:])
    assert ours.call(f"{WORKER}:ours_to_sigmas", "linear", scheduler, 6, 0.0).numel() == 0
    assert rel(ours.call(f"{WORKER}:ours_to_sigmas", "sqrt_linear", scheduler, 10, 1.0), reference) > ACTS
