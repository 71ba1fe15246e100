"""Every notebook that reads a data set runs as on a user's first run: no mirror, the data only from the internet.

``WORKBENCH_DATA_DIR`` is unset and the notebook's ``data_dir`` names no folder; the data cache is the test's own
and starts empty; ``WORKBENCH_DATA_URL`` points every download at a :class:`http_fixtures.FileServer` on 127.0.0.1
that serves each source's upstream format (:func:`notebook_web.notebook_files`, a few dozen rows, big enough for
the parameters below).  Models are tiny ones built by the tests where the notebook takes a model name; zoo models
(notebook 07's static student) come from the session's model cache, linked into the test's cache.

The one difference from a user's machine: the served rows are made up, so the kernel reads a registry whose
checksums are theirs (:func:`http_fixtures.fixture_registry`, put in place by an IPython startup file).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest

import http_fixtures as fx
import notebook_web as nw
from conftest import make_tiny_bert
from notebook_kernel import NOTEBOOKS, notebook_kernel  # noqa: F401  (a fixture)
from test_notebooks import SMALL, run_notebook
from workbench.data import sources
from workbench.data.sources import _url_path

pytestmark = pytest.mark.notebook

#: What reads a registered data set: seeing one of these in a notebook means it must be run here.
DATA_READERS = re.compile(
    r"\b(load_dataset|dataset_path|sts_benchmarks|standard_parallel_data|fidelity_report|"
    r"scifact_evaluator|crosslingual_stsb|stsb_parallel_pairs)\("
)
#: The cache folders that hold models, shared with the session's cache; data sets never are.
MODEL_FOLDERS = ("models", "packages")
STARTUP = """\
# Written by tests/test_notebooks_downloaded.py: the served rows are made up, so this kernel reads a registry
# whose checksums are theirs.
import json as _json
import pathlib as _pathlib

import workbench.data.registry as _registry

