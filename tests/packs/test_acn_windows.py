"""Advanced-ControlNet beyond Apply on this pack's inflated MODEL, without and with context windows (full,
motion-only, ComfyUI's own node), against the same graph on ADE's windows: per-frame hints, latent keyframes,
timestep keyframes, per-frame masks and soft weights.

Advanced-ControlNet cuts its hints, masks and latent keyframes to a model call's frames from
transformer_options["ad_params"] (published by nodes/window_info.py), read when ComfyUI asks the control for its
output. Its sliding-window support otherwise looks ADE up (the `ADE_params` attachment, only to turn ComfyUI's plain
ControlNets into its own, which this pack's full-mode windows do not need: they cut plain ControlNets' hints
themselves). With the motion effect 0 frames are independent, so windowed must equal unwindowed; frames that a
latent keyframe of strength 0 or a blank mask switches off must equal the graph without ControlNet.
"""
import pytest
import torch

import companion_graphs as cg
from companion_graphs import modes, skip_unless  # noqa: F401  (modes: a fixture)
import companion_models

# latent keyframes: strength per frame (frames not listed get the null strength 0: no ControlNet there)
LATENT_KF = "0:4=1.0, 4=0.6, 5=0.3, 9:12=1.0, 14=0.5"
OFF_BY_KEYFRAME = {6, 7, 8, 12, 13, 15}
MASK_ZERO_FRAMES = (1, 10)
FEATURES = ("hints", "latent_kf", "timestep_kf", "mask", "soft_weights")  # "hints": one hint image per frame
# without the timestep keyframes the ControlNet acts on both steps: what the frame-level check reads
ON_BOTH_STEPS = tuple(f for f in FEATURES if f != "timestep_kf")


@pytest.fixture(scope="module")
def files(packs, ours, ade):
    for worker in (ours, ade):
        worker.call("tests/packs/companion_models.py:register_nodes")
    return {"motion": companion_models.write_motion_module(packs.models, seed=21)}


def acn_graph(side: str, files: dict, windows=None, features=FEATURES, controlnet: bool = True) -> dict:
    """Apply Advanced ControlNet (a reduced-width random ControlNet) with the chosen features: one hint image per
    frame (else one for all), latent keyframes, timestep keyframes (off on the first of the two steps, on from 25%:
    the second), a per-frame mask, soft weights (base multiplier 0.2: the deeper layers' residuals nearly off).
    Strengths between 0 and 1 are not used: the reduced random UNet's hidden states are so small next to the
    ControlNet's residuals that its final GroupNorm makes the result almost independent of their scale."""
    g = cg.base_graph(side, files["motion"], windows)
    if not controlnet:
        return cg.add_sampler(g)
    g["cn"] = {"class_type": "ALCMTest_TinyControlNet", "inputs": {"seed": 22}}
    g["hint"] = cg.images(23, batch=cg.FRAMES if "hints" in features else 1)
    apply = {"positive": cg.link(cg.POSITIVE), "negative": cg.link(cg.NEGATIVE), "control_net": cg.link("cn"),
             "image": cg.link("hint"), "strength": 1.0, "start_percent": 0.0, "end_percent": 1.0}
    if "latent_kf" in features:
        g["lkf"] = {"class_type": "LatentKeyframeGroup", "inputs": {"index_strengths": LATENT_KF}}
    if "timestep_kf" in features or "latent_kf" in features:
        strength = 0.0 if "timestep_kf" in features else 1.0
        g["tkf0"] = {"class_type": "TimestepKeyframe", "inputs": {"start_percent": 0.0, "strength": strength}}
        if "latent_kf" in features:
            g["tkf0"]["inputs"]["latent_keyframe"] = cg.link("lkf")
        last = "tkf0"
        if "timestep_kf" in features:
            g["tkf1"] = {"class_type": "TimestepKeyframe", "inputs": {
                "start_percent": 0.25, "strength": 1.0, "prev_timestep_kf": cg.link("tkf0"), "inherit_missing": True}}
            last = "tkf1"
        apply["timestep_kf"] = cg.link(last)
    if "mask" in features:
        g["cn_mask"] = cg.masks(24, zero_frames=MASK_ZERO_FRAMES)
        apply["mask_optional"] = cg.link("cn_mask")
    if "soft_weights" in features:
        g["soft"] = {"class_type": "ACN_ScaledSoftControlNetWeights", "inputs": {"base_multiplier": 0.2}}
        apply["weights_override"] = cg.link("soft")
    g["acn"] = {"class_type": "ACN_AdvancedControlNetApply_v2", "inputs": apply}
    return cg.add_sampler(g, positive=cg.link("acn", 0), negative=cg.link("acn", 1))


@pytest.fixture(scope="module")
def run(ours, ade, files):
    """run(side, windows, features, controlnet) -> sampled latent; each graph runs once per module."""
    done = {}

    def get(side="ours", windows=None, features=FEATURES, controlnet=True):
        key = (side, windows, features, controlnet)
        if key not in done:
            worker = ours if side == "ours" else ade
            done[key] = worker.run(acn_graph(side, files, windows, features, controlnet))["outputs"][cg.OUT][0]
        return done[key]
    return get


@pytest.mark.parametrize("feature", FEATURES)
def test_each_feature_acts(run, feature):
    assert cg.rel_diff(run(features=ON_BOTH_STEPS), run(controlnet=False)) > 1e-2, "the ControlNet does not act"
    base = FEATURES if feature == "timestep_kf" else ON_BOTH_STEPS
    without = run(features=tuple(f for f in base if f != feature))
    assert cg.rel_diff(run(features=base), without) > 1e-2, f"{feature} does not act"


@pytest.mark.parametrize("windows", ["full", "motion-only", "comfy"])
def test_windows_equal_unwindowed(run, modes, windows):
    """Every feature under windows; the frames the keyframes and masks switch off are the plain graph's."""
    skip_unless(windows, modes)
    for features in (FEATURES, ON_BOTH_STEPS):
        assert cg.rel_diff(run("ours", windows, features), run(features=features)) <= 1e-4, features
    windowed, plain = run("ours", windows, ON_BOTH_STEPS), run(controlnet=False)
    off = OFF_BY_KEYFRAME | set(MASK_ZERO_FRAMES)
    for f in range(cg.FRAMES):
        change = cg.rel_diff(windowed[f], plain[f])
        assert (change <= 1e-5) if f in off else (change > 1e-3), (f, change)


def test_same_as_on_ade_windows(run):
    assert cg.rel_diff(run("ade", "ade"), run()) <= 1e-3
