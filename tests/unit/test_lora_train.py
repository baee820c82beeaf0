"""MotionLoRA training core (issue 15): convergence on a moving pattern, frozen base, published key layout, the
file through the existing MotionLoRA load/merge path, atomic save and interruption, determinism.

Reduced widths on the CPU: the reduced v2 motion model (channels / 10) inside a tiny pure-torch video "UNet"
(conv in -> two 32-channel motion modules -> conv out), 8 frames of 8x8 latents.
"""
import functools
import math
import os
import time
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from animatelcm_core.build import build_motion_model, motion_model_from_state_dict
from animatelcm_core.config import detect_config
from animatelcm_core.errors import TrainingInterrupted
from animatelcm_core.lora_adapters import MotionLoRAAdapters, attached, lora_state_dict, published_state_dict, \
    save_lora_atomic
from animatelcm_core.lora_train import TrainSettings, add_noise, noise_prediction_loss, schedule_alphas_cumprod, \
    train_motion_lora
from animatelcm_core.motion_lora import load_motion_lora, merge_loras
from synth_weights import FAMILY_FILES, MOTION_LORA_FILE, meta_state_dict, random_state_dict, read_key_table

FRAMES, SIZE, CHANNELS = 8, 8, 4
MODULES = ("down_blocks.0.motion_modules.0", "down_blocks.0.motion_modules.1")  # 32 channels each
CONVERGENCE = TrainSettings(rank=8, learning_rate=1e-2, steps=200, batch_size=2, seed=0)
PROJ = {"to_q": "to_q", "to_k": "to_k", "to_v": "to_v", "to_out.0": "to_out"}  # target Linear -> published name


@functools.cache
def _v2_weights(seed: int) -> dict:
    return random_state_dict(FAMILY_FILES["v2"], seed=seed)


def v2_model(seed: int = 1):
    """A fresh reduced v2 motion model (its own copies of the cached random weights)."""
    sd = {k: v.clone() for k, v in _v2_weights(seed).items()}
    return motion_model_from_state_dict(sd, "v2")[0]


