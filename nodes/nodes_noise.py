"""V3 nodes: FreeNoise (noise rescheduling for long videos) and FreeInit (low-frequency re-initialisation)."""
from comfy_api.latest import io

from ..animatelcm_core.freq_filter import FILTERS
from .noise_init import FreeInitSettings, add_freeinit, add_freenoise
from .nodes_motion import CATEGORY


class FreeNoise(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_FreeNoise", display_name="FreeNoise (noise rescheduling)", category=CATEGORY,
            description="FreeNoise (Qiu et al., ICLR 2024): the initial noise is rescheduled so that every window of "
                        "context_length frames holds the first window's noise frames, locally shuffled: windows "
                        "agree and long videos drift less. From the sampler's own noise and seed; with or without "
                        "context windows ('AnimateLCM Context Options' has the same switch).",
            inputs=[io.Model.Input("model", tooltip="Any MODEL (usually the inflated one)."),
                    io.Int.Input("context_length", default=16, min=1, max=128,
                                 tooltip="Window length of the noise pattern (the context windows' length)."),
                    io.Int.Input("context_overlap", default=4, min=0, max=127,
                                 tooltip="Frames shared by neighbouring windows (below context_length).")],
            outputs=[io.Model.Output(tooltip="The MODEL; its samplers get rescheduled noise.")])

    @classmethod
    def execute(cls, model, context_length, context_overlap):
        if context_overlap >= context_length:
            raise ValueError(f"context_overlap ({context_overlap}) must be smaller than context_length "
                             f"({context_length}).")
        return io.NodeOutput(add_freenoise(model, context_length, context_overlap))


class FreeInit(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_FreeInit", display_name="FreeInit", category=CATEGORY,
            description="FreeInit (Wu et al., ECCV 2024): samples several times; after each pass the result is "
                        "noised back and its low spatio-temporal frequencies start the next pass, which improves "
                        "temporal consistency. Any sampler node honours it (KSampler, SamplerCustom, AnimateLCM "
                        "Sampler); N iterations cost N samplings. 1 iteration is plain sampling.",
            inputs=[io.Model.Input("model", tooltip="The MODEL to sample with FreeInit."),
                    io.Int.Input("iterations", default=3, min=1, max=10, tooltip="Sampling passes (the paper uses 3-5)."),
                    io.Combo.Input("filter", options=list(FILTERS), default="butterworth",
                                   tooltip="3D low-pass filter that keeps the low frequencies of the last result."),
                    io.Float.Input("d_s", default=0.25, min=0.01, max=1.0, step=0.01,
                                   tooltip="Spatial stop frequency (normalised, 1 = Nyquist)."),
                    io.Float.Input("d_t", default=0.25, min=0.01, max=1.0, step=0.01,
                                   tooltip="Temporal stop frequency (normalised, 1 = Nyquist)."),
                    io.Int.Input("order", default=4, min=1, max=16, tooltip="Butterworth filter order."),
                    io.Boolean.Input("same_noise", default=True,
                                     tooltip="Later passes take their high frequencies from the first pass's noise "
                                             "(on) or from fresh noise of the same seed (off).")],
            outputs=[io.Model.Output(tooltip="The MODEL; its samplers run FreeInit.")])

    @classmethod
    def execute(cls, model, iterations, filter, d_s, d_t, order, same_noise):
        return io.NodeOutput(add_freeinit(model, FreeInitSettings(iterations, filter, d_s, d_t, order, same_noise)))


NODES = [FreeNoise, FreeInit]
