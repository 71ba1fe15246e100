"""Checksum-verified downloads, safe archive extraction and PyPI fetches.

Everything the library pulls from outside goes through :func:`download`:
the bytes stream into a ``.part`` file beside the destination, their SHA-256
is computed on the way, and only a file whose hash matches is renamed into
place.  ``file://`` URLs work like ``https://`` ones, which is how the tests
(and offline mirrors) use it.

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

import gzip
import hashlib
import os
import stat
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
import zlib
from pathlib import Path

from .hooks import Hooks, progress_hooks
from .io import atomic_dir
from .paths import cache_dir

CHUNK = 1 << 20
USER_AGENT = "sentence-workbench"


class DownloadError(OSError):
    """A download could not be completed (network, HTTP or file error)."""


class ChecksumError(ValueError):
    """The downloaded bytes do not have the expected SHA-256."""


class ArchiveError(ValueError):
    """An archive is corrupt, truncated or of an unknown kind."""


class UnsafeArchiveError(ArchiveError):
    """An archive member would land outside the target folder."""


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
        Expected hex digest; ``None`` skips the check.
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
                hooks.emit("progress_begin", task=task, total=int(length) if length else None, unit="B")
                received = 0
                try:
                    for chunk in iter(lambda: response.read(CHUNK), b""):
                        out.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        hooks.emit("progress_update", task=task, n=len(chunk))
                finally:
                    hooks.emit("progress_end", task=task)
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


def safe_extract(archive: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Extract a ``.zip``, ``.tar``, ``.tar.gz`` or ``.tgz`` into ``target``.

    Every member is checked before anything is written: absolute names,
    names that resolve outside ``target`` (``../``), links and special files
    are refused.  The members are extracted into a temporary folder beside
    ``target`` that then replaces ``target`` in one rename, so a failed
    extraction leaves no half-filled folder.

    Raises
    ------
    UnsafeArchiveError
        A member would escape ``target``, is a link or a device.
    ArchiveError
        The archive is corrupt, truncated or not a zip/tar file.

    Example
    -------
    >>> import tempfile, zipfile
    >>> from pathlib import Path
    >>> tmp = Path(tempfile.mkdtemp())
    >>> with zipfile.ZipFile(tmp / "a.zip", "w") as zf:
    ...     zf.writestr("dir/hello.txt", "hi")
    >>> (safe_extract(tmp / "a.zip", tmp / "out") / "dir" / "hello.txt").read_text()
    'hi'
    """
    archive, target = Path(archive), Path(target)
    if not archive.is_file():
        raise FileNotFoundError(f"archive not found: {archive}")
    name = archive.name.lower()
    if name.endswith(".zip") or zipfile.is_zipfile(archive):
        kind, extract = "zip", _extract_zip
    elif name.endswith((".tar", ".tar.gz", ".tgz")) or _is_tar(archive):
        kind, extract = "tar", _extract_tar
    else:
        raise ArchiveError(f"{archive} is not a zip or tar archive (corrupt, truncated or unknown format)")
    try:
        with atomic_dir(target) as tmp:
            extract(archive, tmp)
    except (zipfile.BadZipFile, tarfile.ReadError, tarfile.CompressionError, EOFError,
            zlib.error, gzip.BadGzipFile) as err:
        raise ArchiveError(f"{archive} is a corrupt or truncated {kind} archive: {err}") from err
    return target


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _check_member(archive: Path, root: Path, name: str) -> None:
    """Refuse a member name that is absolute or resolves outside ``root``."""
    if name.startswith(("/", "\\")) or (name[:1].isalpha() and name[1:2] == ":"):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path; refusing to extract")
    resolved = (root / name).resolve()
    if not resolved.is_relative_to(root):
        raise UnsafeArchiveError(
            f"{archive}: member {name!r} would be written outside the target folder; refusing to extract"
        )


def _extract_zip(archive: Path, tmp: Path) -> None:
    root = tmp.resolve()
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            _check_member(archive, root, info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise UnsafeArchiveError(f"{archive}: member {info.filename!r} is a symbolic link; refusing to extract")
        zf.extractall(tmp)


def _extract_tar(archive: Path, tmp: Path) -> None:
    root = tmp.resolve()
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        for member in members:
            _check_member(archive, root, member.name)
            if not (member.isfile() or member.isdir()):
                raise UnsafeArchiveError(
                    f"{archive}: member {member.name!r} is a link or special file; refusing to extract"
                )
        # The "data" filter repeats these checks inside tarfile and drops
        # dangerous permission bits.
        tf.extractall(tmp, members=members, filter="data")


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
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-build-isolation",
               "--disable-pip-version-check", "-d", tmp, requirement]
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
