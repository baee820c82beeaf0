"""SparseCtrl against Advanced-ControlNet's (whose motion modules ADE builds): the same random-weight SparseCtrl files
in the published layout, the same SD1.5 checkpoint, keyframes on frames 0 and 15 of 16. In the `ours` worker this
pack's Load SparseCtrl, through ComfyUI's core apply node (RGB: keyframes as images + VAE, frames from our index
list) and Advanced-ControlNet's apply node (scribble: frames from Advanced-ControlNet's index method node); in the
`ade` worker Advanced-ControlNet's loader, RGB preprocessor and apply node. Same latents within 1e-3 (relative max
difference), and the SparseCtrls visibly act (> 1e-2 against the same sampling without them).

Full size (tests/fixtures/checkpoint_files.py, at 64x64, one step): Advanced-ControlNet recognises a SparseCtrl file's
encoder only by ComfyUI's SD1.5 diffusers config, and ADE builds the motion modules at SD1.5's widths, so neither
loads a reduced-width file. RGB and scribble are chained in one sampler: one UNet pass per side, either SparseCtrl
going wrong moves the result.
"""
import pytest

import checkpoint_files

FRAMES, SIZE, INDEXES = 16, 64, "0, 15"
RGB, SCRIBBLE = "v3_sd15_sparsectrl_rgb.ckpt", "v3_sd15_sparsectrl_scribble.ckpt"
TOLERANCE, ACTS = 1e-3, 1e-2


@pytest.fixture(scope="module")
def files(ours, ade):
    """The full-size random-weight files (written, or found in their cache, by a worker: writing needs ComfyUI)."""
    needed = [("checkpoints", checkpoint_files.CHECKPOINT), ("controlnet", RGB), ("controlnet", SCRIBBLE)]
    root = ours.call("tests/fixtures/checkpoint_files.py:ensure_model_files", only=needed)
    for worker in (ours, ade):
        worker.call("tests/packs/companion_models.py:register_nodes")
        worker.call("tests/packs/companion_models.py:add_model_root", root, checkpoint_files.FOLDERS)
    return root


def link(node: str, slot: int = 0) -> list:
    return [node, slot]


def apply_node(kind: str, conds: tuple, control: str, image: str, vae: str | None = None) -> dict:
    inputs = {"positive": conds[0], "negative": conds[1], "control_net": link(control), "image": link(image),
              "strength": 1.0, "start_percent": 0.0, "end_percent": 1.0}
    if vae:
        inputs["vae"] = link(vae, 2)
    return {"class_type": kind, "inputs": inputs}


def sparse_controls(side: str, g: dict) -> tuple:
    """RGB then scribble SparseCtrl on the positive/negative conditioning; returns the conditioning links."""
    conds = (link("pos"), link("neg"))
    g["method"] = {"class_type": "ACN_SparseCtrlIndexMethodNode", "inputs": {"indexes": INDEXES}}
    if side == "ours":  # RGB frames from our index list, scribble frames from Advanced-ControlNet's index method
        for name, file in (("rgb", RGB), ("scribble", SCRIBBLE)):
            g[name] = {"class_type": "ALCM_LoadSparseCtrl", "inputs": {
                "sparsectrl_name": file, "motion_strength": 1.0, "motion_scale": 1.0, "indexes": INDEXES,
                "spread": "uniform", "context_aware": "off"}}
        g["scribble"]["inputs"].update(indexes="", sparse_method=link("method"))
        g["apply_rgb"] = apply_node("ControlNetApplyAdvanced", conds, "rgb", "keyframes", vae="ckpt")
    else:
        for name, file in (("rgb", RGB), ("scribble", SCRIBBLE)):
            g[name] = {"class_type": "ACN_SparseCtrlLoaderAdvanced", "inputs": {
                "sparsectrl_name": file, "use_motion": True, "motion_strength": 1.0, "motion_scale": 1.0,
                "sparse_method": link("method"), "context_aware": "off"}}
        g["proc"] = {"class_type": "ACN_SparseCtrlRGBPreprocessor", "inputs": {
            "image": link("keyframes"), "vae": link("ckpt", 2), "latent_size": link("latent")}}
        g["apply_rgb"] = apply_node("ACN_AdvancedControlNetApply_v2", conds, "rgb", "proc")
    conds = (link("apply_rgb", 0), link("apply_rgb", 1))
    g["apply_scribble"] = apply_node("ACN_AdvancedControlNetApply_v2", conds, "scribble", "scribbles")
    return link("apply_scribble", 0), link("apply_scribble", 1)


def graph(side: str, without: bool = False) -> dict:
    """The keyframed graph; `without`: also the same sampling without the SparseCtrls (capture node "plain")."""
    g = {"ckpt": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": checkpoint_files.CHECKPOINT}},
         "pos": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red fox in the snow", "clip": link("ckpt", 1)}},
         "neg": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": link("ckpt", 1)}},
         "latent": {"class_type": "EmptyLatentImage", "inputs": {"width": SIZE, "height": SIZE, "batch_size": FRAMES}},
         "keyframes": {"class_type": "ALCMTest_RandomImage", "inputs": {"seed": 31, "batch": 2, "size": SIZE}},
         "scribbles": {"class_type": "ALCMTest_RandomImage", "inputs": {"seed": 32, "batch": 2, "size": SIZE}}}
    add_sampler(g, "out", *sparse_controls(side, g))
    if without:
        add_sampler(g, "plain", link("pos"), link("neg"))
    return g


def add_sampler(g: dict, out: str, positive: list, negative: list) -> None:
    g["sampler_" + out] = {"class_type": "KSampler", "inputs": {
        "model": link("ckpt"), "positive": positive, "negative": negative, "latent_image": link("latent"), "seed": 7,
        "steps": 1, "cfg": 2.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}}
    g[out] = {"class_type": "ALCMTest_LatentStats", "inputs": {"samples": link("sampler_" + out)}}


def rel(a, b) -> float:
    return float((a - b).abs().max() / b.abs().max())


def run(worker, prompt: dict) -> dict:
    """One graph, then the worker lets its models go: two full-size SparseCtrls and SD1.5 take ~9 GB in fp32."""
    try:
        return {k: v[0] for k, v in worker.run(prompt)["outputs"].items()}
    finally:
        worker.free()


def test_same_latents_as_advanced_controlnet_and_ade(ours, ade, files):
    mine = run(ours, graph("ours", without=True))
    theirs = run(ade, graph("ade"))["out"]
    assert mine["out"].shape == (FRAMES, 4, SIZE // 8, SIZE // 8)
    parity = rel(mine["out"], theirs)
    assert parity <= TOLERANCE, f"this pack vs Advanced-ControlNet + ADE: {parity:.2e}"
    assert rel(mine["out"], mine["plain"]) > ACTS
