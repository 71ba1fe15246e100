"""A fake Hugging Face hub on 127.0.0.1 for tests: point ``HF_ENDPOINT`` at :attr:`FakeHub.url`.

It answers the routes ``huggingface_hub`` uses to download files (checked against the installed version):

* ``HEAD``/``GET /{repo_id}/resolve/{revision}/{filename}`` (models) and
  ``/{datasets|spaces}/{repo_id}/resolve/{revision}/{filename}``: small files as git files (``200``,
  ``ETag`` the git blob SHA-1, ``Content-Length``), large or binary ones as LFS files (``302`` to
  ``/cdn/...`` with ``X-Linked-Etag`` the SHA-256 and ``X-Linked-Size``); always ``X-Repo-Commit``;
* ``GET /cdn/...<sha256>``: the LFS bytes, under the host name ``localhost`` (a CDN is another host);
* ``GET /api/{models|datasets}/{repo_id}[/revision/{revision}]``: ``id``, ``sha``, ``siblings``
  (``snapshot_download``'s repo info);
* ``GET /api/{models|datasets}/{repo_id}/tree/{revision}``: the file listing with sizes, oids and LFS info.

A revision is the repository's commit hash or ``main``.  Unknown repositories answer ``404`` with
``X-Error-Code: RepoNotFound``, unknown files ``EntryNotFound``, other revisions ``RevisionNotFound``.
:meth:`FakeHub.tamper` serves other bytes under a file's published hash (a tampered download).

Example
-------
>>> hub = FakeHub()
>>> hub.add("sentence-transformers/tiny", {"config.json": b"{}"}, repo_type="model")  # doctest: +SKIP
>>> with hub:  # doctest: +SKIP
...     monkeypatch.setenv("HF_ENDPOINT", hub.url)
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from local_http import LoopbackServer

LFS_SUFFIXES = (".gz", ".zip", ".safetensors", ".bin", ".parquet", ".onnx", ".pt")


@dataclass
class Repo:
    repo_id: str
    repo_type: str
    files: dict[str, bytes]
    commit: str
    served: dict[str, bytes] = field(default_factory=dict)  # filename -> bytes sent instead (tampering)

    def is_lfs(self, filename: str) -> bool:
        return filename.endswith(LFS_SUFFIXES)


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeHub(LoopbackServer):
    """Serve repositories added with :meth:`add`; ``requests`` logs ``(method, path)``."""

    def __init__(self) -> None:
        super().__init__()
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[tuple[str, str]] = []

    def add(self, repo_id: str, files: dict[str, bytes], repo_type: str = "dataset", commit: str | None = None) -> Repo:
        """Publish a repository; ``commit`` defaults to a hash of its content."""
        digest = hashlib.sha1(json.dumps(sorted((k, hashlib.sha256(v).hexdigest()) for k, v in files.items())).encode())
        repo = Repo(repo_id, repo_type, dict(files), commit or digest.hexdigest())
        self.repos[repo_type, repo_id] = repo
        return repo

    def tamper(self, repo_id: str, filename: str, data: bytes, repo_type: str = "dataset") -> None:
        """Serve ``data`` for ``filename`` while still publishing the original's hash."""
        self.repos[repo_type, repo_id].served[filename] = data

    # ------------------------------------------------------------------ routing

    def answer(self, handler: BaseHTTPRequestHandler, head: bool) -> None:
        path = handler.path.split("?", 1)[0]
        self.requests.append(("HEAD" if head else "GET", path))
        if path.startswith("/cdn/"):
            return self._cdn(handler, path[len("/cdn/") :], head)
        if path.startswith("/api/"):
            return self._api(handler, path[len("/api/") :])
        match = re.fullmatch(r"/(?:(datasets|spaces)/)?(.+?)/resolve/([^/]+)/(.+)", path)
        if match is None:
            return self._error(handler, 404, "RepoNotFound", f"no route {path}")
        kind, repo_id, revision, filename = match.groups()
        repo_type = {"datasets": "dataset", "spaces": "space"}.get(kind or "", "model")
        repo = self._repo(handler, repo_type, repo_id, revision)
        if repo is None:
            return None
        if filename not in repo.files:
            return self._error(handler, 404, "EntryNotFound", f"{filename} not in {repo_id}")
        data = repo.files[filename]
        headers = {"X-Repo-Commit": repo.commit}
        if repo.is_lfs(filename):
            sha = hashlib.sha256(data).hexdigest()
            # Another host name for the same server: huggingface_hub follows redirects within the hub, not to a CDN.
            cdn = f"http://localhost:{self.httpd.server_port}"
            headers.update(
                {
                    "Location": f"{cdn}/cdn/{repo_type}/{repo_id}/{filename}/{sha}",
                    "X-Linked-Etag": f'"{sha}"',
                    "X-Linked-Size": str(len(data)),
                    "ETag": f'"{git_blob_sha1(data)}"',
                    "Content-Length": "0",
                }
            )
            return self._send(handler, 302, headers, b"", head=True)
        body = repo.served.get(filename, data)
        headers.update({"ETag": f'"{git_blob_sha1(data)}"', "Content-Length": str(len(body))})
        return self._send(handler, 200, headers, body, head)

    def _repo(self, handler: BaseHTTPRequestHandler, repo_type: str, repo_id: str, revision: str) -> Repo | None:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            self._error(handler, 404, "RepoNotFound", f"{repo_type} {repo_id} not found")
        elif revision not in (repo.commit, "main"):
            self._error(handler, 404, "RevisionNotFound", f"{repo_id} has no revision {revision}")
            return None
        return repo

    def _cdn(self, handler: BaseHTTPRequestHandler, rest: str, head: bool) -> None:
        # /cdn/<repo_type>/<repo_id>/<filename>/<sha256>: the sha names the bytes, the rest finds a tampered copy.
        parts = rest.split("/")
        repo_type, sha = parts[0], parts[-1]
        for (kind, _), repo in self.repos.items():
            for filename, data in repo.files.items():
                if (
                    kind == repo_type
                    and hashlib.sha256(data).hexdigest() == sha
                    and "/".join(parts[1:-1]).endswith(filename)
                ):
                    body = repo.served.get(filename, data)
                    return self._send(handler, 200, {"Content-Length": str(len(body))}, body, head)
        return self._error(handler, 404, "EntryNotFound", f"no blob {sha}")

    def _api(self, handler: BaseHTTPRequestHandler, rest: str) -> None:
        match = re.fullmatch(r"(models|datasets|spaces)/(.+?)(?:/(revision|tree)/([^/]+)(/.*)?)?", rest)
        if match is None:
            return self._error(handler, 404, "RepoNotFound", f"no API route {rest}")
        kind, repo_id, what, revision, _ = match.groups()
        repo = self._repo(handler, kind[:-1], repo_id, revision or "main")
        if repo is None:
            return None
        if what == "tree":
            listing = [self._tree_entry(repo, name, data) for name, data in sorted(repo.files.items())]
            return self._json(handler, listing)
        info = {
            "id": repo.repo_id,
            "sha": repo.commit,
            "private": False,
            "gated": False,
            "disabled": False,
            "siblings": [{"rfilename": name} for name in sorted(repo.files)],
        }
        return self._json(handler, info)

    @staticmethod
    def _tree_entry(repo: Repo, name: str, data: bytes) -> dict[str, Any]:
        entry = {"type": "file", "path": name, "size": len(data), "oid": git_blob_sha1(data)}
        if repo.is_lfs(name):
            entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return entry

    # ------------------------------------------------------------------ replies

    def _json(self, handler: BaseHTTPRequestHandler, obj: Any) -> None:
        body = json.dumps(obj).encode()
        self._send(handler, 200, {"Content-Type": "application/json", "Content-Length": str(len(body))}, body, False)

    def _error(self, handler: BaseHTTPRequestHandler, status: int, code: str, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        headers = {
            "X-Error-Code": code,
            "X-Error-Message": message,
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
        }
        self._send(handler, status, headers, body, handler.command == "HEAD")

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes, head: bool) -> None:
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        if not head:
            handler.wfile.write(body)
