"""Where each motion module goes in ComfyUI's UNet (spec formats.md §3.2, §3.3).

`down_blocks.i.motion_modules.j` -> input_blocks[3i + j + 1]; `up_blocks.i.motion_modules.j` -> output_blocks[3i + j];
`mid_block.motion_modules.0` -> middle_block. Inside a block: after the last spatial transformer if there is one,
else right after the first ResBlock; always before an Upsample.
"""
from .config import MotionModuleConfig

RESBLOCK, TRANSFORMER, UPSAMPLE, DOWNSAMPLE, OTHER = "resblock", "transformer", "upsample", "downsample", "other"


def block_of(module_name: str) -> tuple[str, int]:
    """ComfyUI block ("input" | "middle" | "output", index) of a motion module prefix."""
    parts = module_name.split(".")
    if parts[0] == "mid_block":
        return "middle", 0
    i, j = int(parts[1]), int(parts[3])
    if parts[0] == "down_blocks":
        return "input", 3 * i + j + 1
    return "output", 3 * i + j


def insert_index(kinds: list[str]) -> int:
    """Position in a block's layer list (kinds from the constants above) where the motion module goes."""
    transformers = [i for i, k in enumerate(kinds) if k == TRANSFORMER]
    if transformers:
        return transformers[-1] + 1
    if RESBLOCK not in kinds:
        raise ValueError(f"block {kinds} has no ResBlock or transformer to follow")
    return kinds.index(RESBLOCK) + 1


def placements(config: MotionModuleConfig) -> list[tuple[str, str, int]]:
    """(motion module name, ComfyUI block kind, block index) for every module of `config`."""
    return [(name, *block_of(name)) for name, _ in config.module_names()]


def motion_block_indices(config: MotionModuleConfig) -> dict[str, list[int]]:
    """Which input/middle/output blocks receive a motion module."""
    out: dict[str, list[int]] = {"input": [], "middle": [], "output": []}
    for _, kind, index in placements(config):
        out[kind].append(index)
    return out
