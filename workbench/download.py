"""Checksum-verified downloads and PyPI fetches.

Everything the library pulls from outside goes through :func:`download`:
the bytes stream into a ``.part`` file beside the destination, their SHA-256
is computed on the way, and only a file whose hash matches is renamed into
place.  ``file://`` URLs work like ``https://`` ones (offline mirrors use
them).  What was downloaded is unpacked by :func:`workbench.archives.safe_extract`
(also importable from here, with its errors).

Example
-------
>>> import tempfile
>>> from pathlib import Path
>>> from workbench.download import download, sha256_file
>>> tmp = Path(tempfile.mkdtemp())
>>> _ = (tmp / "src.txt").write_text("hello")
>>> digest = sha256_file(tmp / "src.txt")
>>> download((tmp / "src.txt").as_uri(), tmp / "copy.txt", sha256=digest).read_text()
'hello'
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

# Archive extraction lives in its own module; its names stay importable from here.
from .archives import (  # noqa: F401
    ArchiveError,
    ArchiveTooLargeError,
    UnsafeArchiveError,
    safe_extract,
)
from .hooks import Hooks, Progress, progress_hooks
from .paths import cache_dir

CHUNK = 1 << 20
USER_AGENT = "sentence-workbench"
SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


class DownloadError(OSError):
    """A download could not be completed (network, HTTP or file error)."""


class ChecksumError(ValueError):
    """The downloaded bytes do not have the expected SHA-256."""


def sha256_file(path: str | os.PathLike) -> str:
    """The hex SHA-256 of a file, read in chunks.

    Example
    -------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "empty"
    >>> _ = p.write_bytes(b"")
    >>> sha256_file(p)[:16]
    'e3b0c44298fc1c14'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(
    url: str,
    dest: str | os.PathLike,
    sha256: str | None = None,
    hooks: Hooks | None = None,
) -> Path:
    """Download ``url`` to ``dest``, verifying its SHA-256 when given.

    Parameters
    ----------
    url
        ``https://``, ``http://`` or ``file://`` address.
    dest
        Where the file ends up; its folder is created.  An existing file is
        replaced only once the new one is complete and verified.
    sha256
        Expected hex digest (64 hex digits, any case); ``None`` skips the check.
    hooks
        Receives ``progress_begin/update/end`` events (unit ``"B"``); by
        default a terminal progress bar in interactive sessions.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    ChecksumError
        The bytes do not match ``sha256``; the partial file is deleted.
    DownloadError
        The address could not be read; the partial file is deleted.

    Example
    -------
    >>> import tempfile
    >>> from pathlib import Path
    >>> tmp = Path(tempfile.mkdtemp())
    >>> _ = (tmp / "a.txt").write_text("abc")
    >>> download((tmp / "a.txt").as_uri(), tmp / "sub" / "b.txt").read_text()
    'abc'
    """
    if sha256 is not None and not (isinstance(sha256, str) and SHA256_HEX.fullmatch(sha256)):
        raise ValueError(f"sha256 must be 64 hexadecimal digits, got {sha256!r} (for {url})")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    hooks = hooks if hooks is not None else progress_hooks(None)
    task = f"download {dest.name}"
    # A unique .part name: two processes fetching the same file never share one.
    fd, part_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    part = Path(part_name)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
            with urllib.request.urlopen(request, timeout=60) as response:
                length = response.headers.get("Content-Length")
                received = 0
                with Progress(hooks, task, total=int(length) if length else None, unit="B") as progress:
                    for chunk in iter(lambda: response.read(CHUNK), b""):
                        out.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        progress.update(len(chunk))
                # urllib ends a body cut short without an error; the announced length tells.
                if length and received != int(length):
                    raise DownloadError(f"truncated: received {received} of {length} bytes")
        actual = digest.hexdigest()
        if sha256 is not None and actual != sha256.lower():
            raise ChecksumError(
                f"checksum mismatch for {dest.name} (from {url}): expected sha256 "
                f"{sha256.lower()}, got {actual}; the partial file was deleted"
            )
        os.chmod(part, 0o644)  # mkstemp makes it owner-only
        os.replace(part, dest)
    except ChecksumError:
        part.unlink(missing_ok=True)
        raise
    except (OSError, ValueError) as err:  # URLError/HTTPError are OSErrors; a bad URL is a ValueError
        part.unlink(missing_ok=True)
        raise DownloadError(f"could not download {url} to {dest}: {err}") from err
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return dest


def fetch_pypi_package(name: str, version: str | None = None, dest: str | os.PathLike | None = None) -> Path:
    """Download one wheel from PyPI with pip (no dependencies) and return its path.

    Parameters
    ----------
    name
        Distribution name, e.g. ``"tqdm"``.
    version
        Exact version; ``None`` takes the newest pip would choose.
    dest
        Folder the wheel is moved into; default ``cache_dir("packages")``.

    Raises
    ------
    DownloadError
        pip failed (its last lines of output are in the message) or gave no wheel.

    Example
    -------
    >>> fetch_pypi_package("tqdm", "4.66.4")  # doctest: +SKIP
    PosixPath('.../packages/tqdm-4.66.4-py3-none-any.whl')
    """
    dest = Path(dest) if dest is not None else cache_dir("packages")
    dest.mkdir(parents=True, exist_ok=True)
    requirement = f"{name}=={version}" if version else name
    with tempfile.TemporaryDirectory(prefix=".pip-", dir=dest) as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "-d",
            tmp,
            requirement,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
            raise DownloadError(f"pip could not download {requirement} (exit {proc.returncode}):\n{tail}")
        wheels = sorted(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            got = sorted(p.name for p in Path(tmp).iterdir())
            raise DownloadError(f"pip download of {requirement} gave no single wheel: {got}")
        final = dest / wheels[0].name
        os.replace(wheels[0], final)
    return final
