"""Context windows in a real ComfyUI: exactness when one window covers all, 64 frames end to end, propagation; the
options nodes and chains, the step and window of every model call, errors before sampling."""
import pytest
import torch

import graph_utils


@pytest.fixture(scope="module")
def lcm(host):
    base = host.helpers.random_sd15(seed=21)
    handle = graph_utils.motion_handle(host, "animatelcm_t2v", seed=21)
    return base, handle, graph_utils.inflate(host, base, handle)


def _windows(host, model, mode, length=16, overlap=4, **kw):
    ctx = host.pack.nodes.context
    opts = host.pack.animatelcm_core.context.ContextOptions(length, overlap, **kw)
    return ctx.attach_context(model, opts, mode, max_length=64)


def _sample(model, noise, steps=3, cfg=1.0):
    """A few Euler steps through ComfyUI's sampler (each step re-runs the windows)."""
    import comfy.sample
    import comfy.samplers
    import comfy_helpers
    sigmas = torch.linspace(6.0, 0.5, steps).tolist() + [0.0]
    return comfy.sample.sample_custom(model, noise, cfg, comfy.samplers.sampler_object("euler"), torch.tensor(sigmas),
                                      comfy_helpers.random_cond(0), comfy_helpers.random_cond(1),
                                      torch.zeros_like(noise), disable_pbar=True, seed=0)


