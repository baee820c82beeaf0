"""Keyframed motion in a real ComfyUI: effect per frame (the core's per-frame blend), effect over sampling (the
switch at the step where sigma crosses the keyframe's percent), chained keyframe nodes and their errors."""
import pytest
import torch

import graph_utils

MODULE = "down_blocks.1.motion_modules.0"


def _keyframes(host, *items):
    """A chain built by the 'Motion Keyframe' node: items are (start_percent, effect, scale)."""
    node = host.nodes.NODE_CLASS_MAPPINGS["ALCM_MotionKeyframe"]
    chain = None
    for start, effect, scale in items:
        chain = graph_utils.node_output(node.execute(start, effect, scale, prev_keyframes=chain))
    return chain


def _apply(host, base, handle, keyframes=None, effect=1.0):
    node = host.nodes.NODE_CLASS_MAPPINGS["ALCM_ApplyMotionModel"]
    return graph_utils.node_output(node.execute(base, handle, "keep model's own", effect, 1.0, 0.0, 1.0,
                                                keyframes=keyframes))


@pytest.fixture(scope="module")
def setup(host):
    base = host.helpers.random_sd15(seed=61)
    return base, graph_utils.motion_handle(host, "v2", seed=61)


def test_per_frame_effect_leaves_still_frames_as_effect_zero(host, setup):
    """effect 0 on frames 0..7 and 1 on 8..15: frames 0..7 equal the run with effect 0 (x*(1-0) + mm(x)*0 = x in the
    core's blend), frames 8..15 equal neither the effect-0 run nor the effect-1 run's frames there."""
    base, handle = setup
    noise = torch.randn(16, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    per_frame = graph_utils.denoise_once(_apply(host, base, handle, _keyframes(host, (0.0, "0: 0, 7: 0, 8: 1", "1.0"))),
                                         noise)
    still = graph_utils.denoise_once(_apply(host, base, handle, effect=0.0), noise)
    moving = graph_utils.denoise_once(_apply(host, base, handle, effect=1.0), noise)
    torch.testing.assert_close(per_frame[:8], still[:8], rtol=0, atol=1e-6)
    assert (per_frame[8:] - still[8:]).abs().amax() > 1e-3
    assert (per_frame - moving).abs().amax() > 1e-3  # frames 8..15 attend to still frames 0..7
    fraction = graph_utils.denoise_once(_apply(host, base, handle, _keyframes(host, (0.0, "0.5", "1.0"))), noise)
    assert (fraction - still).abs().amax() > 1e-3 and (fraction - moving).abs().amax() > 1e-3


def _record_effects(handle):
    """(sigma of the UNet call, effect given to one motion module) for every call."""
    seen, module = [], handle.model.get_module(MODULE)

    def hook(mod, args, kwargs):
        seen.append(kwargs.get("effect"))

    return seen, module.register_forward_pre_hook(hook, with_kwargs=True)


def test_keyframe_at_half_switches_at_the_step_where_sigma_crosses_it(host, setup):
    import comfy.sample
    import comfy.samplers
    base, handle = setup
    model = _apply(host, base, handle, _keyframes(host, (0.0, "1.0", "1.0"), (0.5, "0.25", "1.0")))
    switch = model.get_model_object("model_sampling").percent_to_sigma(0.5)
    sigmas = torch.tensor([14.0, 8.0, 4.0, 2.0, 1.0, 0.5, 0.0])
    step_sigmas = sigmas[:-1].tolist()
    assert any(s > switch for s in step_sigmas) and any(s <= switch for s in step_sigmas)
    seen, hook = _record_effects(handle)
    try:
        noise = torch.randn(8, 4, 8, 8, generator=torch.Generator().manual_seed(2))
        comfy.sample.sample_custom(model, noise, 1.0, comfy.samplers.sampler_object("euler"), sigmas,
                                   host.helpers.random_cond(0), host.helpers.random_cond(1), torch.zeros_like(noise),
                                   disable_pbar=True, seed=0)
    finally:
        hook.remove()
    assert seen == [1.0 if s > switch else 0.25 for s in step_sigmas]


def test_keyframe_chain_and_errors(host, setup):
    base, handle = setup
    errors = host.pack.animatelcm_core.errors
    chain = _keyframes(host, (0.6, "0.5", "1.0"), (0.0, "1.0", "0: 1.0, -1: 1.2"))
    assert [k.start_percent for k in chain] == [0.0, 0.6]  # sorted by start
    with pytest.raises(errors.PromptScheduleError, match="two keyframes start at percent 0.6"):
        _keyframes(host, (0.6, "0.5", "1.0"), (0.6, "1.0", "1.0"))
    with pytest.raises(errors.PromptScheduleError, match="effect of the keyframe at 0.0 line 1"):
        _keyframes(host, (0.0, "0: fast", "1.0"))
    # an index outside the video is known once the latent is: an error before any UNet call
    model = _apply(host, base, handle, _keyframes(host, (0.0, "0: 0.0, 20: 1.0", "1.0")))
    calls = []
    import comfy.patcher_extension
    model.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "count",
                               lambda executor, *a, **k: calls.append(1) or executor(*a, **k))
    with pytest.raises(errors.PromptScheduleError, match="20 is out of range for 16 frames"):
        graph_utils.denoise_once(model, torch.randn(16, 4, 8, 8))
    assert calls == []


def _multival(host, value="1.0", mask=None):
    node = host.nodes.NODE_CLASS_MAPPINGS["ALCM_Multival"]
    return graph_utils.node_output(node.execute(value, mask=mask))


def test_multival_times_keyframe_reaches_the_module(host, setup):
    """effect = Apply's effect x effect multival x the keyframe's effect (AnimateDiff-Evolved multiplies a model's
    multival with its keyframe's): 0.8 x 0.5 x (1 -> 0 over the frames)."""
    base, handle = setup
    node = host.nodes.NODE_CLASS_MAPPINGS["ALCM_ApplyMotionModel"]
    model = graph_utils.node_output(node.execute(base, handle, "keep model's own", 0.8, 1.0, 0.0, 1.0,
                                                 keyframes=_keyframes(host, (0.0, "0: 1.0, 15: 0.0", "1.0")),
                                                 effect_multival=_multival(host, "0.5")))
    seen, hook = _record_effects(handle)
    try:
        graph_utils.denoise_once(model, torch.randn(16, 4, 8, 8, generator=torch.Generator().manual_seed(3)))
    finally:
        hook.remove()
    torch.testing.assert_close(seen[0], 0.4 * torch.linspace(1.0, 0.0, 16))


def test_mask_of_wrong_frame_count_fails_before_sampling(host, setup):
    import comfy.patcher_extension
    base, handle = setup
    node = host.nodes.NODE_CLASS_MAPPINGS["ALCM_ApplyMotionModel"]
    model = graph_utils.node_output(node.execute(base, handle, "keep model's own", 1.0, 1.0, 0.0, 1.0,
                                                 scale_multival=_multival(host, "1.2", torch.rand(5, 16, 16))))
    calls = []
    model.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "count",
                               lambda executor, *a, **k: calls.append(1) or executor(*a, **k))
    with pytest.raises(ValueError, match=r"Multival \(value\): the mask has 5 frames but the latent has 16; give 1"):
        graph_utils.denoise_once(model, torch.randn(16, 4, 8, 8))
    assert calls == []
