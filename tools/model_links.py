"""Where each model file of the shipped workflows comes from, and the `properties.models` links the workflows carry.

ComfyUI's frontend reads, on each node of a UI workflow, `properties.models`: a list of
`{"name", "url", "directory"[, "hash", "hash_type"]}` entries. When a named file is not in the model folder
`directory`, its missing-models report offers the URL for download. The runner's `--download-missing` reads the
same entries (tools/download.py).

`LINKS` is the one table of official sources: the file's authors' Hugging Face repository, the SHA-256 where the
source publishes it (the hash Hugging Face shows for the file's LFS object). `python -m tools.model_links` writes
the entries into every UI workflow in workflows/ (`--check`: only report what is out of date). The API twins carry
no links (the API format has no node properties).
"""
import argparse
import copy
import os
import sys
from dataclasses import dataclass

from tools.workflow_api import WIDGETS, WORKFLOWS_DIR, dump_json, load_json, ui_workflow_files, update_files

HUGGING_FACE = "https://huggingface.co"

# (node type, input) -> model folder, where the input name alone does not tell
MODEL_INPUTS = {
    ("ALCM_LoadMotionModel", "model_name"): "animatediff_models",
    ("ALCM_ApplyMotionLoRA", "lora_name"): "animatediff_motion_lora",
    ("ALCM_LoadSparseCtrl", "sparsectrl_name"): "controlnet",
    ("UpscaleModelLoader", "model_name"): "upscale_models",
    ("CLIPVisionLoader", "clip_name"): "clip_vision",
    ("IPAdapterModelLoader", "ipadapter_file"): "ipadapter",
    ("CLIPLoader", "clip_name"): "text_encoders",
    ("DualCLIPLoader", "clip_name1"): "text_encoders",
    ("DualCLIPLoader", "clip_name2"): "text_encoders",
    ("UNETLoader", "unet_name"): "diffusion_models",
}
# input name -> model folder, for any other node
MODEL_INPUT_NAMES = {"ckpt_name": "checkpoints", "lora_name": "loras", "control_net_name": "controlnet",
                     "vae_name": "vae"}
# inputs with a model-file input's name that name a file to write, not one to load
OUTPUT_NAME_INPUTS = {("ALCM_TrainMotionLoRA", "lora_name")}


def model_folder(node_type: str, input_name: str) -> str | None:
    """The ComfyUI model folder a node input loads from, or None when the input is not a model file."""
    if (node_type, input_name) in OUTPUT_NAME_INPUTS:
        return None
    return MODEL_INPUTS.get((node_type, input_name)) or MODEL_INPUT_NAMES.get(input_name)


@dataclass(frozen=True)
class ModelLink:
    name: str
    directory: str
    repo: str  # owner/name on Hugging Face
    sha256: str | None = None  # None: the source publishes no hash we could confirm
    path: str | None = None  # the file's path in the repository, where it differs from `name` (the name it loads as)

    @property
    def url(self) -> str:
        return f"{HUGGING_FACE}/{self.repo}/resolve/main/{self.path or self.name}"

    def entry(self) -> dict:
        out = {"name": self.name, "url": self.url, "directory": self.directory}
        if self.sha256:
            out.update(hash=self.sha256, hash_type="SHA256")
        return out


