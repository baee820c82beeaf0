"""Fetch a workflow's missing model files from its own links (`properties.models`, see tools/model_links.py).

Rules, each checked before a byte is written:
- https only, redirects included;
- the file goes into a ComfyUI model folder, under the name the node loads: no absolute names, no `..`, nothing
  that resolves (symlinks included) outside that folder;
- an existing file is never touched.
The bytes go to a temporary file in the same folder, hashed as they arrive; the file appears under its real name
only when complete (the length the server announced) and, where the link gives one, with the right SHA-256. An
error or an interrupt removes the temporary file.
"""
import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
from urllib.parse import urlsplit

CHUNK = 1 << 20
TIMEOUT_S = 60  # per connection attempt and per read


class DownloadError(Exception):
    pass


def workflow_links(workflow: dict) -> dict[tuple[str, str], dict]:
    """{(directory, name): entry} from a UI workflow's node `properties.models` and its top-level `models` list."""
    entries = list(workflow.get("models") or []) if isinstance(workflow.get("models"), list) else []
    for node in workflow.get("nodes") or []:
        models = (node.get("properties") or {}).get("models") if isinstance(node, dict) else None
        if isinstance(models, list):
            entries.extend(models)
    out = {}
    for e in entries:
        if isinstance(e, dict) and isinstance(e.get("name"), str) and isinstance(e.get("directory"), str):
            out.setdefault((e["directory"], e["name"]), e)
    return out


def check_https(url) -> str:
    if not isinstance(url, str) or urlsplit(url).scheme != "https" or not urlsplit(url).hostname:
        raise DownloadError(f"refused to download from {url!r}: only https:// URLs are allowed")
    return url


def expected_sha256(entry: dict) -> str | None:
    value, kind = entry.get("hash"), str(entry.get("hash_type", "SHA256")).upper().replace("-", "")
    if not value:
        return None
    if kind != "SHA256" or not isinstance(value, str) or len(value) != 64 or \
            any(c not in "0123456789abcdef" for c in value.lower()):
        raise DownloadError(f"link for {entry.get('name')}: hash {value!r} ({entry.get('hash_type')}) is not a "
                            "SHA-256 (64 hex digits)")
    return value.lower()


def target_path(folder: str, name: str) -> str:
    """Where `name` goes in the model folder `folder`; refuses any name that would land outside it."""
    parts = name.replace("\\", "/").split("/") if isinstance(name, str) else [""]
    if not name or os.path.isabs(name) or "\0" in name or any(p in ("", ".", "..") or ":" in p for p in parts):
        raise DownloadError(f"refused file name {name!r}: expected a file name inside the model folder {folder} "
                            "(no absolute path, no drive, no '..')")
    root = os.path.realpath(folder)
    path = os.path.join(root, *parts)
    if os.path.commonpath([root, os.path.realpath(path)]) != root:
        raise DownloadError(f"refused file name {name!r}: it resolves to {os.path.realpath(path)}, outside the "
                            f"model folder {root}")
    return path


class _HttpsRedirectsOnly(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urlsplit(newurl).scheme != "https":
            raise DownloadError(f"{req.full_url} redirects to {newurl}: refused, only https:// downloads are allowed")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _open(url: str, context=None):
    handlers = [_HttpsRedirectsOnly()]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(url, headers={"User-Agent": "comfyui-animatelcm-runner"})
    try:
        return opener.open(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as e:
        raise DownloadError(f"HTTP {e.code} {e.reason} from {e.url or url}") from None
    except urllib.error.URLError as e:
        if isinstance(e.reason, DownloadError):
            raise e.reason from None
        raise DownloadError(f"cannot download {url}: {e.reason}") from None


def _progress(total: int | None, name: str, quiet: bool):
    from tqdm import tqdm
    return tqdm(total=total, desc=f"  {name}", unit="B", unit_scale=True, unit_divisor=1024, leave=True,
                file=sys.stderr, dynamic_ncols=True, disable=quiet)


def _stream(response, out, digest, bar, url: str) -> int:
    received = 0
    try:
        while True:
            chunk = response.read(CHUNK)
            if not chunk:
                break
            out.write(chunk)
            digest.update(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    except (OSError, http.client.HTTPException) as e:  # a reset connection, a short chunked body
        raise DownloadError(f"the download from {url} broke off after {received} bytes: {e}") from None
    return received


def download(url: str, dest: str, sha256: str | None = None, quiet: bool = False, context=None) -> int:
    """Download `url` to the file `dest` (whose folder exists), never overwriting; returns its size in bytes."""
    check_https(url)
    if os.path.lexists(dest):
        raise DownloadError(f"{dest} already exists: not overwritten")
    name = os.path.basename(dest)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=os.path.dirname(dest))
    try:
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the model from other users of a shared ComfyUI
        with os.fdopen(fd, "wb") as out, _open(url, context) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            digest = hashlib.sha256()
            with _progress(total, name, quiet) as bar:
                received = _stream(response, out, digest, bar, url)
        if total is not None and received != total:
            raise DownloadError(f"the download from {url} broke off: {received} of {total} bytes")
        found = digest.hexdigest()
        if sha256 and found != sha256.lower():
            raise DownloadError(f"SHA-256 mismatch for {name} from {url}: expected {sha256.lower()}, found {found}; "
                                "the downloaded file was removed")
        _publish(tmp, dest)
        return received
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def _publish(tmp: str, dest: str) -> None:
    """Give the complete file its real name, never replacing a file that appeared meanwhile."""
    try:
        os.link(tmp, dest)  # fails if dest exists
    except FileExistsError:
        raise DownloadError(f"{dest} appeared during the download: not overwritten") from None
    except OSError:  # a file system without hard links
        if os.path.lexists(dest):
            raise DownloadError(f"{dest} appeared during the download: not overwritten") from None
        os.rename(tmp, dest)
