"""Packs tier: this pack next to the packs AnimateDiff users combine it with, and against the leading AnimateDiff
pack (ADE), each in its own ComfyUI worker process (tests/packs/worker.py) so that nothing of one pack leaks into
the other's run, and this process (which may also hold the in-process ComfyUI tier) boots no ComfyUI.

Needs a ComfyUI host (COMFYUI_PATH, as the ComfyUI tier) and the pack snapshots (ALCM_PACKS_DIR or ../shared/packs);
without either, every test here is skipped with the reason (ALCM_REQUIRE_PACKS=1: an error instead, as in CI).

Fixtures (session): `packs` (folders shared by both workers: models/<folder>, input, output; the host's version),
`ours` (worker: a copy of the host with VideoHelperSuite, Advanced-ControlNet, IPAdapter_plus, FizzNodes and KJNodes,
plus THIS pack), `ade` (worker: a copy with the same packs plus ADE, without this pack). Both have the test nodes of
tests/comfyui/comfy_helpers.py; ALCMTest_LatentStats / ALCMTest_CaptureImage / ALCMTest_CaptureMask keep what reaches
them by node id.
"""
import io
import os
import secrets
import subprocess
import sys
from multiprocessing.connection import Listener
from types import SimpleNamespace

import pytest
import torch

from pack_hosts import comfyui_version, pack_host, packs_dir

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
REQUIRE = os.environ.get("ALCM_REQUIRE_PACKS") == "1"
TIMEOUT = float(os.environ.get("ALCM_WORKER_TIMEOUT", "900"))


def _comfyui() -> str | None:
    for path in (os.environ.get("COMFYUI_PATH"), os.path.dirname(os.path.dirname(REPO))):
        if path and os.path.isfile(os.path.join(path, "main.py")) and os.path.isdir(os.path.join(path, "comfy")):
            return os.path.abspath(path)
    return None


COMFYUI = _comfyui()
PACKS = packs_dir()
SKIP_REASON = ("packs tier skipped: " + ("no ComfyUI host (set COMFYUI_PATH)" if COMFYUI is None else
                                         "no pack snapshots (set ALCM_PACKS_DIR or provide ../shared/packs)"))


def pytest_collection_modifyitems(config, items):
    mine = [i for i in items if "tests/packs" in str(i.fspath).replace(os.sep, "/")]
    if mine and (COMFYUI is None or PACKS is None):
        if REQUIRE:
            raise pytest.UsageError("ALCM_REQUIRE_PACKS=1 but " + SKIP_REASON)
        for item in mine:
            item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


class WorkerError(RuntimeError):
    pass


class Worker:
    """One ComfyUI process; `run(prompt)` -> {"outputs": {node_id: [value, ...]}, "messages": [...]}."""

    def __init__(self, name: str, comfyui: str, shared, with_pack: bool):
        self.name, self.comfyui = name, comfyui
        self.log_path = os.path.join(shared.root, f"worker-{name}.log")
        authkey = secrets.token_bytes(16)
        self._listener = Listener(("127.0.0.1", 0), authkey=authkey)
        address = "%s:%d" % self._listener.address
        cmd = [sys.executable, os.path.join(HERE, "worker.py"), "--comfyui", comfyui, "--address", address,
               "--models", shared.models, "--output", shared.output, "--input", shared.input]
        if with_pack:
            cmd.append("--with-pack")
        self._log = open(self.log_path, "w")
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=self._log, stderr=subprocess.STDOUT,
                                      text=True, cwd=comfyui)
        self._proc.stdin.write(authkey.hex() + "\n")
        self._proc.stdin.close()
        self._conn = self._listener.accept()
        self._answer()  # "ready", or the boot error
        self.info = self.request("info")

    def _answer(self):
        if not self._conn.poll(TIMEOUT):
            raise WorkerError(f"worker {self.name}: no answer in {TIMEOUT:.0f} s\n{self.log_tail()}")
        status, value = torch.load(io.BytesIO(self._conn.recv_bytes()), weights_only=False)
        if status != "ok":
            raise WorkerError(f"worker {self.name} ({self.comfyui}):\n{value}\n--- log tail ---\n{self.log_tail()}")
        return value

    def request(self, *request):
        buf = io.BytesIO()
        torch.save(request, buf)
        self._conn.send_bytes(buf.getvalue())
        return self._answer()

    def run(self, prompt: dict) -> dict:
        return self.request("run", prompt)

    def call(self, target: str, *args, **kwargs):
        """Run `path/relative/to/repo.py:function(*args, **kwargs)` inside the worker; returns its value."""
        return self.request("call", target, args, kwargs)

    def node_types(self) -> set[str]:
        return set(self.request("node_types"))

    def free(self) -> None:
        self.request("free")

    def log_tail(self, lines: int = 60) -> str:
        self._log.flush()
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])

    def close(self):
        try:
            self._conn.send_bytes(_dump(("exit",)))
        except OSError:
            pass
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        self._conn.close()
        self._listener.close()
        self._log.close()


def _dump(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


@pytest.fixture(scope="session")
def packs(tmp_path_factory):
    if COMFYUI is None or PACKS is None:
        pytest.skip(SKIP_REASON)
    root = tmp_path_factory.mktemp("packs_tier")
    shared = SimpleNamespace(root=str(root), comfyui=COMFYUI, version=comfyui_version(COMFYUI), dir=PACKS,
                             python=sys.executable)
    for sub in ("models", "input", "output"):
        os.makedirs(os.path.join(root, sub))
        setattr(shared, sub, os.path.join(root, sub))
    from worker import MODEL_FOLDERS
    for folder in MODEL_FOLDERS:
        os.makedirs(os.path.join(shared.models, folder))
    return shared


STARTED: dict[str, Worker] = {}


def _worker(packs, name: str, kind: str, with_pack: bool):
    worker = STARTED[name] = Worker(name, pack_host(COMFYUI, sys.executable, kind), packs, with_pack)
    return worker


@pytest.fixture(scope="session")
def ours(packs):
    """Worker: this pack + VideoHelperSuite, Advanced-ControlNet, IPAdapter_plus, FizzNodes, KJNodes (no ADE)."""
    worker = _worker(packs, "ours", "packs", with_pack=True)
    yield worker
    STARTED.pop("ours", None)
    worker.close()


@pytest.fixture(scope="session")
def ade(packs):
    """Worker: ADE + the same packs, without this pack (the reference)."""
    worker = _worker(packs, "ade", "ade", with_pack=False)
    yield worker
    STARTED.pop("ade", None)
    worker.close()


@pytest.fixture(autouse=True, scope="module")
def _free_workers_after_module():
    """After each test module, the workers unload the models its graphs loaded (memory stays bounded)."""
    yield
    for worker in list(STARTED.values()):
        try:
            worker.free()
        except (WorkerError, OSError, EOFError):  # a worker that died reports it in its own test
            pass
