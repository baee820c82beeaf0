"""MotionLoRA: LoRA on the temporal attention projections (spec formats.md §4.8).

Application: `W += strength * (up @ down)` in fp32, no alpha/rank factor. Several LoRAs stack by summing their deltas.
"""
import os
import re
from dataclasses import dataclass

import torch

from .config import MotionModuleConfig, describe_non_motion_file, detect_layout, expected_motion_keys, \
    to_original_layout
from .errors import MotionModelError
from .loading import load_state_dict

_PAIR_RE = re.compile(r"^(?P<base>.+?)\.(?:processor\.)?(?P<proj>to_q|to_k|to_v|to_out(?:\.0)?)"
                      r"(?:_lora\.(?P<dir>down|up)|\.lora_(?P<peft>A|B))\.weight$")


@dataclass(frozen=True)
class MotionLoRA:
    name: str
    rank: int
    pairs: dict  # target weight key (original motion-module layout) -> (up [out, r], down [r, in])

    @property
    def has_mid(self) -> bool:
        return any(k.startswith("mid_block.") for k in self.pairs)


def load_motion_lora(path: str) -> MotionLoRA:
    """Read a MotionLoRA file (original or diffusers key layout)."""
    return motion_lora_from_state_dict(load_state_dict(path), os.path.basename(path))


def motion_lora_from_state_dict(sd: dict, name: str = "<state dict>") -> MotionLoRA:
    sd = {k.removeprefix("unet."): v for k, v in sd.items()}
    temporal = {k: v for k, v in sd.items() if "motion_modules." in k or "temporal" in k}
    if not temporal:
        what = describe_non_motion_file(sd.keys()) or f"a file with keys such as {list(sd)[:2]}"
        raise MotionModelError(f"{name}: not a MotionLoRA: it has no temporal (motion-module) keys; it looks like "
                               f"{what}. Expected keys like 'down_blocks.0.motion_modules.0.temporal_transformer."
                               "transformer_blocks.0.attention_blocks.0.processor.to_q_lora.down.weight'.")
    temporal = to_original_layout(temporal, detect_layout(temporal.keys()))
    halves: dict[str, dict[str, torch.Tensor]] = {}
    for k, v in temporal.items():
        m = _PAIR_RE.match(k)
        if not m:
            if k.endswith(".alpha"):
                continue
            raise MotionModelError(f"{name}: unexpected key {k!r} in a MotionLoRA; expected "
                                   "'<module>.attention_blocks.<a>.processor.<to_q|to_k|to_v|to_out>_lora.<down|up>.weight'.")
        proj = "to_out.0" if m["proj"].startswith("to_out") else m["proj"]
        direction = m["dir"] or ("down" if m["peft"] == "A" else "up")
        halves.setdefault(f"{m['base']}.{proj}.weight", {})[direction] = v
    return MotionLoRA(name=name, rank=_rank(halves, name), pairs={k: (h["up"], h["down"]) for k, h in halves.items()})


def _rank(halves: dict, name: str) -> int:
    ranks = set()
    for k, h in halves.items():
        if set(h) != {"up", "down"}:
            raise MotionModelError(f"{name}: LoRA weight {k!r} has only its {'/'.join(h)} half; expected both up and down.")
        up, down = h["up"], h["down"]
        if up.ndim != 2 or down.ndim != 2 or up.shape[1] != down.shape[0]:
            raise MotionModelError(f"{name}: LoRA pair for {k!r} has shapes up {list(up.shape)} and down "
                                   f"{list(down.shape)}; expected up [out, r] and down [r, in].")
        ranks.add(down.shape[0])
    return max(ranks)


def lora_targets(lora: MotionLoRA, config: MotionModuleConfig) -> dict:
    """The LoRA's pairs that apply to a model of `config`; mid-block pairs are skipped without a mid block."""
    expected = expected_motion_keys(config)
    out = {}
    for key, (up, down) in lora.pairs.items():
        if key.startswith("mid_block.") and not config.has_mid:
            continue
        if key not in expected:
            raise MotionModelError(f"{lora.name}: targets {key!r}, which {config.display_name} does not have "
                                   "(a LoRA for another base model?).")
        if (up.shape[0], down.shape[1]) != expected[key]:
            raise MotionModelError(f"{lora.name}: LoRA for {key!r} is {up.shape[0]}x{down.shape[1]}, but "
                                   f"{config.display_name} has {list(expected[key])} there (a LoRA for another base model?).")
        out[key] = (up, down)
    return out


def lora_delta(up: torch.Tensor, down: torch.Tensor) -> torch.Tensor:
    """`up @ down` in fp32."""
    return up.float() @ down.float()


def merge_loras(model: torch.nn.Module, loras: list[tuple[MotionLoRA, float]]) -> dict:
    """Add every LoRA's `strength * up @ down` to the model's weights; return the backup for `unmerge`.

    All targets are validated before any weight changes, so a bad LoRA leaves the model untouched.
    """
    plan = [(lora_targets(lora, model.config), strength) for lora, strength in loras]
    params = dict(model.named_parameters())
    backup = {}
    for targets, strength in plan:
        for key, (up, down) in targets.items():
            weight = params[key]
            backup.setdefault(key, weight.detach().clone())
            with torch.no_grad():
                delta = lora_delta(up.to(weight.device), down.to(weight.device))
                weight.copy_((weight.float() + strength * delta).to(weight.dtype))
    return backup


def unmerge(model: torch.nn.Module, backup: dict) -> None:
    """Restore the weights saved by `merge_loras`, bit for bit."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for key, original in backup.items():
            params[key].copy_(original)