@pytest.mark.parametrize("mode", ["motion-only", "full"])
def test_window_covering_all_frames_equals_plain(host, lcm, mode):
    base, handle, inflated = lcm
    noise = torch.randn(16, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(_sample(_windows(host, inflated, mode, length=16), noise), _sample(inflated, noise))
    assert torch.equal(_sample(_windows(host, inflated, mode, length=24), noise, cfg=2.0), _sample(inflated, noise, cfg=2.0))


@pytest.mark.parametrize("mode", ["motion-only", "full"])
def test_frame0_reaches_frame63_only_through_overlap(host, lcm, mode):
    base, handle, inflated = lcm
    noise = torch.randn(64, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    bumped = noise.clone()
    bumped[0] += 2.0
    steps = 6  # full windows move information one window per step: 0 -> 15 -> 27 -> 39 -> 51 -> 63
    disjoint = _windows(host, inflated, mode, overlap=0)
    a, b = _sample(disjoint, noise, steps), _sample(disjoint, bumped, steps)
    assert not torch.equal(a[:16], b[:16])
    assert torch.equal(a[16:], b[16:]), "without overlap frame 0 must not reach other windows"
    overlapping = _windows(host, inflated, mode, overlap=4)
    a, b = _sample(overlapping, noise, steps), _sample(overlapping, bumped, steps)
    assert not torch.equal(a[63], b[63]), "with overlap frame 0 must reach frame 63"


def test_full_windows_see_their_own_frames_conditioning(host, lcm):
    """Full mode, disjoint windows: frames 16..31 of a 32-frame run equal a separate 16-frame run of those frames,
    including a per-frame conditioning tensor sliced to the window."""
    import comfy.sample
    import comfy.samplers
    import comfy_helpers
    base, handle, inflated = lcm
    noise = torch.randn(32, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    windowed = _windows(host, inflated, "full", overlap=0)
    sigmas = torch.tensor([4.0, 0.0])
    cond = comfy_helpers.random_cond(0)
    long = comfy.sample.sample_custom(windowed, noise, 1.0, comfy.samplers.sampler_object("euler"), sigmas, cond,
                                      cond, torch.zeros_like(noise), disable_pbar=True, seed=0)
    short = comfy.sample.sample_custom(inflated, noise[16:], 1.0, comfy.samplers.sampler_object("euler"), sigmas, cond,
                                       cond, torch.zeros_like(noise[16:]), disable_pbar=True, seed=0)
    torch.testing.assert_close(long[16:], short, rtol=1e-5, atol=1e-5)


def test_errors(host, lcm):
    base, handle, inflated = lcm
    errors = host.pack.animatelcm_core.errors
    with pytest.raises(errors.ContextOptionsError, match=r"context_overlap \(16\) must be smaller than context_length \(16\)"):
        _windows(host, inflated, "full", overlap=16)
    node = host.pack.nodes.nodes_context.ContextWindows
    v1 = graph_utils.inflate(host, base, graph_utils.motion_handle(host, "v1"))
    with pytest.raises(errors.ContextOptionsError, match="limited to 24 frames"):
        node.execute(v1, "full", 32, 4, "static", 1, False, "pyramid")
    with pytest.raises(ValueError, match="no motion module"):
        node.execute(base, "full", 16, 4, "static", 1, False, "pyramid")


@pytest.mark.parametrize("mode", ["motion-only", "full"])
def test_64_frames_through_executor(host, mode):
    mm = host.helpers.write_motion_module(host.models, "animatelcm_t2v", name="ctx_lcm.safetensors", seed=22)
    stats = host.nodes.NODE_CLASS_MAPPINGS["ALCMTest_LatentStats"]
    stats.results.clear()
    prompt = {
        "1": {"class_type": "ALCMTest_RandomSD15", "inputs": {"seed": 0}},
        "2": {"class_type": "ALCM_LoadMotionModel", "inputs": {"model_name": mm}},
        "3": {"class_type": "ALCM_ApplyMotionModel", "inputs": {"model": ["1", 0], "motion_model": ["2", 0],
              "model_sampling": "auto", "effect": 1.0, "scale": 1.0, "start_percent": 0.0, "end_percent": 1.0}},
        "4": {"class_type": "ALCM_ContextOptions", "inputs": {"model": ["3", 0], "mode": mode, "context_length": 16,
              "context_overlap": 4, "schedule": "uniform", "stride": 1, "closed_loop": False, "fuse_method": "pyramid"}},
        "5": {"class_type": "ALCMTest_RandomCond", "inputs": {"seed": 1}},
        "6": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 64}},
        "7": {"class_type": "ALCM_Sampler", "inputs": {"model": ["4", 0], "seed": 3, "steps": 2, "cfg": 1.0,
              "positive": ["5", 0], "negative": ["5", 0], "latent_image": ["6", 0], "denoise": 1.0}},
        "8": {"class_type": "ALCMTest_LatentStats", "inputs": {"samples": ["7", 0]}},
    }
    ok, history, messages = host.helpers.run_prompt(prompt)
    assert ok, messages
    assert stats.results[0].shape == (64, 4, 8, 8) and torch.isfinite(stats.results[0]).all()


def test_position_encoding_stretch(host):
    """A 40-frame window on a v2 module (32 positions) works with stretch, is refused without it, and the shared
    motion model is back to its own 32-position tables afterwards."""
    import comfy.model_management
    base = host.helpers.random_sd15(seed=23)
    handle = graph_utils.motion_handle(host, "v2", seed=23)
    inflated = graph_utils.inflate(host, base, handle)
    opts = host.pack.animatelcm_core.context.ContextOptions(40, 4)
    errors = host.pack.animatelcm_core.errors
    with pytest.raises(errors.ContextOptionsError, match="limited to 32 frames.*stretch"):
        host.pack.nodes.context.attach_context(inflated, opts, "full", max_length=32)
    stretched = host.pack.nodes.context.attach_context(inflated, opts, "full", max_length=32, stretch=True)
    noise = torch.randn(40, 4, 8, 8, generator=torch.Generator().manual_seed(5))
    out = _sample(stretched, noise, steps=1)
    assert out.shape == noise.shape and torch.isfinite(out).all()
    comfy.model_management.unload_all_models()
    module = handle.model.get_module("down_blocks.0.motion_modules.0")
    assert module.max_frames == 32
    with pytest.raises(ValueError, match="40 frames per batch.*at most 32"):
        _sample(inflated, noise, steps=1)


def test_comfyui_own_context_windows_with_freenoise(host, lcm):
    """ComfyUI's own 'Context Windows (Manual)' node, FreeNoise on, over 64 frames of our inflated MODEL (batch =
    frames, dim 0): sampling succeeds, every UNet call sees one window (16 frames, plus the one anchor frame that
    0.33's handler prepends to later windows), and FreeNoise changes the result."""
    import comfy.patcher_extension
    import comfy.sample
    import comfy.samplers
    import comfy_helpers
    node = host.nodes.NODE_CLASS_MAPPINGS.get("ContextWindowsManual")
    inputs = {} if node is None else node.GET_NODE_INFO_V1()["input"]
    if "freenoise" not in {**inputs.get("required", {}), **inputs.get("optional", {})}:
        pytest.skip("this ComfyUI's own context-window node has no FreeNoise (0.33 has; 0.3.64's handler also "
                    "fails on batch = frames in set_step, fixed upstream)")
    base, handle, inflated = lcm
    seen = []

    def record(executor, x, *args, **kwargs):
        seen.append(x.shape[0])
        return executor(x, *args, **kwargs)

    def run(freenoise):
        model = graph_utils.node_output(node.execute(inflated, 16, 4, "standard_static", 1, False, "pyramid", 0,
                                                     freenoise))
        model.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "test_record", record)
        noise = torch.randn(64, 4, 8, 8, generator=torch.Generator().manual_seed(9))
        return comfy.sample.sample_custom(model, noise, 1.0, comfy.samplers.sampler_object("euler"),
                                          torch.tensor([6.0, 2.0, 0.0]), comfy_helpers.random_cond(0),
                                          comfy_helpers.random_cond(1), torch.zeros_like(noise), disable_pbar=True,
                                          seed=3)

    with_freenoise = run(True)
    assert with_freenoise.shape == (64, 4, 8, 8) and torch.isfinite(with_freenoise).all()
    assert seen and set(seen) <= {16, 17}, sorted(set(seen))
    assert not torch.equal(with_freenoise, run(False))


