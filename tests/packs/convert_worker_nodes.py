"""Run inside the packs tier's workers for tests/packs/test_convert_parity.py (imports ComfyUI, nothing of this
repository): a tiny CLIP test node, and the live definitions of node types."""
import torch


def register_tiny_clip():
    """A CLIP text encoder at the test UNet's width (64), seeded random weights, ComfyUI's SD1 tokenizer."""
    import comfy.sd
    import comfy.sd1_clip
    import nodes

    config = {"hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 2, "num_hidden_layers": 2,
              "max_position_embeddings": 77, "vocab_size": 49408, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5,
              "bos_token_id": 0, "eos_token_id": 49407, "pad_token_id": 1, "projection_dim": 64}

    class Target:
        params = {"clip_model": comfy.sd1_clip.SDClipModel, "textmodel_json_config": config}
        clip = comfy.sd1_clip.SD1ClipModel
        tokenizer = comfy.sd1_clip.SD1Tokenizer

    def _fill(key):  # norms near 1; the final norm x4: embeddings large enough for prompts to act visibly
        if "norm" in key and key.endswith("weight"):
            return 4.0 if "final_layer_norm" in key else 1.0
        return 0.0

    class TinyCLIP:
        CATEGORY, FUNCTION, RETURN_TYPES = "testing", "make", ("CLIP",)

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"seed": ("INT", {"default": 0})}}

        def make(self, seed):
            clip = comfy.sd.CLIP(Target())
            g = torch.Generator().manual_seed(seed)
            sd = {k: _fill(k) + 0.1 * torch.randn(v.shape, generator=g) if v.is_floating_point() else v
                  for k, v in clip.cond_stage_model.state_dict().items()}
            clip.cond_stage_model.load_state_dict(sd)
            return (clip,)

    nodes.NODE_CLASS_MAPPINGS["ALCMTest_TinyCLIP"] = TinyCLIP
    return True


def live_definitions(types):
    """/object_info-style definitions (as the server gives them: through JSON, so plain types; 0.3.64's V3 info holds
    str subclasses of comfy_api) of the registered node types among `types`."""
    import json

    import nodes
    out = {}
    for name in types:
        cls = nodes.NODE_CLASS_MAPPINGS.get(name)
        if cls is None:
            continue
        if hasattr(cls, "GET_NODE_INFO_V1"):
            out[name] = cls.GET_NODE_INFO_V1()
            continue
        inputs = cls.INPUT_TYPES()
        out[name] = {"input": inputs, "input_order": {k: list(v) for k, v in inputs.items()},
                     "output": list(cls.RETURN_TYPES),
                     "output_name": list(getattr(cls, "RETURN_NAMES", None) or cls.RETURN_TYPES)}
    return json.loads(json.dumps(out))
