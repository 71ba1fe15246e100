"""Fetching data-set files from their public sources: mirrors, checksums, trust on first use, the hub.

A data set of the registry (``data/registry.json``) lists ``sources``, tried
in order after the data folder and the cache.  Each source names its files;
a file comes from

* ``"url"``: an ``https://`` (or ``http://``, ``file://``) address, checked
  against its published ``sha256`` or ``md5`` when the registry has one;
  otherwise *trusted on first use*: the SHA-256 of the first download is
  recorded in the cache (``trusted-downloads.json``) and a later download
  with other bytes gives a loud :class:`UntrustedDownloadWarning` (or, once
  the record is pinned with :func:`pin_download`, a :class:`ChecksumError`);
* ``"hub"``: a file of a Hugging Face hub repository at a pinned revision,
  checked against the hash the hub publishes for it (its ETag).

Every download is also checked for completeness: a ``Content-Length`` that
was not reached, or a ``.gz``/``.zip``/``.tar`` that does not read to its
end, is refused and nothing is kept.  Files land in
``cache_dir("datasets")/downloads/<host>/<path>``, so that folder is itself
a mirror: serve it over HTTP and point ``WORKBENCH_DATA_URL`` at it.

``WORKBENCH_DATA_URL``
    a base URL (``https://``, ``http://`` or ``file://``) that replaces the
    host of every data download: ``https://sbert.net/datasets/x.tsv.gz`` is
    fetched from ``$WORKBENCH_DATA_URL/sbert.net/datasets/x.tsv.gz`` (the
    layout ``wget -x`` writes).  For a corporate mirror or an offline copy.
``HF_ENDPOINT``
    the hub's address, as for ``huggingface_hub``.

Example
-------
>>> from workbench.data.sources import mirrored_url
>>> mirrored_url("https://sbert.net/datasets/AllNLI.tsv.gz", base="https://mirror.example/data")
'https://mirror.example/data/sbert.net/datasets/AllNLI.tsv.gz'
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import re
import sys
import tarfile
import time
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..archives import ArchiveError, safe_extract
from ..download import ChecksumError, DownloadError, download, sha256_file
from ..hooks import Callback, Event, Hooks, TqdmProgress
from ..io import read_json, write_json
from ..paths import cache_dir

DATA_URL_ENV = "WORKBENCH_DATA_URL"
TRUST_FILE = "trusted-downloads.json"
#: Downloads at least this large are announced with their size before the bytes flow.
LARGE_BYTES = 10 * 2**20
HUB_ENDPOINT = "https://huggingface.co"

logger = logging.getLogger("workbench.data")


class DataSourceError(FileNotFoundError):
    """No source could provide a data set's file; the message lists every source tried and why it failed."""

    def __init__(self, what: str, tried: list[str]) -> None:
        self.tried = list(tried)
        super().__init__(f"cannot get {what}. Tried, in order:\n  - " + "\n  - ".join(self.tried))


class UntrustedDownloadWarning(UserWarning):
    """A download without a published checksum differs from the bytes recorded on its first download."""


#: What a failing source raises; each becomes one line of :class:`DataSourceError`.
SOURCE_ERRORS = (DownloadError, ChecksumError, ArchiveError, DataSourceError, FileNotFoundError)


def mirrored_url(url: str, base: str | None = None) -> str:
    """``url`` as served by the mirror ``base`` (default ``$WORKBENCH_DATA_URL``): ``<base>/<host>/<path>``.

    Without a base the URL is returned unchanged.

    Example
    -------
    >>> mirrored_url("https://sbert.net/datasets/stsbenchmark.tsv.gz", base="file:///srv/mirror/")
    'file:///srv/mirror/sbert.net/datasets/stsbenchmark.tsv.gz'
    """
    base = base if base is not None else os.environ.get(DATA_URL_ENV, "")
    if not base:
        return url
    if not re.match(r"^(https?|file)://", base):
        raise ValueError(f"{DATA_URL_ENV}={base!r} is not an http(s):// or file:// URL")
    return f"{base.rstrip('/')}/{_url_path(url)}"


