"""AnimateDiff-Lightning in a real ComfyUI: the "lightning" model_sampling preset and the KSampler settings of the
shipped workflow (euler, sgm_uniform, cfg 1) give the sigmas of the model card's diffusers scheduler (Euler, trailing
timesteps, diffusers "linear" betas).

ComfyUI's sgm_uniform takes timesteps linspace(999, 0, steps + 1)[:-1] (749.25, 499.5, 249.75 for 4 steps) where
"trailing" takes 999, 749, 499, 249: the sigmas differ by at most 0.6% (8 steps; 0.3% at 4). ComfyUI's "simple"
scheduler picks exactly the trailing timesteps whenever 1000 is a multiple of the step count (1, 2, 4, 8). Both
figures are printed.
"""
import pytest
import torch

import graph_utils

diffusers = pytest.importorskip("diffusers")
STEPS = (1, 2, 4, 8)


def _card_sigmas(steps: int) -> torch.Tensor:
    sched = diffusers.EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="linear",
                                             timestep_spacing="trailing")
    sched.set_timesteps(steps)
    return sched.sigmas.float()


@pytest.fixture(scope="module")
def lightning_model(host):
    """A v2-layout motion module applied with model_sampling "lightning" through the node."""
    nodes_motion = host.pack.nodes.nodes_motion
    assert "lightning" in nodes_motion.SAMPLING_CHOICES
    handle = graph_utils.motion_handle(host, "v2", seed=50)  # a Lightning file has exactly v2's keys
    assert handle.config.sampling == "sqrt_linear"  # what "auto" would pick: the same betas, nothing distinguishes
    out = nodes_motion.ApplyMotionModel.execute(model=host.helpers.random_sd15(seed=50), motion_model=handle,
                                                model_sampling="lightning", effect=1.0, scale=1.0, start_percent=0.0,
                                                end_percent=1.0)
    return graph_utils.node_output(out)


@pytest.mark.parametrize("steps", STEPS)
def test_workflow_sampler_gives_the_model_cards_sigmas(host, lightning_model, steps):
    import comfy.samplers
    settings = host.pack.animatelcm_core.schedules.LIGHTNING_SAMPLER
    sampling = lightning_model.get_model_object("model_sampling")
    assert sampling.preset.name == "lightning"
    card = _card_sigmas(steps)
    sgm = comfy.samplers.calculate_sigmas(sampling, settings.scheduler, steps).float()
    simple = comfy.samplers.calculate_sigmas(sampling, "simple", steps).float()
    assert sgm[-1] == simple[-1] == card[-1] == 0.0
    rel_sgm = ((sgm[:-1] - card[:-1]).abs() / card[:-1]).max().item()
    rel_simple = ((simple[:-1] - card[:-1]).abs() / card[:-1]).max().item()
    print(f"\n{steps} steps: sgm_uniform vs trailing sigmas rel {rel_sgm:.2e}; simple vs trailing rel {rel_simple:.2e}")
    assert rel_sgm < 1e-2
    assert rel_simple < 1e-5
