"""Convert AnimateDiff workflows made with other packs to this pack's nodes: ComfyUI-AnimateDiff-Evolved (ADE), the
first ComfyUI AnimateDiff pack (ArtVentureX/comfyui-animatediff) and FizzNodes' batch prompt schedules.

Pure Python over the workflow JSON (UI or API format): no torch, no ComfyUI. Used by the runner, the server route
behind the web UI's "Convert to AnimateLCM nodes", and `python -m tools.convert_workflow`.

    result = convert_workflow(data, available=None, strict=False)
    result.workflow   # same format as `data`
    result.report     # ReportEntry objects: node id, old type, kind, message, option, value
    result.changed
"""
from .core import ConversionResult, convert_workflow, workflow_format
from .report import ConversionError, NotAWorkflow, ReportEntry, StrictRefused, format_report

__all__ = ["ConversionError", "ConversionResult", "NotAWorkflow", "ReportEntry", "StrictRefused", "convert_workflow",
           "format_report", "workflow_format"]
