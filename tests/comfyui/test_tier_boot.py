"""The in-process ComfyUI tier boots ComfyUI as the runner does (tools/comfy_boot.py), which boots it as main.py does:
its PromptServer exists (never serving), so core node modules that register on it load (0.33's node replacements,
which failed to import without it), and every folder ComfyUI writes to is the tier's own, never the host's."""
import os


def _comfyui(host) -> str:
    return os.path.dirname(os.path.abspath(host.nodes.__file__))


def test_the_server_exists_and_core_modules_that_need_it_loaded(host):
    import server
    assert server.PromptServer.instance is not None
    if os.path.isfile(os.path.join(_comfyui(host), "comfy_extras", "nodes_replacements.py")):  # the release has them
        replaced = server.PromptServer.instance.node_replace_manager.as_dict()
        assert "SDV_img2vid_Conditioning" in replaced  # registered by core's comfy_extras/nodes_replacements.py


def test_comfyui_writes_only_into_the_tiers_folders(host):
    import folder_paths
    written = {"output": folder_paths.get_output_directory(), "input": folder_paths.get_input_directory(),
               "temp": folder_paths.get_temp_directory(), "user": folder_paths.get_user_directory(),
               "models": folder_paths.get_folder_paths("animatediff_models")[0]}
    comfyui = os.path.realpath(_comfyui(host))
    inside = {k: v for k, v in written.items() if os.path.commonpath([os.path.realpath(v), comfyui]) == comfyui}
    assert inside == {}
    ours = os.path.realpath(os.path.join(host.models, "animatediff_models"))  # other tests may put caches before it
    assert ours in [os.path.realpath(p) for p in folder_paths.get_folder_paths("animatediff_models")]
