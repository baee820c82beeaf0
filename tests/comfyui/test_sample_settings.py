"""Sample settings in a real ComfyUI: the noise each sampler receives (seed_gen, noise_type, offsets, override,
FreeNoise from the context options), custom CFG per frame and over sampling (against ComfyUI's own cfg and its
KSampler (Advanced) split at the same step), noise schedules on a MODEL (against the formulas), the latent scale
factor, the big-batch latent, and the errors raised before sampling."""
import pytest
import torch

import graph_utils

SEED = 5
FRAMES = 8


def run_node(host, kind, **inputs):
    cls = host.nodes.NODE_CLASS_MAPPINGS[kind]
    if hasattr(cls, "FUNCTION"):
        return getattr(cls(), cls.FUNCTION)(**inputs)[0]
    return graph_utils.node_output(cls.execute(**inputs))


@pytest.fixture(scope="module")
def video(host):
    """An inflated random SD1.5 MODEL (AnimateDiff v3 layout, sqrt_linear schedule)."""
    base = host.helpers.random_sd15(seed=21)
    handle = graph_utils.motion_handle(host, "v3", seed=21)
    return run_node(host, "ALCM_ApplyMotionModel", model=base, motion_model=handle, model_sampling="auto", effect=1.0,
                    scale=1.0, start_percent=0.0, end_percent=1.0)


def settings(host, model, noise_type="default", seed_gen="comfy", batch_offset=0, seed_offset=0, **optional):
    return run_node(host, "ALCM_SampleSettings", model=model, noise_type=noise_type, seed_gen=seed_gen,
                    batch_offset=batch_offset, seed_offset=seed_offset, **optional)


def record_noise(model):
    """A clone that records the noise every sampling pass starts from (innermost SAMPLER_SAMPLE wrapper)."""
    import comfy.patcher_extension
    seen = []

    def wrapper(executor, guider, sigmas, extra_args, callback, noise, *args, **kwargs):
        seen.append(noise.clone().cpu())
        return executor(guider, sigmas, extra_args, callback, noise, *args, **kwargs)

    m = model.clone()
    m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.SAMPLER_SAMPLE, "test_record_noise", wrapper)
    return m, seen


def conds(host):
    """Positive and negative conditioning far enough apart for cfg to act visibly on the random model."""
    return [[c * 8.0, extra] for c, extra in host.helpers.random_cond(0)], host.helpers.random_cond(1)


def ksampler(host, model, cfg=1.0, steps=1, frames=FRAMES, seed=SEED, sampler="euler"):
    pos, neg = conds(host)
    latent = {"samples": torch.zeros(frames, 4, 8, 8)}
    return run_node(host, "KSampler", model=model, seed=seed, steps=steps, cfg=cfg, sampler_name=sampler,
                    scheduler="normal", positive=pos, negative=neg, latent_image=latent, denoise=1.0)["samples"]


def noise_of(host, model, **kwargs):
    m, seen = record_noise(model)
    ksampler(host, m, **kwargs)
    return seen[0]


def rel(a, b) -> float:
    """Relative max difference of two latents."""
    return float((a - b).abs().max() / b.abs().max())


def randn(shape, seed):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- noise

def test_default_settings_keep_comfyuis_noise(host, video):
    plain = noise_of(host, video)
    assert torch.equal(plain, randn((FRAMES, 4, 8, 8), SEED))
    assert torch.equal(noise_of(host, settings(host, video)), plain)


def test_auto1111_offsets_and_override(host, video):
    noise = noise_of(host, settings(host, video, seed_gen="auto1111", batch_offset=2, seed_offset=3))
    for i in range(FRAMES):
        assert torch.equal(noise[i:i + 1], randn((1, 4, 8, 8), SEED + 3 + 2 + i))
    overridden = noise_of(host, settings(host, video, seed_override=40))
    assert torch.equal(overridden, randn((FRAMES, 4, 8, 8), 40))


def test_constant_and_empty(host, video):
    constant = noise_of(host, settings(host, video, noise_type="constant"))
    assert torch.equal(constant, randn((1, 4, 8, 8), SEED).expand(FRAMES, -1, -1, -1))
    assert torch.count_nonzero(noise_of(host, settings(host, video, noise_type="empty"))) == 0


def context(host, model, mode, length=4, overlap=1, freenoise=False):
    return run_node(host, "ALCM_ContextOptions", model=model, mode=mode, context_length=length, context_overlap=overlap,
                    schedule="static", stride=1, closed_loop=False, fuse_method="pyramid", freenoise=freenoise)


