"""V3 nodes: train a MotionLoRA inside ComfyUI (training clips, training run)."""
from comfy_api.latest import io

from ..animatelcm_core.lora_train import TrainSettings
from .nodes_motion import CATEGORY, MotionModel
from .train import PRECISIONS, encode_clips, load_videos, lora_path, loss_curve_image, train

TrainingDataType = io.Custom("ALCM_TRAINING_DATA")


class TrainingClips(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_TrainingClips", display_name="MotionLoRA Training Clips", category=CATEGORY + "/training",
            description="Training data for 'Train MotionLoRA': videos from a folder in ComfyUI's input folder (and/or "
                        "an IMAGE batch, e.g. from Load Video), cut into clips of `frames` frames, resized and "
                        "center-cropped, VAE-encoded once; each video's caption is a same-named .txt beside it, "
                        "else the caption below.",
            inputs=[io.Vae.Input("vae", tooltip="The VAE of the checkpoint you train on."),
                    io.Clip.Input("clip", tooltip="The CLIP of that checkpoint (encodes the captions)."),
                    io.String.Input("folder", default="motion_videos",
                                    tooltip="Folder inside ComfyUI's input folder with the videos (.mp4, .webm, "
                                            ".mov, .mkv, .avi, .gif). Empty: only the images input."),
                    io.String.Input("caption", default="", multiline=True,
                                    tooltip="Caption of every video without its own .txt."),
                    io.Int.Input("frames", default=16, min=2, max=32, tooltip="Frames per clip (16 as AnimateDiff)."),
                    io.Int.Input("stride", default=1, min=1, max=8, tooltip="Take every n-th frame of the video."),
                    io.Int.Input("width", default=256, min=64, max=1024, step=64, tooltip="Training width (pixels)."),
                    io.Int.Input("height", default=256, min=64, max=1024, step=64, tooltip="Training height."),
                    io.Int.Input("max_clips", default=0, min=0, max=100000,
                                 tooltip="0: every clip the videos hold; else that many clips, sampled by seed."),
                    io.Int.Input("seed", default=0, min=0, max=0xffffffffffffffff, tooltip="Seed of clip sampling."),
                    io.Image.Input("images", optional=True, tooltip="One more video as an IMAGE batch (frames).")],
            outputs=[TrainingDataType.Output(display_name="training_data", tooltip="Clip latents and captions.")])

    @classmethod
    def execute(cls, vae, clip, folder, caption, frames, stride, width, height, max_clips, seed, images=None):
        videos, captions, names = load_videos(folder.strip(), images, caption)
        return io.NodeOutput(encode_clips(vae, clip, videos, captions, names, width // 8 * 8, height // 8 * 8,
                                          frames, stride, max_clips, seed))


class TrainMotionLoRA(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_TrainMotionLoRA", display_name="Train MotionLoRA", category=CATEGORY + "/training",
            description="Trains a MotionLoRA (LoRA on the motion module's temporal attention, as the published "
                        "MotionLoRAs) on training clips with the noise-prediction loss; the spatial UNet and the "
                        "motion module stay frozen and unchanged. Saves models/animatediff_motion_lora/<lora_name>"
                        ".safetensors when done (nothing if interrupted) and returns the motion module with it.",
            inputs=[io.Model.Input("model", tooltip="SD1.5 MODEL (any checkpoint; its LoRAs count)."),
                    MotionModel.Input("motion_model", tooltip="The SD1.5 motion module to train a LoRA for (v2 as "
                                                              "the published MotionLoRAs)."),
                    TrainingDataType.Input("training_data", tooltip="From 'MotionLoRA Training Clips'."),
                    io.String.Input("lora_name", default="my_motion_lora",
                                    tooltip="File name in models/animatediff_motion_lora (.safetensors added)."),
                    io.Int.Input("rank", default=64, min=1, max=256, tooltip="LoRA rank (64 as published)."),
                    io.Float.Input("learning_rate", default=1e-4, min=1e-7, max=1e-1, step=1e-5,
                                   tooltip="AdamW learning rate."),
                    io.Int.Input("steps", default=2000, min=1, max=100000, tooltip="Training steps (about 2000)."),
                    io.Int.Input("batch_size", default=1, min=1, max=64, tooltip="Clips per step."),
                    io.Int.Input("seed", default=0, min=0, max=0xffffffffffffffff,
                                 tooltip="Seed of the LoRA init, clip order, timesteps and noise."),
                    io.Boolean.Input("gradient_checkpointing", default=True,
                                     tooltip="Recompute activations in the backward pass: much less memory, ~30% "
                                             "slower."),
                    io.Combo.Input("precision", options=list(PRECISIONS), default="fp32",
                                   tooltip="Mixed precision of the forward pass (bf16/fp16 on a GPU); the LoRA "
                                           "weights stay fp32."),
                    io.Boolean.Input("overwrite", default=False, tooltip="Replace an existing file of that name.")],
            outputs=[MotionModel.Output(display_name="motion_model", tooltip="The motion module with the trained "
                                                                             "LoRA (strength 1)."),
                     io.Image.Output(display_name="loss_curve", tooltip="Loss per step.")],
            hidden=[io.Hidden.unique_id])

    @classmethod
    def execute(cls, model, motion_model, training_data, lora_name, rank, learning_rate, steps, batch_size, seed,
                gradient_checkpointing, precision, overwrite):
        path = lora_path(lora_name.strip(), overwrite)  # before any work
        settings = TrainSettings(rank=rank, learning_rate=learning_rate, steps=steps, batch_size=batch_size,
                                 seed=seed, gradient_checkpointing=gradient_checkpointing)
        handle, losses = train(model, motion_model, training_data, settings, path, precision,
                               node_id=cls.hidden.unique_id)
        return io.NodeOutput(handle, loss_curve_image(losses))


NODES = [TrainingClips, TrainMotionLoRA]
