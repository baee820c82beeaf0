"""IPAdapter_plus on this pack's inflated MODEL, without and with context windows (full, motion-only, and ComfyUI's
own context-window node), against the same graph on ADE's windows.

IPAdapter_plus cuts per-frame weights, image embeddings and attention masks to a model call's frames by reading
transformer_options["ad_params"] (nodes/window_info.py publishes it). With the motion effect 0 frames are
independent, so a windowed run must equal the unwindowed one (<= 1e-4) only if every window gets its own frames'
images, weights and masks; frames whose IPAdapter weight or mask is 0 must equal the graph without IPAdapter (a
frame-level check that fails when a window gets another window's frames). Files: a random-weight IPAdapter in
ip-adapter_sd15's key layout at the reduced UNet's widths, a reduced CLIP vision encoder (test node).
"""
import pytest
import torch

import companion_graphs as cg
from companion_graphs import modes, skip_unless  # noqa: F401  (modes: a fixture)
import companion_models

IPADAPTER = "ip-adapter_sd15_tiny.safetensors"
# per-frame weights: full on 0-5, a ramp, off on 10-15 (windows 0-7, 4-11, 8-15 each see a different part)
WEIGHTS = [1.0] * 6 + [0.8, 0.6, 0.4, 0.2] + [0.0] * 6
MASK_ZERO_FRAMES = (2, 3)  # the attention mask blanks these frames (inside weighted frames)
WINDOWED = ("full", "motion-only", "comfy")  # "comfy": ComfyUI's own ContextWindowsManual node


@pytest.fixture(scope="module")
def files(packs, ours, ade):
    for worker in (ours, ade):
        worker.call("tests/packs/companion_models.py:register_nodes")
    return {"motion": companion_models.write_motion_module(packs.models, seed=11),
            "ipadapter": companion_models.write_ipadapter(packs.models, IPADAPTER, seed=12)}


def ipadapter_graph(side: str, files: dict, windows=None, kind: str = "per_frame") -> dict:
    """The base graph with IPAdapter between the MODEL and the sampler: `single` (one reference image,
    IPAdapterAdvanced), `per_frame` (one image per frame, per-frame weights from IPAdapterWeights and per-frame
    attention masks, IPAdapterBatch), or `none` (no IPAdapter)."""
    g = cg.base_graph(side, files["motion"], windows)
    if kind == "none":
        return cg.add_sampler(g)
    g["ipa_model"] = {"class_type": "IPAdapterModelLoader", "inputs": {"ipadapter_file": files["ipadapter"]}}
    g["clip_vision"] = {"class_type": "ALCMTest_RandomClipVision", "inputs": {"seed": 13}}
    common = {"model": cg.link(cg.MODEL), "ipadapter": cg.link("ipa_model"), "weight_type": "linear",
              "start_at": 0.0, "end_at": 1.0, "embeds_scaling": "V only", "clip_vision": cg.link("clip_vision")}
    if kind == "single":
        g["ref"] = cg.images(14, batch=1)
        g["ipa"] = {"class_type": "IPAdapterAdvanced", "inputs": dict(
            common, image=cg.link("ref"), weight=1.0, combine_embeds="concat")}
    else:
        g["ref"] = cg.images(15)
        g["weights"] = {"class_type": "IPAdapterWeights", "inputs": {
            "weights": ", ".join(str(w) for w in WEIGHTS), "timing": "custom", "frames": 0, "start_frame": 0,
            "end_frame": 9999, "add_starting_frames": 0, "add_ending_frames": 0, "method": "full batch"}}
        g["mask"] = cg.masks(16, zero_frames=MASK_ZERO_FRAMES)
        g["ipa"] = {"class_type": "IPAdapterBatch", "inputs": dict(
            common, image=cg.link("ref"), weight=cg.link("weights"), encode_batch_size=0, attn_mask=cg.link("mask"))}
    return cg.add_sampler(g, model=cg.link("ipa"))


@pytest.fixture(scope="module")
def run(ours, ade, files):
    """run(side, windows, kind) -> sampled latent; each graph runs once per module."""
    done = {}

    def get(side="ours", windows=None, kind="per_frame"):
        if (side, windows, kind) not in done:
            worker = ours if side == "ours" else ade
            graph = ipadapter_graph(side, files, windows, kind)
            done[side, windows, kind] = worker.run(graph)["outputs"][cg.OUT][0]
        return done[side, windows, kind]
    return get


def test_one_reference_image_under_windows(run):
    """One image for every frame (nothing per frame to cut): IPAdapter acts the same in every window."""
    unwindowed = run(kind="single")
    assert cg.rel_diff(unwindowed, run(kind="none")) > 1e-2, "IPAdapter does not act"
    assert cg.rel_diff(run("ours", "full", "single"), unwindowed) <= 1e-4


def test_windows_give_each_frame_its_own_ipadapter_inputs(run, modes):
    unwindowed = run()
    assert cg.rel_diff(unwindowed, run(kind="none")) > 1e-2, "IPAdapter does not act"
    for windows in modes:
        assert cg.rel_diff(run("ours", windows), unwindowed) <= 1e-4, windows
    assert cg.rel_diff(run("ade", "ade"), unwindowed) <= 1e-3


@pytest.mark.parametrize("windows", [None, *WINDOWED])
def test_per_frame_weights_and_masks_reach_their_frames(run, modes, windows):
    """Frames whose weight is 0 or whose mask is blank are those of the graph without IPAdapter; every other frame
    differs from it. Under windows a frame given another window's weight or mask breaks this."""
    skip_unless(windows, modes)
    off = {f for f, w in enumerate(WEIGHTS) if w == 0.0} | set(MASK_ZERO_FRAMES)
    latent, plain = run("ours", windows), run(kind="none")
    for f in range(cg.FRAMES):
        change = cg.rel_diff(latent[f], plain[f])
        assert (change <= 1e-5) if f in off else (change > 1e-3), (f, change)