@pytest.mark.parametrize("mode", ["motion-only", "full"])
def test_freenoise_noise_type_equals_the_freenoise_switch(host, video, mode):
    """The FreeNoise noise type reads the context windows' length and overlap: the same noise as the context
    options' own FreeNoise switch (ComfyUI 0.33's FreeNoise construction, pinned in the unit tier)."""
    ours = noise_of(host, settings(host, context(host, video, mode), noise_type="FreeNoise"))
    switch = noise_of(host, context(host, video, mode, freenoise=True))
    assert torch.equal(ours, switch)
    assert not torch.equal(ours, randn((FRAMES, 4, 8, 8), SEED))
    repeated = noise_of(host, settings(host, context(host, video, mode), noise_type="repeated_context"))
    assert torch.equal(repeated, randn((FRAMES, 4, 8, 8), SEED)[:4].repeat(2, 1, 1, 1))


def test_noise_reaches_freeinit_passes_in_either_order(host, video):
    """Sample settings' noise is the noise FreeInit starts from, whether FreeInit is applied before or after."""
    def freeinit(m):
        return run_node(host, "ALCM_FreeInit", model=m, iterations=2, filter="butterworth", d_s=0.25, d_t=0.25,
                        order=4, same_noise=True)
    expected = torch.cat([randn((1, 4, 8, 8), SEED + i) for i in range(FRAMES)])
    for model in (freeinit(settings(host, video, seed_gen="auto1111")),
                  settings(host, freeinit(video), seed_gen="auto1111")):
        m, seen = record_noise(model)
        ksampler(host, m)
        assert len(seen) == 2 and torch.equal(seen[0], expected)


def test_disabled_noise_is_left_alone(host, video):
    m, seen = record_noise(settings(host, video, seed_gen="auto1111"))
    pos, neg = host.helpers.random_cond(0), host.helpers.random_cond(1)
    run_node(host, "KSamplerAdvanced", model=m, add_noise="disable", noise_seed=SEED, steps=2, cfg=1.0,
             sampler_name="euler", scheduler="normal", positive=pos, negative=neg,
             latent_image={"samples": torch.zeros(FRAMES, 4, 8, 8)}, start_at_step=1, end_at_step=2,
             return_with_leftover_noise="disable")
    assert torch.count_nonzero(seen[0]) == 0


# ---------------------------------------------------------------- custom CFG

def custom_cfg(host, cfg, start_percent=0.0, guarantee_steps=1, prev=None):
    inputs = {"prev_custom_cfg": prev} if prev is not None else {}
    return run_node(host, "ALCM_CustomCFG", cfg=cfg, start_percent=start_percent, guarantee_steps=guarantee_steps,
                    **inputs)


def test_constant_custom_cfg_is_comfyuis_cfg(host, video):
    """Custom cfg 4 on a KSampler at cfg 1 (whose own cfg 1 would skip the negative pass) = KSampler at cfg 4."""
    ours = ksampler(host, settings(host, video, custom_cfg=custom_cfg(host, "4.0")), cfg=1.0, steps=2)
    plain = ksampler(host, video, cfg=4.0, steps=2)
    torch.testing.assert_close(ours, plain, rtol=1e-4, atol=1e-5)
    assert rel(ours, ksampler(host, video, cfg=1.0, steps=2)) > 1e-2


def test_per_frame_cfg_guides_each_frame(host, video):
    """One Euler step: the prediction of frame f depends on the cfg only through frame f's guidance, so a per-frame
    cfg gives each frame what a KSampler at that frame's cfg gives it."""
    schedule = "0: 1.0, 7: 8.0"
    ours = ksampler(host, settings(host, video, custom_cfg=custom_cfg(host, schedule)), cfg=1.0)
    for f, cfg in enumerate(torch.linspace(1.0, 8.0, FRAMES).tolist()):
        torch.testing.assert_close(ours[f], ksampler(host, video, cfg=cfg)[f], rtol=1e-4, atol=1e-5)


