"""FreeInit and FreeNoise in a real ComfyUI: any sampler node honours FreeInit (1 iteration = plain sampling bit for
bit, N iterations = N samplings, deterministic, progress over all passes, each later pass starting from the paper's
re-initialised noise); FreeNoise gives the model the rescheduled noise in both window modes and agrees with
ComfyUI 0.33's own FreeNoise."""

import pytest
import torch

import graph_utils

SEED, STEPS = 5, 3


def run_node(host, kind, **inputs):
    cls = host.nodes.NODE_CLASS_MAPPINGS[kind]
    if hasattr(cls, "FUNCTION"):
        return getattr(cls(), cls.FUNCTION)(**inputs)[0]
    return graph_utils.node_output(cls.execute(**inputs))


def count_calls(model):
    """A clone recording the input x (and window) of every UNet call."""
    import comfy.patcher_extension
    calls = []

    def record(executor, x, timesteps, context, y, control, transformer_options, **kwargs):
        window = transformer_options.get("context_window")
        calls.append((x.clone(), None if window is None else list(window.index_list), float(timesteps[0])))
        return executor(x, timesteps, context, y, control, transformer_options, **kwargs)

    m = model.clone()
    m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "test_calls", record)
    return m, calls


@pytest.fixture(scope="module")
def lcm(host):
    base = host.helpers.random_sd15(seed=71)
    handle = graph_utils.motion_handle(host, "animatelcm_t2v", seed=71)
    return run_node(host, "ALCM_ApplyMotionModel", model=base, motion_model=handle, model_sampling="auto", effect=1.0,
                    scale=1.0, start_percent=0.0, end_percent=1.0)


def _freeinit(host, model, iterations, same_noise=True):
    return run_node(host, "ALCM_FreeInit", model=model, iterations=iterations, filter="butterworth", d_s=0.25,
                    d_t=0.25, order=4, same_noise=same_noise)


def _samplers(host, model, latent):
    """The three sampler nodes, each as a function of the MODEL."""
    import comfy.samplers
    pos, neg = host.helpers.random_cond(0), host.helpers.random_cond(1)
    sigmas = run_node(host, "ALCM_LCMSigmas", model=model, steps=STEPS, denoise=1.0)
    return {
        "KSampler": lambda m: run_node(host, "KSampler", model=m, seed=SEED, steps=STEPS, cfg=1.0, sampler_name="lcm",
                                       scheduler="sgm_uniform", positive=pos, negative=neg, latent_image=latent,
                                       denoise=1.0)["samples"],
        "SamplerCustom": lambda m: run_node(host, "SamplerCustom", model=m, add_noise=True, noise_seed=SEED, cfg=1.0,
                                            positive=pos, negative=neg,
                                            sampler=comfy.samplers.sampler_object("lcm"), sigmas=sigmas,
                                            latent_image=latent)["samples"],
        "ALCM_Sampler": lambda m: run_node(host, "ALCM_Sampler", model=m, seed=SEED, steps=STEPS, cfg=1.0,
                                           positive=pos, negative=neg, latent_image=latent, denoise=1.0)["samples"],
    }


@pytest.mark.parametrize("sampler", ["KSampler", "SamplerCustom", "ALCM_Sampler"])
def test_freeinit_in_every_sampler_node(host, lcm, sampler):
    import comfy.utils
    latent = {"samples": torch.zeros(8, 4, 8, 8)}
    run = _samplers(host, lcm, latent)[sampler]
    plain_model, plain_calls = count_calls(lcm)
    plain = run(plain_model)
    assert torch.equal(run(_freeinit(host, lcm, 1)), plain)  # one iteration is plain sampling
    three, calls = count_calls(_freeinit(host, lcm, 3))
    progress, previous_hook = [], comfy.utils.PROGRESS_BAR_HOOK
    comfy.utils.set_progress_bar_global_hook(lambda value, total, preview=None, node_id=None:
                                             progress.append((value, total)))
    try:
        out = run(three)
    finally:
        comfy.utils.set_progress_bar_global_hook(previous_hook)
    assert len(calls) == 3 * len(plain_calls) == 3 * STEPS
    assert torch.equal(run(_freeinit(host, lcm, 3)), out) and not torch.allclose(out, plain)
    ours = [v for v, total in progress if total == 3 * STEPS]  # one bar over all passes (0.33 throttles updates)
    assert ours[0] == 1 and ours[-1] == 3 * STEPS and ours == sorted(set(ours)), ours


