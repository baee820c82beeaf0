"""MotionLoRA training in a real ComfyUI (reduced widths): the LoRA is trained on the MODEL's own UNet, written in
the published layout to ComfyUI's own models/animatediff_motion_lora (never into a folder another pack registered
first), listed there and usable by a second graph; the inputs stay bit for bit; an interrupt raises ComfyUI's
interrupt and leaves no file; hostile names and folders are refused; training data encoded outside ComfyUI's
inference mode trains (nothing cached keeps its autograd graph).

ComfyUI's models folder is a temporary one during this module (`models_dir` fixture), so the host stays untouched."""
import os

import pytest
import torch

import graph_utils

FRAMES = 8
MOTION_LORAS = "animatediff_motion_lora"


@pytest.fixture(scope="module", autouse=True)
def models_dir(host, tmp_path_factory):
    """ComfyUI's models folder moved to a temporary folder whose animatediff_motion_lora is searched after the
    folders registered before it, as the pack registers ComfyUI's own at load; restored afterwards."""
    import folder_paths
    root = str(tmp_path_factory.mktemp("comfyui_models"))
    before_dir, before_paths = folder_paths.models_dir, list(folder_paths.get_folder_paths(MOTION_LORAS))
    folder_paths.models_dir = root
    os.makedirs(os.path.join(root, MOTION_LORAS))
    folder_paths.add_model_folder_path(MOTION_LORAS, os.path.join(root, MOTION_LORAS))
    try:
        yield root
    finally:
        folder_paths.models_dir = before_dir
        folder_paths.folder_names_and_paths[MOTION_LORAS][0][:] = before_paths


