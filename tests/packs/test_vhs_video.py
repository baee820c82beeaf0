"""VideoHelperSuite around this pack's graphs: Load Video (frame cap, skip, every n-th) in, video-to-video through
an inflated MODEL with context windows, Video Combine (H.264 MP4) out.

The input video's frame k is a flat grey of level 10 + 12 k, so the frames Load Video picked are readable from their
mean; the test checks them, the latent's frame count, and the written file's frames, size and rate.
"""
import glob
import os

import numpy as np
import pytest

import companion_graphs as cg
import companion_models

VIDEO, SOURCE_FRAMES, SOURCE_FPS, VIDEO_SIZE = "alcm_vhs_grey_ramp.mp4", 18, 12, 64
SKIP, NTH, CAP = 2, 3, 5  # frames 2, 5, 8, 11, 14
PICKED = [SKIP + NTH * i for i in range(CAP)]
OUTPUT_FPS, PREFIX = 8, "alcm_vhs_combine"


def grey(k: int) -> int:
    return 10 + 12 * k


def write_grey_ramp(path: str) -> None:
    import av
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=SOURCE_FPS)
        stream.width = stream.height = VIDEO_SIZE
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "0"}
        for k in range(SOURCE_FRAMES):
            frame = np.full((VIDEO_SIZE, VIDEO_SIZE, 3), grey(k), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture(scope="module")
def files(packs, ours):
    write_grey_ramp(os.path.join(packs.input, VIDEO))
    return {"motion": companion_models.write_motion_module(packs.models, seed=41)}


def vhs_graph(files: dict) -> dict:
    g = cg.base_graph("ours", files["motion"], "full", effect=1.0)
    g[cg.MODEL]["inputs"].update(context_length=4, context_overlap=2)  # 5 frames in windows of 4
    g["load"] = {"class_type": "VHS_LoadVideo", "inputs": {
        "video": VIDEO, "force_rate": 0, "custom_width": 0, "custom_height": 0, "frame_load_cap": CAP,
        "skip_first_frames": SKIP, "select_every_nth": NTH, "format": "None"}}
    g["vae"] = {"class_type": "ALCMTest_RandomVAE", "inputs": {"seed": 42}}
    g[cg.LATENT] = {"class_type": "VAEEncode", "inputs": {"pixels": cg.link("load"), "vae": cg.link("vae")}}
    cg.add_sampler(g)
    g[cg.SAMPLED]["inputs"]["denoise"] = 0.6
    g["decode"] = {"class_type": "VAEDecode", "inputs": {"samples": cg.link(cg.SAMPLED), "vae": cg.link("vae")}}
    g["combine"] = {"class_type": "VHS_VideoCombine", "inputs": {
        "images": cg.link("decode"), "frame_rate": OUTPUT_FPS, "loop_count": 0, "filename_prefix": PREFIX,
        "format": "video/h264-mp4", "pingpong": False, "save_output": True, "pix_fmt": "yuv420p", "crf": 19,
        "save_metadata": False, "trim_to_audio": False}}
    g["loaded"] = {"class_type": "ALCMTest_CaptureImage", "inputs": {"value": cg.link("load")}}
    return g


def read_video(path: str):
    import av
    with av.open(path) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        return np.stack(frames), float(stream.average_rate)


def test_load_video_through_windows_to_video_combine(ours, packs, files):
    for old in glob.glob(os.path.join(packs.output, PREFIX + "*")):
        os.remove(old)
    outputs = ours.run(vhs_graph(files))["outputs"]
    loaded = outputs["loaded"][0]
    assert loaded.shape == (CAP, VIDEO_SIZE, VIDEO_SIZE, 3)
    levels = (loaded.mean(dim=(1, 2, 3)) * 255).tolist()
    assert levels == pytest.approx([grey(k) for k in PICKED], abs=2.0), "Load Video picked other frames"
    assert outputs[cg.OUT][0].shape == (CAP, 4, VIDEO_SIZE // 8, VIDEO_SIZE // 8)
    written = sorted(glob.glob(os.path.join(packs.output, PREFIX + "*.mp4")))
    assert len(written) == 1, written
    video, fps = read_video(written[0])
    assert video.shape == (CAP, VIDEO_SIZE, VIDEO_SIZE, 3) and fps == pytest.approx(OUTPUT_FPS)
    assert video.std() > 1.0, "Video Combine wrote flat frames"
