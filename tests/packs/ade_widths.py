"""(Test-only, run inside the packs tier's ADE worker.) ComfyUI-AnimateDiff-Evolved builds its motion modules at
SD1.5's full widths (320..1280, hard-coded), so it cannot load the reduced-width random files the tests' reduced UNet
takes. `reduce_ade_widths` makes it build each motion model at the widths of the file it loads; full-size files are
unchanged and ADE's math is untouched. Idempotent: every test module that compares with ADE on reduced widths calls
it, whichever runs first."""
import sys

FIRST_NORM = "down_blocks.0.motion_modules.0.temporal_transformer.norm.weight"


def reduce_ade_widths() -> bool:
    """(Runs in the ADE worker; idempotent.) ADE builds a motion model's MotionModule blocks at the widths its file
    has: each block's in_channels divided by 320 / (the file's first block width), 1 for full-size files."""
    module = next(m for name, m in sys.modules.items() if name.endswith("animatediff.motion_module_ad"))
    if getattr(module, "_alcm_file_widths", False):
        return True
    model_init, block_init, divisor = module.AnimateDiffModel.__init__, module.MotionModule.__init__, [1]

    def model_at_file_widths(self, mm_state_dict, *args, **kwargs):
        norm = [v for k, v in mm_state_dict.items() if k.endswith(FIRST_NORM)]
        divisor[0] = 320 // norm[0].shape[0] if norm else 1
        try:
            model_init(self, mm_state_dict, *args, **kwargs)
        finally:
            divisor[0] = 1

    def block_at_file_widths(self, in_channels, *args, **kwargs):
        block_init(self, in_channels // divisor[0], *args, **kwargs)

    module.AnimateDiffModel.__init__ = model_at_file_widths
    module.MotionModule.__init__ = block_at_file_widths
    module._alcm_file_widths = True
    return True