def _data(host, clips=2, seed=0):
    """Clip latents with a pattern moving one pixel per frame, and one caption embedding per clip."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(clips, 1, 4, 8, 8, generator=g)
    latents = torch.cat([torch.roll(base, shifts=f, dims=-1) for f in range(FRAMES)], dim=1)
    contexts = tuple(torch.randn(7, host.helpers.CONTEXT_DIM, generator=g) for _ in range(clips))
    return host.pack.nodes.train.TrainingData(latents, contexts, tuple(f"clip {i}" for i in range(clips)))


def _state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _settings(host, steps=3):
    return host.pack.animatelcm_core.lora_train.TrainSettings(rank=4, learning_rate=1e-3, steps=steps, seed=1)


def test_trains_writes_and_leaves_inputs_unchanged(host):
    import folder_paths
    train = host.pack.nodes.train
    base = host.helpers.random_sd15(seed=81)
    handle = graph_utils.motion_handle(host, "v2", seed=81)
    unet_before, motion_before = _state(base.model.diffusion_model), _state(handle.model)
    path = train.lora_path("alcm_test_lora", overwrite=True)
    trained, losses = train.train(base, handle, _data(host), _settings(host), path)
    try:
        assert len(losses) == 3 and all(torch.isfinite(torch.tensor(losses)))
        assert os.path.dirname(path) == os.path.join(folder_paths.models_dir, MOTION_LORAS)
        assert "alcm_test_lora.safetensors" in folder_paths.get_filename_list("animatediff_motion_lora")
        from safetensors.torch import load_file
        saved = load_file(path)
        assert saved and all(".processor.to_" in k and "_lora." in k for k in saved)
        assert trained.loras == (("alcm_test_lora.safetensors", 1.0),)
        after_unet, after_motion = _state(base.model.diffusion_model), _state(handle.model)
        assert all(torch.equal(after_unet[k], v) for k, v in unet_before.items())
        assert all(torch.equal(after_motion[k], v) for k, v in motion_before.items())
        assert not os.listdir(os.path.dirname(path)) or not any(n.endswith(".tmp") for n in os.listdir(os.path.dirname(path)))
        # a second graph samples with the file through Apply MotionLoRA; the LoRA changes the video
        node = host.nodes.NODE_CLASS_MAPPINGS["ALCM_ApplyMotionLoRA"]
        with_lora = graph_utils.node_output(node.execute(handle, "alcm_test_lora.safetensors", 1.0))
        noise = torch.randn(FRAMES, 4, 8, 8, generator=torch.Generator().manual_seed(2))
        a = graph_utils.denoise_once(graph_utils.inflate(host, base, with_lora), noise)
        b = graph_utils.denoise_once(graph_utils.inflate(host, base, handle), noise)
        assert torch.isfinite(a).all() and not torch.equal(a, b)
        image = train.loss_curve_image(losses)
        assert image.shape[0] == 1 and image.shape[-1] == 3 and image.std() > 0
    finally:
        os.remove(path)


def test_interrupt_raises_comfyui_interrupt_and_writes_nothing(host):
    import comfy.model_management
    import comfy.utils
    train = host.pack.nodes.train
    base = host.helpers.random_sd15(seed=82)
    handle = graph_utils.motion_handle(host, "v2", seed=82)
    path = train.lora_path("alcm_test_interrupted", overwrite=True)
    folder = os.path.dirname(path)
    before = set(os.listdir(folder))
    previous = comfy.utils.PROGRESS_BAR_HOOK

    def interrupt_after_first_step(value, total, preview=None, node_id=None):
        if value >= 1:
            comfy.model_management.interrupt_current_processing(True)

    comfy.utils.set_progress_bar_global_hook(interrupt_after_first_step)
    try:
        with pytest.raises(comfy.model_management.InterruptProcessingException):
            train.train(base, handle, _data(host), _settings(host, steps=5), path)
    finally:
        comfy.utils.set_progress_bar_global_hook(previous)
        comfy.model_management.interrupt_current_processing(False)
    assert set(os.listdir(folder)) == before and not os.path.exists(path)


def test_hostile_names_and_folders_are_refused(host, tmp_path):
    import folder_paths
    train = host.pack.nodes.train
    for name in ("../escape", "a/b", "/etc/passwd", "..", "", "x" * 200):
        with pytest.raises(ValueError, match="lora_name"):
            train.lora_path(name, overwrite=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    link = os.path.join(folder_paths.get_input_directory(), "alcm_test_link_out")
    os.symlink(outside, link)
    try:
        for folder in ("../", "/tmp", "a/../../b", "alcm_test_link_out"):
            with pytest.raises(ValueError, match="input folder"):
                train.folder_videos(folder)
    finally:
        os.remove(link)
    path = train.lora_path("alcm_test_exists", overwrite=True)
    open(path, "wb").close()
    try:
        with pytest.raises(ValueError, match="exists"):
            train.lora_path("alcm_test_exists", overwrite=False)
    finally:
        os.remove(path)


def test_bad_inputs_before_any_training(host):
    train = host.pack.nodes.train
    base = host.helpers.random_sd15(seed=83)
    with pytest.raises(ValueError, match="at most 24"):
        data = _data(host)
        long = train.TrainingData(torch.cat([data.latents] * 4, dim=1), data.contexts, data.sources)
        train.check_training(base, graph_utils.motion_handle(host, "v1", seed=83), long, "fp32")
    with pytest.raises(ValueError, match="fp16 needs a GPU"):
        train.check_training(base, graph_utils.motion_handle(host, "v2", seed=83), _data(host), "fp16")


def test_gradient_checkpointing_gives_the_same_training(host):
    """The checkpointed UNet copy recomputes activations; the loss curve and the LoRA are those of the plain run."""
    import dataclasses
    train = host.pack.nodes.train
    base = host.helpers.random_sd15(seed=84)
    handle = graph_utils.motion_handle(host, "v2", seed=84)
    runs = []
    for checkpointing in (False, True):
        path = train.lora_path(f"alcm_test_ckpt_{checkpointing}", overwrite=True)
        settings = dataclasses.replace(_settings(host), gradient_checkpointing=checkpointing)
        try:
            runs.append(train.train(base, handle, _data(host), settings, path)[1])
            from safetensors.torch import load_file
            runs.append(load_file(path))
        finally:
            os.remove(path)
    torch.testing.assert_close(torch.tensor(runs[2]), torch.tensor(runs[0]), rtol=1e-5, atol=1e-6)
    assert all(torch.allclose(runs[3][k], v, rtol=1e-4, atol=1e-6) for k, v in runs[1].items())


def test_a_folder_another_pack_registered_first_is_not_written(host, models_dir, tmp_path):
    """With ADE installed, the first animatediff_motion_lora folder is inside ADE's own folder: the trained file goes
    to ComfyUI's models folder instead, is loaded from there, and a same-named file the other folder would shadow it
    with is refused before any training."""
    import folder_paths
    train = host.pack.nodes.train
    other = tmp_path / "custom_nodes" / "ComfyUI-AnimateDiff-Evolved" / "models" / "motion_lora"
    other.mkdir(parents=True)
    before = list(folder_paths.get_folder_paths(MOTION_LORAS))
    folder_paths.add_model_folder_path(MOTION_LORAS, str(other), is_default=True)
    try:
        assert folder_paths.get_folder_paths(MOTION_LORAS)[0] == str(other)
        path = train.lora_path("alcm_test_placed", overwrite=False)
        assert path == os.path.join(models_dir, MOTION_LORAS, "alcm_test_placed.safetensors")
        trained, _ = train.train(host.helpers.random_sd15(seed=85), graph_utils.motion_handle(host, "v2", seed=85),
                                 _data(host), _settings(host, steps=1), path)
        assert os.path.isfile(path) and not os.listdir(other)
        assert folder_paths.get_full_path(MOTION_LORAS, "alcm_test_placed.safetensors") == path
        assert trained.loras == (("alcm_test_placed.safetensors", 1.0),)
        (other / "alcm_test_shadowed.safetensors").write_bytes(b"")
        with pytest.raises(ValueError, match="finds it first"):
            train.lora_path("alcm_test_shadowed", overwrite=True)
    finally:
        folder_paths.folder_names_and_paths[MOTION_LORAS][0][:] = before
        if os.path.exists(os.path.join(models_dir, MOTION_LORAS, "alcm_test_placed.safetensors")):
            os.remove(os.path.join(models_dir, MOTION_LORAS, "alcm_test_placed.safetensors"))


class _TextEncoder:
    """CLIP's interface (tokenize, encode_from_tokens_scheduled) over one small linear layer: like any text encoder
    run outside inference mode, its output carries the autograd graph of its weights."""

    def __init__(self, dim: int):
        self.proj = torch.nn.Linear(4, dim)

    def tokenize(self, text: str):
        return torch.tensor([[float(len(text)), 1.0, 2.0, 3.0]] * 7)

    def encode_from_tokens_scheduled(self, tokens):
        return [[self.proj(tokens)[None], {}]]


def test_training_data_encoded_outside_inference_mode_trains(host):
    """A script or another executor runs the nodes without torch.inference_mode: the real VAE's latents and the text
    encoder's embeddings then carry autograd graphs. The cached training data holds none, so every step trains
    (before the fix the second step failed with 'backward through the graph a second time')."""
    import comfy.sd
    assert not torch.is_inference_mode_enabled()
    train = host.pack.nodes.train
    vae = comfy.sd.VAE(sd=host.helpers.random_sd_vae_state_dict(seed=86))
    video = torch.rand(FRAMES + 2, 64, 64, 3, generator=torch.Generator().manual_seed(86))
    clips = host.nodes.NODE_CLASS_MAPPINGS["ALCM_TrainingClips"]
    data = graph_utils.node_output(clips.execute(vae, _TextEncoder(host.helpers.CONTEXT_DIM), "", "a caption",
                                                 FRAMES, 1, 64, 64, 2, 0, images=video))
    assert data.latents.grad_fn is None and all(c.grad_fn is None for c in data.contexts)
    path = train.lora_path("alcm_test_no_inference_mode", overwrite=True)
    try:
        _, losses = train.train(host.helpers.random_sd15(seed=86), graph_utils.motion_handle(host, "v2", seed=86),
                                data, _settings(host, steps=3), path)
        assert len(losses) == 3 and all(torch.isfinite(torch.tensor(losses)))
    finally:
        if os.path.exists(path):
            os.remove(path)