# ---------------------------------------------------------------- options nodes, chains, steps (plain UNet, full mode)

def _record_windows(model):
    """A clone of `model` that records, per UNet call, the sigma and the context window's frames (None: all)."""
    import comfy.patcher_extension
    calls = []

    def record(executor, x, timesteps, context, y, control, transformer_options, **kwargs):
        window = transformer_options.get("context_window")
        sigma = round(float(transformer_options["sigmas"][0]), 4)
        calls.append((sigma, None if window is None else list(window.index_list)))
        return executor(x, timesteps, context, y, control, transformer_options, **kwargs)
    m = model.clone()
    m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "test_record_windows", record)
    return m, calls


def _sample_plain(model, frames, sampler="euler", sigmas=(6.0, 3.0, 1.5, 0.0), seed=0):
    import comfy.sample
    import comfy.samplers
    import comfy_helpers
    noise = torch.randn(frames, 4, 8, 8, generator=torch.Generator().manual_seed(seed))
    return comfy.sample.sample_custom(model, noise, 1.0, comfy.samplers.sampler_object(sampler), torch.tensor(sigmas),
                                      comfy_helpers.random_cond(0), comfy_helpers.random_cond(1),
                                      torch.zeros_like(noise), disable_pbar=True, seed=seed)


def _chain(host, *entries):
    """A chain built by the options nodes: entries are (node id suffix, inputs)."""
    chain = None
    for suffix, inputs in entries:
        node = host.nodes.NODE_CLASS_MAPPINGS[f"ALCM_ContextOptions{suffix}"]
        chain = graph_utils.node_output(node.execute(**inputs, prev_context=chain))
    return chain


def _apply(host, model, chain, mode="full"):
    node = host.nodes.NODE_CLASS_MAPPINGS["ALCM_ApplyContextOptions"]
    return graph_utils.node_output(node.execute(model, chain, mode))


@pytest.fixture(scope="module")
def plain(host):
    return host.helpers.random_sd15(seed=31)


@pytest.mark.parametrize("sampler", ["euler", "heun"])
def test_every_call_runs_the_windows_of_its_sampler_step(host, plain, sampler):
    """Each UNet call holds one window of the looped schedule at the sampler's step as ADE counts it: completed steps
    (progress callbacks), so Heun's second call of step i, made after that step's callback, already has step i+1's
    windows, which is also the step of its sigma."""
    ctx = host.pack.animatelcm_core.context
    chain = _chain(host, ("Looped", dict(context_length=8, context_stride=1, context_overlap=3, closed_loop=False)))
    model, calls = _record_windows(_apply(host, plain, chain))
    sigmas = (6.0, 3.0, 1.5, 0.0)
    _sample_plain(model, 20, sampler, sigmas)
    opts = ctx.ContextOptions(8, 3, "looped")
    expected = []
    for i in range(len(sigmas) - 1):
        evals = [(sigmas[i], i)]
        if sampler == "heun" and sigmas[i + 1] != 0:
            evals.append((sigmas[i + 1], i + 1))
        for sigma, step in evals:
            expected += [(sigma, w) for w in ctx.get_windows(opts, 20, step)]
    assert calls == expected


def test_chain_switches_windows_over_sampling(host, plain):
    """Static windows of 8 first, from 50% of sampling batched windows of 5: the calls follow the chain."""
    chain = _chain(host, ("Static", dict(context_length=8, context_overlap=2)),
                   ("Batched", dict(context_length=5, start_percent=0.5)))
    model, calls = _record_windows(_apply(host, plain, chain))
    _sample_plain(model, 12, sigmas=(14.0, 6.0, 1.0, 0.3, 0.0))
    lengths = {}
    for sigma, window in calls:
        lengths.setdefault(sigma, set()).add(len(window))
    switch = plain.get_model_object("model_sampling").percent_to_sigma(0.5)
    assert {s: ({8} if s > switch else {5, 2}) for s in lengths} == lengths


