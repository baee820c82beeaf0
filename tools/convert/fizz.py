"""FizzNodes' BatchPromptSchedule / BatchPromptScheduleLatentInput (1.0.2) -> this pack's Prompt Schedule.

FizzNodes reads the text as JSON ({"frame": "prompt", ...}), joins pre_text + " " + prompt + " " + app_text (and
then drops one trailing "0"), splits "--neg" parts into the NEG output, holds the first prompt before the first
key and the last after the last, and blends the embeddings linearly between keys: what Prompt Schedule does with
linear interpolation. The joined texts are written into the schedule (so pre/app text need no comma); backtick
expressions are evaluated where FizzNodes evaluates them (pw_a..pw_d substituted when they are constants).
"""
import ast
import json
import operator
import re

from .graph import Const, Src
from .report import ConversionError
from .widgets import BOOL, FLOAT, INT, NodeTable, STRING

PW = ("pw_a", "pw_b", "pw_c", "pw_d")
FORCE = ("pre_text", "app_text") + PW


def _fields(first):
    fields = {"text": STRING(""), "print_output": BOOL(False), "pre_text": STRING(""), "app_text": STRING(""),
              "start_frame": INT(0, 0, 9999), "end_frame": INT(0, 0, 9999), "current_frame": INT(0, 0)}
    fields.update({p: FLOAT(0.0, -9999.0, 9999.0) for p in PW})
    fields.update(first)
    return fields


def _vintages(head):
    return [head + ("print_output", "pre_text", "app_text", "start_frame", "end_frame") + PW,
            head + ("print_output", "pre_text", "app_text", "start_frame") + PW,
            head + ("print_output", "pre_text", "app_text") + PW,
            head + ("pre_text", "app_text") + PW]


TABLES = [
    NodeTable("BatchPromptSchedule", _fields({"max_frames": INT(120, 1, 999999)}),
              tuple(_vintages(("text", "max_frames")) + [("text", "max_frames", "current_frame", "pre_text",
                                                            "app_text") + PW]),
              frozenset(FORCE), {}, ("clip", "pre_text", "app_text") + PW, ("CONDITIONING", "CONDITIONING")),
    NodeTable("BatchPromptScheduleLatentInput", _fields({}), tuple(_vintages(("text",))), frozenset(FORCE), {},
              ("clip", "num_latents", "pre_text", "app_text") + PW, ("CONDITIONING", "CONDITIONING", "LATENT")),
]
FIZZ = {t.type: t for t in TABLES}
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}


def evaluate(expr: str, names: dict):
    """Arithmetic on numbers and `names` (what FizzNodes hands numexpr for keys and `...` expressions)."""
    def walk(n):
        if isinstance(n, ast.Expression):
            return walk(n.body)
        if isinstance(n, ast.Constant) and isinstance(n.value, (int, float)) and not isinstance(n.value, bool):
            return n.value
        if isinstance(n, ast.Name) and n.id in names:
            return names[n.id]
        if isinstance(n, ast.BinOp) and type(n.op) in _OPS:
            return _OPS[type(n.op)](walk(n.left), walk(n.right))
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, (ast.USub, ast.UAdd)):
            return -walk(n.operand) if isinstance(n.op, ast.USub) else walk(n.operand)
        raise ValueError(expr)
    return walk(ast.parse(expr.strip(), mode="eval"))


def parse_text(node, text: str, max_frames) -> dict:
    """{frame: prompt} as FizzNodes reads it (JSON without newlines, a trailing comma allowed)."""
    body = "{" + text.replace("\n", "") + "}"
    body = re.sub(r",\s*}", "}", body)
    try:
        prompts = json.loads(body)
    except json.JSONDecodeError as err:
        raise ConversionError(f"{node}: its text is not what FizzNodes reads ({{\"frame\": \"prompt\", ...}}): {err}")
    if not isinstance(prompts, dict) or not prompts:
        raise ConversionError(f"{node}: its text holds no \"frame\": \"prompt\" entries")
    out = {}
    for key, prompt in prompts.items():
        try:
            frame = int(key) if re.fullmatch(r"\s*[+-]?\d+\s*", key) else int(evaluate(key, {"max_f": max_frames}))
        except (ValueError, ZeroDivisionError, TypeError, SyntaxError):
            raise ConversionError(f"{node}: frame key {key!r} is not an integer or an arithmetic expression")
        if not isinstance(prompt, str):
            raise ConversionError(f"{node}: the prompt of frame {key!r} is not text: {prompt!r}")
        out[frame] = prompt
    return out


def split_prompts(prompts: dict, pre: str, app: str):
    """FizzNodes' batch_split_weighted_subprompts: (positive, negative) {frame: text}."""
    pre_pos, pre_neg = pre.split("--neg", 1) if "--neg" in pre else (pre, "")
    app_pos, app_neg = app.split("--neg", 1) if "--neg" in app else (app, "")
    pos, neg = {}, {}
    for frame, prompt in prompts.items():
        parts = prompt.split("--neg")
        p, n = (parts[0], parts[1]) if len(parts) > 1 else (parts[0], "")
        pos[frame] = _drop_zero(f"{pre_pos} {p} {app_pos}")
        neg[frame] = _drop_zero(f"{pre_neg} {n} {app_neg}")
    return pos, neg


