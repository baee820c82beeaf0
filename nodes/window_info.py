"""Window information for other packs: `transformer_options["ad_params"]` on every model call of an inflated MODEL.

Packs that work per frame read which frames a model call holds from `ad_params`, the dict the leading AnimateDiff
pack publishes: IPAdapter_plus cuts its per-frame weights, image embeddings and attention masks to the call's frames
(`full_length`, `sub_idxs`); Advanced-ControlNet cuts its hints, masks, latent keyframes and soft weights the same
way (`full_length`, `sub_idxs`, `context_length`, read in `get_control`); other public nodes (ControlNeXt and
FollowYourEmoji wrappers) read `sub_idxs`. The keys and meanings, as those readers use them:

- `full_length`: frames of the whole video (the latent batch);
- `sub_idxs`: the video frames this call holds, in order, when it holds a window of them; None when it holds all;
- `context_length`: the number of frames this call holds.

Published here from this pack's own window state, never by importing another pack: the window is
`transformer_options["context_window"]`, which this pack's full-mode windows (nodes/context.py) and ComfyUI's own
context-window handler both set for each window. Motion-only windows keep every frame in each model call (only the
motion modules are windowed), so there `sub_idxs` is None and `context_length` is the whole video.

Two wrappers: PREDICT_NOISE notes the video's frame count once per step (ComfyUI 0.3.64's windows do not carry it);
CALC_COND_BATCH publishes each call's dict. It has to be CALC_COND_BATCH: ComfyUI asks the ControlNets for their
output (`get_control`) there, before the model runs.
"""
import comfy.patcher_extension

from .context import WINDOW, window_frames

AD_PARAMS = "ad_params"  # the key the readers look up (its name and its three keys are fixed by them)
WINDOW_INFO_KEY = "animatelcm_window_info"


def window_params(full_length: int, sub_idxs: list[int] | None) -> dict:
    """The published dict for a call holding `sub_idxs` of `full_length` frames (None: all of them)."""
    return {"full_length": int(full_length), "sub_idxs": None if sub_idxs is None else list(sub_idxs),
            "context_length": int(full_length) if sub_idxs is None else len(sub_idxs)}


def call_params(transformer_options: dict, frames: int) -> dict | None:
    """The dict for a model call of `frames` frames inside the window named in `transformer_options`, or None when
    no window is named (the call then holds the whole video)."""
    window = transformer_options.get(WINDOW)
    if window is None:
        return None
    indices, total = window_frames(transformer_options, frames)
    if indices is None:  # a window without `total_frames` (ComfyUI 0.3.64's): the length noted for this step
        indices = list(getattr(window, "index_list", None) or [])
        total = (transformer_options.get(AD_PARAMS) or {}).get("full_length")
        if len(indices) != frames or not total:
            return None
    return window_params(total, indices)


def _with_params(model_options: dict, params: dict) -> dict:
    """A shallow copy of `model_options` whose transformer_options carry `params` (the caller's dicts untouched)."""
    options = dict(model_options)
    options["transformer_options"] = {**model_options.get("transformer_options", {}), AD_PARAMS: params}
    return options


def note_video_length(executor, x, timestep, model_options={}, seed=None):
    """PREDICT_NOISE wrapper: the whole video's dict, unless another pack already published one."""
    if AD_PARAMS not in model_options.get("transformer_options", {}):
        model_options = _with_params(model_options, window_params(x.shape[0], None))
    return executor(x, timestep, model_options, seed)


def publish_call(executor, model, conds, x_in, timestep, model_options):
    """CALC_COND_BATCH wrapper: this call's dict, from the window it holds (if any)."""
    to = model_options.get("transformer_options", {})
    params = call_params(to, x_in.shape[0])
    if params is None and AD_PARAMS not in to:  # called outside a sampler's predict_noise
        params = window_params(x_in.shape[0], None)
    if params is not None:
        model_options = _with_params(model_options, params)
    return executor(model, conds, x_in, timestep, model_options)


def publish_window_info(model) -> None:
    """Register both wrappers on `model` (a clone the caller owns), unless it has them already."""
    wrappers = comfy.patcher_extension.WrappersMP
    if model.get_wrappers(wrappers.CALC_COND_BATCH, WINDOW_INFO_KEY):
        return
    model.add_wrapper_with_key(wrappers.PREDICT_NOISE, WINDOW_INFO_KEY, note_video_length)
    model.add_wrapper_with_key(wrappers.CALC_COND_BATCH, WINDOW_INFO_KEY, publish_call)
