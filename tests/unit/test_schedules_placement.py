"""Logic outside ComfyUI calls: beta schedules, LCM timesteps and scalings (against spec figures and diffusers'
LCMScheduler), preset selection, and the placement table (spec §3.2/§3.3)."""
import pytest
import torch

from animatelcm_core import placement
from animatelcm_core.config import detect_config
from animatelcm_core.schedules import AUTO, PRESETS, alphas_cumprod, get_preset, lcm_boundary_scalings, \
    lcm_timesteps, make_betas, select_preset, sigmas_from_alphas_cumprod
from synth_weights import FAMILY_FILES, meta_state_dict


@pytest.mark.parametrize("preset,sigma_max,sigma_499", [("sqrt_linear", 25.1461, 2.2760), ("linear", 14.6146, 1.6129),
                                                        ("linear_sdxl", 65.9287, 2.2085), ("lcm_i2v", 41.6677, 2.6350)])
def test_beta_schedules_match_spec_table(preset, sigma_max, sigma_499):
    p = get_preset(preset)
    sigmas = sigmas_from_alphas_cumprod(alphas_cumprod(make_betas(p.beta_schedule, p.linear_start, p.linear_end)))
    assert sigmas[999].item() == pytest.approx(sigma_max, rel=1e-4)
    assert sigmas[499].item() == pytest.approx(sigma_499, rel=1e-4)
    assert sigmas[0].item() == pytest.approx(0.029167, rel=1e-4)


def test_naming_trap_matches_diffusers():
    """ComfyUI 'sqrt_linear' = diffusers 'linear'; ComfyUI 'linear' = diffusers 'scaled_linear'."""
    diffusers = pytest.importorskip("diffusers")
    for ours, theirs in (("sqrt_linear", "linear"), ("linear", "scaled_linear")):
        ref = diffusers.LCMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule=theirs).alphas_cumprod
        torch.testing.assert_close(alphas_cumprod(make_betas(ours, 0.00085, 0.012)).float(), ref, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("steps,ots,expected", [(4, 100, [999, 749, 499, 249]), (6, 100, [999, 839, 669, 499, 339, 169]),
                                                (8, 100, [999, 879, 749, 629, 499, 379, 249, 129]),
                                                (4, 50, [999, 759, 499, 259]), (4, 200, [999, 749, 499, 249])])
def test_lcm_timesteps_spec_examples(steps, ots, expected):
    assert lcm_timesteps(steps, ots) == expected


@pytest.mark.parametrize("steps,ots,denoise", [(4, 100, 1.0), (6, 100, 1.0), (4, 200, 1.0), (3, 50, 1.0),
                                               (4, 100, 0.6), (2, 200, 0.3)])
def test_lcm_timesteps_match_diffusers(steps, ots, denoise):
    diffusers = pytest.importorskip("diffusers")
    sched = diffusers.LCMScheduler(beta_schedule="linear", original_inference_steps=ots)
    sched.set_timesteps(steps, strength=denoise)
    assert lcm_timesteps(steps, ots, denoise) == sched.timesteps.tolist()


def test_boundary_scalings_match_spec_and_diffusers():
    c_skip, c_out = lcm_boundary_scalings(torch.tensor([999.0, 19.0, 0.0], dtype=torch.float64))
    assert c_skip[0].item() == pytest.approx(2.5e-9, rel=0.01) and c_out[0].item() == pytest.approx(1.0, abs=1e-8)
    assert c_skip[1].item() == pytest.approx(6.9e-6, rel=0.01)
    assert (c_skip[2].item(), c_out[2].item()) == (1.0, 0.0)
    diffusers = pytest.importorskip("diffusers")
    sched = diffusers.LCMScheduler()
    for t in (999, 749, 19, 0):
        ref = sched.get_scalings_for_boundary_condition_discrete(t)
        ours = lcm_boundary_scalings(torch.tensor(float(t), dtype=torch.float64))
        assert [pytest.approx(float(r), rel=1e-6, abs=1e-12) for r in ref] == [float(o) for o in ours]


def test_lcm_timesteps_bad_steps():
    with pytest.raises(ValueError, match="steps must be between 1 and 100"):
        lcm_timesteps(101, 100)


def test_preset_selection():
    assert select_preset(AUTO, "lcm").original_timesteps == 100
    assert select_preset("lcm_i2v", "sqrt_linear").linear_end == 0.014
    assert select_preset(AUTO, "linear_sdxl").linear_end == 0.020
    with pytest.raises(ValueError, match="Unknown sampling preset 'lcm2'"):
        select_preset("lcm2", "lcm")
    assert all(p.sampling in ("eps", "lcm") for p in PRESETS.values())


def test_sd15_placement_table():
    """spec §3.2: down_blocks.i.mm.j -> input_blocks[3i+j+1], up_blocks.i.mm.j -> output_blocks[3i+j], mid -> middle."""
    config = detect_config(meta_state_dict(FAMILY_FILES["v2"]))
    table = {name: (kind, index) for name, kind, index in placement.placements(config)}
    assert table["down_blocks.0.motion_modules.0"] == ("input", 1)
    assert table["down_blocks.3.motion_modules.1"] == ("input", 11)
    assert table["mid_block.motion_modules.0"] == ("middle", 0)
    assert table["up_blocks.0.motion_modules.2"] == ("output", 2)
    assert table["up_blocks.3.motion_modules.2"] == ("output", 11)
    blocks = placement.motion_block_indices(config)
    assert blocks == {"input": [1, 2, 4, 5, 7, 8, 10, 11], "middle": [0], "output": list(range(12))}


def test_sdxl_placement_table():
    config = detect_config(meta_state_dict(FAMILY_FILES["sdxl_beta"]))
    assert placement.motion_block_indices(config) == {"input": [1, 2, 4, 5, 7, 8], "middle": [], "output": list(range(9))}


@pytest.mark.parametrize("kinds,expected", [
    (["resblock", "transformer"], 2), (["resblock"], 1), (["resblock", "transformer", "resblock"], 2),
    (["resblock", "upsample"], 1), (["resblock", "transformer", "upsample"], 2)])
def test_insert_index_rule(kinds, expected):
    """After the last spatial transformer, else after the first ResBlock; never after an Upsample (spec §3.2)."""
    assert placement.insert_index(kinds) == expected


def test_insert_index_needs_a_resblock():
    with pytest.raises(ValueError, match="no ResBlock"):
        placement.insert_index(["downsample"])