_registry.load_registry = lambda: _json.loads(_pathlib.Path({path!r}).read_text())
"""

TINY = "tiny"  # stands for the tiny BERT's folder in the parameters below
WIDE = "wide"  # a tiny BERT 160 wide, for notebook 08's 128-dimension setting
TOTAL_STSB = sum(nw.STSB_SIZES.values())


def check_02(r: dict[str, Any]) -> None:
    assert r["pairs"] == nw.STSB_SIZES["test"]
    assert set(r["spearman_by_genre"]) == {"all", *nw.GENRES}
    assert all(-1 <= value <= 1 for value in r["spearman"].values())


def check_03(r: dict[str, Any]) -> None:
    assert r["train_pairs"] == nw.STSB_SIZES["train"] and r["steps"] == nw.STSB_SIZES["train"] // 16
    assert r["evaluation_steps"] == [2, 3] and all(-1 <= value <= 1 for value in r["dev_spearman"])


def check_04(r: dict[str, Any]) -> None:
    assert r["training_pairs"] == 3 * nw.SNLI_SIZES["dev"]  # the "-" pair has no gold label: skipped
    assert r["triplets"] == nw.SNLI_SIZES["dev"]  # one (premise, entailment, contradiction) per premise
    assert set(r["after"]) == {"sts-dev_spearman_cosine", "snli-test_accuracy"}


def check_05(r: dict[str, Any]) -> None:
    assert r["scifact"]["corpus"] == nw.SCIFACT_DOCS and r["scifact"]["queries"] == nw.SCIFACT_QUERIES
    assert 0 < r["scifact"]["ndcg@10"] <= 1
    assert r["quora"]["questions"] > 0 and r["quora"]["queries"] > 0 and r["search_example"]


def check_06(r: dict[str, Any]) -> None:
    # Every message is kept: the training messages too, whose line breaks are LF in the archive (TAB in the mirror).
    assert r["20newsgroups"]["documents"] == nw.newsgroups_messages() and r["20newsgroups"]["k"] == 4
    assert r["ag_news"]["documents"] == nw.AG_ROWS and len(r["ag_news"]["keywords"]) == 4


def check_07(r: dict[str, Any]) -> None:
    assert r["languages"] == ["de", "es"] and r["held_out_pairs"] == {"de": 10, "es": 10}
    assert set(r["sts"]) == {"sts17-en-de", "sts17-es-en", "stsb-de", "stsb-es", "stsb-en-de", "stsb-en-es"}
    assert r["steps"] >= 1 and r["map_points"] > 0 and r["search_hits"]
    assert r["reload_identical"] is True


def check_08(r: dict[str, Any]) -> None:
    assert set(r["speed"]) == {"float32", "bfloat16", "onnx float32", "int8"}
    fidelity = {row["setting"]: row for row in r["fidelity"]}
    assert fidelity["onnx float32"]["min_cosine"] > 0.999 and fidelity["128 dims"]["dim"] == 128
    assert "binary, Hamming only" in r["quantized_search"]


def check_10(r: dict[str, Any]) -> None:
    # The served pairs split by question groups (seed 42): 2 duplicate pairs held out, 6 negatives across the cut.
    assert r["split"] == {"train": 52, "test": 2, "dropped": 6, "leaks": 0}
    assert sum(r["split"][key] for key in ("train", "test", "dropped")) == nw.QUORA_PAIRS
    assert r["quora"] == {"queries": 2, "corpus": 2}
    assert [row["depth"] for row in r["by_depth"]] == [2, 5]
    assert all(0 <= row[key] <= 1 for row in r["by_depth"] for key in ("bi-encoder nDCG@10", "reranked nDCG@10"))
    assert (r["scifact"]["queries"], r["scifact"]["corpus"]) == (nw.SCIFACT_QUERIES, nw.SCIFACT_DOCS)
    assert r["training"]["pairs"] == 16 and r["training"]["steps"] == 2  # 16 pairs / batch 8, one epoch
    assert r["hard_negatives"]["pairs"] == 8 and r["search_box"]["results"]


# notebook -> (parameters, the data sets it downloads, check of its results)
CASES: dict[str, tuple[dict[str, Any], list[str], Callable[[dict[str, Any]], None]]] = {
    "02_sts_evaluation": ({"model_names": [TINY], "include_mpnet": False}, ["stsb"], check_02),
    "03_train_sts": ({"model_name": TINY, "batch_size": 16, "evaluation_steps": 2, "epochs": 1}, ["stsb"], check_03),
    "04_train_nli": (
        {
            "model_name": TINY,
            "max_train": None,
            "max_eval": None,
            "max_sts_dev": None,
            "batch_size": 16,
            "evaluation_steps": 2,
        },
        ["snli", "stsb"],
        check_04,
    ),
    "05_semantic_search": (
        {"model_name": TINY, "quora_questions": 800, "quora_queries": 60},
        ["scifact", "quora-duplicates"],
        check_05,
    ),
    "06_clustering": (
        {"model_name": TINY, "newsgroups_docs": 1000, "newsgroups_k": 4, "agnews_docs": 1000},
        ["20newsgroups", "ag-news"],
        check_06,
    ),
    "07_multilingual": (
        {
            "teacher_name": TINY,
            "languages": ["de", "es"],
            "held_out": 10,
            "stsb_splits": ["train"],
            "static_width": None,
            "epochs": 1,
            "batch_size": 32,
            "map_lines": 5,
            "map_projection": "pca",
            "search_corpus_size": 20,
        },
        ["ntrex", "tatoeba", "stsb-multi-mt", "sts17"],
        check_07,
    ),
    "08_speed_and_precision": (
        {
            "model_name": WIDE,
            "speed_sentences": 64,
            "repeats": 1,
            "stsb_pairs": None,
            "scifact_docs": None,
            "scifact_queries": None,
            "processes": 1,
        },
        ["stsb", "scifact"],
        check_08,
    ),
    "10_retrieve_and_rerank": (
        {
            "model_name": TINY,
            "quora_pairs": None,
            "train_pairs": 16,
            "epochs": 1,
            "batch_size": 8,
            "quora_queries": None,
            "quora_corpus": None,
            "depths": [2, 5],
            "scifact_queries": None,
            "scifact_corpus": None,
            "scifact_depth": 10,
            "speed_texts": 8,
            "mine_pairs": 8,
        },
        ["quora-duplicates", "scifact"],
        check_10,
    ),
}
#: Parameters that name an output folder: each test gets its own.
OUTPUTS = ("output_path",)


def reads_a_data_set(name: str) -> bool:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    return any(DATA_READERS.search(cell.source) for cell in nb.cells if cell.cell_type == "code")


def test_every_notebook_that_reads_a_data_set_is_run_here():
    names = sorted(path.stem for path in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    assert sorted(name for name in names if reads_a_data_set(name)) == sorted(CASES)


def data_set_urls(registry: dict[str, Any], name: str) -> set[str]:
    """``host/path`` of every file a data set can be downloaded from (registered files and sources)."""
    entry = registry[name]
    urls = {spec["url"] for spec in entry["files"].values() if spec["url"]}
    urls |= {spec["url"] for source in entry.get("sources", []) for spec in source["files"].values() if "url" in spec}
    return {_url_path(url) for url in urls}


@pytest.fixture
def users_machine(tmp_path, monkeypatch):
    """No mirror, an empty data cache (models linked from the session's), the registry of the served files."""
    files = nw.notebook_files()
    registry = fx.fixture_registry(files)
    (tmp_path / "registry.json").write_text(json.dumps(registry))
    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-fixture-registry.py").write_text(STARTUP.format(path=str(tmp_path / "registry.json")))
    cache = tmp_path / "cache"
    cache.mkdir()
    session_cache = Path(os.environ["WORKBENCH_CACHE"])
    for folder in MODEL_FOLDERS:
        (session_cache / folder).mkdir(parents=True, exist_ok=True)
        (cache / folder).symlink_to(session_cache / folder)
    monkeypatch.delenv("WORKBENCH_DATA_DIR", raising=False)
    monkeypatch.setenv("WORKBENCH_CACHE", str(cache))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with fx.FileServer(files) as server:
        monkeypatch.setenv(sources.DATA_URL_ENV, server.url)
        yield server, registry, cache


@pytest.fixture(scope="module")
def wide_bert_dir(tmp_path_factory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("wide-bert"), hidden=160)


@pytest.mark.parametrize("name", sorted(CASES))
def test_notebook_runs_with_the_data_only_downloadable(
    name, users_machine, tmp_path, monkeypatch, notebook_kernel, request
):  # noqa: F811
    server, registry, cache = users_machine
    parameters, data_sets, check = CASES[name]

    def model(value: Any) -> Any:
        fixture = {TINY: "tiny_bert_dir", WIDE: "wide_bert_dir"}.get(value) if isinstance(value, str) else None
        return str(request.getfixturevalue(fixture)) if fixture else value

    parameters = {
        key: [model(v) for v in value] if isinstance(value, list) else model(value) for key, value in parameters.items()
    }
    parameters.update({key: str(tmp_path / key) for key in OUTPUTS if f"\n{key} =" in _parameters_cell(name)})
    monkeypatch.setitem(SMALL, name, parameters)
    results = run_notebook(name, tmp_path, notebook_kernel, data_dir=str(tmp_path / "no-mirror-here"))
    for data_set in data_sets:
        assert data_set_urls(registry, data_set) & set(server.requests), f"{name} did not download {data_set}"
    assert not (tmp_path / "no-mirror-here").exists()
    # What was downloaded is in the test's cache (sources under downloads/, registered files in their layout).
    assert [path for path in (cache / "datasets").rglob("*") if path.is_file()]
    check(results)


def _parameters_cell(name: str) -> str:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    (cell,) = [cell for cell in nb.cells if "parameters" in cell.metadata.get("tags", [])]
    return "\n" + cell.source
