"""Pure-torch core of the AnimateLCM ComfyUI pack: motion modules, MotionLoRA, LCM schedules, context windows.

Never imports ComfyUI.
"""
from .build import build_motion_model, load_motion_model, motion_model_from_state_dict
from .config import MotionModuleConfig, detect_config
from .errors import ContextOptionsError, MotionModelError
from .motion_lora import MotionLoRA, load_motion_lora, merge_loras, unmerge
from .motion_module import MotionModel, MotionModule

__all__ = ["MotionModuleConfig", "detect_config", "MotionModel", "MotionModule", "build_motion_model",
           "load_motion_model", "motion_model_from_state_dict", "MotionLoRA", "load_motion_lora", "merge_loras",
           "unmerge", "MotionModelError", "ContextOptionsError"]
