"""ADE's names for beta schedules and fuse methods, in this pack's terms.

The beta-schedule table lives in animatelcm_core/schedule_names.py (the nodes use it too); it is read from its file,
so the converter never imports the torch core.
"""
import importlib.util
import os

_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                     "animatelcm_core", "schedule_names.py")


def _load_schedule_names():
    spec = importlib.util.spec_from_file_location("_alcm_schedule_names", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_NAMES = _load_schedule_names()
AUTO, AUTO_ADE, KEEP = _NAMES.AUTO, _NAMES.AUTO_ADE, _NAMES.KEEP
ADE_BETA_NAMES = dict(_NAMES.ADE_BETA_NAMES)
OLD_BETA_NAMES = {"linear (default)": "linear (HotshotXL/default)",  # ADE before 2023-11
                  "autoselect (override patch)": "autoselect", "autoselect (prefer patch)": "autoselect"}  # 2024-01


def ade_beta_name(name: str) -> str:
    """ADE's current name for a beta schedule name of any ADE release."""
    return OLD_BETA_NAMES.get(name, name)


def fuse_name(name: str) -> str:
    """ADE fuse method -> this pack's: the experimental ones lose ADE's 🔬 marker."""
    return name.replace("🔬", "") if isinstance(name, str) else name
