"""V3 node: AnimateLCM-I2V image-to-video."""
from comfy_api.latest import io

from .i2v import I2VSettings, attach_i2v, check_reference_count, encode_image, prepare_reference
from .nodes_motion import CATEGORY, MotionModel, check_percent_range, percent_range_inputs


class ImageToVideo(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ALCM_ImageToVideo", display_name="AnimateLCM I2V Reference", category=CATEGORY,
            description="Animates a still image with AnimateLCM-I2V: the image is encoded once and its features are "
                        "added to the UNet on every step (cond and uncond alike). Connect the MODEL from 'Apply Motion "
                        "Module' with AnimateLCM_sd15_i2v; sample with cfg 1 and 4 steps.",
            inputs=[io.Model.Input("model", tooltip="MODEL inflated with the AnimateLCM-I2V motion module."),
                    MotionModel.Input("motion_model", tooltip="The AnimateLCM-I2V motion module (it carries the image encoder)."),
                    io.Latent.Input("latent", tooltip="The latent you will sample (batch = frames): sets the size and frame count."),
                    io.Image.Input("image", optional=True, tooltip="Reference image (1, or one per frame); resized and "
                                                                    "center-cropped to the latent's size. Needs vae."),
                    io.Vae.Input("vae", optional=True, tooltip="VAE to encode the image."),
                    io.Latent.Input("ref_latent", optional=True, tooltip="Instead of image+vae: an already encoded reference."),
                    io.Float.Input("strength", default=1.0, min=0.0, max=10.0, step=0.01,
                                   tooltip="Multiplies the image features; 0 gives plain text-to-video."),
                    io.Float.Input("motion_scale", default=0.8, min=0.0, max=1.5, step=0.01,
                                   tooltip="Frame-position drift of the features: 0 gives a still video, 0.8 is the "
                                           "official default, larger means more motion but less identity."),
                    *percent_range_inputs("the image reference")],
            outputs=[io.Model.Output(tooltip="The MODEL with the image reference attached.")])

    @classmethod
    def execute(cls, model, motion_model, latent, strength, motion_scale, start_percent, end_percent,
                image=None, vae=None, ref_latent=None):
        check_percent_range(start_percent, end_percent)
        samples = latent["samples"]
        frames, height, width = samples.shape[0], samples.shape[-2], samples.shape[-1]
        if ref_latent is not None:
            raw = ref_latent["samples"]
        elif image is not None and vae is not None:
            check_reference_count(image.shape[0], frames)  # before the (slow) VAE encode
            raw = encode_image(vae, image, height, width)
        else:
            raise ValueError("Connect either image and vae, or ref_latent.")
        ref = model.model.latent_format.process_in(prepare_reference(raw, frames, height, width))
        settings = I2VSettings(strength, motion_scale, start_percent, end_percent)
        return io.NodeOutput(attach_i2v(model, motion_model, ref, settings))


NODES = [ImageToVideo]