def test_motion_only_mode_leaves_the_unet_whole(host, lcm):
    """motion-only: the UNet sees all frames (no context_window entry); full: every call is one window."""
    base, handle, inflated = lcm
    chain = _chain(host, ("Static", dict(context_length=8, context_overlap=2)))
    model, calls = _record_windows(_apply(host, inflated, chain, "motion-only"))
    _sample_plain(model, 12, sigmas=(4.0, 0.0))
    assert calls == [(4.0, None)]


def test_uniform_strides_too_wide_fail_before_sampling(host, plain):
    """ADE's uniform windows with stride 2 do not fit 12 frames of length 8: a clear error before any UNet call."""
    errors = host.pack.animatelcm_core.errors
    chain = _chain(host, ("Uniform", dict(context_length=8, context_stride=2, context_overlap=2)))
    model, calls = _record_windows(_apply(host, plain, chain))
    with pytest.raises(errors.ContextOptionsError, match="do not fit 12 frames.*context_stride 1"):
        _sample_plain(model, 12)
    assert calls == []


def test_node_errors(host, plain, lcm):
    base, handle, inflated = lcm
    errors = host.pack.animatelcm_core.errors
    views = graph_utils.node_output(host.nodes.NODE_CLASS_MAPPINGS["ALCM_ViewOptionsStatic"].execute(8, 2))
    with pytest.raises(errors.ContextOptionsError, match=r"view_overlap \(8\) must be smaller than view_length"):
        host.nodes.NODE_CLASS_MAPPINGS["ALCM_ViewOptionsStatic"].execute(8, 8)
    with pytest.raises(errors.ContextOptionsError, match=r"context_overlap \(8\) must be smaller"):
        _chain(host, ("Static", dict(context_length=8, context_overlap=8)))
    views_only = _chain(host, ("ViewsOnly", dict(view_opts=views)))
    with pytest.raises(ValueError, match="no motion module.*view options"):
        _apply(host, plain, views_only)
    with pytest.raises(ValueError, match="Views-only context options.*mode 'full'"):
        _apply(host, inflated, views_only, "motion-only")
    with pytest.raises(ValueError, match="FreeNoise needs context windows"):
        host.nodes.NODE_CLASS_MAPPINGS["ALCM_ApplyContextOptions"].execute(inflated, views_only, "full", False, True)
    static = _chain(host, ("Static", dict(context_length=8, context_overlap=2)))
    with pytest.raises(ValueError, match="no motion module.*motion-only"):
        _apply(host, plain, static, "motion-only")
    model = _apply(host, plain, static)  # full mode without a motion module works (ADE's Batched [Non-AD])
    assert model.model_options["context_handler"] is not None and plain.model_options.get("context_handler") is None


# ---------------------------------------------------------------- view options (windows inside the motion modules)

def _takes_views() -> bool:
    import inspect
    import sys
    core = next(m for name, m in sys.modules.items() if name.endswith("animatelcm_core.motion_module"))
    return "views" in inspect.signature(core.MotionModule.forward).parameters


def _views(host, length, overlap, kind="Static"):
    node = host.nodes.NODE_CLASS_MAPPINGS[f"ALCM_ViewOptions{kind}"]
    return graph_utils.node_output(node.execute(length, overlap))


@pytest.mark.parametrize("mode", ["full", "motion-only"])
def test_view_options_act_inside_the_motion_modules(host, lcm, mode):
    """Views only (full) and 12-frame motion-only windows with views inside (windows of windows) change the result;
    views as long as what the motion module sees change nothing."""
    if not _takes_views():
        pytest.skip("the motion module has no `views` argument yet (/work/team/interfaces/H4-views-for-H6.patch)")
    base, handle, inflated = lcm
    noise = torch.randn(16, 4, 8, 8, generator=torch.Generator().manual_seed(41))
    if mode == "full":
        def chain(views):
            return _chain(host, ("ViewsOnly", dict(view_opts=views)))
        plain_model = inflated
    else:
        def chain(views):
            return _chain(host, ("Static", dict(context_length=12, context_overlap=4, view_opts=views)))
        plain_model = _apply(host, inflated, _chain(host, ("Static", dict(context_length=12, context_overlap=4))),
                             mode)
    plain = _sample(plain_model, noise, steps=2)
    viewed = _sample(_apply(host, inflated, chain(_views(host, 8, 4)), mode), noise, steps=2)
    still = _sample(graph_utils.inflate(host, base, handle, effect=0.0), noise, steps=2)  # no motion at all
    # the random motion module moves the result little; views change a good part of what it does
    assert float((viewed - plain).abs().max()) > 0.1 * float((plain - still).abs().max())
    whole = _sample(_apply(host, inflated, chain(_views(host, 16, 4)), mode), noise, steps=2)
    torch.testing.assert_close(whole, plain, rtol=1e-5, atol=1e-5)