class TinyVideoUNet(nn.Module):
    """conv in (+ timestep embedding) -> motion modules -> conv out; frozen random weights. The motion model is
    referenced, not registered, as in the ComfyUI glue."""

    def __init__(self, motion_model, width: int = 32, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv_in = nn.Conv2d(CHANNELS, width, 3, padding=1)
        self.time = nn.Linear(width, width)
        self.conv_out = nn.Conv2d(width, CHANNELS, 3, padding=1)
        with torch.no_grad():  # uniform(+-1/sqrt(fan_in)), as torch's default init, but from our generator
            for p in self.parameters():
                fan_in = p[0].numel() if p.ndim > 1 else width
                p.copy_((2 * torch.rand(p.shape, generator=g) - 1) / math.sqrt(fan_in))
        self.requires_grad_(False)
        self.motion = (motion_model,)

    def forward(self, x, t, context, num_frames):
        half = self.time.in_features // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half) / half)
        emb = torch.cat([torch.sin(t[:, None] * freqs), torch.cos(t[:, None] * freqs)], dim=1)
        h = self.conv_in(x) + self.time(emb)[..., None, None]
        for name in MODULES:
            h = self.motion[0].get_module(name)(h, num_frames)
        return self.conv_out(h)


def moving_pattern_clips(count: int = 8, seed: int = 0) -> torch.Tensor:
    """(count, FRAMES, C, SIZE, SIZE): a small pattern moving one latent pixel right per frame."""
    g = torch.Generator().manual_seed(seed)
    clips = []
    for _ in range(count):
        frame = torch.zeros(CHANNELS, SIZE, SIZE)
        y, x = torch.randint(0, SIZE, (2,), generator=g).tolist()
        frame[:, y, x] = 2.0 * torch.randn(CHANNELS, generator=g).sign()
        frame[:, (y + 1) % SIZE, x], frame[:, y, (x + 1) % SIZE] = 1.5, -1.5
        clips.append(torch.stack([frame.roll(f, dims=-1) for f in range(FRAMES)]))
    return torch.stack(clips)


def clone_state(*modules) -> list[dict]:
    return [{k: v.clone() for k, v in m.state_dict().items()} for m in modules]


def assert_unchanged(modules, before) -> None:
    for module, saved in zip(modules, before):
        now = module.state_dict()
        assert now.keys() == saved.keys() and all(torch.equal(now[k], saved[k]) for k in saved)
        assert all(p.grad is None and not p.requires_grad for p in module.parameters())


def assert_no_hooks(model) -> None:
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks and "forward" not in vars(m)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny tensors: one thread is fastest, and on a loaded 2-core machine two threads were measured 8x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained(one_thread):
    model = v2_model()
    unet = TinyVideoUNet(model)
    before = clone_state(model, unet)
    start = time.perf_counter()
    result = train_motion_lora(model, unet, moving_pattern_clips(), settings=CONVERGENCE)
    elapsed = time.perf_counter() - start
    return SimpleNamespace(model=model, unet=unet, before=before, result=result, elapsed=elapsed)


def test_loss_halves_on_a_moving_pattern(trained):
    losses = trained.result.losses
    start, end = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    curve = [round(sum(losses[i:i + 20]) / 20, 4) for i in range(0, len(losses), 20)]
    print(f"\nMotionLoRA loss over {len(losses)} steps ({trained.elapsed:.1f} s): first 10 avg {start:.4f}, "
          f"last 10 avg {end:.4f} (x{end / start:.3f}); per 20 steps {curve}")
    assert len(losses) == CONVERGENCE.steps
    assert end <= 0.5 * start, curve


def test_only_lora_parameters_train_and_the_base_is_bit_identical(trained):
    assert_unchanged([trained.model, trained.unet], trained.before)
    assert_no_hooks(trained.model)
    adapters = trained.result.adapters
    assert all(p.requires_grad for p in adapters.parameters())
    trained_keys = {k for k, p in adapters.items() if p.up.abs().sum() > 0}
    assert trained_keys == {k for k in adapters.keys if k.startswith(MODULES)}  # only the modules the UNet runs
    assert all(p.grad is not None for k, p in adapters.items() if k in trained_keys for p in (p.up, p.down))


def test_fresh_adapters_leave_the_output_unchanged():
    model = v2_model()
    unet = TinyVideoUNet(model)
    x, t = torch.randn(2 * FRAMES, CHANNELS, SIZE, SIZE), torch.full((2 * FRAMES,), 500.0)
    base = unet(x, t, None, FRAMES)
    with attached(model, MotionLoRAAdapters.for_model(model, rank=8)):
        assert torch.equal(unet(x, t, None, FRAMES), base)
    assert_no_hooks(model)


def test_saved_keys_and_shapes_equal_the_published_table(trained, tmp_path):
    path = str(tmp_path / "moving.safetensors")
    save_lora_atomic(trained.result.state_dict(), path, {"steps": "200"})
    saved = load_file(path)
    table = read_key_table(MOTION_LORA_FILE)
    assert list(trained.result.state_dict()) == list(table) and saved.keys() == table.keys()
    for key, shape in table.items():  # reduced widths (C / 10), rank 8
        width = shape[1] // 10 if key.endswith("down.weight") else shape[0] // 10
        expected = (8, width) if key.endswith("down.weight") else (width, 8)
        assert tuple(saved[key].shape) == expected and saved[key].dtype == torch.float32


@pytest.mark.parametrize("family", ["v2", "v3"])
def test_full_size_rank64_layout_on_meta(family):
    model = build_motion_model(detect_config(meta_state_dict(FAMILY_FILES[family]), family))
    sd = lora_state_dict(MotionLoRAAdapters.for_model(model))  # rank 64 by default
    table = read_key_table(MOTION_LORA_FILE)
    if not model.config.has_mid:  # v3: the published table without its mid-block pairs
        table = {k: v for k, v in table.items() if not k.startswith("mid_block.")}
    assert [(k, tuple(v.shape)) for k, v in sd.items()] == list(table.items())
    assert len(sd) == (336 if family == "v2" else 320)
    assert all(v.is_meta and v.dtype == torch.float32 for v in sd.values())
    half = lora_state_dict(MotionLoRAAdapters.for_model(model), dtype=torch.float16)
    assert all(v.dtype == torch.float16 for v in half.values())


def reference_merge(base_sd: dict, lora_sd: dict, strength: float) -> dict:
    """Independent LoRA math: W + s * up @ down, keys spelled out here."""
    out = dict(base_sd)
    for key in base_sd:
        head, sep, tail = key.partition(".attention_blocks.")
        if not sep or tail.removesuffix(".weight")[2:] not in PROJ:
            continue
        attn, proj = tail[0], PROJ[tail.removesuffix(".weight")[2:]]
        lora = f"{head}.attention_blocks.{attn}.processor.{proj}_lora"
        up, down = lora_sd[f"{lora}.up.weight"].double(), lora_sd[f"{lora}.down.weight"].double()
        out[key] = (base_sd[key].double() + strength * up @ down).float()
    return out


def module_outputs(model, x) -> list[torch.Tensor]:
    with torch.no_grad():
        return [model.get_module(name)(x, FRAMES) for name in MODULES]


@pytest.mark.parametrize("strength", [1.0, 0.7])
def test_file_merges_like_the_reference_and_the_trained_module(trained, tmp_path, strength):
    path = str(tmp_path / "moving.safetensors")
    save_lora_atomic(trained.result.state_dict(), path)
    merged = v2_model()
    merge_loras(merged, [(load_motion_lora(path), strength)])
    reference = v2_model()
    reference.load_state_dict(reference_merge(reference.state_dict(), load_file(path), strength))
    for key, weight in merged.state_dict().items():
        torch.testing.assert_close(weight, reference.state_dict()[key], rtol=0, atol=1e-5)
    x = torch.randn(2 * FRAMES, 32, SIZE, SIZE, generator=torch.Generator().manual_seed(3))
    with attached(trained.model, trained.result.adapters, strength=strength):
        hooked = module_outputs(trained.model, x)
    for got, want, ref in zip(module_outputs(merged, x), hooked, module_outputs(reference, x)):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
        torch.testing.assert_close(got, ref, rtol=0, atol=1e-5)
    assert not torch.allclose(hooked[0], module_outputs(trained.model, x)[0], atol=1e-3)  # the LoRA does act


def test_strength_zero_equals_the_base(trained, tmp_path):
    path = str(tmp_path / "moving.safetensors")
    save_lora_atomic(trained.result.state_dict(), path)
    merged, base = v2_model(), v2_model()
    merge_loras(merged, [(load_motion_lora(path), 0.0)])
    assert all(torch.equal(v, base.state_dict()[k]) for k, v in merged.state_dict().items())
    x = torch.randn(2 * FRAMES, 32, SIZE, SIZE)
    assert all(torch.equal(a, b) for a, b in zip(module_outputs(merged, x), module_outputs(base, x)))
    with attached(trained.model, trained.result.adapters, strength=0.0):
        assert all(torch.equal(a, b) for a, b in zip(module_outputs(trained.model, x), module_outputs(base, x)))


def test_loaded_and_resaved_file_is_identical(trained, tmp_path):
    first, second = str(tmp_path / "a.safetensors"), str(tmp_path / "b.safetensors")
    save_lora_atomic(trained.result.state_dict(), first, {"name": "moving"})
    save_lora_atomic(published_state_dict(load_motion_lora(first).pairs), second, {"name": "moving"})
    a, b = load_file(first), load_file(second)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)
    with open(first, "rb") as f1, open(second, "rb") as f2:
        assert f1.read() == f2.read()


