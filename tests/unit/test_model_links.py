"""The model links the shipped UI workflows carry (`properties.models`, what ComfyUI's frontend and the runner's
--download-missing read): every model file a workflow loads is linked, on its own node, to its authors' official
Hugging Face repository, under the name the node loads and the folder ComfyUI loads it from."""
import os
import re
from urllib.parse import urlsplit

import pytest

from tools import model_links
from tools.workflow_api import WORKFLOWS_DIR, load_json, ui_workflow_files

README = os.path.join(os.path.dirname(WORKFLOWS_DIR), "README.md")
# Written from the authors' publications, not from tools/model_links.py: file-name pattern -> official repository
OFFICIAL = [
    (r"^(mm_sd_v1[45](_v2)?|mm_sdxl_v10_beta|v3_sd15_(mm|adapter|sparsectrl_(rgb|scribble))|v2_lora_\w+)\.ckpt$",
     "guoyww/animatediff"),
    (r"^AnimateLCM_sd15_t2v(_lora)?\.(ckpt|safetensors)$", "wangfuyun/AnimateLCM"),
    (r"^AnimateLCM_sd15_i2v(_lora)?\.(ckpt|safetensors)$", "wangfuyun/AnimateLCM-I2V"),
    (r"^control_v11[pef]1?[pe]?_sd15_\w+\.pth$", "lllyasviel/ControlNet-v1-1"),
    (r"^hsxl_temporal_layers(\.f16)?\.safetensors$", "hotshotco/Hotshot-XL"),
    (r"^animatediff_lightning_[1248]step_(comfyui|diffusers)\.safetensors$", "ByteDance/AnimateDiff-Lightning"),
    (r"^sd_xl_base_1\.0\.safetensors$", "stabilityai/stable-diffusion-xl-base-1.0"),
    (r"^v1-5-pruned-emaonly(-fp16)?\.safetensors$", "Comfy-Org/stable-diffusion-v1-5-archive"),
    (r"^ip-adapter[-\w]*_sd15(_[-\w]+)?\.(safetensors|bin)$", "h94/IP-Adapter"),
    (r"^CLIP-ViT-H-14-laion2B-s32B-b79K\.safetensors$", "h94/IP-Adapter"),
]
# Files whose path in the repository is not their name (IPAdapter_plus's README: the SD1.5 adapters sit in models/,
# the ViT-H image encoder is models/image_encoder/model.safetensors saved as CLIP-ViT-H-14-laion2B-s32B-b79K)
REPO_PATHS = {"CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors": "models/image_encoder/model.safetensors"}
REPO_FOLDERS = {"h94/IP-Adapter": "models/"}
# node type -> (widget index, folder) of the model files the shipped workflows' loaders name
LOADERS = {"CheckpointLoaderSimple": [(0, "checkpoints")], "LoraLoaderModelOnly": [(0, "loras")],
           "ControlNetLoader": [(0, "controlnet")], "ALCM_LoadMotionModel": [(0, "animatediff_models")],
           "ALCM_ApplyMotionLoRA": [(0, "animatediff_motion_lora")], "ALCM_LoadSparseCtrl": [(0, "controlnet")],
           "IPAdapterModelLoader": [(0, "ipadapter")], "CLIPVisionLoader": [(0, "clip_vision")]}
MODEL_SUFFIXES = (".safetensors", ".ckpt", ".pth", ".pt", ".bin", ".sft")
WORKFLOWS = ui_workflow_files()


def _official_repo(name: str) -> str | None:
    return next((repo for pattern, repo in OFFICIAL if re.match(pattern, name)), None)


def _user_provided_in_readme() -> set[str]:
    """File names the README's 'files you provide' list names (none today: every shipped file is linked)."""
    text = open(README, encoding="utf-8").read()
    section = text.split("Files you provide", 1)[1].split("\n## ", 1)[0] if "Files you provide" in text else ""
    return set(re.findall(r"`([^`/]+\.(?:safetensors|ckpt|pth|pt|bin))`", section))


