"""Downloads, checksums, archive extraction and PyPI fetches, all offline (file:// URLs, local wheels)."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from workbench.download import (
    ArchiveError,
    ArchiveTooLargeError,
    ChecksumError,
    DownloadError,
    UnsafeArchiveError,
    download,
    fetch_pypi_package,
    safe_extract,
    sha256_file,
)
from workbench.hooks import Hooks

from local_http import http_server  # noqa: F401  (a fixture)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []

    def on_progress_begin(self, event):
        self.events.append(("begin", event.fields))

    def on_progress_update(self, event):
        self.events.append(("update", event.fields))

    def on_progress_end(self, event):
        self.events.append(("end", event.fields))


@pytest.fixture
def payload(tmp_path: Path) -> tuple[Path, str]:
    src = tmp_path / "src" / "payload.bin"
    src.parent.mkdir()
    data = bytes(range(256)) * 10_000  # 2.5 MB: several chunks
    src.write_bytes(data)
    return src, hashlib.sha256(data).hexdigest()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part") or ".tmp-" in p.name)


def test_sha256_file(payload):
    src, digest = payload
    assert sha256_file(src) == digest


def test_download_file_url_verifies_and_reports_progress(tmp_path, payload):
    src, digest = payload
    rec = Recorder()
    dest = tmp_path / "out" / "deep" / "payload.bin"
    assert download(src.as_uri(), dest, sha256=digest.upper(), hooks=Hooks([rec])) == dest
    assert dest.read_bytes() == src.read_bytes()
    kinds = [kind for kind, _ in rec.events]
    assert kinds[0] == "begin" and kinds[-1] == "end" and kinds.count("update") >= 2
    assert rec.events[0][1]["total"] == src.stat().st_size and rec.events[0][1]["unit"] == "B"
    assert sum(f["n"] for kind, f in rec.events if kind == "update") == src.stat().st_size
    assert leftovers(dest.parent) == []


def test_checksum_mismatch_deletes_partial_and_names_file(tmp_path, payload):
    src, digest = payload
    dest = tmp_path / "out" / "payload.bin"
    dest.parent.mkdir()
    dest.write_bytes(b"previous good copy")
    wrong = "0" * 64
    with pytest.raises(ChecksumError) as info:
        download(src.as_uri(), dest, sha256=wrong, hooks=Hooks())
    message = str(info.value)
    assert "payload.bin" in message and wrong in message and digest in message
    assert dest.read_bytes() == b"previous good copy"  # the old file is never clobbered
    assert leftovers(dest.parent) == []


def test_download_over_http(tmp_path, payload, http_server):
    src, digest = payload
    (http_server.root / "payload.bin").write_bytes(src.read_bytes())
    rec = Recorder()
    dest = download(http_server.url("payload.bin"), tmp_path / "got.bin", sha256=digest, hooks=Hooks([rec]))
    assert dest.read_bytes() == src.read_bytes() and rec.events[0][1]["total"] == src.stat().st_size
    with pytest.raises(DownloadError, match="404"):
        download(http_server.url("absent.bin"), tmp_path / "absent.bin", hooks=Hooks())
    assert leftovers(tmp_path) == [] and not (tmp_path / "absent.bin").exists()


@pytest.mark.parametrize("sha256", ["abc", "g" * 64, "0" * 63, 12345])
def test_malformed_sha256_is_refused_before_downloading(tmp_path, payload, sha256):
    src, _ = payload
    with pytest.raises(ValueError, match="sha256 must be 64 hexadecimal digits"):
        download(src.as_uri(), tmp_path / "out.bin", sha256=sha256, hooks=Hooks())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_unreadable_url_raises_download_error(tmp_path):
    missing = tmp_path / "nowhere.bin"
    with pytest.raises(DownloadError, match="nowhere.bin"):
        download(missing.as_uri(), tmp_path / "out.bin", hooks=Hooks())
    assert leftovers(tmp_path) == [] and not (tmp_path / "out.bin").exists()
    with pytest.raises(DownloadError, match="not-a-scheme"):
        download("not-a-scheme://x", tmp_path / "out.bin", hooks=Hooks())
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------- archives


def make_zip(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def make_tar(path: Path, members: dict[str, bytes], symlink: tuple[str, str] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        if symlink:
            info = tarfile.TarInfo(symlink[0])
            info.type, info.linkname = tarfile.SYMTYPE, symlink[1]
            tf.addfile(info)
    return path


def test_safe_extract_zip_replaces_target_atomically(tmp_path):
    archive = make_zip(tmp_path / "a.zip", {"top.txt": b"top", "dir/inner.txt": b"inner"})
    target = tmp_path / "target"
    target.mkdir()
    (target / "stale.txt").write_text("old")
    assert safe_extract(archive, target) == target
    assert (target / "dir" / "inner.txt").read_bytes() == b"inner"
    assert not (target / "stale.txt").exists()
    assert leftovers(tmp_path) == []


def test_safe_extract_tar_gz(tmp_path):
    archive = make_tar(tmp_path / "a.tar.gz", {"pkg/data.txt": b"data"})
    assert (safe_extract(archive, tmp_path / "t") / "pkg" / "data.txt").read_bytes() == b"data"


@pytest.mark.parametrize("name", ["../evil.txt", "ok/../../evil.txt", "/tmp/evil-absolute.txt"])
def test_zip_slip_refused(tmp_path, name):
    archive = make_zip(tmp_path / "slip.zip", {"fine.txt": b"x", name: b"evil"})
    with pytest.raises(UnsafeArchiveError, match="refusing") as info:
        safe_extract(archive, tmp_path / "target")
    assert "slip.zip" in str(info.value) and name in str(info.value)
    assert not (tmp_path / "target").exists() and not (tmp_path / "evil.txt").exists()
    assert leftovers(tmp_path) == []


def test_tar_symlink_and_traversal_refused(tmp_path):
    linked = make_tar(tmp_path / "link.tar.gz", {"a.txt": b"a"}, symlink=("link", "/etc/passwd"))
    with pytest.raises(UnsafeArchiveError, match="link"):
        safe_extract(linked, tmp_path / "t1")
    slip = make_tar(tmp_path / "slip.tar.gz", {"../escape.txt": b"x"})
    with pytest.raises(UnsafeArchiveError, match="outside"):
        safe_extract(slip, tmp_path / "t2")
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "t1").exists()


def test_corrupt_archives_named_in_error(tmp_path):
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"this is not a zip file at all" * 10)
    with pytest.raises(ArchiveError, match="garbage.zip"):
        safe_extract(garbage, tmp_path / "t")
    good = make_zip(tmp_path / "whole.zip", {"big.txt": bytes(range(256)) * 400})
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(
        make_tar(tmp_path / "whole.tar.gz", {"big.bin": bytes(range(256)) * 4000}).read_bytes()[:3000]
    )
    with pytest.raises(ArchiveError, match="truncated.tar.gz"):
        safe_extract(truncated, tmp_path / "t")
    # Flip one byte of the stored data: the CRC check must catch it.
    data = bytearray(good.read_bytes())
    data[100] ^= 0xFF
    flipped = tmp_path / "flipped.zip"
    flipped.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="flipped.zip"):
        safe_extract(flipped, tmp_path / "t")
    assert not (tmp_path / "t").exists() and leftovers(tmp_path) == []


BOMB = 40 << 20  # 40 MB of zeros: deflated to ~40 KB, a ratio of ~1,000


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_zip_bomb_is_refused_before_anything_is_written(tmp_path, kind):
    members = {"readme.txt": b"hello", "weights.bin": bytes(BOMB)}
    archive = (
        make_zip(tmp_path / "bomb.zip", members, zipfile.ZIP_DEFLATED)
        if kind == "zip"
        else make_tar(tmp_path / "bomb.tar.gz", members)
    )
    assert archive.stat().st_size < 200_000
    target = tmp_path / "target"
    target.mkdir()
    (target / "kept.txt").write_text("an earlier extraction")
    with pytest.raises(ArchiveTooLargeError, match="zip bomb") as info:
        safe_extract(archive, target)
    message = str(info.value)
    assert archive.name in message and f"{BOMB + 5:,}" in message and "WORKBENCH_MAX_EXTRACT_RATIO" in message
    assert [p.name for p in target.iterdir()] == ["kept.txt"] and leftovers(tmp_path) == []
    # A higher ratio lets the same archive through.
    assert (safe_extract(archive, target, max_ratio=10_000) / "weights.bin").stat().st_size == BOMB


def test_small_compressible_archive_is_not_a_bomb(tmp_path):
    archive = make_zip(tmp_path / "text.zip", {"vocab.txt": b"the\n" * 1_000_000}, zipfile.ZIP_DEFLATED)
    assert (tmp_path / "text.zip").stat().st_size * 100 < 4_000_000  # over the ratio, under 16 MiB in all
    assert (safe_extract(archive, tmp_path / "t") / "vocab.txt").stat().st_size == 4_000_000


def test_total_size_limit_from_argument_or_environment(tmp_path, monkeypatch):
    archive = make_zip(tmp_path / "a.zip", {"a.bin": bytes(600), "b.bin": bytes(400)})
    with pytest.raises(ArchiveTooLargeError, match=r"expand to 1,000 bytes, more than the limit of 999 \(max_bytes"):
        safe_extract(archive, tmp_path / "t", max_bytes=999)
    assert not (tmp_path / "t").exists()
    assert safe_extract(archive, tmp_path / "t", max_bytes=1000).is_dir()
    monkeypatch.setenv("WORKBENCH_MAX_EXTRACT_BYTES", "999")
    tar = make_tar(tmp_path / "a.tar.gz", {"a.bin": bytes(1000)})
    for path in (archive, tar):
        with pytest.raises(ArchiveTooLargeError, match="WORKBENCH_MAX_EXTRACT_BYTES"):
            safe_extract(path, tmp_path / "t2")
    assert safe_extract(archive, tmp_path / "t2", max_bytes=2000).is_dir()  # the argument wins


@pytest.mark.parametrize(
    "argument, value",
    [
        ("max_bytes", 0),
        ("max_bytes", -5),
        ("max_bytes", 1.5),
        ("max_bytes", True),
        ("max_bytes", "100"),
        ("max_ratio", 0),
        ("max_ratio", float("nan")),
        ("max_ratio", float("inf")),
    ],
)
def test_invalid_limits_are_named(tmp_path, argument, value):
    archive = make_zip(tmp_path / "a.zip", {"a.txt": b"a"})
    with pytest.raises(ValueError, match=f"{argument}=.* is not a valid extraction limit"):
        safe_extract(archive, tmp_path / "t", **{argument: value})
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("env, value", [("WORKBENCH_MAX_EXTRACT_BYTES", "lots"), ("WORKBENCH_MAX_EXTRACT_RATIO", "-1")])
def test_invalid_limit_variables_are_named(tmp_path, monkeypatch, env, value):
    monkeypatch.setenv(env, value)
    archive = make_zip(tmp_path / "a.zip", {"a.txt": b"a"})
    with pytest.raises(ValueError, match=f"{env}='{value}' is not a valid extraction limit"):
        safe_extract(archive, tmp_path / "t")


# --------------------------------------------------------------------------- PyPI


def make_wheel(folder: Path) -> Path:
    folder.mkdir()
    wheel = folder / "demo_pkg-0.1-py3-none-any.whl"
    make_zip(
        wheel,
        {
            "demo_pkg/__init__.py": b"",
            "demo_pkg-0.1.dist-info/METADATA": b"Metadata-Version: 2.1\nName: demo-pkg\nVersion: 0.1\n",
            "demo_pkg-0.1.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
            "demo_pkg-0.1.dist-info/RECORD": b"",
        },
    )
    return wheel


def test_fetch_pypi_package_from_local_index(tmp_path, monkeypatch):
    wheel = make_wheel(tmp_path / "wheels")
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # offline: only the local folder is searched
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheel.parent))
    got = fetch_pypi_package("demo-pkg", "0.1", dest=tmp_path / "dest")
    assert got == tmp_path / "dest" / wheel.name and got.read_bytes() == wheel.read_bytes()
    assert [p.name for p in got.parent.iterdir()] == [wheel.name]  # pip's temp folder is gone

    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "dest" / "none"))
    with pytest.raises(DownloadError, match="demo-pkg==0.2") as info:
        fetch_pypi_package("demo-pkg", "0.2", dest=tmp_path / "dest")
    assert "No matching distribution" in str(info.value)
