"""The data-set registry: its contents against the mirror, path resolution order, load_dataset dispatch."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from workbench.data import registry as reg
from workbench.data.readers import BeirData, SentEvalTask
from workbench.data.sources import DataSourceError
from workbench.hooks import Hooks
from workbench.paths import checkout_mirror

MIRROR = checkout_mirror() or Path("no data mirror beside the checkout")
# The fixture skips without the mirror, and tests/conftest.py marks the tests using it slow.
mirror = pytest.mark.usefixtures("mirror")
COMMIT_URL = re.compile(r"^https://raw\.githubusercontent\.com/[\w.-]+/[\w.-]+/[0-9a-f]{40}/\S+$")


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An empty cache; the mirror as data folder (tests that want no data folder delete it)."""
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(MIRROR))
    return tmp_path / "cache" / "datasets"


def with_urls(monkeypatch, name: str, urls: dict[str, str]) -> dict:
    """Point files of one registry entry at other URLs (local file:// copies)."""
    registry = reg.load_registry()
    for key, url in urls.items():
        registry[name]["files"][key]["url"] = url
    monkeypatch.setattr(reg, "load_registry", lambda: registry)
    return registry


# --------------------------------------------------------------------------- contents


def test_registry_entries_are_complete():
    registry = reg.load_registry()
    assert {
        "stsb",
        "stsb-multi-mt",
        "sts17",
        "snli",
        "tatoeba",
        "ntrex",
        "quora-duplicates",
        "scifact",
        "banking77",
        "20newsgroups",
        "ag-news",
        "senteval",
    } <= set(registry)
    for name, entry in registry.items():
        for key in ("description", "path", "reader", "load", "format", "license", "source", "upstream", "files"):
            assert key in entry, f"{name} lacks {key}"
        assert entry["reader"] in reg.LOADERS, name
        for rel, spec in entry["files"].items():
            assert re.fullmatch(r"[0-9a-f]{64}", spec["sha256"]), rel
            assert rel == entry["path"] or rel.startswith(entry["path"] + "/") or rel.startswith("licenses/"), (
                f"{name}: {rel} outside {entry['path']}"
            )
            if spec["url"] is None:
                assert spec["built_from"], f"{rel}: neither url nor built_from"
            else:
                assert COMMIT_URL.match(spec["url"]), spec["url"]
    assert registry["stsb"]["upstream"] == ["https://sbert.net/datasets/stsbenchmark.tsv.gz"]


@mirror
def test_registry_matches_mirror_checksums():
    sums = dict(line.split(None, 1)[::-1] for line in (MIRROR / "SHA256SUMS").read_text().splitlines())
    registered = {rel: spec["sha256"] for entry in reg.load_registry().values() for rel, spec in entry["files"].items()}
    assert registered == {rel: digest for rel, digest in sums.items() if rel != "README.md"}
    from workbench.download import sha256_file

    assert sha256_file(MIRROR / "ag_news_test.csv") == registered["ag_news_test.csv"]


def test_registry_file_lookup_order(tmp_path, monkeypatch):
    module = tmp_path / "site" / "workbench" / "data" / "registry.py"
    module.parent.mkdir(parents=True)
    monkeypatch.setattr(reg, "__file__", str(module))
    with pytest.raises(FileNotFoundError, match="registry not found"):
        reg.registry_file()
    checkout = tmp_path / "site" / "data" / "registry.json"
    checkout.parent.mkdir()
    checkout.write_text(json.dumps({"datasets": {"from-checkout": {}}}))
    assert reg.registry_file() == checkout and list(reg.load_registry()) == ["from-checkout"]
    packaged = module.with_name("registry.json")
    packaged.write_text(json.dumps({"datasets": {"from-package": {}}}))
    assert reg.registry_file() == packaged and list(reg.load_registry()) == ["from-package"]


def test_unknown_names_list_the_known_ones():
    with pytest.raises(KeyError, match=r"unknown data set 'stsbx'.*'stsb'.*'tatoeba'"):
        reg.dataset_path("stsbx")
    with pytest.raises(KeyError, match=r"'stsb' has no file 'x.tsv'.*stsbenchmark.tsv.gz"):
        reg.dataset_path("stsb", "x.tsv")
    with pytest.raises(KeyError, match=r"unknown data set"):
        reg.load_dataset("nope")


# --------------------------------------------------------------------------- resolution order


@mirror
def test_data_dir_wins_over_cache(env):
    (env / "stsbenchmark.tsv.gz").parent.mkdir(parents=True)
    (env / "stsbenchmark.tsv.gz").write_bytes(b"a stale cached copy")
    assert reg.dataset_path("stsb") == MIRROR / "stsbenchmark.tsv.gz"
    assert reg.dataset_path("senteval", "MR") == MIRROR / "senteval" / "MR"
    assert reg.dataset_path("tatoeba", "tatoeba.deu-eng.deu") == MIRROR / "parallel/tatoeba/tatoeba.deu-eng.deu"


@mirror
def test_cache_is_second(env, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "empty-data"))
    (tmp_path / "empty-data").mkdir()
    cached = env / "stsbenchmark.tsv.gz"
    cached.parent.mkdir(parents=True)
    shutil.copy(MIRROR / "stsbenchmark.tsv.gz", cached)
    assert reg.dataset_path("stsb") == cached
    assert len(reg.load_dataset("stsb", split="dev")) == 1500