def _drop_zero(text: str) -> str:
    return text[:-1] if text.endswith("0") else text


def _evaluate_all(s, node, texts: dict, pw: dict, max_frames) -> dict:
    """Backtick expressions replaced by their values where they do not depend on the frame (`t`)."""
    def one(match):
        expr = match.group(0)[1:-1]
        unknown = [p for p in PW if p in expr and not isinstance(pw[p], Const)]
        if "t" in expr or unknown or max_frames is None and "max_f" in expr:
            s.not_reproduced(node, "text", match.group(0), "the expression changes with the frame or reads a "
                             "linked value; it is left in the prompt as written")
            return match.group(0)
        names = {p: pw[p].value for p in PW}
        names["max_f"] = (max_frames or 1) - 1
        try:
            return str(evaluate(expr, names))
        except (ValueError, ZeroDivisionError, TypeError, SyntaxError, OverflowError):
            raise ConversionError(f"{node}: the expression {match.group(0)!r} cannot be evaluated")
    return {f: re.sub(r"`.*?`", one, t).strip() for f, t in texts.items()}


def _keyframes(s, node, texts: dict, frames) -> dict:
    """The keys within [0, frames) (all, when the length is not known here). Frames before the end blend towards
    the first key past it: reproduced only when that key holds the last prompt; keys after it change nothing."""
    keep = {f: t for f, t in texts.items() if f >= 0 and (frames is None or f < frames)}
    for frame in sorted(f for f in texts if f < 0):
        s.not_reproduced(node, "text", f"{frame}: {texts[frame]!r}", "a negative key")
    past = sorted(f for f in texts if frames is not None and f >= frames)
    if past:
        last = keep[max(keep)] if keep else None
        if texts[past[0]] != last:
            s.not_reproduced(node, "text", f"{past[0]}: {texts[past[0]]!r}", "the last frames blend towards a key "
                             "past the video's end")
        if past[1:]:
            s.note(node, f"keys {past[1:]} lie past the video's end and change nothing", "text")
    return keep


def schedule_text(texts: dict) -> str:
    def quote(t):
        return '"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return ",\n".join(f'"{frame}": {quote(texts[frame])}' for frame in sorted(texts))


def _text_input(s, node, name):
    item = s.arg(node, name)
    if isinstance(item, Src):
        s.not_reproduced(node, name, f"<from node {item.out.node}>", "a linked pre/app text is joined with a comma "
                         "here (FizzNodes joins with a space) and its --neg part is not split")
        return "", item
    return (item.value or "") if isinstance(item, Const) else "", None


def prompt_schedule(s, node):
    s.remove(node)
    latent_input = node.type == "BatchPromptScheduleLatentInput"
    frames = None if latent_input else s.literal(node, "max_frames")
    text = s.literal(node, "text")
    if not isinstance(text, str):
        raise ConversionError(f"{node}: its text is not set")
    pre, pre_link = _text_input(s, node, "pre_text")
    app, app_link = _text_input(s, node, "app_text")
    pos, neg = split_prompts(parse_text(node, text, frames or 0), pre, app)
    pw = {p: s.arg(node, p) for p in PW}
    start, end = s.literal(node, "start_frame"), s.literal(node, "end_frame")
    if start != 0 or end not in (0, frames):
        s.not_reproduced(node, "start_frame/end_frame", (start, end), "FizzNodes then outputs only those frames")
    if s.literal(node, "print_output"):
        s.note(node, "print_output=True: the schedule is not printed", "print_output", True)
    if end > 0:
        pos = _evaluate_all(s, node, pos, pw, frames)
    neg = _evaluate_all(s, node, neg, pw, frames)
    base = {"clip": s.source(node, "clip"), "frames": frames if frames is not None else 16,
            "interpolation": "linear", "pre_text": pre_link or "", "app_text": app_link or "",
            "latent": s.source(node, "num_latents") if latent_input else None}
    out = s.emit("ALCM_PromptSchedule", node.id, {**base, "text": schedule_text(_keyframes(s, node, pos, frames))},
                 memo=("fizz", node.id, 0))
    s.reconnect(node, 0, out)
    if any(slot == 1 for slot, *_ in s.graph.consumers(node.id)):
        neg_out = s.emit("ALCM_PromptSchedule", node.id, {**base, "text": schedule_text(
            _keyframes(s, node, neg, frames))}, memo=("fizz", node.id, 1), title="negative prompt schedule")
        s.reconnect(node, 1, neg_out)
    if latent_input:
        s.reconnect(node, 2, s.source(node, "num_latents"))


SINKS = {"BatchPromptSchedule": prompt_schedule, "BatchPromptScheduleLatentInput": prompt_schedule}