def test_later_pass_starts_from_the_reinitialised_noise(host, lcm):
    """Pass 2 starts at x' = sqrt(1 + s0^2) * z'_T with z'_T = LP(sqrt(abar)(x0 + s0 eps)) + HP(eta) (the paper, in
    ComfyUI's scaling): eps from the seed of that pass, eta the first pass's noise. The UNet sees x' / sqrt(1 + s0^2)
    (ComfyUI's input scaling), that is z'_T."""
    import comfy.sample
    import comfy.samplers
    freq_filter = host.pack.animatelcm_core.freq_filter
    model, calls = count_calls(_freeinit(host, lcm, 2))
    noise = torch.randn(8, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    sigmas = host.pack.nodes.sampling.lcm_sigmas(model.get_model_object("model_sampling"), STEPS)
    first = comfy.sample.sample_custom(_freeinit(host, lcm, 1), noise, 1.0, comfy.samplers.sampler_object("lcm"),
                                       sigmas, host.helpers.random_cond(0), host.helpers.random_cond(1),
                                       torch.zeros_like(noise), disable_pbar=True, seed=SEED)
    comfy.sample.sample_custom(model, noise, 1.0, comfy.samplers.sampler_object("lcm"), sigmas,
                               host.helpers.random_cond(0), host.helpers.random_cond(1), torch.zeros_like(noise),
                               disable_pbar=True, seed=SEED)
    s0 = float(sigmas[0])
    x0 = lcm.model.process_latent_in(first)
    eps = torch.randn(noise.shape, generator=torch.Generator().manual_seed(SEED + 1))
    mask = freq_filter.make_filter("butterworth", noise.shape, 0.25, 0.25, 4)
    expected = freq_filter.reinit_noise(x0, eps, noise, s0, mask)
    second_start = calls[STEPS][0]
    torch.testing.assert_close(second_start, expected, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(second_start, calls[0][0], atol=1e-2)


def _first_step_input(calls, frames):
    """The x the UNet saw at the first step, per frame (windows put together): the sampler's start x_T scaled by
    ComfyUI's input scaling 1 / sqrt(1 + sigma^2), so the unit-variance noise for text-to-video."""
    first_t = calls[0][2]
    x = torch.full((frames, *calls[0][0].shape[1:]), float("nan"))
    for value, window, t in calls:
        if t == first_t:
            x[window if window is not None else slice(None)] = value
    assert not torch.isnan(x).any()
    return x


@pytest.mark.parametrize("mode", ["motion-only", "full"])
def test_freenoise_the_model_sees_the_rescheduled_noise(host, lcm, mode):
    import comfy.sample
    import comfy.samplers
    freenoise = host.pack.animatelcm_core.freenoise
    opts = host.pack.animatelcm_core.context.ContextOptions(16, 4)
    noise = torch.randn(64, 4, 8, 8, generator=torch.Generator().manual_seed(4))
    seen = {}
    for on in (False, True):
        model, calls = count_calls(host.pack.nodes.context.attach_context(lcm, opts, mode, 64, freenoise=on))
        sigmas = host.pack.nodes.sampling.lcm_sigmas(model.get_model_object("model_sampling"), 1)
        comfy.sample.sample_custom(model, noise, 1.0, comfy.samplers.sampler_object("lcm"), sigmas,
                                   host.helpers.random_cond(0), host.helpers.random_cond(1), torch.zeros_like(noise),
                                   disable_pbar=True, seed=SEED)
        seen[on] = _first_step_input(calls, 64)
    torch.testing.assert_close(seen[False], noise, rtol=1e-5, atol=1e-5)  # without FreeNoise: the noise as is
    torch.testing.assert_close(seen[True], freenoise.reschedule_static(noise, 16, 4, SEED), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(seen[True], noise)


def test_freenoise_agrees_with_comfyui_own(host):
    """ComfyUI 0.33 has a FreeNoise of its own (for its native windows); for the static layout both give the same
    noise for the same seed, length and overlap."""
    import comfy.context_windows
    own = getattr(comfy.context_windows, "apply_freenoise", None)
    if own is None:
        pytest.skip("this ComfyUI has no FreeNoise of its own (added after 0.3.64)")
    freenoise = host.pack.animatelcm_core.freenoise
    for frames, length, overlap, seed in ((64, 16, 4, 7), (48, 16, 8, 1), (40, 12, 3, 123)):
        noise = torch.randn(frames, 4, 8, 8, generator=torch.Generator().manual_seed(seed))
        assert torch.equal(freenoise.reschedule_static(noise, length, overlap, seed),
                           own(noise.clone(), 0, length, overlap, seed))
