"""Every registered data set through its download path, against a local stand-in for the internet.

No test here touches the network or the data mirror: ``WORKBENCH_DATA_DIR`` is unset, the cache is the test's own,
``WORKBENCH_DATA_URL`` points every download at a :class:`http_fixtures.FileServer` on 127.0.0.1 serving small
files in each source's upstream format, and ``HF_ENDPOINT`` at a :class:`fake_hub.FakeHub`.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import re
import warnings
from fnmatch import fnmatch
from pathlib import Path

import pytest

import http_fixtures as fx
from fake_hub import FakeHub
from workbench.data import registry as reg
from workbench.data import sources
from workbench.data.readers import BeirData, SentEvalTask
from workbench.data.sources import DataSourceError, UntrustedDownloadWarning, _url_path
from workbench.hooks import Hooks


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """No data folder, an empty cache, the fixture registry, and the hub offline unless a test serves one."""
    monkeypatch.delenv("WORKBENCH_DATA_DIR", raising=False)
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    registry = fx.fixture_registry()
    monkeypatch.setattr(reg, "load_registry", lambda: registry)
    return tmp_path / "cache" / "datasets"


@pytest.fixture
def web(cache, monkeypatch):
    """The upstream files served on 127.0.0.1 and named by WORKBENCH_DATA_URL."""
    with fx.FileServer(fx.upstream_files()) as server:
        monkeypatch.setenv(sources.DATA_URL_ENV, server.url)
        yield server


@pytest.fixture
def hub(cache, monkeypatch):
    """The hub copies the registry names, on a fake hub; HF_HUB_OFFLINE lifted for it."""
    import huggingface_hub.constants

    fake = FakeHub()
    registry = reg.load_registry()
    for entry in registry.values():
        for source in entry.get("sources", []):
            for spec in source["files"].values():
                if "hub" in spec:
                    h = spec["hub"]
                    files = {f: data for (repo, f), data in fx.hub_fixtures().items() if repo == h["repo_id"]}
                    fake.add(h["repo_id"], files, h["repo_type"], commit=h["revision"])
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    with fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        yield fake


def texts(rows) -> list[list[str]]:
    return [row.texts for row in rows]


# --------------------------------------------------------------------------- every data set, downloaded


# name -> (load_dataset kwargs, check of the result); together they cover every registered data set.
DOWNLOADS = {
    "stsb": (
        {"split": "test", "normalize": True},
        lambda rows: (
            len(rows) == 6 and rows[0].texts == ["A man is eating bread.", "A man eats bread."] and rows[0].label == 1.0
        ),
    ),
    "stsb-multi-mt": (
        {"split": "test", "lang": "de"},
        lambda rows: texts(rows) == [["Ein Mann isst.", "Ein Mann, essend."], ["Eine Katze.", "Ein Hund."]],
    ),
    "sts17": (
        {},
        lambda rows: (
            [(r.guid, r.label) for r in rows]
            == [
                ("extended.de-en", 4.8),
                ("track4b.es-en", 5.0),
                ("track4b.es-en", 1.0),
                ("track5.en-en", 4.8),
                ("track5.en-en", 0.2),
            ]
        ),
    ),
    "snli": (
        {"split": "dev"},
        lambda rows: [(r.texts[1], r.label) for r in rows] == [("A girl runs fast.", 2), ("It is dry.", 0)],
    ),
    "allnli": ({"split": "train"}, lambda rows: [r.label for r in rows] == [1, 0]),
    "tatoeba": (
        {"lang": "deu"},
        lambda rows: texts(rows) == [["Ich esse.", "I eat."], ["Der Hund schläft.", "The dog sleeps."]],
    ),
    "ntrex": ({"lang": "deu"}, lambda rows: texts(rows)[1] == ["Markets fell.", "Die Märkte fielen."]),
    "quora-duplicates": (
        {},
        lambda rows: (
            rows[0].texts == ['What is a "bank"?', "What does bank mean?"] and [r.label for r in rows] == [0, 1]
        ),
    ),
    "scifact": (
        {"split": "test"},
        lambda data: (
            isinstance(data, BeirData)
            and len(data.corpus) == 3
            and data.queries
            == {
                "1": "0-dimensional biomaterials show inductive properties.",
                "3": "1,000 genomes project enables mapping.",
            }
            and data.relevant == {"1": {"4983"}, "3": {"5836"}}
        ),
    ),
    "banking77": ({"split": "train"}, lambda rows: [r.label for r in rows] == ["card_arrival", "lost_or_stolen_card"]),
    "20newsgroups": (
        {},
        lambda rows: (
            [r.guid for r in rows]
            == ["alt.atheism/49960", "sci.space/60001", "alt.atheism/9", "alt.atheism/53068", "sci.space/61000"]
            and rows[1].texts[0].startswith("From: café@")
        ),
    ),
    "ag-news": (
        {"split": "test"},
        lambda rows: [r.label for r in rows] == [3, 4] and rows[0].texts == ["Fears for pension Unions say, fears."],
    ),
    "senteval": (
        {"task": "MR"},
        lambda task: (
            isinstance(task, SentEvalTask)
            and [(e.texts[0], e.label) for e in task.splits["all"]]
            == [("a great movie ", 1), ("fun and warm ", 1), ("a dull film ", 0)]
        ),
    ),
}


def test_every_registered_data_set_has_a_download_test():
    assert set(DOWNLOADS) == set(reg.load_registry())


@pytest.mark.parametrize("name", sorted(DOWNLOADS))
def test_load_dataset_downloads(web, cache, name):
    kwargs, check = DOWNLOADS[name]
    assert check(reg.load_dataset(name, **kwargs))
    assert web.requests, "nothing was downloaded"
    # A second load is served from the cache: no further request.
    before = len(web.requests)
    assert check(reg.load_dataset(name, **kwargs))
    assert len(web.requests) == before


#: Every (data set, source id) of the registry.
SOURCES = sorted((name, s["id"]) for name, entry in reg.load_registry().items() for s in entry.get("sources", []))
#: Sources whose rows differ from those DOWNLOADS expects (the first source's): load_dataset kwargs, check.
SOURCE_CHECKS = {
    ("snli", "sbert.net-allnli"): (
        {"split": "dev"},  # AllNLI's SNLI dev rows only, not its MNLI ones
        lambda rows: [(r.texts, r.label) for r in rows] == [(["A dog runs.", "An animal moves."], 1)],
    ),
}


@pytest.mark.parametrize("name, source_id", SOURCES)
def test_every_source_is_read_on_its_own(web, hub, cache, name, source_id):
    """Each source with the data set's other sources removed: its own files are fetched and read."""
    entry = reg.load_registry()[name]
    (source,) = entry["sources"] = [s for s in entry["sources"] if s["id"] == source_id]
    web.files["qwone.com/~jason/20Newsgroups/20news-bydate.tar.gz"] = web.files[
        "ndownloader.figshare.com/files/5975967"
    ]
    kwargs, check = SOURCE_CHECKS.get((name, source_id), DOWNLOADS[name])
    assert check(reg.load_dataset(name, **kwargs))
    for spec in source["files"].values():
        if "url" in spec:
            assert _url_path(spec["url"]) in web.requests
        elif "hub" in spec:
            h = spec["hub"]
            wanted = f"/datasets/{h['repo_id']}/resolve/{h['revision']}/{h['filename']}"
            assert any(path == wanted for _, path in hub.requests), (wanted, hub.requests)
        else:
            registered = [_url_path(f["url"]) for k, f in entry["files"].items() if fnmatch(k, spec["registered"])]
            assert registered and set(registered) <= set(web.requests)


