"""Nothing in nodes/ or __init__.py assigns (or deletes) an attribute of a ComfyUI module or class.

A static check of the source: every name bound to something imported from ComfyUI (a module, or a class or function
taken from one), and every local alias of such a name, is tracked; an attribute assignment, augmented assignment,
deletion or setattr/delattr whose target is rooted at such a name is reported. Instances made by calling a ComfyUI
class (a model patcher clone, a ControlNet copy) are the pack's own objects and may be configured.
"""
import ast
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
HOST_MODULES = {"comfy", "comfy_extras", "comfy_api", "comfy_execution", "comfy_config", "comfy_aimdo", "comfy_kitchen",
                "folder_paths", "nodes", "server", "execution", "latent_preview", "node_helpers", "app", "utils",
                "protocol", "hook_breaker_ac10a0", "cuda_malloc", "main"}


def _root(node: ast.AST) -> str | None:
    """The name at the root of an attribute chain (`a` in a.b.c), or None."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _host_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name.split(".")[0] in HOST_MODULES}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] in HOST_MODULES:
            names |= {a.asname or a.name for a in node.names}
    changed = True
    while changed:  # plain aliases: `sampling = comfy.samplers`
        changed = False
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and isinstance(node.value, (ast.Name, ast.Attribute)) \
                    and _root(node.value) in names:
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id not in names:
                        names.add(target.id)
                        changed = True
    return names


def host_attribute_writes(source: str, filename: str = "<source>") -> list[str]:
    """`file:line: text` of every write to an attribute of a ComfyUI module or class in `source`."""
    tree = ast.parse(source)
    host = _host_names(tree)
    found = []

    def report(node, target):
        if isinstance(target, ast.Attribute) and _root(target) in host:
            found.append(f"{filename}:{node.lineno}: {ast.unparse(node).splitlines()[0]}")

    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.Delete)):
            for target in node.targets:
                for t in (target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]):
                    report(node, t)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            report(node, node.target)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr") \
                and node.args and _root(node.args[0]) in host:
            found.append(f"{filename}:{node.lineno}: {ast.unparse(node)}")
    return found


def pack_glue_files() -> list[pathlib.Path]:
    return sorted((REPO / "nodes").rglob("*.py")) + [REPO / "__init__.py"]


def test_glue_never_assigns_a_comfyui_attribute():
    files = pack_glue_files()
    assert len(files) > 5
    offenders = [line for path in files
                 for line in host_attribute_writes(path.read_text(), str(path.relative_to(REPO)))]
    assert offenders == []


@pytest.mark.parametrize("source", [
    "import comfy.samplers\ncomfy.samplers.sampling_function = lambda *a: None",
    "import comfy.samplers as s\ns.sampling_function = None",
    "from comfy.model_patcher import ModelPatcher\nModelPatcher.clone = None",
    "from comfy import model_management\nmodel_management.cast_to += 1",
    "import folder_paths\nsetattr(folder_paths, 'models_dir', '/x')",
    "import comfy.ops\ndel comfy.ops.manual_cast.Linear",
    "def f():\n    import comfy.ldm.modules.attention as a\n    alias = a.optimized_attention\n    alias.x = 1",
    "import torch, comfy.ops\nx, comfy.ops.disable_weight_init.GroupNorm = 1, 2",
])
def test_checker_finds_host_attribute_writes(source):
    """The check can fail: each of these patches ComfyUI and is reported."""
    assert len(host_attribute_writes(source)) == 1


def test_checker_allows_the_packs_own_objects():
    source = ("import comfy.model_patcher\nimport torch\n"
              "m = comfy.model_patcher.ModelPatcher(torch.nn.Linear(1, 1), None, None).clone()\n"
              "m.model_options['x'] = 1\nc = control.copy()\nc.cond_hint_original = None\n")
    assert host_attribute_writes(source) == []
