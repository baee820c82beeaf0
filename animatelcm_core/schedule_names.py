"""Names of the sampling presets' special choices and ADE's beta-schedule names mapped onto this pack's presets.

No torch import: the workflow converter (tools/convert) reads this table without loading the core.
"""

AUTO = "auto"  # the motion module's own recommended preset (AnimateLCM: its official sqrt_linear / 100 schedule)
AUTO_ADE = "auto (ADE)"  # what ComfyUI-AnimateDiff-Evolved's "autoselect" picks for the motion module's family
KEEP = "keep model's own"  # leave the MODEL's model sampling as it is (ADE "use existing")

# ADE (ComfyUI-AnimateDiff-Evolved 1.5.x, BetaSchedules) name -> this pack's preset name or special choice.
# ADE's "lcm" is ComfyUI's "linear" (scaled-linear) betas distilled to 50 original timesteps: this pack's "lcm_50";
# this pack's own "lcm" is AnimateLCM's official schedule (sqrt_linear betas, 100 original timesteps).
ADE_BETA_NAMES = {
    "autoselect": AUTO_ADE,
    "use existing": KEEP,
    "sqrt_linear (AnimateDiff)": "sqrt_linear",
    "linear (AnimateDiff-SDXL)": "linear_sdxl",
    "linear (HotshotXL/default)": "linear",
    "avg(sqrt_linear,linear)": "avg_sqrt_linear_linear",
    "lcm avg(sqrt_linear,linear)": "lcm_50_avg",
    "lcm": "lcm_50",
    "lcm[100_ots]": "lcm_100_linear",
    "lcm[25_ots]": "lcm_25_linear",
    "lcm >> sqrt_linear": "lcm_50_sqrt_linear",
    "sqrt": "sqrt",
    "cosine": "cosine",
    "squaredcos_cap_v2": "squaredcos_cap_v2",
    # raw names of ADE's "Create Raw Sigma Schedule" (raw_beta_schedule) are ComfyUI's own beta schedule names
    "linear": "linear",
    "sqrt_linear": "sqrt_linear",
}

# ADE's autoselect: this pack's recommended preset of a family -> the preset ADE picks for that family
# (ADE: AnimateLCM -> "lcm"; other SD1.5 -> "sqrt_linear (AnimateDiff)"; HotshotXL -> "linear (HotshotXL/default)";
# other SDXL -> "linear (AnimateDiff-SDXL)").
ADE_AUTOSELECT = {
    "lcm": "lcm_50",
    "lcm_i2v": "lcm_50",
    "sqrt_linear": "sqrt_linear",
    "linear": "linear",
    "linear_sdxl": "linear_sdxl",
}
