"""Cache entries that know whether they are whole, built under a lock.

A cache entry is a folder the library builds from something it fetched: a
zoo model, an extracted archive from a URL, an ONNX export.  It is built in
a temporary folder that replaces the entry in one rename, while a file lock
beside it (``.<name>.lock``) makes a second process wait instead of
building the same entry at the same time.  Its *record*, a JSON file inside
it written last, lists every file with its size, so that an entry whose
files were truncated or removed is noticed on the next load and rebuilt,
with a warning.  A non-empty folder with neither a record nor a mark of an
earlier version of the library is refused, never replaced: the library did
not write it.

Example
-------
>>> import tempfile
>>> from pathlib import Path
>>> from workbench.cache import cached_folder
>>> def build(folder, previous):
...     (folder / "data.txt").write_text("built")
...     return {"source": "example"}
>>> entry = Path(tempfile.mkdtemp()) / "entry"
>>> cached_folder(entry, "record.json", build)["files"]
{'data.txt': 5}
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from filelock import FileLock, Timeout

from .io import atomic_dir, read_json, write_json

logger = logging.getLogger(__name__)

#: (the new entry's folder, the old record listing the files still whole, or None) -> what to record
Builder = Callable[[Path, "dict[str, Any] | None"], "dict[str, Any]"]


class CacheEntryError(FileExistsError):
    """A cache path is taken by something the library did not write; it is left alone."""


def cached_folder(
    folder: str | os.PathLike,
    record: str,
    build: Builder,
    *,
    usable: Callable[[dict[str, Any]], bool] = lambda info: True,
    legacy: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Return the record of the cache entry ``folder``, building the entry first when needed.

    Parameters
    ----------
    folder
        The entry.
    record
        The name of its record file, e.g. ``zoo.json``; it holds what
        ``build`` returned plus ``files`` (each file's size).
    build
        Fills a new, empty folder and returns what to record.  It is given the
        old entry's record, its ``files`` narrowed to those still whole (or
        None when there is no readable record), so it can keep what is good.
    usable
        Whether a whole entry serves this call (e.g. it is of the current
        revision, or holds the file asked for); when not, it is rebuilt.
    legacy
        Glob patterns of names whose presence marks a folder without a record
        as written by an earlier version of the library (so it may be rebuilt).

    Raises
    ------
    CacheEntryError
        ``folder`` exists, is not empty and was not written by the library.
    """
    folder = Path(folder)
    info, problem = _inspect(folder, record, legacy)
    if info is not None and problem is None and usable(info):
        return info
    with _building(folder):
        info, problem = _inspect(folder, record, legacy)  # another process may have built it meanwhile
        if info is not None and problem is None and usable(info):
            return info
        if problem is not None:
            logger.warning("cache entry %s cannot be trusted (%s); rebuilding it", folder, problem)
        _remove_leftovers(folder)
        with atomic_dir(folder) as tmp:
            new = dict(build(tmp, info))
            new["files"] = {
                path.relative_to(tmp).as_posix(): path.stat().st_size
                for path in sorted(tmp.rglob("*"))
                if path.is_file() and path != tmp / record
            }
            write_json(tmp / record, new)  # last: an entry without it was never finished
        return new


@contextmanager
def _building(folder: Path) -> Iterator[None]:
    """Hold the entry's lock, saying so when another process holds it first."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(folder.parent / f".{folder.name}.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        logger.info("waiting for another process to finish building %s", folder)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _remove_leftovers(folder: Path) -> None:
    """Remove the temporary folders a killed build of ``folder`` left beside it.

    Only called under the entry's lock, when no other build of it runs.  The
    names are the ones :func:`~workbench.io.atomic_dir` gives (``.<name>.tmp-*``,
    ``.<name>.old-*``); build steps keep their scratch folders under the same prefix.
    """
    name = glob.escape(folder.name)
    for pattern in (f".{name}.tmp-*", f".{name}.old-*"):
        for path in folder.parent.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                logger.info("removing %s, left by an interrupted build", path)
                shutil.rmtree(path, ignore_errors=True)


def _inspect(folder: Path, record: str, legacy: tuple[str, ...]) -> tuple[dict[str, Any] | None, str | None]:
    """``(record, why it is broken or None)``; the record lists only the files still whole, and is None when unknown."""
    if not folder.exists():
        return None, None
    if not folder.is_dir():
        raise CacheEntryError(
            f"{folder} is in the cache but is not a folder the library wrote; "
            "move it away so that the entry can be built"
        )
    record_path = folder / record
    if not record_path.is_file():
        if not any(folder.iterdir()):
            return None, None
        if any(next(folder.glob(pattern), None) for pattern in legacy):
            return None, f"written by an earlier version, without {record}"
        raise CacheEntryError(
            f"{folder} is in the cache but has no {record}, so the library did not write it; "
            "move it away so that the entry can be built"
        )
    try:
        info = read_json(record_path)
    except ValueError as err:
        return None, f"its {record} is unreadable: {err}"
    files = info.get("files") if isinstance(info, dict) else None
    if not isinstance(files, dict):
        return None, f"its {record} lists no file sizes (written by an earlier version)"
    whole, damaged = {}, []
    for name, size in files.items():
        path = folder / name
        actual = path.stat().st_size if path.is_file() else None
        if actual == size:
            whole[name] = size
        else:
            damaged.append(
                f"{name} is missing" if actual is None else f"{name} has {actual:,} bytes, {size:,} when it was written"
            )
    return info | {"files": whole}, "; ".join(damaged) or None