def test_cfg_keyframes_switch_at_their_step(host, video):
    """cfg 2 from the start, cfg 20 from 20 %: with 4 steps of ComfyUI's normal scheduler (t = 999, 666, 333, 0) the
    second step is the first at or below the 20 % sigma (t = 799.2); the reference is KSampler (Advanced) at cfg 2 for
    step 0-1, then cfg 20 for steps 1-4."""
    chain = custom_cfg(host, "20.0", start_percent=0.2, prev=custom_cfg(host, "2.0"))
    ours = ksampler(host, settings(host, video, custom_cfg=chain), cfg=1.0, steps=4)
    pos, neg = conds(host)

    def advanced(latent, cfg, add_noise, start, end, leftover):
        return run_node(host, "KSamplerAdvanced", model=video, add_noise=add_noise, noise_seed=SEED, steps=4, cfg=cfg,
                        sampler_name="euler", scheduler="normal", positive=pos, negative=neg, latent_image=latent,
                        start_at_step=start, end_at_step=end, return_with_leftover_noise=leftover)
    first = advanced({"samples": torch.zeros(FRAMES, 4, 8, 8)}, 2.0, "enable", 0, 1, "enable")
    reference = advanced(first, 20.0, "disable", 1, 4, "disable")["samples"]
    torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-4)
    assert rel(ours, ksampler(host, video, cfg=2.0, steps=4)) > 1e-2
    assert rel(ours, ksampler(host, video, cfg=20.0, steps=4)) > 1e-2


def test_custom_cfg_goes_through_an_earlier_cfg_function(host, video):
    """RescaleCFG (a sampler_cfg_function) before Sample Settings receives the custom cfg as its cond_scale."""
    def rescaled(m):
        return run_node(host, "RescaleCFG", model=m, multiplier=0.7)
    ours = ksampler(host, settings(host, rescaled(video), custom_cfg=custom_cfg(host, "5.0")), cfg=2.0, steps=2)
    torch.testing.assert_close(ours, ksampler(host, rescaled(video), cfg=5.0, steps=2), rtol=1e-4, atol=1e-5)
    assert rel(ours, ksampler(host, rescaled(video), cfg=2.0, steps=2)) > 1e-2


def test_cfg_schedule_of_the_wrong_frame_count_fails_before_sampling(host, video):
    import comfy.patcher_extension
    calls = []
    m = settings(host, video, custom_cfg=custom_cfg(host, "0: 8.0, 12: 4.0"))
    m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "test_calls",
                           lambda executor, *args, **kwargs: calls.append(1) or executor(*args, **kwargs))
    with pytest.raises(ValueError, match=r"Custom CFG \(input cfg = '0: 8.0, 12: 4.0'\).*out of range for 8 frames"):
        ksampler(host, m)
    assert calls == []
    with pytest.raises(ValueError, match="expected a number or a value schedule|could not|custom cfg keyframe"):
        custom_cfg(host, "eight")


# ---------------------------------------------------------------- noise schedules, latent scale, big batch

@pytest.mark.parametrize("preset", ["lcm_50", "lcm_100_linear", "lcm_50_sqrt_linear", "avg_sqrt_linear_linear",
                                    "lcm_50_avg", "sqrt", "cosine", "squaredcos_cap_v2", "linear_sdxl"])
def test_model_sampling_presets_hold_the_formula_tables(host, video, preset):
    core = host.pack.animatelcm_core
    m = run_node(host, "ALCM_ModelSampling", model=video, schedule=preset, use_custom_scale_factor=False,
                 scale_factor=0.18215)
    sampling = m.get_model_object("model_sampling")
    expected = core.noise_schedule.sigma_table(core.noise_schedule.preset_schedule(core.schedules.get_preset(preset)))
    torch.testing.assert_close(sampling.sigmas, expected, rtol=1e-6, atol=0)
    assert video.get_model_object("model_sampling") is not sampling  # the input MODEL keeps its own


@pytest.mark.parametrize("family,ade_pick", [("animatelcm_t2v", "lcm_50"), ("v3", "sqrt_linear")])
def test_apply_motion_module_auto_ade(host, family, ade_pick):
    """Apply Motion Module's "auto (ADE)": ADE's autoselect for the family (AnimateLCM: ADE's "lcm")."""
    core = host.pack.animatelcm_core
    m = run_node(host, "ALCM_ApplyMotionModel", model=host.helpers.random_sd15(seed=3),
                 motion_model=graph_utils.motion_handle(host, family, seed=3), model_sampling="auto (ADE)", effect=1.0,
                 scale=1.0, start_percent=0.0, end_percent=1.0)
    expected = core.noise_schedule.sigma_table(core.noise_schedule.preset_schedule(core.schedules.get_preset(ade_pick)))
    torch.testing.assert_close(m.get_model_object("model_sampling").sigmas, expected, rtol=1e-6, atol=0)