def test_dataset_path_gives_the_source_file_in_the_registered_layout(web, cache):
    path = reg.dataset_path("stsb")
    assert path == cache / "downloads" / "sbert.net" / "datasets" / "stsbenchmark.tsv.gz"
    assert gzip.decompress(path.read_bytes()).decode().startswith("split\tgenre\tdataset")
    assert reg.dataset_path("scifact", "qrels/test.tsv").read_text().splitlines()[1] == "1\t4983\t1"
    assert reg.dataset_path("quora-duplicates").name == "quora_duplicate_questions.tsv"


# --------------------------------------------------------------------------- checksums and trust on first use


def test_published_md5_refuses_a_tampered_archive(web, cache):
    zip_path = "public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/scifact.zip"
    web.files[zip_path] = fx.zipped({"scifact/corpus.jsonl": '{"_id": "x", "text": "injected"}\n'})
    with pytest.raises(
        DataSourceError, match=r"(?s)source beir.*expected md5 .*source hub:BeIR/scifact: HF_HUB_OFFLINE"
    ):
        reg.load_dataset("scifact", split="test")
    assert not list((cache / "downloads").rglob("scifact.zip*"))


def test_published_sha256_refuses_a_tampered_archive_and_the_next_source_is_tried(web, cache):
    web.files["ndownloader.figshare.com/files/5975967"] += b"tampered"
    with pytest.raises(DataSourceError) as info:
        reg.load_dataset("20newsgroups", split="test")
    tried = str(info.value)
    # In order: data folder, cache, registered (none downloadable), scikit-learn's copy, qwone's.
    assert re.search(
        r"(?s)WORKBENCH_DATA_DIR is not set.*no download URL.*source scikit-learn: .*checksum mismatch"
        r".*source qwone: .*qwone.com/~jason/20Newsgroups/20news-bydate.tar.gz.*404",
        tried,
    ), tried
    web.files["qwone.com/~jason/20Newsgroups/20news-bydate.tar.gz"] = fx.source_fixtures()[
        "ndownloader.figshare.com/files/5975967"
    ]
    assert [r.guid for r in reg.load_dataset("20newsgroups", split="test")][0] == "alt.atheism/9"


