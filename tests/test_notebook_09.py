"""Notebook 09 (your own data) runs top to bottom under papermill on the committed CSV fixture.

The fixture, ``tests/fixtures/own_pairs.csv``, is 360 template-made sentence
pairs in six topics (see ``tests/fixtures/make_own_pairs.py``).  Runs through
the shared helper of ``test_notebooks.py``, whose ``SMALL`` table gets this
notebook's small parameters for this test only.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from notebook_kernel import NOTEBOOKS, notebook_kernel  # noqa: F401  (a fixture)
from test_notebooks import SMALL, run_notebook

pytestmark = pytest.mark.notebook

FIXTURE = Path(__file__).parent / "fixtures" / "own_pairs.csv"
# One epoch, PCA for the map (UMAP's first call compiles for about a minute): every cell runs.
SMALL_09 = {"map_projection": "pca", "epochs": 1, "batch_size": 16}


def test_09_your_own_data(tmp_path, notebook_kernel, monkeypatch):  # noqa: F811
    output = tmp_path / "model"
    monkeypatch.setitem(SMALL, "09_your_own_data", SMALL_09)
    results = run_notebook(
        "09_your_own_data", tmp_path, notebook_kernel, table_path=str(FIXTURE), output_path=str(output)
    )
    frame = pd.read_csv(FIXTURE)
    assert results["rows"] == 360 and results["table"] == str(FIXTURE)
    assert results["text_columns"] == ["sentence1", "sentence2"] and results["label_column"] == "score"
    assert results["texts"] == frame["sentence1"].nunique()
    # "Someone is cooking dinner." finds cooking sentences first.
    cooking = set(frame.loc[frame["topic"] == "cooking", "sentence1"])
    assert [hit["text"] in cooking for hit in results["search"][:3]] == [True] * 3
    # Six template topics are well apart: k-means at k=6 finds them (random labels give NMI near 0).
    assert results["clusters"]["k"] == 6 and results["clusters"]["nmi"] > 0.6
    assert results["trained"] is True
    assert results["split"] == {"train": 245, "dev": 43, "test": 72}
    assert results["steps"] == 16  # 245 pairs / batch 16, one epoch
    # Evaluated every 7 steps (half an epoch) and at the end of the epoch: steps 7, 14 and 16.
    assert len(results["dev_metric"]) == 3 and all(-1 <= value <= 1 for value in results["dev_metric"])
    # The templates' scores punish denials that MiniLM finds similar: one epoch on them helps on held-out pairs.
    assert results["metric"] == "spearman_cosine"
    assert 0 < results["test_before"] < results["test_after"] <= 1
    assert (output / "modules.json").is_file()


def test_09_small_parameters_are_defined_by_the_notebook():
    import nbformat

    nb = nbformat.read(NOTEBOOKS / "09_your_own_data.ipynb", as_version=4)
    (cell,) = [cell for cell in nb.cells if "parameters" in cell.metadata.get("tags", [])]
    wanted = [*SMALL_09, "table_path", "output_path", "results_path"]
    assert [key for key in wanted if f"\n{key} =" not in f"\n{cell.source}"] == []
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"cells {dirty} were committed with outputs"