def test_noise_schedule_nodes_and_sigmas(host, video):
    core = host.pack.animatelcm_core
    lcm = run_node(host, "ALCM_NoiseSchedule", schedule="lcm_50")
    raw = run_node(host, "ALCM_NoiseScheduleRaw", beta_schedule="sqrt_linear", linear_start=0.00085, linear_end=0.012,
                   sampling="lcm", lcm_original_timesteps=50, zsnr=False)
    mean = run_node(host, "ALCM_NoiseScheduleInterpMean", schedule_a=lcm, schedule_b=raw, weight_a_start=0.9,
                    weight_a_end=0.2, interpolation="ease_in_out")
    split = run_node(host, "ALCM_NoiseScheduleSplit", schedule_start=mean, schedule_end=lcm, split_percent=0.3)
    m = settings(host, video, noise_schedule=split)
    torch.testing.assert_close(m.get_model_object("model_sampling").sigmas, core.noise_schedule.sigma_table(split),
                               rtol=1e-6, atol=0)
    sigmas = run_node(host, "ALCM_NoiseScheduleToSigmas", noise_schedule=split, scheduler="karras", steps=4,
                      denoise=1.0)
    table = core.noise_schedule.sigma_table(split).double()
    ramp = torch.linspace(0, 1, 4, dtype=torch.float64)  # Karras et al. 2022, eq. 5, rho 7
    karras = (table[-1] ** (1 / 7) + ramp * (table[0] ** (1 / 7) - table[-1] ** (1 / 7))) ** 7
    torch.testing.assert_close(sigmas.double(), torch.cat([karras, torch.zeros(1, dtype=torch.float64)]), rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(ValueError, match="50 sigmas and schedule_b has 1000"):
        run_node(host, "ALCM_NoiseScheduleMean", schedule_a=lcm, schedule_b=run_node(
            host, "ALCM_NoiseSchedule", schedule="linear"), weight_a=0.5)
    zsnr = run_node(host, "ALCM_NoiseScheduleRaw", beta_schedule="squaredcos_cap_v2", linear_start=0.00085,
                    linear_end=0.012, sampling="v_prediction", lcm_original_timesteps=50, zsnr=True)
    sampling = settings(host, video, noise_schedule=zsnr).get_model_object("model_sampling")
    torch.testing.assert_close(sampling.sigmas, core.noise_schedule.sigma_table(zsnr), rtol=1e-5, atol=0)
    import comfy.model_sampling
    assert isinstance(sampling, comfy.model_sampling.V_PREDICTION)
    lcm_model = settings(host, video, noise_schedule=lcm)
    assert len(run_node(host, "ALCM_LCMSigmas", model=lcm_model, steps=4, denoise=1.0)) == 5


def test_custom_scale_factor_scales_the_latents(host, video):
    """The sampled latent is the same in model space: out = x0 / scale_factor."""
    plain = ksampler(host, video, steps=1)
    m = run_node(host, "ALCM_ModelSampling", model=video, schedule="keep model's own", use_custom_scale_factor=True,
                 scale_factor=0.5)
    torch.testing.assert_close(ksampler(host, m, steps=1) * 0.5, plain * 0.18215, rtol=1e-4, atol=1e-6)
    assert video.get_model_object("latent_format").scale_factor == pytest.approx(0.18215)


def test_big_batch_latent(host):
    big = run_node(host, "ALCM_EmptyLatentBigBatch", width=64, height=32, batch_size=5000)["samples"]
    assert big.shape == (5000, 4, 4, 8) and torch.count_nonzero(big) == 0
    core = run_node(host, "EmptyLatentImage", width=64, height=32, batch_size=16)["samples"]
    assert torch.equal(run_node(host, "ALCM_EmptyLatentBigBatch", width=64, height=32, batch_size=16)["samples"], core)


def test_a_later_sample_settings_node_replaces_an_earlier_one(host, video):
    first = settings(host, video, noise_type="constant", custom_cfg=custom_cfg(host, "30.0"))
    second = settings(host, first, seed_gen="auto1111")
    assert torch.equal(noise_of(host, second), noise_of(host, settings(host, video, seed_gen="auto1111")))
    torch.testing.assert_close(ksampler(host, second, cfg=2.0), ksampler(host, settings(host, video, seed_gen="auto1111"),
                                                                           cfg=2.0))
    assert "sampler_cfg_function" not in second.model_options


def test_input_model_is_not_changed(host, video):
    before = (dict(video.object_patches), repr(video.model_options))
    settings(host, video, noise_type="FreeNoise", seed_gen="auto1111", custom_cfg=custom_cfg(host, "3.0"),
             noise_schedule=run_node(host, "ALCM_NoiseSchedule", schedule="cosine"))
    assert (dict(video.object_patches), repr(video.model_options)) == before
