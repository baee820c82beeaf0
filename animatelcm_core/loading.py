"""Reading checkpoint files into plain state dicts, safely.

Pickles are read only with `torch.load(weights_only=True)`: a file that would run code is refused, never executed.
"""
import os
import pickle
import zipfile

import torch

from .errors import MotionModelError

PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
SAFETENSORS_SUFFIXES = (".safetensors", ".sft")
SUPPORTED_SUFFIXES = PICKLE_SUFFIXES + SAFETENSORS_SUFFIXES


def load_state_dict(path: str) -> dict[str, torch.Tensor]:
    """Load a `.safetensors` or pickle checkpoint to a flat {key: tensor} dict on the CPU."""
    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise MotionModelError(f"{path}: no such file.")
    if os.path.getsize(path) == 0:
        raise MotionModelError(f"{name}: the file is empty (0 bytes); expected a motion-module checkpoint. "
                               "Download it again.")
    if path.lower().endswith(SAFETENSORS_SUFFIXES):
        sd = _load_safetensors(path, name)
    elif path.lower().endswith(PICKLE_SUFFIXES):
        sd = _load_pickle(path, name)
    else:
        raise MotionModelError(f"{name}: unsupported file type; expected one of {', '.join(SUPPORTED_SUFFIXES)}.")
    return _unwrap(sd, name)


def _load_safetensors(path: str, name: str) -> dict:
    from safetensors.torch import load_file
    try:
        return load_file(path, device="cpu")
    except Exception as e:  # safetensors raises its own error types for truncated or corrupt headers
        raise MotionModelError(f"{name}: not a readable safetensors file ({e}); the file may be truncated "
                               "or incomplete. Download it again.") from e


def _load_pickle(path: str, name: str) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise MotionModelError(
            f"{name}: refused to load: the pickle asks to run code or build objects other than tensors "
            f"({str(e).splitlines()[0] if str(e) else 'unsafe pickle'}). Only plain tensor checkpoints are loaded; "
            "use a .safetensors copy of this file.") from e
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as e:
        raise MotionModelError(f"{name}: cannot read the checkpoint ({type(e).__name__}: {e}); the file may be "
                               "truncated or not a torch checkpoint. Download it again.") from e


def _unwrap(sd, name: str) -> dict[str, torch.Tensor]:
    """Accept a bare dict, a {"state_dict": ...} wrapper, or a dict with one nested dict."""
    if not isinstance(sd, dict):
        raise MotionModelError(f"{name}: the checkpoint holds a {type(sd).__name__}, expected a dict of tensors.")
    if isinstance(sd.get("state_dict"), dict):
        sd = sd["state_dict"]
    elif len(sd) == 1 and isinstance(next(iter(sd.values())), dict):
        sd = next(iter(sd.values()))
    tensors = {k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise MotionModelError(f"{name}: the checkpoint contains no tensors; expected motion-module weights.")
    return tensors
