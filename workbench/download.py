"""Checksum-verified downloads, safe archive extraction and PyPI fetches.

Everything the library pulls from outside goes through :func:`download`:
the bytes stream into a ``.part`` file beside the destination, their SHA-256
is computed on the way, and only a file whose hash matches is renamed into
place.  ``file://`` URLs work like ``https://`` ones (offline mirrors use
them).  :func:`safe_extract` refuses members that would land outside the
target and archives that would expand past ``WORKBENCH_MAX_EXTRACT_BYTES``
(16 GiB) or by more than ``WORKBENCH_MAX_EXTRACT_RATIO`` (100) times.

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
import math
import numbers
import os
import re
import stat
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from .hooks import Hooks, Progress, progress_hooks
from .io import atomic_dir
from .paths import cache_dir

CHUNK = 1 << 20
USER_AGENT = "sentence-workbench"
SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")

#: Environment variables that change the extraction limits of :func:`safe_extract`.
MAX_EXTRACT_BYTES_ENV = "WORKBENCH_MAX_EXTRACT_BYTES"
MAX_EXTRACT_RATIO_ENV = "WORKBENCH_MAX_EXTRACT_RATIO"
#: Default limits: room for any sentence-embedding model (the zoo's largest is all-mpnet-base-v2's
#: 404 MB archive, which hardly compresses), while a zip bomb (a small archive that expands a
#: thousandfold) is refused before anything is written.
DEFAULT_MAX_EXTRACT_BYTES = 16 << 30
DEFAULT_MAX_EXTRACT_RATIO = 100.0
#: Below this total the ratio is not checked: a few megabytes of repetitive text can compress
#: a thousandfold and harm nothing.
RATIO_FREE_BYTES = 16 << 20


class DownloadError(OSError):
    """A download could not be completed (network, HTTP or file error)."""


class ChecksumError(ValueError):
    """The downloaded bytes do not have the expected SHA-256."""


class ArchiveError(ValueError):
    """An archive is corrupt, truncated or of an unknown kind."""


class UnsafeArchiveError(ArchiveError):
    """An archive member would land outside the target folder."""


class ArchiveTooLargeError(UnsafeArchiveError):
    """An archive would expand to more bytes, or by a larger ratio, than allowed."""


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


def safe_extract(
    archive: str | os.PathLike,
    target: str | os.PathLike,
    *,
    max_bytes: int | None = None,
    max_ratio: float | None = None,
) -> Path:
    """Extract a ``.zip``, ``.tar``, ``.tar.gz`` or ``.tgz`` into ``target``.

    Every member is checked before anything is written: absolute names,
    names that resolve outside ``target`` (``../``), links and special files
    are refused, and so is an archive that would expand to more than
    ``max_bytes`` in all or by more than ``max_ratio`` times its own size.
    The members are extracted into a temporary folder beside ``target`` that
    then replaces ``target`` in one rename, so a failed extraction leaves no
    half-filled folder.

    Parameters
    ----------
    archive, target
        The archive file and the folder it becomes.
    max_bytes
        Most bytes all members may hold together; default the environment
        variable ``WORKBENCH_MAX_EXTRACT_BYTES``, else 16 GiB.
    max_ratio
        Most the archive may expand (members' bytes over the archive's),
        checked once the members hold more than 16 MiB; default
        ``WORKBENCH_MAX_EXTRACT_RATIO``, else 100.

    Raises
    ------
    ArchiveTooLargeError
        The members would exceed ``max_bytes`` or ``max_ratio`` (a possible zip bomb).
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
    limits = _Limits(
        _limit("max_bytes", max_bytes, MAX_EXTRACT_BYTES_ENV, DEFAULT_MAX_EXTRACT_BYTES, whole=True),
        _limit("max_ratio", max_ratio, MAX_EXTRACT_RATIO_ENV, DEFAULT_MAX_EXTRACT_RATIO, whole=False),
    )
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
            extract(archive, tmp, limits)
    except (
        zipfile.BadZipFile,
        tarfile.ReadError,
        tarfile.CompressionError,
        EOFError,
        zlib.error,
        gzip.BadGzipFile,
    ) as err:
        raise ArchiveError(f"{archive} is a corrupt or truncated {kind} archive: {err}") from err
    return target


def _limit(argument: str, value: float | None, env: str, default: float, whole: bool) -> float:
    """An extraction limit from its argument, else its environment variable, else the default."""
    if value is None:
        text = os.environ.get(env, "").strip()
        if not text:
            return default
        where = f"{env}={text!r}"
        try:
            value = float(text)
        except ValueError:
            value = math.nan  # refused below, with the variable named
    else:
        where = f"{argument}={value!r}"
    valid = (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
        and (not whole or value == int(value))
    )
    if not valid:
        expected = "a whole number of bytes" if whole else "a number"
        raise ValueError(f"{where} is not a valid extraction limit: expected {expected} above 0")
    return int(value) if whole else float(value)


@dataclass(frozen=True)
class _Limits:
    max_bytes: int
    max_ratio: float

    def check(self, archive: Path, total: int) -> None:
        """Refuse ``archive`` before extraction when its members hold ``total`` bytes that are too many."""
        if total > self.max_bytes:
            raise ArchiveTooLargeError(
                f"{archive} would expand to {total:,} bytes, more than the limit of {self.max_bytes:,} "
                f"(max_bytes or {MAX_EXTRACT_BYTES_ENV}); refusing to extract"
            )
        size = archive.stat().st_size
        ratio = total / max(size, 1)
        if total > RATIO_FREE_BYTES and ratio > self.max_ratio:
            raise ArchiveTooLargeError(
                f"{archive} would expand {ratio:,.0f} times ({size:,} bytes to {total:,}), more than the "
                f"limit of {self.max_ratio:g} (max_ratio or {MAX_EXTRACT_RATIO_ENV}); it may be a zip bomb; "
                "refusing to extract"
            )


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


def _check_members(archive: Path, tmp: Path, members: list[tuple[str, str | None, int]], limits: _Limits) -> None:
    """Refuse the archive for a ``(name, what is wrong with it or None, size)`` member outside ``tmp`` or of a
    kind never extracted, then for the sum of the sizes past the limits."""
    root = tmp.resolve()
    for name, problem, _ in members:
        _check_member(archive, root, name)
        if problem is not None:
            raise UnsafeArchiveError(f"{archive}: member {name!r} is {problem}; refusing to extract")
    limits.check(archive, sum(size for _, _, size in members))


def _extract_zip(archive: Path, tmp: Path, limits: _Limits) -> None:
    with zipfile.ZipFile(archive) as zf:
        # zipfile never writes more than a member's declared size (a longer stream fails its CRC check),
        # so the declared sizes bound what lands on disk.
        _check_members(
            archive,
            tmp,
            [
                (info.filename, "a symbolic link" if stat.S_ISLNK(info.external_attr >> 16) else None, info.file_size)
                for info in zf.infolist()
            ],
            limits,
        )
        zf.extractall(tmp)


def _extract_tar(archive: Path, tmp: Path, limits: _Limits) -> None:
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        _check_members(
            archive,
            tmp,
            [
                (
                    member.name,
                    None if (member.isfile() or member.isdir()) and not member.issparse() else "a link or special file",
                    member.size if member.isfile() else 0,
                )
                for member in members
            ],
            limits,
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