LINKS = (
    # a freely licensed SD1.5 checkpoint (CreativeML OpenRAIL-M), the one ComfyUI's own templates link
    ModelLink("v1-5-pruned-emaonly-fp16.safetensors", "checkpoints", "Comfy-Org/stable-diffusion-v1-5-archive",
              "e9476a13728cd75d8279f6ec8bad753a66a1957ca375a1464dc63b37db6e3916"),
    ModelLink("sd_xl_base_1.0.safetensors", "checkpoints", "stabilityai/stable-diffusion-xl-base-1.0",
              "31e35c80fc4829d14f90153f4c74cd59c90b779f6afe05a74cd6120b893f7e5b"),
    ModelLink("mm_sd_v15_v2.ckpt", "animatediff_models", "guoyww/animatediff",
              "69ed0f5fef82b110aca51bcab73b21104242bc65d6ab4b8b2a2a94d31cad1bf0"),
    ModelLink("mm_sdxl_v10_beta.ckpt", "animatediff_models", "guoyww/animatediff",
              "fa4950a062e892fca50d4c441fcd6130d1ad68a621a0404d155be17580072978"),
    ModelLink("v2_lora_ZoomIn.ckpt", "animatediff_motion_lora", "guoyww/animatediff",
              "70ce8b9057b173b9249c48aca5d66c8aa1d8aaa040fda394e50e37f3e278195e"),
    ModelLink("v2_lora_PanLeft.ckpt", "animatediff_motion_lora", "guoyww/animatediff",
              "ed79025f8bea018c8925f43b6304a27e462335b6ec5e6f8a222c2726153844b3"),
    ModelLink("AnimateLCM_sd15_t2v.ckpt", "animatediff_models", "wangfuyun/AnimateLCM",
              "b46c3de62e5696af72c4056e3cdcbea12fbc19581c0aad7b6f2b027851148f5f"),
    ModelLink("AnimateLCM_sd15_t2v_lora.safetensors", "loras", "wangfuyun/AnimateLCM",
              "8f90d840e075ff588a58e22c6586e2ae9a6f7922996ee6649a7f01072333afe4"),
    ModelLink("AnimateLCM_sd15_i2v.ckpt", "animatediff_models", "wangfuyun/AnimateLCM-I2V",
              "c1e7081d294079ff24d12493cb8a5f2412653e66f111e26182b14ee66992e510"),
    ModelLink("AnimateLCM_sd15_i2v_lora.safetensors", "loras", "wangfuyun/AnimateLCM-I2V",
              "8f90d840e075ff588a58e22c6586e2ae9a6f7922996ee6649a7f01072333afe4"),
    # AnimateDiff v3 (SHA-256 of the LFS objects of guoyww/animatediff's current files, commit fdfe36a)
    ModelLink("v3_sd15_mm.ckpt", "animatediff_models", "guoyww/animatediff",
              "2412711886f61091846f53204aabc38aa6e09356d62a9808abe4daa802168343"),
    ModelLink("v3_sd15_adapter.ckpt", "loras", "guoyww/animatediff",
              "fd2d8e26480f6ab013c1e6af86fdf1dedbb1ed5baf850ccd5f365f39d6c3472c"),
    ModelLink("v3_sd15_sparsectrl_rgb.ckpt", "controlnet", "guoyww/animatediff",
              "c93f27a3cd15edf99bbddf4522509f2e831f515cc7db9c820d955037ddafbe45"),
    ModelLink("control_v11p_sd15_openpose.pth", "controlnet", "lllyasviel/ControlNet-v1-1",
              "db97becd92cd19aff71352a60e93c2508decba3dee64f01f686727b9b406a9dd"),
    ModelLink("hsxl_temporal_layers.f16.safetensors", "animatediff_models", "hotshotco/Hotshot-XL",
              "b46ce6b4ec297b21e508b8888135f65b5a07aa76d755cc086dc5ee804064bb1c"),
    ModelLink("animatediff_lightning_4step_comfyui.safetensors", "animatediff_models",
              "ByteDance/AnimateDiff-Lightning",
              "aeb66ae8ff4a868d31379c3bde3e5e7e510a4d4b565a06ee4f1297e93a561dc5"),
    # IPAdapter_plus (animatelcm_ipadapter.json): h94's SD1.5 adapter and the ViT-H image encoder it was trained
    # with, which IPAdapter_plus's README has saved under the open_clip model's name
    ModelLink("ip-adapter_sd15.safetensors", "ipadapter", "h94/IP-Adapter",
              "289b45f16d043d0bf542e45831f971dcdaabe18b656f11e86d9dfba7e9ee3369",
              path="models/ip-adapter_sd15.safetensors"),
    ModelLink("CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors", "clip_vision", "h94/IP-Adapter",
              "6ca9667da1ca9e0b0f75e46bb030f7e011f44f86cbfb8d5a36590fcd7507b030",
              path="models/image_encoder/model.safetensors"),
)
BY_FILE = {(link.directory, link.name): link for link in LINKS}


def model_widgets(node: dict, widgets=WIDGETS.get) -> list[tuple[str, str, str]]:
    """(input name, folder, file name) for each model file a UI node's widgets name."""
    names = widgets(node["type"]) or []
    values = node.get("widgets_values") if isinstance(node.get("widgets_values"), list) else []
    out = []
    for name, value in zip(names, values):
        folder = model_folder(node["type"], name)
        if folder and isinstance(value, str) and value:
            out.append((name, folder, value))
    return out


def with_links(workflow: dict, widgets=WIDGETS.get) -> tuple[dict, list[str]]:
    """A copy of a UI workflow whose loader nodes carry the `properties.models` entries of the files they load,
    and the files that have no entry in LINKS (`folder/name`)."""
    out = copy.deepcopy(workflow)
    unlinked = []
    for node in out["nodes"]:
        entries = []
        for _, folder, value in model_widgets(node, widgets):
            link = BY_FILE.get((folder, value))
            if link is None:
                unlinked.append(f"{folder}/{value}")
            else:
                entries.append(link.entry())
        props = node.setdefault("properties", {})
        if entries:
            props["models"] = entries
        else:
            props.pop("models", None)
    return out, unlinked


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.model_links", description=(
        "Write the official download links (properties.models) into the loader nodes of the UI workflows."))
    parser.add_argument("--check", action="store_true", help="only report workflows whose links are out of date")
    parser.add_argument("--folder", default=WORKFLOWS_DIR, help="folder of UI workflows (default: %(default)s)")
    args = parser.parse_args(argv)
    texts = {}
    for path in ui_workflow_files(args.folder):
        workflow, unlinked = with_links(load_json(path))
        for f in unlinked:
            print(f"{os.path.relpath(path)}: no link for {f} (the user provides it)", file=sys.stderr)
        texts[path] = dump_json(workflow)
    return update_files(texts, args.check)


if __name__ == "__main__":
    sys.exit(main())