def test_trust_on_first_use_records_warns_and_pins(web, cache):
    url = "https://sbert.net/datasets/stsbenchmark.tsv.gz"
    served = "sbert.net/datasets/stsbenchmark.tsv.gz"
    first = reg.load_dataset("stsb", split="dev")
    record = sources.trusted_downloads()[url]
    assert record["sha256"] == hashlib.sha256(web.files[served]).hexdigest() and record["pinned"] is False

    # Upstream changes: the next download (cache emptied) warns loudly, keeps the first record and uses the new bytes.
    changed = [row[:] for row in fx.STSB_ROWS]
    changed[2][6] = "An updated sentence."
    web.files[served] = fx.gz(fx.tsv([fx.STSB_HEADER, *changed]))
    reg.dataset_path("stsb").unlink()
    with pytest.warns(UntrustedDownloadWarning, match=r"(?s)stsbenchmark.tsv.gz CHANGED.*pin_download"):
        second = reg.load_dataset("stsb", split="dev")
    assert second[0].texts[0] == "An updated sentence." != first[0].texts[0]
    assert sources.trusted_downloads()[url]["sha256"] == record["sha256"]

    # Pinned: other bytes are refused, and the error says which source and why.
    assert sources.pin_download(url) == record["sha256"]
    reg.dataset_path("stsb").unlink()
    with pytest.raises(DataSourceError, match=r"(?s)source sbert.net.*checksum mismatch.*hub:mteb/stsbenchmark-sts"):
        reg.load_dataset("stsb", split="dev")
    web.files[served] = fx.source_fixtures()[served]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert texts(reg.load_dataset("stsb", split="dev")) == texts(first)


def test_pin_download_checks_its_input(cache):
    with pytest.raises(KeyError, match="no recorded download"):
        sources.pin_download("https://example.org/x.tsv")
    with pytest.raises(ValueError, match="64 hex digits"):
        sources.pin_download("https://example.org/x.tsv", sha256="abc")
    assert sources.pin_download("https://example.org/x.tsv", "A" * 64) == "a" * 64
    assert sources.trusted_downloads()["https://example.org/x.tsv"] == {"sha256": "a" * 64, "pinned": True}


