"""View windows inside the motion module (animatelcm_core.context_views): the attention blocks of a temporal
transformer block run per view window and are fused; everything else sees all frames."""
import torch

from animatelcm_core.context import ContextOptions, fuse_weights, get_windows
from animatelcm_core.context_views import view_plan


def test_inactive_views_give_no_plan():
    assert view_plan(ContextOptions(16, 4), 16, 0) is None
    assert view_plan(ContextOptions(16, 4), 12, 0) is None
    assert view_plan(ContextOptions(16, 4, "looped", use_on_equal_length=True), 16, 1) is not None


def test_plan_runs_attend_per_view_and_fuses():
    """run(h, attend) = sum over views of weight * attend(h[:, view]) per frame, with ADE's view lists."""
    views = ContextOptions(8, 3, "looped", closed_loop=True, fuse_method="pyramid")
    plan = view_plan(views, 20, step=3)
    windows = get_windows(views, 20, 3)
    assert [list(w) for w in plan.windows] == windows and plan.max_length == 8
    h = torch.randn(5, 20, 6, generator=torch.Generator().manual_seed(0))
    mix = torch.randn(6, 6, generator=torch.Generator().manual_seed(1))
    calls = []

    def attend(sub, frames):  # a frame-mixing function, so each view's result depends on its own frames
        calls.append(list(frames))
        return sub + torch.tanh(sub.mean(dim=1, keepdim=True) @ mix)

    out = plan.run(h, attend)
    assert calls == windows
    expected = torch.zeros_like(h)
    for window, w in zip(windows, fuse_weights(views, windows, 20, in_views=True)):
        sub = h[:, window]
        attended = sub + torch.tanh(sub.mean(dim=1, keepdim=True) @ mix)
        expected.index_add_(1, torch.tensor(window), attended * w.view(1, -1, 1))
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)
    assert (out - h).abs().max() > 1e-2


def test_sigma_and_seed_only_key_methods_that_use_them():
    a = view_plan(ContextOptions(8, 3), 20, 0, sigma=1.0, seed=1)
    assert a is view_plan(ContextOptions(8, 3), 20, 0, sigma=2.0, seed=2)  # pyramid: one cached plan
    g1 = view_plan(ContextOptions(8, 3, fuse_method="gauss-sigma"), 20, 0, sigma=1.0)
    g2 = view_plan(ContextOptions(8, 3, fuse_method="gauss-sigma"), 20, 0, sigma=3.0)
    assert not torch.equal(g1.weights[0], g2.weights[0])
