"""Worker-side functions of test_sampling_parity.py (run inside a packs-tier worker through `worker.call`): ADE's
checkpoint loader with a beta schedule and scale factor, and this pack's Model Sampling node, each on the random
reduced-width UNet, sampled the same way."""
import sys
import time
from unittest import mock

import torch

FRAMES, STEPS, CFG, SEED = 4, 2, 2.0, 7


def _sample(model) -> torch.Tensor:
    import comfy_helpers
    import nodes
    positive = comfy_helpers.random_cond(1)
    negative = [[torch.zeros_like(c), extra] for c, extra in comfy_helpers.random_cond(2)]
    latent = {"samples": torch.zeros(FRAMES, 4, 8, 8)}
    return nodes.common_ksampler(model, SEED, STEPS, CFG, "euler", "normal", positive, negative, latent)[0]["samples"]


def ade_checkpoint_loader(beta_schedule: str, scale_factor: float | None) -> torch.Tensor:
    """ADE's CheckpointLoaderSimpleWithNoiseSelect with its checkpoint loading answered by the random UNet."""
    import comfy_helpers
    import nodes
    cls = nodes.NODE_CLASS_MAPPINGS["CheckpointLoaderSimpleWithNoiseSelect"]
    model = comfy_helpers.random_sd15(0)
    with mock.patch.object(sys.modules[cls.__module__], "load_checkpoint_guess_config",
                           lambda *args, **kwargs: (model, None, None, None)):
        out = cls().load_checkpoint("random.safetensors", beta_schedule, use_custom_scale_factor=scale_factor is not None,
                                    scale_factor=scale_factor or 0.18215)
    return _sample(out[0])


def ours_model_sampling(schedule: str, scale_factor: float | None) -> torch.Tensor:
    import comfy_helpers
    import nodes
    cls = nodes.NODE_CLASS_MAPPINGS["ALCM_ModelSampling"]
    result = cls.execute(comfy_helpers.random_sd15(0), schedule, scale_factor is not None, scale_factor or 0.18215)
    return _sample(result.result[0])


def ade_to_sigmas(beta_schedule: str, scheduler: str, steps: int, denoise: float) -> torch.Tensor:
    """ADE's Sigma Schedule -> Sigma Schedule To Sigmas, its own nodes."""
    import nodes
    schedule_node = nodes.NODE_CLASS_MAPPINGS["ADE_SigmaSchedule"]
    to_sigmas = nodes.NODE_CLASS_MAPPINGS["ADE_SigmaScheduleToSigmas"]
    schedule = getattr(schedule_node(), schedule_node.FUNCTION)(beta_schedule=beta_schedule)[0]
    return getattr(to_sigmas(), to_sigmas.FUNCTION)(sigma_schedule=schedule, scheduler=scheduler, steps=steps,
                                                    denoise=denoise)[0]


def ours_to_sigmas(schedule: str, scheduler: str, steps: int, denoise: float) -> torch.Tensor:
    """This pack's Noise Schedule -> Noise Schedule To Sigmas."""
    import nodes
    schedule_node = nodes.NODE_CLASS_MAPPINGS["ALCM_NoiseSchedule"]
    to_sigmas = nodes.NODE_CLASS_MAPPINGS["ALCM_NoiseScheduleToSigmas"]
    made = schedule_node.execute(schedule).result[0]
    return to_sigmas.execute(made, scheduler, steps, denoise).result[0]


def comfy_basic_scheduler(scheduler: str, steps: int) -> torch.Tensor:
    """ComfyUI's own scheduler on the random SD1.5 model (SD1.5's schedule: scaled-linear betas 0.00085..0.012)."""
    import comfy.samplers
    import comfy_helpers
    model = comfy_helpers.random_sd15(0)
    return comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), scheduler, steps).cpu()


def cpu_seconds() -> float:
    """CPU time of this worker process so far (all threads), to report what the parity prompts cost."""
    return time.process_time()