def test_truncated_downloads_are_refused_and_not_trusted(web, cache):
    served = "sbert.net/datasets/stsbenchmark.tsv.gz"
    web.truncated |= {
        served,
        "qim.fs.quoracdn.net/quora_duplicate_questions.tsv",
    }  # cut halfway through the announced length
    with pytest.raises(DataSourceError, match=r"truncated: received \d+ of \d+ bytes"):
        reg.dataset_path("stsb")
    # A plain TSV has no end marker of its own: only the announced length tells.
    with pytest.raises(DataSourceError, match=r"quora_duplicate_questions.tsv.*truncated: received \d+ of \d+ bytes"):
        reg.load_dataset("quora-duplicates")
    # A file cut short at its source (the whole of it is sent): the gzip stream does not end.
    web.truncated.clear()
    web.files[served] = web.files[served][:-12]
    with pytest.raises(DataSourceError, match=r"stsbenchmark.tsv.gz is truncated or corrupt"):
        reg.dataset_path("stsb")
    assert not list((cache / "downloads").rglob("*.tsv*")) and sources.trusted_downloads() == {}


# --------------------------------------------------------------------------- the hub


def test_hub_copy_is_the_second_source(web, hub, cache):
    del web.files["sbert.net/datasets/stsbenchmark.tsv.gz"]
    rows = reg.load_dataset("stsb", split="test", normalize=True)
    assert [(r.texts, r.label) for r in rows] == [
        ([r[6], r[7]], float(r[5]) / 5) for r in fx.STSB_ROWS if r[0] == "test"
    ]
    revision = "b0fddb56ed78048fa8b90373c8a3cfc37b684831"
    assert ("HEAD", f"/datasets/mteb/stsbenchmark-sts/resolve/{revision}/test.jsonl.gz") in hub.requests
    data = reg.load_dataset("scifact")  # BEIR's zip served, so the hub is not asked
    assert not any("scifact" in path for _, path in hub.requests) and len(data.queries) == 2


def test_hub_files_are_checked_against_the_hash_the_hub_publishes(web, hub, cache):
    del web.files["public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/scifact.zip"]
    hub.tamper("BeIR/scifact", "corpus.jsonl.gz", fx.gz('{"_id": "x", "text": "y"}\n'))  # an LFS file
    with pytest.raises(
        DataSourceError, match=r"source hub:BeIR/scifact: .*checksum mismatch for corpus.jsonl.gz.*expected sha256"
    ):
        reg.load_dataset("scifact")
    hub.repos["dataset", "BeIR/scifact"].served.clear()
    hub.tamper("BeIR/scifact-qrels", "test.tsv", b"query-id\tcorpus-id\tscore\n1\t7912\t1\n")  # a git file
    with pytest.raises(DataSourceError, match=r"source hub:BeIR/scifact: checksum mismatch for test.tsv.*git hash"):
        reg.load_dataset("scifact")
    hub.repos["dataset", "BeIR/scifact-qrels"].served.clear()
    assert not list((cache / "downloads").rglob("test.tsv"))
    data = reg.load_dataset("scifact")
    assert data.relevant == {"1": {"4983"}, "3": {"5836"}} and set(data.queries) == {"1", "3"}


