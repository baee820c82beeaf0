"""One-to-one node replacements for ComfyUI's node-replacement registry (0.33 and later: the frontend offers them
in its missing-nodes panel and the server applies them to API prompts itself).

Only nodes whose replacement is exact on its own belong here: core-typed inputs and outputs, every value carried
over, nothing else in the graph to change. The leading AnimateDiff pack's motion-model, context and sample-settings
nodes pass objects between each other (M_MODELS, CONTEXT_OPTIONS, ...) and become chains of this pack's MODEL nodes:
they need the whole-graph converter (tools/convert), not a node-for-node swap. Plain data (no ComfyUI imports); the
pack registers these where the host has the registry (nodes/convert_routes.py).
"""

REPLACEMENTS = (
    # ADE's big-batch empty latent: the same latent as ComfyUI's own (batch = frames)
    {"old_node_id": "ADE_EmptyLatentImageLarge", "new_node_id": "EmptyLatentImage",
     "old_widget_ids": ["width", "height", "batch_size"],
     "input_mapping": [{"new_id": "width", "old_id": "width"}, {"new_id": "height", "old_id": "height"},
                       {"new_id": "batch_size", "old_id": "batch_size"}],
     "output_mapping": [{"new_idx": 0, "old_idx": 0}]},
)
