"""tools/download.py against a local HTTPS server on the loopback interface (random files): a file arrives whole
under its name or not at all, hashes are checked, only https is followed, nothing lands outside the model folder,
an existing file is never touched. (The runner's --download-missing end to end: tests/comfyui/test_download_missing.py.)
"""
import hashlib
import os

import pytest

from https_server import HttpsServer
from tools import download as dl

FILES = {"motion.ckpt": os.urandom(3 * dl.CHUNK + 12345), "lora.safetensors": os.urandom(777)}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = HttpsServer(str(tmp_path_factory.mktemp("cert")), FILES)
    yield s
    s.close()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _get(server, folder, name, kind="files", sha=None, dest_name=None):
    dest = os.path.join(folder, dest_name or name)
    return dest, dl.download(server.url(name, kind), dest, sha, quiet=True, context=server.client_context())


def test_fetches_whole_file_under_its_name_with_the_hash_checked(server, tmp_path):
    data = FILES["motion.ckpt"]
    dest, size = _get(server, tmp_path, "motion.ckpt", sha=_sha(data).upper())  # hex case does not matter
    assert size == len(data) and open(dest, "rb").read() == data
    assert os.listdir(tmp_path) == ["motion.ckpt"]  # no temporary file left
    assert os.stat(dest).st_mode & 0o044 == 0o044  # readable by the other users of a shared ComfyUI


def test_wrong_hash_fails_naming_both_and_leaves_nothing(server, tmp_path):
    wrong = "0" * 64
    with pytest.raises(dl.DownloadError) as e:
        _get(server, tmp_path, "lora.safetensors", sha=wrong)
    assert wrong in str(e.value) and _sha(FILES["lora.safetensors"]) in str(e.value)
    assert "lora.safetensors" in str(e.value) and "removed" in str(e.value)
    assert os.listdir(tmp_path) == []


def test_connection_dropped_mid_file_leaves_nothing(server, tmp_path):
    with pytest.raises(dl.DownloadError, match="broke off"):
        _get(server, tmp_path, "motion.ckpt", kind="drop")
    assert os.listdir(tmp_path) == []