def test_fake_hub_serves_huggingface_hub_downloads(tmp_path, monkeypatch):
    """What other tests rely on: hf_hub_download and snapshot_download work against the fake hub."""
    import huggingface_hub.constants
    from huggingface_hub import hf_hub_download, snapshot_download

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    files = {"config.json": b'{"dim": 4}', "model.safetensors": b"\x00" * 300, "sub/vocab.txt": b"a\nb\n"}
    with FakeHub() as fake:
        repo = fake.add("sentence-transformers/tiny-test", files, repo_type="model")
        path = hf_hub_download(
            "sentence-transformers/tiny-test", "model.safetensors", cache_dir=tmp_path / "c1", endpoint=fake.url
        )
        assert Path(path).read_bytes() == files["model.safetensors"] and repo.commit in path
        folder = Path(
            snapshot_download("sentence-transformers/tiny-test", cache_dir=tmp_path / "c2", endpoint=fake.url)
        )
        assert {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == files
        with pytest.raises(Exception, match="(?i)not found|404"):
            hf_hub_download("sentence-transformers/absent", "config.json", cache_dir=tmp_path / "c3", endpoint=fake.url)


# --------------------------------------------------------------------------- mirrors, progress, the registry


def test_mirrored_url():
    assert (
        sources.mirrored_url("https://sbert.net/a/b.tsv.gz", base="http://m.local/x/")
        == "http://m.local/x/sbert.net/a/b.tsv.gz"
    )
    assert sources.mirrored_url("https://sbert.net/a.gz", base="") == "https://sbert.net/a.gz"
    with pytest.raises(ValueError, match="WORKBENCH_DATA_URL='ftp://m'"):
        sources.mirrored_url("https://sbert.net/a.gz", base="ftp://m")
    with pytest.raises(ValueError, match="relative path"):
        sources.mirrored_url("https://sbert.net/a/../b", base="http://m")


def test_a_file_url_mirror_works_like_an_http_one(cache, tmp_path, monkeypatch):
    mirror = tmp_path / "offline-copy"
    for rel, data in fx.upstream_files().items():
        (mirror / rel).parent.mkdir(parents=True, exist_ok=True)
        (mirror / rel).write_bytes(data)
    monkeypatch.setenv(sources.DATA_URL_ENV, mirror.as_uri())
    assert len(reg.load_dataset("allnli", split="dev")) == 2


def test_downloads_show_progress_and_announce_large_sizes(web, cache, monkeypatch, caplog):
    events = []

    class Recorder:
        def on_progress_begin(self, event):
            events.append(("begin", event.task, event.total))

        def on_progress_update(self, event):
            events.append(("update", event.task, event.n))

    size = len(web.files["sbert.net/datasets/AllNLI.tsv.gz"])
    monkeypatch.setattr(sources, "LARGE_BYTES", size)
    with caplog.at_level(logging.WARNING, logger="workbench.data"):
        reg.load_dataset("allnli", split="test", hooks=Hooks([Recorder()]))
    assert events[0] == ("begin", "download AllNLI.tsv.gz", size)
    assert sum(n for kind, _, n in events if kind == "update") == size
    assert re.search(rf"downloading AllNLI.tsv.gz: 0.0 MB from {re.escape(web.url)}/sbert.net", caplog.text)


def test_registry_sources_are_well_formed():
    from sklearn.datasets._twenty_newsgroups import ARCHIVE

    for name, entry in reg.load_registry().items():
        downloadable = bool(entry["files"]) and all(spec["url"] for spec in entry["files"].values())
        assert downloadable or entry.get("sources"), f"{name}: no way to download it"
        kinds = ["provides" in s for s in entry.get("sources", [])]
        assert kinds == sorted(kinds, reverse=True), f"{name}: sources in the registered layout must come first"
        for source in entry.get("sources", []):
            assert ("provides" in source) != ("reader" in source), source["id"]
            assert source.get("reader", "sts_jsonl") in reg.SOURCE_READERS, source["id"]
            for role in source.get("provides", {}).values():
                assert role in source["files"], source["id"]
            for spec in source["files"].values():
                assert sum(key in spec for key in ("url", "hub", "registered")) == 1, spec
                if "hub" in spec:
                    assert re.fullmatch(r"[0-9a-f]{40}", spec["hub"]["revision"]), spec
                if "url" in spec:
                    assert re.match(r"^https?://[^/]+/\S+$", spec["url"]), spec
                assert re.fullmatch(r"[0-9a-f]{32}", spec.get("md5", "0" * 32)), spec
    newsgroups = reg.load_registry()["20newsgroups"]["sources"][0]["files"]["archive"]
    # The checksum scikit-learn publishes and checks for the same archive.
    assert (newsgroups["url"], newsgroups["sha256"]) == (ARCHIVE.url, ARCHIVE.checksum)
