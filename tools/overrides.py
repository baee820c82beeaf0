"""The runner's command-line overrides (--prompt, --seed, --frames, --set, ...), applied to an API prompt."""
import json
import logging
import os

from tools.errors import EXIT_USAGE, RunError
from tools.workflow_api import node_definition

FRAME_INPUTS = {("EmptyLatentImage", "batch_size"), ("ImageFromBatch", "length"), ("RepeatImageBatch", "amount"),
                ("RepeatLatentBatch", "amount")}
SIZE_NODES = ("EmptyLatentImage", "ImageScale")
STEP_NODES = ("KSampler", "KSamplerAdvanced", "ALCM_Sampler", "ALCM_LCMSigmas", "BasicScheduler")



def _definition(nodes, kind):
    return node_definition(nodes.NODE_CLASS_MAPPINGS[kind])


def _prompt_text_nodes(prompt: dict, nodes, which: str) -> list[str]:
    """Ids of the text-encode nodes that feed the samplers' `which` (positive / negative) conditioning."""
    found, seen = [], set()

    def walk(link):
        src, slot = str(link[0]), link[1]
        if (src, slot) in seen or src not in prompt:
            return
        seen.add((src, slot))
        node = prompt[src]
        if isinstance(node["inputs"].get("text"), str):
            found.append(src)
            return
        definition = _definition(nodes, node["class_type"])
        names = list(definition.get("output_name") or [])
        same = names[slot] if slot < len(names) else None
        links = {k: v for k, v in node["inputs"].items() if isinstance(v, list) and len(v) == 2}
        if same in links:
            walk(links[same])
            return
        types = {n: spec[0] for sec in definition.get("input", {}).values() for n, spec in sec.items()}
        for name, v in links.items():
            if types.get(name) == "CONDITIONING":
                walk(v)

    for node_id, node in prompt.items():
        link = node["inputs"].get(which)
        if not isinstance(link, list):
            continue
        if "CONDITIONING" not in (_definition(nodes, node["class_type"]).get("output") or []):
            walk(link)  # a sampler / guider, not a conditioning pass-through
    return sorted(set(found), key=int)


def _parse_value(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


def apply_overrides(prompt: dict, opts, nodes) -> list[str]:
    """Command-line overrides, applied to the API prompt. Returns one line per change."""
    changes = []

    def put(node_id, name, value):
        prompt[node_id]["inputs"][name] = value
        changes.append(f"node {node_id} ({prompt[node_id]['class_type']}).{name} = {value!r}")

    def literal(node, name):
        return name in node["inputs"] and not isinstance(node["inputs"][name], list)

    for node_id, node in prompt.items():
        kind = node["class_type"]
        if opts.checkpoint is not None and literal(node, "ckpt_name"):
            put(node_id, "ckpt_name", opts.checkpoint)
        if opts.seed is not None:
            for name in ("seed", "noise_seed"):
                if literal(node, name):
                    put(node_id, name, opts.seed)
        if opts.frames is not None:
            for name in [n for n in node["inputs"] if (kind, n) in FRAME_INPUTS and literal(node, n)]:
                put(node_id, name, opts.frames)
        if kind in SIZE_NODES:
            for name, value in (("width", opts.width), ("height", opts.height)):
                if value is not None and literal(node, name):
                    put(node_id, name, value)
        if opts.steps is not None and kind in STEP_NODES and literal(node, "steps"):
            put(node_id, "steps", opts.steps)
    for which, text in (("positive", opts.prompt), ("negative", opts.negative)):
        if text is None:
            continue
        targets = _prompt_text_nodes(prompt, nodes, which)
        if not targets:
            raise RunError(f"--{'prompt' if which == 'positive' else 'negative'}: no text encoder feeds a sampler's "
                           f"{which} input in this workflow", EXIT_USAGE)
        for node_id in targets:
            put(node_id, "text", text)
    for image_opt, kinds in ((opts.image, ("LoadImage",)), (opts.video, ("LoadVideo",))):
        if image_opt:
            targets = [i for i, n in prompt.items() if n["class_type"] in kinds]
            if not targets:
                raise RunError(f"no {'/'.join(kinds)} node in this workflow for {image_opt}", EXIT_USAGE)
            for node_id in targets:
                put(node_id, "image" if kinds[0] == "LoadImage" else "file", os.path.basename(image_opt))
    for item in opts.set or []:
        target, sep, value = item.partition("=")
        node_id, dot, name = target.partition(".")
        if not (sep and dot) or node_id not in prompt:
            raise RunError(f"--set {item!r}: expected NODE_ID.INPUT=VALUE with a node id of this workflow "
                           f"({', '.join(sorted(prompt, key=int))})", EXIT_USAGE)
        put(node_id, name, _parse_value(value))
    if opts.frames is not None and not any("batch_size" in c or "length" in c or "amount" in c for c in changes):
        logging.warning("--frames: this workflow has no frame-count input (%s)",
                        ", ".join(f"{k}.{n}" for k, n in sorted(FRAME_INPUTS)))
    return changes
