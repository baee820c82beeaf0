"""SparseCtrl (AnimateDiff v3's sparse ControlNet) in a real ComfyUI: reduced-width random-weight files in the
published key layout (tests/fixtures/keys/v3_sd15_sparsectrl_*.tsv) next to the reduced random SD1.5 MODEL,
applied through ComfyUI's core ControlNet apply node.

Frame-level checks run with SparseCtrl's motion strength 0 and a MODEL without motion (frames independent), so a
hint can only change its own frame: a hint on the wrong frame changes another one. The proof is the exact equality
of the other frames; a single hint's own change is smaller than the whole control's (~0.8% against ~2% of the
latent's range with these random weights), so it is checked against 1e-3 (float noise is ~1e-7).
"""
import os

import pytest
import torch

import graph_utils
from host_features import comfy_windows_take_frame_batches
from sparsectrl_weights import sparsectrl_state_dict

FRAMES, SIZE = 16, 8
MODES = ("motion-only", "full")
HINT_VISIBLE = 1e-3  # one hint's change of its own frame (see above); the whole feature is checked against 1e-2


@pytest.fixture(scope="module")
def files(host):
    names = {}
    for seed, kind in enumerate(("rgb", "scribble")):
        names[kind] = f"sparsectrl_{kind}_tiny.ckpt"
        torch.save(sparsectrl_state_dict(kind, seed=40 + seed), os.path.join(host.models, "controlnet", names[kind]))
    return names


@pytest.fixture(scope="module")
def base(host):
    return host.helpers.random_sd15(seed=5)


def load(host, name, **settings):
    args = dict(motion_strength=1.0, motion_scale=1.0, indexes="", spread="uniform", context_aware="off")
    args.update(settings)
    return graph_utils.node_output(host.pack.nodes.nodes_sparsectrl.LoadSparseCtrl.execute(name, **args))


class Latents:
    """Stands in for Advanced-ControlNet's "RGB SparseCtrl" preprocessor output: raw VAE latents as `condhint`."""

    def __init__(self, condhint):
        self.condhint = condhint

    def movedim(self, *args):
        return self


def hints(kind: str, n: int, seed: int):
    """n distinct hints: IMAGE batches (n, 64, 64, 3) for scribble, raw latents (n, 4, 8, 8) for RGB."""
    g = torch.Generator().manual_seed(seed)
    if kind == "rgb":
        return Latents(torch.randn(n, 4, SIZE, SIZE, generator=g) * 5.0)
    return torch.rand(n, SIZE * 8, SIZE * 8, 3, generator=g)


def pick(batch, rows):
    return Latents(batch.condhint[rows]) if isinstance(batch, Latents) else batch[rows]


def apply(host, control, images, vae=None, strength=1.0):
    positive, negative = host.helpers.random_cond(0), host.helpers.random_cond(1)
    if control is None:
        return positive, negative
    return host.nodes.ControlNetApplyAdvanced().apply_controlnet(positive, negative, control, images, strength, 0.0,
                                                                 1.0, vae=vae)


def sample(model, conds, noise, steps=1, cfg=1.0):
    import comfy.sample
    import comfy.samplers
    sigmas = torch.linspace(5.0, 0.6, steps).tolist() + [0.0]
    with torch.inference_mode():  # as ComfyUI's executor runs nodes
        return comfy.sample.sample_custom(model, noise, cfg, comfy.samplers.sampler_object("euler"),
                                          torch.tensor(sigmas), conds[0], conds[1], torch.zeros_like(noise),
                                          disable_pbar=True, seed=0)