def test_interrupt_mid_file_leaves_nothing(server, tmp_path, monkeypatch):
    real = dl._stream

    def interrupted(response, out, digest, bar, url):
        out.write(response.read(1000))
        raise KeyboardInterrupt
    monkeypatch.setattr(dl, "_stream", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _get(server, tmp_path, "motion.ckpt")
    assert os.listdir(tmp_path) == []
    monkeypatch.setattr(dl, "_stream", real)


def test_http_errors_name_status_and_url(server, tmp_path):
    url = server.url("nothing-here.ckpt")
    with pytest.raises(dl.DownloadError, match=r"HTTP 404 .*" + url.replace(".", r"\.")):
        dl.download(url, os.path.join(tmp_path, "x.ckpt"), quiet=True, context=server.client_context())
    assert os.listdir(tmp_path) == []


def test_only_https_redirects_included(server, tmp_path):
    before = len(server.requests)
    for url in (server.url("lora.safetensors").replace("https:", "http:"), "file:///etc/passwd",
                "ftp://127.0.0.1/x", "//127.0.0.1/x", "https:///nohost"):
        with pytest.raises(dl.DownloadError, match="only https"):
            dl.download(url, os.path.join(tmp_path, "x"), quiet=True, context=server.client_context())
    assert len(server.requests) == before  # refused before any connection
    with pytest.raises(dl.DownloadError, match="redirects to http://.*only https"):
        _get(server, tmp_path, "lora.safetensors", kind="to-http")
    assert os.listdir(tmp_path) == []


def test_untrusted_certificate_is_refused(server, tmp_path):
    with pytest.raises(dl.DownloadError, match="CERTIFICATE_VERIFY_FAILED|certificate"):
        dl.download(server.url("lora.safetensors"), os.path.join(tmp_path, "x"), quiet=True)
    assert os.listdir(tmp_path) == []


def test_existing_file_is_never_touched(server, tmp_path):
    dest = tmp_path / "lora.safetensors"
    dest.write_bytes(b"mine")
    before = len(server.requests)
    with pytest.raises(dl.DownloadError, match="already exists: not overwritten"):
        _get(server, tmp_path, "lora.safetensors")
    assert dest.read_bytes() == b"mine" and len(server.requests) == before
    broken = tmp_path / "link.ckpt"  # a dangling symlink is an existing entry too
    os.symlink(tmp_path / "nowhere", broken)
    with pytest.raises(dl.DownloadError, match="already exists"):
        _get(server, tmp_path, "motion.ckpt", dest_name="link.ckpt")
    assert os.path.islink(broken) and sorted(os.listdir(tmp_path)) == ["link.ckpt", "lora.safetensors"]


def test_a_file_appearing_during_the_download_is_kept(server, tmp_path, monkeypatch):
    real = dl._stream

    def racing(response, out, digest, bar, url):
        (tmp_path / "lora.safetensors").write_bytes(b"theirs")
        return real(response, out, digest, bar, url)
    monkeypatch.setattr(dl, "_stream", racing)
    with pytest.raises(dl.DownloadError, match="appeared during the download: not overwritten"):
        _get(server, tmp_path, "lora.safetensors")
    assert os.listdir(tmp_path) == ["lora.safetensors"] and (tmp_path / "lora.safetensors").read_bytes() == b"theirs"


@pytest.mark.parametrize("name", ["../evil.ckpt", "/etc/cron.d/evil", "a/../../evil.ckpt", "..", "", ".",
                                  "sub/./x.ckpt", "a//b.ckpt", "..\\evil.ckpt", "C:\\evil.ckpt", "x\0.ckpt"])
def test_hostile_names_are_refused(tmp_path, name):
    with pytest.raises(dl.DownloadError, match="refused file name"):
        dl.target_path(str(tmp_path), name)


def test_symlink_escape_is_refused_and_subfolders_inside_are_fine(tmp_path):
    models, outside = tmp_path / "models", tmp_path / "outside"
    models.mkdir()
    outside.mkdir()
    os.symlink(outside, models / "escape")
    with pytest.raises(dl.DownloadError, match="outside the model folder"):
        dl.target_path(str(models), "escape/evil.ckpt")
    assert dl.target_path(str(models), "SD1.5/x.safetensors") == os.path.join(os.path.realpath(models), "SD1.5",
                                                                             "x.safetensors")
    linked_root = tmp_path / "linked_models"  # the model folder itself may be a link (models on another disk)
    os.symlink(models, linked_root)
    assert dl.target_path(str(linked_root), "x.ckpt") == os.path.join(os.path.realpath(models), "x.ckpt")


def test_links_are_read_from_nodes_and_the_workflow_and_hashes_checked():
    workflow = {"models": [{"name": "a.ckpt", "url": "https://h/a.ckpt", "directory": "checkpoints"}],
                "nodes": [{"id": 1, "properties": {"models": [
                    {"name": "b.ckpt", "url": "https://h/b.ckpt", "directory": "loras", "hash": "ab" * 32,
                     "hash_type": "SHA256"}, "not an entry", {"name": 3}]}}, {"id": 2}]}
    links = dl.workflow_links(workflow)
    assert set(links) == {("checkpoints", "a.ckpt"), ("loras", "b.ckpt")}
    assert dl.expected_sha256(links[("loras", "b.ckpt")]) == "ab" * 32
    assert dl.expected_sha256(links[("checkpoints", "a.ckpt")]) is None
    for bad in ({"hash": "zz" * 32}, {"hash": "ab" * 16}, {"hash": "ab" * 32, "hash_type": "MD5"}):
        with pytest.raises(dl.DownloadError, match="not a SHA-256"):
            dl.expected_sha256({"name": "x", **bad})