@pytest.mark.parametrize("path", WORKFLOWS, ids=os.path.basename)
def test_every_model_file_a_workflow_loads_is_linked_on_its_node(path):
    workflow = load_json(path)
    provided = _user_provided_in_readme()
    checked = 0
    for node in workflow["nodes"]:
        values = node.get("widgets_values") or []
        named = {v for v in values if isinstance(v, str) and v.endswith(MODEL_SUFFIXES)}
        expected = {(values[i], folder) for i, folder in LOADERS.get(node["type"], [])}
        assert named == {v for v, _ in expected}, (node["type"], named)  # no model file outside the known loaders
        entries = (node.get("properties") or {}).get("models", [])
        linked = {(e["name"], e["directory"]) for e in entries}
        assert linked <= expected, f"node {node['id']} links files it does not load: {linked - expected}"
        for name, folder in expected:
            assert (name, folder) in linked or name in provided, \
                f"{os.path.basename(path)} node {node['id']} {node['type']}: {folder}/{name} has no link"
            checked += 1
    assert checked >= 2  # a checkpoint and a motion module at least


@pytest.mark.parametrize("path", WORKFLOWS, ids=os.path.basename)
def test_links_are_https_on_the_official_repository_under_the_loaded_name(path):
    for node in load_json(path)["nodes"]:
        for entry in (node.get("properties") or {}).get("models", []):
            url = urlsplit(entry["url"])
            repo = _official_repo(entry["name"])
            assert repo is not None, f"{entry['name']}: no official source known to this test"
            assert url.scheme == "https" and url.hostname == "huggingface.co" and not url.query, entry["url"]
            path = REPO_PATHS.get(entry["name"], REPO_FOLDERS.get(repo, "") + entry["name"])
            assert url.path == f"/{repo}/resolve/main/{path}", entry["url"]
            if "hash" in entry:
                assert entry["hash_type"] == "SHA256" and re.fullmatch(r"[0-9a-f]{64}", entry["hash"]), entry
            assert set(entry) <= {"name", "url", "directory", "hash", "hash_type"}


def test_the_shipped_checkpoint_is_the_freely_licensed_one():
    for path in WORKFLOWS:
        for node in load_json(path)["nodes"]:
            if node["type"] == "CheckpointLoaderSimple":
                assert node["widgets_values"][0] in ("v1-5-pruned-emaonly-fp16.safetensors",
                                                     "sd_xl_base_1.0.safetensors"), path


def test_links_in_the_workflows_are_the_table_and_api_twins_carry_none():
    assert model_links.main(["--check"]) == 0  # `python -m tools.model_links` would change nothing
    for path in WORKFLOWS:
        api = load_json(os.path.join(WORKFLOWS_DIR, "api", os.path.basename(path)))
        assert all(set(node) <= {"class_type", "inputs", "_meta"} for node in api.values())


def test_same_file_same_hash_and_known_hashes():
    hashes = {}
    for link in model_links.LINKS:
        assert link.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", link.sha256)
        hashes.setdefault(link.name, link.sha256)
        assert hashes[link.name] == link.sha256
    # the two AnimateLCM spatial LoRAs are the same published bytes (the LCM LoRA for SD1.5)
    by_name = {link.name: link for link in model_links.LINKS}
    assert by_name["AnimateLCM_sd15_t2v_lora.safetensors"].sha256 == \
        by_name["AnimateLCM_sd15_i2v_lora.safetensors"].sha256


def test_training_output_name_is_not_a_model_to_load():
    assert model_links.model_folder("ALCM_TrainMotionLoRA", "lora_name") is None
    assert model_links.model_folder("LoraLoader", "lora_name") == "loras"
    assert model_links.model_folder("ALCM_ApplyMotionLoRA", "lora_name") == "animatediff_motion_lora"
