"""API-prompt pieces for the companion-pack tests: the same sampling graph on this pack (`ours`) or on ADE (`ade`),
with or without context windows, into which a test splices another pack's nodes.

Both sides start from the reduced-width random SD1.5 MODEL of the test nodes and keep its own model sampling. This
pack inflates it with a reduced-width AnimateLCM motion module at a chosen effect (0: the motion module changes
nothing, so frames are independent and a windowed run must equal an unwindowed one). ADE cannot load reduced-width
motion modules (its layer widths are fixed), so the ADE side runs the same UNet without one, through ADE's evolved
sampling with its context options: the math both packs share there is the plain UNet and whatever the other pack
does per frame inside ADE's windows, from the window information ADE publishes.
"""
import pytest

FRAMES, SIZE, STEPS, CFG, SEED = 16, 64, 2, 2.0, 7
CONTEXT_LENGTH, CONTEXT_OVERLAP = 8, 4  # static windows 0-7, 4-11, 8-15
MODEL, POSITIVE, NEGATIVE, LATENT, SAMPLED = "model", "pos", "neg", "latent", "sampled"
OUT = "out"  # the ALCMTest_LatentStats node


def link(node: str, slot: int = 0) -> list:
    return [node, slot]


def base_graph(side: str, motion_file: str | None = None, windows: str | None = None, effect: float = 0.0) -> dict:
    """Model (under MODEL), random positive/negative conditioning, an empty latent of FRAMES frames.

    side "ours": `windows` None / "full" / "motion-only" / "comfy" (ComfyUI's own ContextWindowsManual node);
    side "ade": `windows` None or "ade" (ADE_UseEvolvedSampling with static context options)."""
    g = {"sd": {"class_type": "ALCMTest_RandomSD15", "inputs": {"seed": 0}},
         POSITIVE: {"class_type": "ALCMTest_RandomCond", "inputs": {"seed": 1}},
         NEGATIVE: {"class_type": "ALCMTest_RandomCond", "inputs": {"seed": 2}},
         LATENT: {"class_type": "EmptyLatentImage", "inputs": {"width": SIZE, "height": SIZE, "batch_size": FRAMES}}}
    if side == "ours":
        g["mm"] = {"class_type": "ALCM_LoadMotionModel", "inputs": {"model_name": motion_file}}
        inflate = {"class_type": "ALCM_ApplyMotionModel", "inputs": {
            "model": link("sd"), "motion_model": link("mm"), "model_sampling": "keep model's own", "effect": effect,
            "scale": 1.0, "start_percent": 0.0, "end_percent": 1.0}}
        if windows is None:
            g[MODEL] = inflate
        else:
            g["inflated"], g[MODEL] = inflate, _ours_windows(windows)
    else:
        g[MODEL] = {"class_type": "ADE_UseEvolvedSampling", "inputs": {"model": link("sd"),
                                                                        "beta_schedule": "use existing"}}
        if windows == "ade":
            g["ctx"] = {"class_type": "ADE_StandardStaticContextOptions", "inputs": {
                "context_length": CONTEXT_LENGTH, "context_overlap": CONTEXT_OVERLAP, "fuse_method": "pyramid",
                "use_on_equal_length": False, "start_percent": 0.0, "guarantee_steps": 1}}
            g[MODEL]["inputs"]["context_options"] = link("ctx")
    return g


def _ours_windows(windows: str) -> dict:
    if windows == "comfy":
        return {"class_type": "ContextWindowsManual", "inputs": {
            "model": link("inflated"), "context_length": CONTEXT_LENGTH, "context_overlap": CONTEXT_OVERLAP,
            "context_schedule": "standard_static", "context_stride": 1, "closed_loop": False,
            "fuse_method": "pyramid", "dim": 0,
            # 0.33's further inputs at their defaults (0.3.64 ignores them): the causal anchor frame stays on
            "freenoise": False, "cond_retain_index_list": "", "split_conds_to_windows": False,
            "latent_retain_index_list": "", "causal_window_fix": True}}
    return {"class_type": "ALCM_ContextOptions", "inputs": {
        "model": link("inflated"), "mode": windows, "context_length": CONTEXT_LENGTH,
        "context_overlap": CONTEXT_OVERLAP, "schedule": "static", "stride": 1, "closed_loop": False,
        "fuse_method": "pyramid"}}


def add_sampler(g: dict, model=None, positive=None, negative=None) -> dict:
    """KSampler (euler, STEPS steps, cfg CFG, SEED) and the latent capture node OUT. Scheduler `simple`: its second of
    two steps starts at sigma 0.8, so both steps shape the result (with `normal`, at 0.03: the last step barely
    counts, and a feature acting only there would not show)."""
    g[SAMPLED] = {"class_type": "KSampler", "inputs": {
        "model": model or link(MODEL), "positive": positive or link(POSITIVE), "negative": negative or link(NEGATIVE),
        "latent_image": link(LATENT), "seed": SEED, "steps": STEPS, "cfg": CFG, "sampler_name": "euler",
        "scheduler": "simple", "denoise": 1.0}}
    g[OUT] = {"class_type": "ALCMTest_LatentStats", "inputs": {"samples": link(SAMPLED)}}
    return g


def images(seed: int, batch: int = FRAMES, size: int = SIZE) -> dict:
    return {"class_type": "ALCMTest_RandomImage", "inputs": {"seed": seed, "batch": batch, "size": size}}


def masks(seed: int, zero_frames: tuple = (), batch: int = FRAMES, size: int = SIZE) -> dict:
    return {"class_type": "ALCMTest_RandomMask", "inputs": {
        "seed": seed, "batch": batch, "size": size, "zero_frames": ",".join(str(f) for f in zero_frames)}}


def rel_diff(a, b) -> float:
    """max |a - b| / max |b|."""
    return float((a - b).abs().max() / b.abs().max())


@pytest.fixture(scope="module")
def modes(ours) -> tuple:
    """The window modes to test on this host: this pack's two, and ComfyUI's own node where its handler can sample
    frame batches (tests/fixtures/host_features.py)."""
    comfy = ours.call("tests/fixtures/host_features.py:comfy_windows_take_frame_batches")
    return ("full", "motion-only") + (("comfy",) if comfy else ())


def skip_unless(windows, modes) -> None:
    if windows is not None and windows not in modes:
        pytest.skip("ComfyUI's own context-window handler cannot sample frame batches on this host (0.3.64's)")