def _url_path(url: str) -> str:
    """``host/path`` of a URL: where it lives in a mirror and in the download cache."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"data source URL must be http(s)://host/path, got {url!r}")
    path = parts.path.lstrip("/")
    if not path or any(piece in ("", ".", "..") for piece in path.split("/")):
        raise ValueError(f"data source URL {url!r} has an empty or relative path")
    return f"{parts.netloc}/{path}"


def downloads_dir() -> Path:
    """Where source files are kept: ``cache_dir("datasets")/downloads``."""
    return cache_dir("datasets", "downloads")


# --------------------------------------------------------------------------- trust on first use


def _trust_path() -> Path:
    return cache_dir("datasets") / TRUST_FILE


def trusted_downloads() -> dict[str, dict[str, Any]]:
    """URL -> record (``sha256``, ``size``, ``first_seen``, ``pinned``) of the downloads trusted on first use.

    Example
    -------
    >>> records = trusted_downloads()  # doctest: +SKIP
    >>> records["https://sbert.net/datasets/stsbenchmark.tsv.gz"]["sha256"]  # doctest: +SKIP
    '...'
    """
    path = _trust_path()
    return read_json(path) if path.is_file() else {}


def pin_download(url: str, sha256: str | None = None) -> str:
    """Pin the SHA-256 of a data download: from now on other bytes are refused, not just warned about.

    Parameters
    ----------
    url
        The source URL as the registry names it (not a mirror's).
    sha256
        The hex digest to require; default the one recorded on first download.

    Returns
    -------
    str
        The pinned digest.

    Example
    -------
    >>> pin_download("https://sbert.net/datasets/stsbenchmark.tsv.gz")  # doctest: +SKIP
    """
    records = trusted_downloads()
    if sha256 is None:
        if url not in records:
            raise KeyError(
                f"{url} has no recorded download to pin; pass sha256=... or download it first "
                f"(recorded: {sorted(records)})"
            )
        sha256 = records[url]["sha256"]
    if not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise ValueError(f"sha256 must be 64 hex digits, got {sha256!r}")
    records[url] = {**records.get(url, {}), "sha256": sha256.lower(), "pinned": True}
    write_json(_trust_path(), records)
    return sha256.lower()


def _check_trust(url: str, path: Path) -> None:
    """Record a first download's SHA-256; warn loudly when a later one differs."""
    records = trusted_downloads()
    digest = sha256_file(path)
    record = records.get(url)
    if record is None:
        records[url] = {
            "sha256": digest,
            "size": path.stat().st_size,
            "first_seen": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "pinned": False,
        }
        write_json(_trust_path(), records)
        logger.info("trusting %s on first use: sha256 %s recorded in %s", url, digest, _trust_path())
    elif record["sha256"] != digest:
        warnings.warn(
            f"\n*** {url} CHANGED since it was first downloaded ***\n"
            f"recorded sha256 {record['sha256']} ({record.get('first_seen', '?')}), now {digest}.\n"
            f"The data may have been updated upstream, or tampered with on the way. The new file is used: "
            f"{path}\nTo refuse anything but the recorded bytes, call "
            f"workbench.data.sources.pin_download({url!r}); to accept the new bytes, delete its entry in "
            f"{_trust_path()}.",
            UntrustedDownloadWarning,
            stacklevel=4,
        )


# --------------------------------------------------------------------------- downloads


class _AnnounceSize(Callback):
    """Says the size of a large download before its bytes flow (the bar shows it too)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def on_progress_begin(self, event: Event) -> None:
        total = event.get("total")
        if total and total >= LARGE_BYTES:
            logger.warning(
                "downloading %s: %.1f MB from %s", event.task.removeprefix("download "), total / 2**20, self.url
            )


def _download_hooks(hooks: Hooks | None, url: str) -> Hooks:
    """The caller's hooks, else a tqdm bar in a terminal or a Jupyter kernel; plus the size announcement."""
    if hooks is None:
        shown = bool(getattr(sys.stderr, "isatty", lambda: False)()) or "ipykernel" in sys.modules
        hooks = Hooks([TqdmProgress()] if shown else [])
    return Hooks([*hooks, _AnnounceSize(url)])


def check_complete(path: Path) -> None:
    """Refuse a ``.gz``, ``.zip`` or ``.tar`` file that does not read to its end (a truncated download).

    Example
    -------
    >>> import gzip, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.gz"
    >>> _ = p.write_bytes(gzip.compress(b"hello" * 100)[:-9])
    >>> check_complete(p)
    Traceback (most recent call last):
    ...
    workbench.archives.ArchiveError: ...x.gz is truncated or corrupt: ...
    """
    name = path.name.lower()
    try:
        if zipfile.is_zipfile(path) or name.endswith(".zip"):
            with zipfile.ZipFile(path) as zf:
                bad = zf.testzip()
            if bad is not None:
                raise ArchiveError(f"{path} is truncated or corrupt: member {bad} fails its CRC")
        elif name.endswith((".tar", ".tar.gz", ".tgz")):
            with tarfile.open(path) as tf:
                for member in tf:
                    if member.isfile():
                        tf.extractfile(member).read()
        elif name.endswith(".gz"):
            with gzip.open(path, "rb") as fh:
                while fh.read(1 << 20):
                    pass
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, OSError) as err:
        raise ArchiveError(f"{path} is truncated or corrupt: {err}") from None


