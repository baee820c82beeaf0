"""AnimateDiff-Lightning's sampling settings as its model card (ByteDance/AnimateDiff-Lightning) gives them.

Model card, diffusers usage: `EulerDiscreteScheduler.from_config(<SD1.5 base config>, timestep_spacing="trailing",
beta_schedule="linear")`, `guidance_scale=1.0`, `num_inference_steps=step` with step in [1, 2, 4, 8] (one file per
step count); distilled from AnimateDiff SD1.5 v2. Its ComfyUI workflow: KSampler euler / sgm_uniform / cfg 1 with
sqrt_linear (AnimateDiff) betas. diffusers "linear" betas are ComfyUI "sqrt_linear" (spec formats.md naming trap).
How close ComfyUI's sgm_uniform comes to "trailing" is checked against ComfyUI itself in
tests/comfyui/test_lightning.py.
"""
import pytest
import torch

from animatelcm_core.schedules import LIGHTNING_SAMPLER, alphas_cumprod, get_preset, make_betas, \
    sigmas_from_alphas_cumprod

SD15_BETAS = {"beta_start": 0.00085, "beta_end": 0.012}  # the SD1.5 base scheduler config the card starts from


def _sigmas(preset) -> torch.Tensor:
    return sigmas_from_alphas_cumprod(alphas_cumprod(make_betas(preset.beta_schedule, preset.linear_start,
                                                                preset.linear_end)))


def test_preset_has_the_model_cards_betas():
    p = get_preset("lightning")
    assert (p.beta_schedule, p.linear_start, p.linear_end, p.sampling) == ("sqrt_linear", 0.00085, 0.012, "eps")
    sigmas = _sigmas(p)  # spec §7 row "sqrt_linear, 0.00085 -> 0.012" (AnimateDiff v1/v2/v3)
    assert sigmas[999].item() == pytest.approx(25.1461, rel=1e-4)
    assert sigmas[499].item() == pytest.approx(2.2760, rel=1e-4)
    assert torch.equal(sigmas, _sigmas(get_preset("sqrt_linear")))  # the schedule of v2, which it is distilled from


def test_sampler_settings_are_the_model_cards():
    s = LIGHTNING_SAMPLER
    assert (s.sampler, s.scheduler, s.cfg, s.steps) == ("euler", "sgm_uniform", 1.0, (1, 2, 4, 8))


@pytest.mark.parametrize("steps", LIGHTNING_SAMPLER.steps)
def test_card_scheduler_is_euler_at_trailing_timesteps_of_these_betas(steps):
    """The card's diffusers scheduler: Euler at "trailing" timesteps t_k = 1000 - k * 1000 / steps - 1, at the
    sigmas of the preset's betas (diffusers "linear" = our sqrt_linear), ending at 0."""
    diffusers = pytest.importorskip("diffusers")
    sched = diffusers.EulerDiscreteScheduler(**SD15_BETAS, beta_schedule="linear", timestep_spacing="trailing")
    sched.set_timesteps(steps)
    trailing = [1000 - k * 1000 // steps - 1 for k in range(steps)]
    assert sched.timesteps.tolist() == trailing
    ours = _sigmas(get_preset("lightning"))[trailing].float()
    torch.testing.assert_close(sched.sigmas[:-1], ours, rtol=1e-5, atol=0)
    assert sched.sigmas[-1].item() == 0.0
