"""ADE sigma schedules -> this pack's Noise Schedule nodes, one node each with the same values: Create Sigma Schedule
(named), Create Raw Sigma Schedule, Weighted Mean, Interp. Mean, Split Combine; Sigma Schedule To Sigmas (SIGMAS for
SamplerCustom) is a sink of its own. Value correspondence: tests/packs/test_sampling_parity.py."""
from .names import ADE_BETA_NAMES, ade_beta_name
from .report import DIFFERS, ConversionError

SCHEDULE_TYPES = ("ADE_SigmaSchedule", "ADE_RawSigmaSchedule", "ADE_SigmaScheduleWeightedAverage",
                  "ADE_SigmaScheduleWeightedAverageInterp", "ADE_SigmaScheduleSplitAndCombine")
# ADE type -> (this pack's type, {ADE schedule input: ours}, {ADE widget: ours})
COMBINED = {
    "ADE_SigmaScheduleWeightedAverage": ("ALCM_NoiseScheduleMean", {"schedule_A": "schedule_a",
                                                                    "schedule_B": "schedule_b"},
                                         {"weight_A": "weight_a"}),
    "ADE_SigmaScheduleWeightedAverageInterp": ("ALCM_NoiseScheduleInterpMean", {"schedule_A": "schedule_a",
                                                                                "schedule_B": "schedule_b"},
                                               {"weight_A_Start": "weight_a_start", "weight_A_End": "weight_a_end",
                                                "interpolation": "interpolation"}),
    "ADE_SigmaScheduleSplitAndCombine": ("ALCM_NoiseScheduleSplit", {"schedule_Start": "schedule_start",
                                                                     "schedule_End": "schedule_end"},
                                         {"idx_split_percent": "split_percent"}),
}
RAW = {"raw_beta_schedule": "beta_schedule", "linear_start": "linear_start", "linear_end": "linear_end",
       "sampling": "sampling", "lcm_original_timesteps": "lcm_original_timesteps", "zsnr": "zsnr"}


def has_target(s, node, node_type) -> bool:
    if s.targets.has(node_type):
        return True
    s.not_reproduced(node, "node", node.type, f"this checkout has no {node_type} node")
    return False


def sigma_schedule(s, owner, item, name="sigma_schedule"):
    """ADE SIGMA_SCHEDULE (input `name` of `owner`) -> NewOut of a Noise Schedule node (None when it cannot be
    converted: reported)."""
    node = s.producer(item)
    if not s.handles(node) or node.type not in SCHEDULE_TYPES:
        s.unsupported_link(owner, name, item)
        return None
    memo = ("sigma", node.id)
    if memo in s.plan.memo:
        return s.plan.memo[memo]
    s.remove(node)
    if node.type == "ADE_SigmaSchedule":
        return _named(s, node, memo)
    if node.type == "ADE_RawSigmaSchedule":
        return _raw(s, node, memo)
    return _combined(s, node, memo)


def _named(s, node, memo):
    name = ade_beta_name(s.literal(node, "beta_schedule"))
    choice = ADE_BETA_NAMES.get(name)
    if choice not in s.targets.choices("ALCM_NoiseSchedule", "schedule"):
        s.not_reproduced(node, "beta_schedule", name, "no such noise schedule here")
        return None
    return s.emit("ALCM_NoiseSchedule", node.id, {"schedule": choice}, memo=memo)


def _raw(s, node, memo):
    if not has_target(s, node, "ALCM_NoiseScheduleRaw"):
        return None
    inputs = {ours: s.arg(node, theirs) for theirs, ours in RAW.items()}
    old = (node.raw.get("inputs") or {}) if node.graph.fmt == "api" else {}
    if "lcm_zsnr" in old and "zsnr" not in old and old["lcm_zsnr"] is True and old.get("sampling", "eps") != "lcm":
        s.note(node, "lcm_zsnr=True with sampling other than lcm: ADE before 2024-08 ignored it, so zsnr is off",
               "lcm_zsnr", True)
        inputs["zsnr"] = False
    return s.emit("ALCM_NoiseScheduleRaw", node.id, inputs, memo=memo)


def _combined(s, node, memo):
    target, sockets, widgets = COMBINED[node.type]
    if not has_target(s, node, target):
        return None
    inputs = {}
    for theirs, ours in sockets.items():
        linked = s.source(node, theirs)
        if linked is None:
            raise ConversionError(f"{node}: its input {theirs!r} is not connected")
        inputs[ours] = sigma_schedule(s, node, linked, theirs)
        if inputs[ours] is None:
            s.not_reproduced(node, "node", node.type, f"its {theirs} could not be converted, so this combined "
                             "schedule is left out")
            return None
    inputs.update({ours: s.arg(node, theirs) for theirs, ours in widgets.items()})
    return s.emit(target, node.id, inputs, memo=memo)


def to_sigmas(s, node):
    """ADE_SigmaScheduleToSigmas (a sink: its SIGMAS go to SamplerCustom and the like)."""
    s.remove(node)
    linked = s.source(node, "sigma_schedule")
    if linked is None:
        raise ConversionError(f"{node}: its input 'sigma_schedule' is not connected")
    schedule = sigma_schedule(s, node, linked)
    if schedule is None or not has_target(s, node, "ALCM_NoiseScheduleToSigmas"):
        return
    inputs = {"noise_schedule": schedule, **{k: s.arg(node, k) for k in ("scheduler", "steps", "denoise")}}
    s.report.add(node.id, node.type, DIFFERS, "ADE's node fails with every scheduler (it hands ComfyUI's schedulers "
                 "its schedule wrapper instead of a model sampling object); Noise Schedule To Sigmas gives the "
                 "schedule's SIGMAS (as ComfyUI's BasicScheduler would on a model with that schedule)")
    s.reconnect(node, 0, s.emit("ALCM_NoiseScheduleToSigmas", node.id, inputs, memo=("to_sigmas", node.id)))


SINKS = {"ADE_SigmaScheduleToSigmas": to_sigmas}
