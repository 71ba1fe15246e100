"""Safe archive extraction: nothing lands outside the target folder, and no archive expands past the limits.

:func:`safe_extract` refuses members that would land outside the target and
archives that would expand past ``WORKBENCH_MAX_EXTRACT_BYTES`` (16 GiB) or by
more than ``WORKBENCH_MAX_EXTRACT_RATIO`` (100) times, before anything is
written; what it extracts replaces the target folder in one rename.
"""

from __future__ import annotations

import gzip
import math
import numbers
import os
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from .io import atomic_dir

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


class ArchiveError(ValueError):
    """An archive is corrupt, truncated or of an unknown kind."""


class UnsafeArchiveError(ArchiveError):
    """An archive member would land outside the target folder."""


class ArchiveTooLargeError(UnsafeArchiveError):
    """An archive would expand to more bytes, or by a larger ratio, than allowed."""


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