def test_interrupted_training_leaves_no_file_and_no_trace(tmp_path):
    model = v2_model()
    unet = TinyVideoUNet(model)
    before = clone_state(model, unet)
    asked, seen = [], []

    def run_and_save():  # what the glue does: train, then write
        result = train_motion_lora(model, unet, moving_pattern_clips(2), settings=TrainSettings(rank=4, steps=10),
                                   callback=lambda step, loss: seen.append(step),
                                   should_stop=lambda: asked.append(1) or len(asked) > 3)
        save_lora_atomic(result.state_dict(), str(tmp_path / "never.safetensors"))

    with pytest.raises(TrainingInterrupted, match="after 3 of 10 steps"):
        run_and_save()
    assert seen == [1, 2, 3] and os.listdir(tmp_path) == []
    assert_unchanged([model, unet], before)
    assert_no_hooks(model)


def test_failed_save_leaves_no_file(monkeypatch, tmp_path):
    sd = {"a": torch.ones(2)}
    save_lora_atomic(sd, str(tmp_path / "keep.safetensors"))
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        save_lora_atomic({"a": torch.zeros(2)}, str(tmp_path / "keep.safetensors"))
    assert os.listdir(tmp_path) == ["keep.safetensors"]
    assert torch.equal(load_file(str(tmp_path / "keep.safetensors"))["a"], torch.ones(2))
    with pytest.raises(ValueError, match=r"x.ckpt: a MotionLoRA is saved as .safetensors"):
        save_lora_atomic(sd, str(tmp_path / "x.ckpt"))
    with pytest.raises(ValueError, match="metadata values must be str; got {'steps': 'int'}"):
        save_lora_atomic(sd, str(tmp_path / "y.safetensors"), {"steps": 3})


def _short_run(seed: int, checkpointing: bool = False):
    model = v2_model()
    settings = TrainSettings(rank=4, learning_rate=1e-2, steps=4, batch_size=2, seed=seed,
                             gradient_checkpointing=checkpointing)
    result = train_motion_lora(model, TinyVideoUNet(model), moving_pattern_clips(4), settings=settings)
    assert_no_hooks(model)
    return result.losses, result.state_dict()