def noise(seed=0, frames=FRAMES):
    return torch.randn(frames, 4, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


def rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


def test_files_are_detected(host, files):
    for kind, channels in (("rgb", 5), ("scribble", 4)):
        control = load(host, files[kind])
        config = control.control_model.config
        assert (config.kind, config.hint_channels, config.context_dim) == (kind, channels, 64)
        names = [n for n, _ in config.motion.module_names()]
        assert names == [f"down_blocks.{i}.motion_modules.{j}" for i in range(4) for j in range(2)]
        assert config.motion.attention_blocks == 1 and config.motion.pe_stored


@pytest.fixture(scope="module")
def plain(host, base):
    """The MODEL without SparseCtrl, on the noise of the frame-level checks."""
    return sample(base, apply(host, None, None), noise())


@pytest.mark.parametrize("kind", ["rgb", "scribble"])
def test_hints_reach_exactly_their_frames(host, files, base, plain, kind):
    """Hints A on frame 0 and B on frame 15 of 16: against A alone (on frame 0) only frame 15 changes, against B
    alone (on the last frame) only frame 0 changes; every frame gets SparseCtrl's control (unconditioned frames its
    mask-0 control), visibly against no SparseCtrl."""
    images = hints(kind, 2, seed=3)
    both = sample(base, apply(host, load(host, files[kind], motion_strength=0.0, indexes="0, 15"), images), noise())
    a_only = sample(base, apply(host, load(host, files[kind], motion_strength=0.0, indexes="0"), pick(images, [0])),
                    noise())
    b_only = sample(base, apply(host, load(host, files[kind], motion_strength=0.0, indexes="-1"), pick(images, [1])),
                    noise())
    torch.testing.assert_close(both[:15], a_only[:15], rtol=0, atol=1e-6)
    torch.testing.assert_close(both[1:], b_only[1:], rtol=0, atol=1e-6)
    assert rel(both[15], a_only[15]) > HINT_VISIBLE and rel(both[0], b_only[0]) > HINT_VISIBLE
    assert rel(both[1:15], plain[1:15]) > 1e-2 and rel(both[0], plain[0]) > 1e-2


@pytest.fixture(scope="module")
def inflated(host, base):
    """The MODEL with a v3 motion module at effect 0 (frames stay independent), and its unwindowed runs."""
    handle = graph_utils.motion_handle(host, "v3", seed=7)
    return graph_utils.inflate(host, base, handle, effect=0.0), {}


def windows(host, model, mode, length=8, overlap=4):
    opts = host.pack.animatelcm_core.context.ContextOptions(length, overlap)
    return host.pack.nodes.context.attach_context(model, opts, mode, max_length=32)


def scribble_conds(host, files, **settings):
    settings = dict(dict(motion_strength=0.0, indexes="0, 15"), **settings)
    return apply(host, load(host, files["scribble"], **settings), hints("scribble", 2, 4))


@pytest.mark.parametrize("mode", MODES)
def test_windowed_equals_unwindowed(host, files, inflated, mode):
    """Motion effect 0 everywhere: windows of 8 frames (overlap 4) give the unwindowed result, so every window put
    the hints of frames 0 and 15 on those frames; SparseCtrl visibly acts."""
    model, reference = inflated
    if not reference:
        reference["sparse"] = sample(model, scribble_conds(host, files), noise(1))
        reference["plain"] = sample(model, apply(host, None, None), noise(1))
    windowed = sample(windows(host, model, mode), scribble_conds(host, files), noise(1))
    torch.testing.assert_close(windowed, reference["sparse"], rtol=0, atol=1e-4)
    assert rel(reference["sparse"], reference["plain"]) > 1e-2


def test_nearest_hint_fills_windows_without_hints(host, files, inflated):
    """Full mode, windows 0-7, 4-11, 8-15: the middle window holds neither hinted frame; with nearest_hint it gets
    hint 0 on its first frame and hint 15 on its last (equally far), which changes the result."""
    model, _ = inflated
    windowed = windows(host, model, "full")
    off = sample(windowed, scribble_conds(host, files), noise(1))
    nearest = sample(windowed, scribble_conds(host, files, context_aware="nearest_hint"), noise(1))
    torch.testing.assert_close(nearest[[0, 1, 2, 3, 12, 13, 14, 15]], off[[0, 1, 2, 3, 12, 13, 14, 15]], rtol=0,
                               atol=1e-4)  # frames the middle window does not hold
    assert rel(nearest[4:12], off[4:12]) > HINT_VISIBLE


def test_motion_modules_act_and_follow_motion_only_windows(host, files, inflated):
    """With its motion modules on, SparseCtrl mixes frames (frame 5 changes when the hint on frame 0 changes);
    in motion-only mode its motion modules run in the MODEL's windows: with disjoint windows 0-3 and 4-7, frames
    4-7 keep their values when only frame 0's hint changes."""
    model, _ = inflated
    windowed = windows(host, model, "motion-only", length=4, overlap=0)
    runs = {}
    for name, m in (("plain", model), ("windowed", windowed)):
        runs[name] = [sample(m, apply(host, load(host, files["scribble"], indexes="0"), h),
                             noise(2, frames=8)) for h in (hints("scribble", 1, 5), hints("scribble", 1, 6))]
    assert rel(runs["plain"][0][5], runs["plain"][1][5]) > HINT_VISIBLE
    torch.testing.assert_close(runs["windowed"][0][4:], runs["windowed"][1][4:], rtol=0, atol=1e-6)
    assert rel(runs["windowed"][0][1:4], runs["windowed"][1][1:4]) > HINT_VISIBLE


def test_rgb_images_through_the_vae_equal_encoded_latents(host, files, base):
    """RGB hints given as images + VAE on the core apply node equal the same images encoded beforehand."""
    import comfy.utils
    vae = host.nodes.NODE_CLASS_MAPPINGS["ALCMTest_RandomVAE"]().make(0)[0]
    images = torch.rand(2, 48, 80, 3, generator=torch.Generator().manual_seed(8))  # resized and cropped to 64x64
    pixels = comfy.utils.common_upscale(images.movedim(-1, 1), SIZE * 8, SIZE * 8, "nearest-exact", "center")
    encoded = Latents(vae.encode(pixels.movedim(1, -1)))
    control = load(host, files["rgb"], indexes="0, 15")
    via_vae = sample(base, apply(host, control, images, vae=vae), noise(3), steps=1)
    via_latents = sample(base, apply(host, control, encoded), noise(3), steps=1)
    torch.testing.assert_close(via_vae, via_latents, rtol=0, atol=1e-5)


def test_bad_inputs_fail_clearly(host, files, base, tmp_path):
    errors = host.pack.animatelcm_core.sparse_frames
    with pytest.raises(errors.SparseCtrlError, match="needs the VAE|Connect the VAE"):
        apply(host, load(host, files["rgb"]), torch.rand(2, 64, 64, 3))
    with pytest.raises(errors.SparseCtrlError, match="takes images"):
        apply(host, load(host, files["scribble"]), hints("rgb", 2, 0))
    with pytest.raises(errors.SparseCtrlError, match=r"2 hint image\(s\) but 3 index"):
        apply(host, load(host, files["scribble"], indexes="0, 5, 9"), hints("scribble", 2, 0))
    with pytest.raises(errors.SparseCtrlError, match="'x' is not a whole number"):
        load(host, files["scribble"], indexes="0, x")
    conds = apply(host, load(host, files["scribble"], indexes="0, 16"), hints("scribble", 2, 0))
    with pytest.raises(errors.SparseCtrlError, match="index 16 is outside the video's 16 frames"):
        sample(base, conds, noise())
    import comfy.model_base  # a MODEL of other widths: refused before sampling
    import comfy.model_management
    import comfy.model_patcher
    import comfy.supported_models
    config = comfy.supported_models.SDXL(dict(host.helpers.TINY_SDXL))
    cpu = torch.device("cpu")
    other = comfy.model_patcher.ModelPatcher(comfy.model_base.SDXL(config, device=cpu), load_device=cpu,
                                             offload_device=cpu)
    conds = apply(host, load(host, files["scribble"]), hints("scribble", 2, 0))
    for cond in conds:  # what an SDXL text encoder gives besides the tokens
        cond[0][1]["pooled_output"] = torch.zeros(1, 1280)
    with pytest.raises(errors.SparseCtrlError, match="use it with an SD1.5 checkpoint"):
        sample(other, conds, noise(frames=2), steps=1)


@pytest.mark.parametrize("content, message", [
    ("motion", "it is a motion module; load it with 'Load Motion Module'"),
    ("controlnet", "a ControlNet without motion modules"),
    ("empty", "the file is empty"),
    ("truncated", "missing"),
])
def test_wrong_files_are_refused(host, files, content, message):
    from synth_weights import FAMILY_FILES, random_state_dict
    folder = os.path.join(host.models, "controlnet")
    name = f"not_sparsectrl_{content}.ckpt"
    path = os.path.join(folder, name)
    if content == "motion":
        torch.save(random_state_dict(FAMILY_FILES["v3"]), path)
    elif content == "controlnet":
        sd = sparsectrl_state_dict("scribble")
        torch.save({k: v for k, v in sd.items() if ".motion_modules." not in k}, path)
    elif content == "empty":
        open(path, "wb").close()
    else:
        sd = sparsectrl_state_dict("rgb")
        torch.save({k: v for k, v in sd.items() if not k.startswith("down_blocks.3.resnets.1.")}, path)
    with pytest.raises(host.pack.animatelcm_core.sparse_frames.SparseCtrlError) as err:
        load(host, name)
    assert name in str(err.value) and message in str(err.value)


@pytest.mark.parametrize("name", ["../../outside.ckpt", "/etc/passwd", "a/../../../outside.ckpt"])
def test_hostile_names_stay_in_the_model_folders(host, tmp_path, name):
    outside = os.path.join(os.path.dirname(host.models), "outside.ckpt")
    torch.save(sparsectrl_state_dict("rgb"), outside)
    try:
        with pytest.raises(FileNotFoundError):
            load(host, name)
    finally:
        os.remove(outside)


def executor_prompt(files, comfy_windows: bool = False) -> dict:
    """An API graph: our loader, ComfyUI's core apply node, two keyframe images, KSampler (16 frames, cfg 2);
    optionally ComfyUI's own context-window node (windows of 8 frames, overlap 4)."""
    prompt = {
        "1": {"class_type": "ALCMTest_RandomSD15", "inputs": {"seed": 5}},
        "2": {"class_type": "ALCMTest_RandomCond", "inputs": {"seed": 0}},
        "3": {"class_type": "ALCMTest_RandomCond", "inputs": {"seed": 1}},
        "4": {"class_type": "ALCM_LoadSparseCtrl", "inputs": {
            "sparsectrl_name": files["scribble"], "motion_strength": 0.0, "motion_scale": 1.0, "indexes": "0, -1",
            "spread": "uniform", "context_aware": "off"}},
        "5": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0xff0000}},
        "6": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0x00ff00}},
        "7": {"class_type": "ImageBatch", "inputs": {"image1": ["5", 0], "image2": ["6", 0]}},
        "8": {"class_type": "ControlNetApplyAdvanced", "inputs": {
            "positive": ["2", 0], "negative": ["3", 0], "control_net": ["4", 0], "image": ["7", 0], "strength": 1.0,
            "start_percent": 0.0, "end_percent": 1.0}},
        "9": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": FRAMES}},
        "10": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "positive": ["8", 0], "negative": ["8", 1], "latent_image": ["9", 0], "seed": 0,
            "steps": 1, "cfg": 2.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}},
        "11": {"class_type": "ALCMTest_LatentStats", "inputs": {"samples": ["10", 0]}},
    }
    if comfy_windows:  # 0.33's further inputs at their defaults (0.3.64 ignores them), anchor frame on
        prompt["12"] = {"class_type": "ContextWindowsManual", "inputs": {
            "model": ["1", 0], "context_length": 8, "context_overlap": 4, "context_schedule": "standard_static",
            "context_stride": 1, "closed_loop": False, "fuse_method": "pyramid", "dim": 0, "freenoise": False,
            "cond_retain_index_list": "", "split_conds_to_windows": False, "latent_retain_index_list": "",
            "causal_window_fix": True}}
        prompt["10"]["inputs"]["model"] = ["12", 0]
    return prompt


def latents_of(host, prompt: dict):
    ok, _, messages = host.helpers.run_prompt(prompt)
    assert ok, messages
    return host.nodes.NODE_CLASS_MAPPINGS["ALCMTest_LatentStats"].results[-1]


@pytest.fixture(scope="module")
def executor_run(host, files):
    return latents_of(host, executor_prompt(files))


def test_runs_through_the_executor(executor_run):
    assert executor_run.shape == (FRAMES, 4, SIZE, SIZE) and torch.isfinite(executor_run).all()


def test_comfyui_own_context_windows(host, files, executor_run):
    """Under ComfyUI's own context windows frames stay independent here, so windowed equals unwindowed: every window
    (with 0.33's anchor frame before it) put the keyframes on frames 0 and 15."""
    if not comfy_windows_take_frame_batches():
        pytest.skip("this ComfyUI's own context-window handler cannot sample frame batches (0.3.64's set_step "
                    "matches the sampler's sigmas against the whole batch of per-frame timesteps)")
    windowed = latents_of(host, executor_prompt(files, comfy_windows=True))
    torch.testing.assert_close(windowed, executor_run, rtol=0, atol=1e-4)
