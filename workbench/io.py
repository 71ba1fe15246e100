"""Small file helpers shared by the whole library: atomic writes, folder locks, JSON, tensor files.

Two ways to write a folder:

* :func:`atomic_dir` -- for folders the library owns whole (checkpoints, cache
  entries): a fresh copy replaces the old folder in one rename.
* :func:`save_into` -- for folders a user names (``model.save(path)``): the
  library's files are moved in one by one, each with an atomic rename, and
  everything else in the folder is left alone.

Both hold :func:`folder_lock` while they write, so concurrent writers take
turns; readers that want a consistent view hold the same lock.  Files and
folders are created with the process's umask, like any other file writer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from filelock import FileLock

logger = logging.getLogger(__name__)

#: The record of what :func:`save_into` wrote into a folder; only these entries are ever removed.
SAVED_RECORD = ".workbench-saved.json"
_STAGING_PREFIX = ".workbench-staging-"


def folder_lock(path: str | os.PathLike) -> FileLock:
    """A lock for the folder ``path``, shared by every thread and process of this machine.

    The lock file lives in the system's temporary folder (keyed by the
    resolved path), so locking leaves nothing in the user's folders and also
    works for a folder that is read-only.  Re-entrant within a thread.

    Example
    -------
    >>> import tempfile
    >>> with folder_lock(tempfile.gettempdir()):
    ...     pass
    """
    key = hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:32]
    folder = Path(tempfile.gettempdir()) / "workbench-locks"
    if not folder.is_dir():
        folder.mkdir(exist_ok=True)
        try:
            os.chmod(folder, 0o1777)  # shared by all users, like the temporary folder itself
        except OSError:
            pass
    return FileLock(folder / f"{key}.lock", mode=0o666, is_singleton=True)


def _new_temp(parent: Path, prefix: str, directory: bool) -> Path:
    """Create a uniquely named empty file or folder in ``parent``.

    Unlike ``tempfile.mkstemp``/``mkdtemp`` (owner-only 0600/0700), the
    permissions follow the umask, so what is renamed into place later is as
    readable as any other file the user writes.
    """
    while True:
        path = parent / f"{prefix}{secrets.token_hex(6)}"
        try:
            if directory:
                os.mkdir(path)
            else:
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return path
        except FileExistsError:
            continue


def _follow_umask(staging: Path) -> None:
    """Give everything written into ``staging`` the permissions the umask asks for.

    Some writers (``save_pretrained`` among them) go through ``tempfile`` and
    leave owner-only files; the modes of a fresh probe file and of ``staging``
    itself (made by :func:`_new_temp`) are what the umask gives, read without
    touching the process-wide umask.
    """
    probe = _new_temp(staging, ".probe-", directory=False)
    file_mode = probe.stat().st_mode & 0o777
    probe.unlink()
    folder_mode = staging.stat().st_mode & 0o777
    for path in staging.rglob("*"):
        if path.is_symlink():
            continue
        if path.is_dir():
            os.chmod(path, folder_mode)
        else:  # an executable stays executable, for whom the umask allows it
            os.chmod(path, file_mode | (folder_mode & 0o111 if path.stat().st_mode & 0o100 else 0))


def _remove_entries(parent: Path, prefixes: Sequence[str]) -> None:
    """Delete leftovers of interrupted writes (names that only this module creates) from ``parent``."""
    for entry in parent.iterdir() if parent.is_dir() else ():
        if entry.name.startswith(tuple(prefixes)):
            logger.info("removing %s, left over from an interrupted save", entry)
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


@contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; on success it replaces ``target`` whole.

    Only for folders the library owns (checkpoints, cache entries); a folder a
    user names goes through :func:`save_into`.  A crash or exception while
    writing leaves the old ``target`` untouched and removes the temporary
    folder; the lock makes concurrent writers take turns, and leftovers of a
    crashed writer are removed by the next one.
    """
    target = Path(target).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    with folder_lock(target):
        # While the lock is held no other writer of ``target`` is busy, so these names are stale.
        _remove_entries(target.parent, (f".{target.name}.tmp-", f".{target.name}.old-"))
        tmp = _new_temp(target.parent, f".{target.name}.tmp-", directory=True)
        try:
            yield tmp
            _follow_umask(tmp)
            if target.exists():
                old = target.with_name(f".{target.name}.old-{secrets.token_hex(6)}")
                os.replace(target, old)
                os.replace(tmp, target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def contained(root: str | os.PathLike, relative: str, what: str) -> Path:
    """``root / relative``, refusing a path that leads outside ``root`` (``..``, absolute, or through a symlink).

    ``what`` names where the path came from, for the error message.

    Example
    -------
    >>> import tempfile
    >>> contained(tempfile.gettempdir(), "../etc", "a modules.json entry")
    Traceback (most recent call last):
    ...
    ValueError: a modules.json entry '../etc' points outside the folder ...
    """
    root = Path(root)
    if not isinstance(relative, str):
        raise TypeError(f"{what} must be a path string relative to {root}, got {type(relative).__name__}")
    path = root / relative
    real_root = root.resolve()
    if Path(relative).is_absolute() or not path.resolve().is_relative_to(real_root):
        raise ValueError(
            f"{what} {relative!r} points outside the folder {root}; only paths inside the folder are accepted"
        )
    return path


def _read_record(target: Path) -> tuple[set[str], set[str], dict[str, str]]:
    """The files and folders an earlier :func:`save_into` wrote into ``target``, and the digests it kept of some.

    Nothing when unknown.
    """
    file = target / SAVED_RECORD
    if not file.is_file():
        return set(), set(), {}
    try:
        record = read_json(file)
        entries = {
            kind: {str(contained(target, rel, "a recorded entry").relative_to(target)) for rel in record[kind]}
            for kind in ("files", "folders")
        }
        digests = record.get("sha256", {})
        if not isinstance(digests, dict):
            raise TypeError(f"'sha256' is a {type(digests).__name__}, not an object")
    except (ValueError, TypeError, KeyError) as err:
        # Deleting less is always safe: an unreadable record removes nothing.
        logger.warning("ignoring %s (%s); files of the earlier save that this one lacks stay in place", file, err)
        return set(), set(), {}
    return entries["files"], entries["folders"], {str(k): str(v) for k, v in digests.items()}


def _write_record(target: Path, files: set[str], folders: set[str], digests: dict[str, str]) -> None:
    record = {
        "about": "files and folders written by sentence-workbench; a later save removes only these",
        "files": sorted(files),
        "folders": sorted(folders),
    }
    if digests:
        record["sha256"] = dict(sorted(digests.items()))
    write_json(target / SAVED_RECORD, record)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _keep_user_versions(staging: Path, target: Path, keep_edited: Sequence[str]) -> tuple[dict[str, str], set[str]]:
    """Drop from ``staging`` each file of ``keep_edited`` whose copy in ``target`` the library did not write.

    A file counts as the library's only when the record names it with the
    digest it has now: a file the user wrote, or edited after the last save,
    stays.  Returns the digests of the ``keep_edited`` files that will be
    written, and the names of those left alone.
    """
    _, _, recorded = _read_record(target)
    digests, kept = {}, set()
    for rel in keep_edited:
        new, old = staging / rel, target / rel
        if not new.is_file():
            continue
        if (old.exists() or old.is_symlink()) and (
            old.is_symlink() or not old.is_file() or recorded.get(rel) != _sha256(old)
        ):
            logger.info("keeping %s: it was not written by sentence-workbench, or was edited since", old)
            new.unlink()
            kept.add(rel)
        else:
            digests[rel] = _sha256(new)
    return digests, kept


def save_into(
    target: str | os.PathLike, write: Callable[[Path], None], last: Sequence[str] = (), keep_edited: Sequence[str] = ()
) -> Path:
    """Let ``write`` fill an empty folder, then move what it wrote into ``target``, leaving all else there.

    Each file arrives with an atomic rename, so no file is ever half-written;
    files named in ``last`` (an index such as ``modules.json``) arrive after
    the rest.  Files named in ``keep_edited`` (a ``README.md``) replace a file
    of ``target`` only when an earlier call wrote it and it is unchanged since
    (their digests are recorded): one the user wrote or edited stays.  Files that an earlier call wrote into ``target`` and this one
    did not are removed, and so are the folders it created once they are
    empty; nothing the library did not write is touched.  What was written is
    recorded in ``target/.workbench-saved.json``.  If ``write`` fails,
    ``target`` is unchanged.

    Example
    -------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = save_into(folder, lambda tmp: (tmp / "a.txt").write_text("hi"))
    >>> (folder / "a.txt").read_text()
    'hi'
    """
    target = Path(target).absolute()
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(
            f"cannot save into {target}: it is an existing file, not a folder; give a new or existing folder"
        )
    target.mkdir(parents=True, exist_ok=True)
    with folder_lock(target):
        # No other writer is busy while the lock is held: staging folders found now are stale.
        _remove_entries(target, (_STAGING_PREFIX,))
        staging = _new_temp(target, _STAGING_PREFIX, directory=True)
        try:
            write(staging)
            _follow_umask(staging)
            digests, kept = _keep_user_versions(staging, target, keep_edited)
            _merge(staging, target, last, digests, kept)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _merge(staging: Path, target: Path, last: Sequence[str], digests: dict[str, str], kept: set[str]) -> None:
    folders = {str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_dir() and not p.is_symlink()}
    files = {str(p.relative_to(staging)) for p in staging.rglob("*") if str(p.relative_to(staging)) not in folders}
    files.discard(SAVED_RECORD)
    # Refuse before anything moves when the folder has a file where we need a folder, or the reverse.
    for rel in sorted(folders):
        if (target / rel).exists() and not (target / rel).is_dir():
            raise FileExistsError(
                f"cannot save into {target}: {target / rel} is a file, where the model needs a folder"
            )
    for rel in sorted(files):
        if (target / rel).is_dir() and not (target / rel).is_symlink():
            raise IsADirectoryError(
                f"cannot save into {target}: {target / rel} is a folder, where the model writes a file"
            )
    old_files, old_folders, _ = _read_record(target)
    old_files -= kept  # the user's now: never removed
    created = {rel for rel in folders if not (target / rel).is_dir()}
    # Record first what may be in the folder during the move, so an interrupted save still knows what is ours.
    _write_record(target, old_files | files, old_folders | created, {})
    for rel in sorted(folders, key=lambda r: r.count(os.sep)):
        (target / rel).mkdir(exist_ok=True)
    for rel in sorted(files, key=lambda r: (r in last, r)):
        os.replace(staging / rel, target / rel)
    for rel in old_files - files:
        path = target / rel
        if path.is_symlink() or path.is_file():
            path.unlink()
    ours = old_folders | created
    for rel in sorted(ours - folders, key=lambda r: -r.count(os.sep)):
        try:
            (target / rel).rmdir()  # only when empty: a user's file inside keeps it
            ours.discard(rel)
        except OSError:
            pass
    _write_record(target, files, ours, digests)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temp(path.parent, f".{path.name}.", directory=False)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode())


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing file: {path}")
    with open(path, encoding="utf-8") as fh:
        try:
            return json.load(fh)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON: {err}") from None


def read_tensor_file(path: str | os.PathLike) -> Any:
    """Load a ``.safetensors`` file, or a ``torch.save`` file with ``weights_only=True``, on the CPU.

    A truncated or damaged file raises ``ValueError`` naming it (the
    libraries' own errors, such as ``EOFError('')``, do not).
    """
    import pickle

    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing file: {path}")
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path))
        return torch.load(path, map_location="cpu", weights_only=True)
    except (SafetensorError, EOFError, RuntimeError, pickle.UnpicklingError) as err:
        raise ValueError(
            f"{path} is damaged or truncated ({type(err).__name__}: {err or 'file ends early'}); "
            "save it again or restore it from a good copy"
        ) from err
