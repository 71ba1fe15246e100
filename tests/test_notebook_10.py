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

SMALL_10 = {"quora_pairs": 3000, "train_pairs": 64, "epochs": 1, "batch_size": 16, "quora_queries": 10,
            "quora_corpus": 200, "depths": [5, 10, 20], "scifact_queries": 4, "scifact_corpus": 40,
            "scifact_depth": 10, "speed_texts": 32, "mine_pairs": 40}


def test_10_retrieve_and_rerank(tmp_path, notebook_kernel, monkeypatch):  # noqa: F811
    monkeypatch.setitem(SMALL, "10_retrieve_and_rerank", SMALL_10)
    results = run_notebook("10_retrieve_and_rerank", tmp_path, notebook_kernel)
    print(results)
    raise AssertionError("record the figures")


def test_10_small_parameters_are_defined_by_the_notebook():
    import nbformat

    nb = nbformat.read(NOTEBOOKS / "10_retrieve_and_rerank.ipynb", as_version=4)
    nbformat.validate(nb)
    (cell,) = [cell for cell in nb.cells if "parameters" in cell.metadata.get("tags", [])]
    wanted = [*SMALL_10, "results_path", "data_dir", "model_name", "seed"]
    assert [key for key in wanted if f"\n{key} =" not in f"\n{cell.source}"] == []
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"cells {dirty} were committed with outputs"
