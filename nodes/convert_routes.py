"""Where a running ComfyUI meets the workflow converter (tools/convert: pure Python over JSON, shared with the runner
and `python -m tools.convert_workflow`):

- `GET /animatelcm/convert/info`: the node types the converter handles, and which of them are installed (the web
  extension web/js/animatelcm_convert.js offers "Convert to AnimateLCM nodes" only for missing ones);
- `POST /animatelcm/convert` {"workflow": UI or API workflow} -> {"workflow", "report", "changed"}: the frontend
  extension loads the result;
- API prompts posted to `/prompt` that name node types of the leading AnimateDiff pack (or the older AnimateDiff
  pack, or FizzNodes' schedules) that are not installed are converted in flight (an `on_prompt` handler, public in
  every release) when the conversion is exact (strict); otherwise the prompt is left as it is (ComfyUI then reports
  the missing node types) and the server log says which options stop it and how to convert it by hand. An API client
  gets the video it asked for, or an error, never a silently different one;
- one-to-one replacements in ComfyUI's node-replacement registry, where the release has one (0.33: the frontend
  offers them in its missing-nodes panel, and the server applies them to API prompts itself).

Nothing here runs without a server (the runner and the in-process tests have none): `register` checks for one.
"""
import logging

from aiohttp import web

from ..tools.convert import convert_workflow
from ..tools.convert.core import TABLES, is_foreign_type
from ..tools.convert.replacements import REPLACEMENTS

log = logging.getLogger("animatelcm.convert")
MAX_BODY = 32 * 1024 * 1024  # a workflow file, not a model


def _installed() -> set[str]:
    import nodes
    return set(nodes.NODE_CLASS_MAPPINGS)


def _result_json(result) -> dict:
    return {"workflow": result.workflow, "changed": result.changed, "report": [str(e) for e in result.report],
            "entries": [e.to_json() for e in result.report]}


async def info(request):
    types = sorted(TABLES)
    installed = _installed()
    return web.json_response({"types": types, "installed": [t for t in types if t in installed]})


async def convert(request):
    if (request.content_length or 0) > MAX_BODY:
        return web.json_response({"error": f"a workflow of {request.content_length} bytes; at most {MAX_BODY} are "
                                           "converted here (use python -m tools.convert_workflow)"}, status=413)
    try:
        body = await request.json()
        workflow = body["workflow"] if isinstance(body, dict) and "workflow" in body else body
        result = convert_workflow(workflow, available=_installed(), strict=bool(body.get("strict", False))
                                  if isinstance(body, dict) else False)
    except (ValueError, KeyError, TypeError) as e:  # ConversionError, StrictRefused, bad JSON: a ValueError
        return web.json_response({"error": str(e), "report": [str(x) for x in getattr(e, "report", ())]}, status=400)
    return web.json_response(_result_json(result))


def convert_api_prompt(json_data: dict) -> dict:
    """on_prompt handler: an API prompt naming missing convertible node types is converted when that is exact."""
    prompt = json_data.get("prompt") if isinstance(json_data, dict) else None
    if not isinstance(prompt, dict):
        return json_data
    installed = _installed()
    missing = sorted({n["class_type"] for n in prompt.values() if isinstance(n, dict) and
                      isinstance(n.get("class_type"), str) and is_foreign_type(n["class_type"]) and
                      n["class_type"] not in installed})
    if not missing:
        return json_data
    try:
        result = convert_workflow(prompt, available=installed, strict=True)
    except ValueError as e:
        _titled_for_replacement(prompt, installed)
        log.warning("AnimateLCM: this prompt uses %s, which are not installed; it was not converted: %s\n"
                    "Convert it by hand (python -m tools.convert_workflow, or open it in the web UI) to see what "
                    "would differ.", ", ".join(missing), e)
        return json_data
    log.info("AnimateLCM: converted an API prompt using %s to this pack's nodes:\n%s", ", ".join(missing),
             "\n".join(str(e) for e in result.report))
    return {**json_data, "prompt": result.workflow}


def _titled_for_replacement(prompt: dict, installed: set) -> None:
    """The nodes our node replacements will swap get the `_meta` entry the frontend always writes: 0.33's replacement
    step copies it unconditionally, so a hand-written prompt without one would fail with a server error instead of
    being replaced (or reported as missing). Nothing else in the prompt changes."""
    replaced = {r["old_node_id"] for r in REPLACEMENTS} - installed
    for node in prompt.values():
        if isinstance(node, dict) and node.get("class_type") in replaced and not isinstance(node.get("_meta"), dict):
            node["_meta"] = {"title": node["class_type"]}


def _prompt_server():
    """The running server (`PromptServer.instance`, set when main.py builds it), or None."""
    try:
        import server
    except ImportError:
        return None
    return getattr(server.PromptServer, "instance", None)


def register() -> bool:
    """Add the routes and the prompt handler to the running server; False when there is none."""
    server = _prompt_server()
    if server is None:
        return False
    server.routes.get("/animatelcm/convert/info")(info)
    server.routes.post("/animatelcm/convert")(convert)
    server.add_on_prompt_handler(convert_api_prompt)
    return True


async def register_replacements() -> int:
    """The one-to-one replacements (tools/convert/replacements.py) in ComfyUI's node-replacement registry, where the
    release has one and a server runs; returns how many were registered."""
    try:
        from comfy_api.latest import ComfyAPI, io
    except ImportError:
        return 0
    registry = getattr(ComfyAPI(), "node_replacement", None)
    if registry is None or not hasattr(io, "NodeReplace") or _prompt_server() is None:
        return 0
    for entry in REPLACEMENTS:
        await registry.register(io.NodeReplace(**entry))
    return len(REPLACEMENTS)
