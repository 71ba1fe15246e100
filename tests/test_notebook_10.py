"""Notebook 10 (retrieve and rerank) runs top to bottom under papermill with small parameters.

Runs through the shared helper of ``test_notebooks.py``, whose ``SMALL`` table
gets this notebook's small parameters for this test only.  The figures are
those measured with these parameters (seeded: the split, the head, the
training order), with a tolerance for arithmetic differences between machines.
"""

from __future__ import annotations

import pytest

from notebook_kernel import NOTEBOOKS, notebook_kernel  # noqa: F401  (a fixture)
from test_notebooks import SMALL, run_notebook

pytestmark = pytest.mark.notebook

SMALL_10 = {
    "quora_pairs": 3000,
    "train_pairs": 64,
    "epochs": 1,
    "batch_size": 16,
    "quora_queries": 10,
    "quora_corpus": 200,
    "depths": [5, 10, 20],
    "scifact_queries": 4,
    "scifact_corpus": 40,
    "scifact_depth": 10,
    "speed_texts": 32,
    "mine_pairs": 40,
}


def test_10_retrieve_and_rerank(tmp_path, notebook_kernel, monkeypatch):  # noqa: F811
    monkeypatch.setitem(SMALL, "10_retrieve_and_rerank", SMALL_10)
    results = run_notebook("10_retrieve_and_rerank", tmp_path, notebook_kernel)
    # The first 3,000 Quora pairs, split by question groups (seed 42): nothing held out was seen in training.
    assert results["split"] == {"train": 2527, "test": 133, "dropped": 340, "leaks": 0}
    assert results["quora"] == {"queries": 10, "corpus": 200}
    assert results["speed"]["bi_texts_per_s"] > 0 and results["speed"]["cross_pairs_per_s"] > 0
    training = results["training"]
    assert training["steps"] == 4 and training["pairs"] == 64  # 64 pairs / batch 16, one epoch
    # Four steps barely move the new head: every held-out pair is called a duplicate (110 of the 133 are).
    assert training["dev"]["accuracy"] == pytest.approx(110 / 133, abs=1e-6) and training["dev"]["recall"] == 1.0
    assert training["dev"]["ap"] == pytest.approx(0.8356, abs=0.03)
    by_depth = {row["depth"]: row for row in results["by_depth"]}
    assert sorted(by_depth) == [5, 10, 20]
    # 200 held-out questions are an easy search for MiniLM: its top 10 holds every duplicate, ranked first.
    assert all(row["bi-encoder nDCG@10"] == pytest.approx(1.0) for row in by_depth.values())
    # The barely trained cross-encoder scrambles them, the more the deeper it reranks (measured: 0.501, 0.386, 0.154).
    for depth, measured in ((5, 0.5011), (10, 0.3864), (20, 0.1537)):
        assert by_depth[depth]["reranked nDCG@10"] == pytest.approx(measured, abs=0.05)
        assert by_depth[depth]["rerank seconds"] > 0
    scifact = results["scifact"]
    assert (scifact["queries"], scifact["corpus"], scifact["depth"]) == (4, 40, 10)
    assert scifact["bi-encoder nDCG@10"] == pytest.approx(1.0) and scifact["reranked nDCG@10"] == pytest.approx(
        0.3639, abs=0.05
    )
    mined = results["hard_negatives"]
    assert mined["pairs"] == 40 and mined["triplets"] == 40
    assert mined["suspicious"] == pytest.approx(0.7, abs=0.05)  # scores of about 0.5: an untrained judge
    worst = [row["cross-encoder: negative"] for row in mined["worst"]]
    assert worst == sorted(worst, reverse=True) and len(worst) == 3
    box = results["search_box"]
    assert box["bi_results"][0]["text"] == "Why do people ask Quora questions which can be answered easily by Google?"
    assert box["bi_results"][0]["score"] == pytest.approx(0.9151, abs=1e-3)
    assert [row["rank"] for row in box["results"]] == [1, 2, 3, 4, 5]
    assert all(row["movement"] == row["bi_rank"] - row["rank"] for row in box["results"])
    scores = [row["cross_score"] for row in box["results"]]
    assert scores == sorted(scores, reverse=True)


def test_10_small_parameters_are_defined_by_the_notebook():
    import nbformat

    nb = nbformat.read(NOTEBOOKS / "10_retrieve_and_rerank.ipynb", as_version=4)
    nbformat.validate(nb)
    (cell,) = [cell for cell in nb.cells if "parameters" in cell.metadata.get("tags", [])]
    wanted = [*SMALL_10, "results_path", "data_dir", "model_name", "seed"]
    assert [key for key in wanted if f"\n{key} =" not in f"\n{cell.source}"] == []
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"cells {dirty} were committed with outputs"