@mirror
def test_download_third_with_checksum(env, monkeypatch):
    monkeypatch.delenv("WORKBENCH_DATA_DIR")
    files = ["senteval/MR/rt-polarity.pos", "senteval/MR/rt-polarity.neg"]
    with_urls(monkeypatch, "senteval", {rel: (MIRROR / rel).as_uri() for rel in files})
    seen = []

    class Recorder:
        def on_progress_end(self, event):
            seen.append(event.task)

    mr = reg.load_dataset("senteval", task="mr", hooks=Hooks([Recorder()]))
    assert isinstance(mr, SentEvalTask) and len(mr.splits["all"]) == 10662
    assert sorted(seen) == ["download rt-polarity.neg", "download rt-polarity.pos"]
    for rel in files:
        assert (env / rel).read_bytes() == (MIRROR / rel).read_bytes()
    # A second call finds them in the cache: no further download.
    assert reg.dataset_path("senteval", "MR", hooks=Hooks([Recorder()])) == env / "senteval" / "MR"
    assert len(seen) == 2


@mirror
def test_incomplete_data_dir_folder_falls_back_to_download(env, tmp_path, monkeypatch):
    partial = tmp_path / "partial"
    (partial / "senteval" / "CR").mkdir(parents=True)
    shutil.copy(MIRROR / "senteval/CR/custrev.pos", partial / "senteval/CR/custrev.pos")
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(partial))
    rels = ["senteval/CR/custrev.pos", "senteval/CR/custrev.neg"]
    with_urls(monkeypatch, "senteval", {rel: (MIRROR / rel).as_uri() for rel in rels})
    assert reg.dataset_path("senteval", "CR") == env / "senteval" / "CR"
    assert sorted(p.name for p in (env / "senteval" / "CR").iterdir()) == ["custrev.neg", "custrev.pos"]


@mirror
def test_download_with_wrong_checksum_leaves_nothing(env, tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBENCH_DATA_DIR")
    wrong = tmp_path / "not-ag-news.csv"
    wrong.write_text("label,title,description\n1,a,b\n")
    with_urls(monkeypatch, "ag-news", {"ag_news_test.csv": wrong.as_uri()})
    # The bad bytes are refused (and the error says why) rather than read.
    with pytest.raises(DataSourceError, match="checksum mismatch for ag_news_test.csv"):
        reg.load_dataset("ag-news")
    assert list(env.iterdir()) == []


def test_built_file_without_url_needs_a_data_folder_or_a_source(env, tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBENCH_DATA_DIR")
    # An empty mirror stands in for the internet: the public source fails too.
    monkeypatch.setenv("WORKBENCH_DATA_URL", (tmp_path / "empty-mirror").as_uri())
    with pytest.raises(
        FileNotFoundError,
        match=r"(?s)stsbenchmark.tsv.gz of data set 'stsb'.*no download URL.*"
        r"WORKBENCH_DATA_DIR.*source sbert.net.*empty-mirror/sbert.net/datasets",
    ):
        reg.dataset_path("stsb")


# --------------------------------------------------------------------------- load_dataset


@mirror
@pytest.mark.parametrize(
    "name, kwargs, size",
    [
        ("stsb", {"split": "test", "normalize": True}, 1379),
        ("stsb-multi-mt", {"split": "dev", "lang": "de"}, 1500),
        ("stsb-multi-mt", {"split": "train"}, 5749),
        ("sts17", {"track": "ar-en"}, 250),
        ("sts17", {}, 2750),
        ("snli", {"split": "dev"}, 9842),
        ("tatoeba", {"lang": "deu"}, 1000),
        ("ntrex", {"lang": "zho-CN"}, 1997),
        ("banking77", {"split": "test"}, 3080),
        ("ag-news", {"split": "test"}, 7600),
        ("20newsgroups", {"split": "test"}, 7532),
        ("senteval", {"task": "SST2", "split": "dev"}, 872),
    ],
)
def test_load_dataset_dispatch(env, name, kwargs, size):
    rows = reg.load_dataset(name, **kwargs)
    assert len(rows) == size


@mirror
def test_load_dataset_quora_dispatch(env, monkeypatch):
    # The reader itself is tested on the full file in test_readers; here only the hand-over.
    calls = []
    monkeypatch.setattr(reg.readers, "read_quora_duplicates", lambda path: calls.append(path) or [])
    assert reg.load_dataset("quora-duplicates", split="train") == []
    assert calls == [MIRROR / "quora" / "quora_duplicate_questions.tsv.gz"]


@mirror
def test_load_dataset_special_results(env):
    assert reg.load_dataset("stsb", split="test", normalize=True)[0].label <= 1.0
    assert reg.load_dataset("ag-news")[0].label == 3
    beir = reg.load_dataset("scifact", split="test")
    assert isinstance(beir, BeirData) and len(beir.corpus) == 5183
    trec = reg.load_dataset("senteval", task="trec")
    assert trec.protocol == "train/test"


@mirror
@pytest.mark.parametrize(
    "name, kwargs, pattern",
    [
        ("banking77", {}, r"needs split=.*'train', 'test'"),
        ("stsb", {"split": "validation"}, r"no split 'validation'.*'dev'"),
        ("tatoeba", {}, r"needs lang=\.\.\.;"),
        ("ntrex", {"lang": "xx"}, r"no language 'xx'"),
        ("senteval", {}, r"needs task="),
        ("senteval", {"task": "MR", "split": "test"}, r"MR has no split 'test'"),
    ],
)
def test_load_dataset_argument_errors(env, name, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        reg.load_dataset(name, **kwargs)