def test_deterministic_for_a_seed_and_checkpointing_changes_nothing():
    losses, sd = _short_run(seed=3)
    again, sd_again = _short_run(seed=3)
    assert losses == again and all(torch.equal(sd[k], sd_again[k]) for k in sd)
    other, _ = _short_run(seed=4)
    assert other != losses
    ckpt_losses, ckpt_sd = _short_run(seed=3, checkpointing=True)
    torch.testing.assert_close(ckpt_losses, losses, rtol=1e-6, atol=0)
    for k in sd:
        torch.testing.assert_close(ckpt_sd[k], sd[k], rtol=1e-5, atol=1e-6)


def test_loss_is_ddpm_noise_prediction():
    acp = schedule_alphas_cumprod("sqrt_linear")
    assert acp.shape == (1000,) and abs(float(acp[-1]) - 0.0015790) < 1e-6  # spec formats.md §7
    x0 = torch.randn(3, FRAMES, CHANNELS, SIZE, SIZE)
    calls = []

    def oracle(x_t, t, context, num_frames):  # solves x_t for eps exactly
        calls.append((t.clone(), num_frames, context))
        abar = acp[t.long()].float().view(-1, 1, 1, 1)
        return (x_t - abar.sqrt() * x0.flatten(0, 1)) / (1 - abar).sqrt()

    loss = noise_prediction_loss(oracle, x0, "ctx", acp, torch.Generator().manual_seed(0))
    t, frames, context = calls[0]
    assert float(loss) < 1e-9 and frames == FRAMES and context == "ctx"
    assert t.shape == (3 * FRAMES,) and (t.view(3, FRAMES) == t.view(3, FRAMES)[:, :1]).all()
    assert 0 <= t.min() and t.max() < 1000
    noise = torch.randn_like(x0)
    torch.testing.assert_close(add_noise(x0, noise, torch.tensor([0, 999, 500]), acp)[1],
                               acp[999].sqrt().float() * x0[1] + (1 - acp[999]).sqrt().float() * noise[1])


def test_contexts_reach_the_denoiser_per_frame():
    model = v2_model()
    unet = TinyVideoUNet(model)
    contexts = [torch.full((1, 5, 6), float(i)) for i in range(4)]
    seen = []

    def denoiser(x, t, context, num_frames):
        seen.append(context)
        return unet(x, t, None, num_frames)

    train_motion_lora(model, denoiser, moving_pattern_clips(4), contexts, TrainSettings(rank=2, steps=2, batch_size=3))
    assert all(c.shape == (3 * FRAMES, 5, 6) for c in seen)
    per_clip = seen[0].view(3, FRAMES, 5, 6)
    assert (per_clip == per_clip[:, :1]).all() and len(set(per_clip[:, 0, 0, 0].tolist())) == 3


def test_bad_inputs_are_named():
    model = v2_model()
    unet = TinyVideoUNet(model)
    clips = moving_pattern_clips(2)
    with pytest.raises(ValueError, match="contexts: got 3 for 2 clips"):
        train_motion_lora(model, unet, clips, [torch.zeros(5, 6)] * 3)
    with pytest.raises(ValueError, match=r"latents: clips of different shapes"):
        train_motion_lora(model, unet, [clips[0], clips[1, :4]])
    with pytest.raises(ValueError, match="LoRA rank must be at least 1, got 0"):
        train_motion_lora(model, unet, clips, settings=TrainSettings(rank=0))
    with pytest.raises(FloatingPointError, match="the loss became nan at step 1"):
        train_motion_lora(model, lambda x, t, c, f: unet(x, t, c, f) * float("nan"), clips,
                          settings=TrainSettings(rank=2))
    with pytest.raises(RuntimeError, match="does not depend on the motion model"):
        train_motion_lora(model, lambda x, t, c, f: x, clips, settings=TrainSettings(rank=2))
    v3 = motion_model_from_state_dict(random_state_dict(FAMILY_FILES["v3"], seed=2), "v3")[0]
    with pytest.raises(ValueError, match=r"adapter target 'mid_block.*' is not in this motion model \(AnimateDiff v3\)"):
        with attached(v3, MotionLoRAAdapters.for_model(model, rank=2)):
            pass
    assert_no_hooks(v3)
    with torch.inference_mode():
        frozen_weights = v2_model()
    with pytest.raises(ValueError, match="inference tensors"):
        train_motion_lora(frozen_weights, unet, clips)
    assert_no_hooks(model)
