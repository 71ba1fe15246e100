"""Cache entries: reused when whole, rebuilt (with a warning) when damaged, never replaced when foreign."""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from pathlib import Path

import pytest

from workbench.cache import CacheEntryError, cached_folder

RECORD = "record.json"


class Builds:
    """A builder that writes two files and counts its calls (in a file, so that processes share the count)."""

    def __init__(self, log: Path, pause: float = 0.0) -> None:
        self.log, self.pause = log, pause

    def __call__(self, folder: Path, previous: dict | None) -> dict:
        with open(self.log, "a") as fh:
            fh.write(f"{os.getpid()} {sorted(previous['files']) if previous else None}\n")
        time.sleep(self.pause)
        (folder / "sub").mkdir()
        (folder / "a.bin").write_bytes(b"a" * 1000)
        (folder / "sub" / "b.txt").write_text("bee")
        return {"revision": 1}

    @property
    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture()
def builds(tmp_path) -> Builds:
    return Builds(tmp_path / "builds.log")


def test_entry_is_built_once_and_records_its_files(tmp_path, builds):
    entry = tmp_path / "cache" / "entry"
    info = cached_folder(entry, RECORD, builds)
    assert info == {"revision": 1, "files": {"a.bin": 1000, "sub/b.txt": 3}}
    assert cached_folder(entry, RECORD, builds) == info
    assert len(builds.calls) == 1
    assert [p.name for p in entry.parent.iterdir() if p.suffix != ".lock"] == ["entry"]  # no temporary folders


@pytest.mark.parametrize(
    "damage, reason, kept",
    [
        (
            lambda e: (e / "a.bin").write_bytes(b"a" * 10),
            "a.bin has 10 bytes, 1,000 when it was written",
            ["sub/b.txt"],
        ),
        (lambda e: (e / "sub" / "b.txt").unlink(), "sub/b.txt is missing", ["a.bin"]),
        (lambda e: (e / RECORD).write_text('{"files": {"a.bin": 10'), "record.json is unreadable", None),
        (lambda e: (e / RECORD).write_text('{"revision": 1}'), "lists no file sizes", None),
    ],
)
def test_damaged_entry_is_rebuilt_with_a_warning(tmp_path, builds, caplog, damage, reason, kept):
    entry = tmp_path / "entry"
    cached_folder(entry, RECORD, builds)
    damage(entry)
    with caplog.at_level(logging.WARNING, logger="workbench.cache"):
        info = cached_folder(entry, RECORD, builds)
    assert f"cache entry {entry} cannot be trusted" in caplog.text and reason in caplog.text
    assert len(builds.calls) == 2 and (entry / "a.bin").read_bytes() == b"a" * 1000
    assert info["files"]["a.bin"] == 1000
    assert builds.calls[1].endswith(str(kept))  # build is offered only the files still whole


def test_unusable_entry_is_rebuilt_quietly_from_the_previous_one(tmp_path, builds, caplog):
    entry = tmp_path / "entry"
    cached_folder(entry, RECORD, builds)
    with caplog.at_level(logging.WARNING):
        cached_folder(entry, RECORD, builds, usable=lambda info: info["revision"] == 2)
    assert builds.calls[1].endswith("['a.bin', 'sub/b.txt']") and caplog.text == ""  # offered the old entry


def test_folder_the_library_did_not_write_is_left_alone(tmp_path, builds):
    entry = tmp_path / "entry"
    entry.mkdir()
    (entry / "notes.txt").write_text("mine")
    with pytest.raises(CacheEntryError, match=f"{entry} is in the cache but has no record.json"):
        cached_folder(entry, RECORD, builds)
    (tmp_path / "file-entry").write_text("mine too")
    with pytest.raises(CacheEntryError, match="not a folder"):
        cached_folder(tmp_path / "file-entry", RECORD, builds)
    assert (entry / "notes.txt").read_text() == "mine" and (tmp_path / "file-entry").read_text() == "mine too"
    assert builds.calls == []
    # A folder marked as written by an earlier version is the library's: it is rebuilt.
    (entry / "model").mkdir()
    cached_folder(entry, RECORD, builds, legacy=("model",))
    assert (entry / RECORD).is_file() and not (entry / "notes.txt").exists()


def test_failed_build_keeps_the_old_entry(tmp_path, builds):
    entry = tmp_path / "entry"
    cached_folder(entry, RECORD, builds)
    (entry / "a.bin").write_bytes(b"short")

    def failing(folder: Path, previous: dict | None) -> dict:
        (folder / "half.bin").write_bytes(b"half")
        raise RuntimeError("network down")

    with pytest.raises(RuntimeError, match="network down"):
        cached_folder(entry, RECORD, failing)
    assert (entry / "a.bin").read_bytes() == b"short"  # untouched, and rebuilt by the next good build
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".lock") == ["builds.log", "entry"]


def test_what_a_killed_build_left_is_removed_by_the_next(tmp_path, builds):
    entry = tmp_path / "entry"
    for leftover in (".entry.tmp-k1ll3d", ".entry.tmp-unpack-x", ".entry.old-4242"):
        (tmp_path / leftover / "sub").mkdir(parents=True)
        (tmp_path / leftover / "sub" / "big.bin").write_bytes(b"x" * 100)
    for other in (".entry-other.tmp-1", ".entryX.tmp-1", "entry.tmp-1"):  # not this entry's
        (tmp_path / other).mkdir()
    cached_folder(entry, RECORD, builds)
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".lock") == [
        ".entry-other.tmp-1",
        ".entryX.tmp-1",
        "builds.log",
        "entry",
        "entry.tmp-1",
    ]


def _build_in_process(entry: str, log: str) -> None:
    cached_folder(Path(entry), RECORD, Builds(Path(log), pause=0.5))


def test_processes_building_one_entry_build_it_once(tmp_path, builds):
    context = multiprocessing.get_context("fork")  # forked children start at once, without re-importing
    workers = [
        context.Process(target=_build_in_process, args=(str(tmp_path / "entry"), str(builds.log))) for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    assert len(builds.calls) == 1
    assert cached_folder(tmp_path / "entry", RECORD, builds)["files"] == {"a.bin": 1000, "sub/b.txt": 3}