def fetch_url(
    url: str,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    hooks: Hooks | None = None,
    dest: Path | None = None,
) -> Path:
    """Download ``url`` (through ``$WORKBENCH_DATA_URL`` when set) into the cache once; verify it.

    ``sha256`` or ``md5`` is a published checksum; without either the file is
    trusted on first use (see the module notes).  A file already in the cache
    is returned without a request.

    Raises
    ------
    DownloadError, ChecksumError, ArchiveError
        The address failed, the bytes do not match, or the file is truncated;
        nothing is kept.

    Example
    -------
    >>> fetch_url("https://sbert.net/datasets/stsbenchmark.tsv.gz")  # doctest: +SKIP
    PosixPath('.../datasets/downloads/sbert.net/datasets/stsbenchmark.tsv.gz')
    """
    dest = dest if dest is not None else downloads_dir() / _url_path(url)
    if dest.is_file():
        return dest
    source = mirrored_url(url)
    pinned = trusted_downloads().get(url, {}) if sha256 is None and md5 is None else {}
    expected = sha256 or (pinned["sha256"] if pinned.get("pinned") else None)
    download(source, dest, sha256=expected, hooks=_download_hooks(hooks, source))
    try:
        check_complete(dest)
        if md5 is not None:
            digest = hashlib.md5(dest.read_bytes(), usedforsecurity=False).hexdigest()
            if digest != md5.lower():
                raise ChecksumError(
                    f"checksum mismatch for {dest.name} (from {source}): expected md5 {md5.lower()}, "
                    f"got {digest}; the file was deleted"
                )
    except (ArchiveError, ChecksumError):
        dest.unlink(missing_ok=True)
        raise
    if sha256 is None and md5 is None:
        _check_trust(url, dest)
    return dest


def fetch_hub_file(
    repo_id: str, filename: str, revision: str, repo_type: str = "dataset", hooks: Hooks | None = None
) -> Path:
    """Download one file of a hub repository at ``revision`` into the cache, checked against the hub's hash.

    The hub publishes each file's hash as its ETag: the SHA-256 for LFS
    files, the git blob SHA-1 otherwise; both are verified.  ``HF_ENDPOINT``
    is read on every call.

    Example
    -------
    >>> fetch_hub_file("mteb/stsbenchmark-sts", "test.jsonl.gz", "b0fddb56ed78048fa8b90373c8a3cfc37b684831")  # doctest: +SKIP
    """
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        raise DownloadError("HF_HUB_OFFLINE is set")
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    endpoint = os.environ.get("HF_ENDPOINT") or HUB_ENDPOINT
    url = hf_hub_url(repo_id, filename, repo_type=repo_type, revision=revision, endpoint=endpoint)
    dest = downloads_dir() / _url_path(
        hf_hub_url(repo_id, filename, repo_type=repo_type, revision=revision, endpoint=HUB_ENDPOINT)
    )
    if dest.is_file():
        return dest
    try:
        meta = get_hf_file_metadata(url, endpoint=endpoint)
    except Exception as err:  # noqa: BLE001 - HTTP and connection errors of the hub's client become one line
        raise DownloadError(f"{url}: {type(err).__name__}: {err}") from None
    etag = (meta.etag or "").lower()
    sha256 = etag if re.fullmatch(r"[0-9a-f]{64}", etag) else None
    if sha256 is None and not re.fullmatch(r"[0-9a-f]{40}", etag):
        raise ChecksumError(f"{url}: the hub sent no usable file hash (ETag {meta.etag!r}); refusing an unchecked file")
    download(meta.location, dest, sha256=sha256, hooks=_download_hooks(hooks, url))
    try:
        check_complete(dest)
        if sha256 is None:
            data = dest.read_bytes()
            blob = hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()
            if blob != etag:
                raise ChecksumError(
                    f"checksum mismatch for {filename} (from {url}): the hub's git hash is {etag}, "
                    f"the bytes hash to {blob}; the file was deleted"
                )
    except (ArchiveError, ChecksumError):
        dest.unlink(missing_ok=True)
        raise
    return dest


def describe(spec: dict[str, Any]) -> str:
    """One line naming where a source file comes from (for error messages)."""
    if "hub" in spec:
        hub = spec["hub"]
        return f"hub {hub.get('repo_type', 'dataset')} {hub['repo_id']}@{hub['revision'][:10]} {hub['filename']}"
    return mirrored_url(spec["url"])


def fetch_file(spec: dict[str, Any], hooks: Hooks | None = None) -> Path:
    """Fetch one source file as the registry describes it (``url`` or ``hub``; ``extract`` for archives).

    With ``"extract": "<folder>"`` the archive is unpacked (safely) beside
    itself and ``<folder>`` inside it is returned.
    """
    if "hub" in spec:
        hub = spec["hub"]
        path = fetch_hub_file(hub["repo_id"], hub["filename"], hub["revision"], hub.get("repo_type", "dataset"), hooks)
    else:
        path = fetch_url(spec["url"], sha256=spec.get("sha256"), md5=spec.get("md5"), hooks=hooks)
    if "extract" not in spec:
        return path
    folder = path.with_name(path.name + ".d")
    if not folder.is_dir():
        safe_extract(path, folder)
    inner = folder / spec["extract"]
    if not inner.exists():
        raise ArchiveError(f"{path} holds no {spec['extract']!r}; it has {sorted(p.name for p in folder.iterdir())}")
    return inner
