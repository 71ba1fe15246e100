"""Notebook 08 (speed and precision) runs top to bottom under papermill with small parameters."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

try:
    from notebook_kernel import NOTEBOOKS, notebook_kernel  # noqa: F401  (the shared fixture)
except ImportError:  # without the shared helper: a kernel of this interpreter, findable only by these tests
    NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

    @pytest.fixture(scope="session")
    def notebook_kernel(tmp_path_factory):
        from ipykernel.kernelspec import install

        prefix = tmp_path_factory.mktemp("jupyter")
        install(kernel_name="workbench-notebook-08", prefix=str(prefix))
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
            yield "workbench-notebook-08"


pytestmark = pytest.mark.notebook

SMALL = {
    "speed_sentences": 300,
    "repeats": 1,
    "stsb_pairs": 120,
    "scifact_docs": 60,
    "scifact_queries": 12,
    "processes": 2,
}


def test_notebook_08_speed_and_precision(notebook_kernel, tmp_path):  # noqa: F811
    import papermill

    results_path = tmp_path / "08.json"
    papermill.execute_notebook(
        NOTEBOOKS / "08_speed_and_precision.ipynb",
        tmp_path / "08.ipynb",
        parameters={**SMALL, "results_path": str(results_path)},
        kernel_name=notebook_kernel,
        cwd=str(NOTEBOOKS),
        progress_bar=False,
        log_output=False,
    )
    results = json.loads(Path(results_path).read_text())
    assert set(results["speed"]) == {"float32", "bfloat16", "onnx float32", "int8"}
    assert all(row["sentences/s"] > 0 for row in results["speed"].values())
    fidelity = {row["setting"]: row for row in results["fidelity"]}
    assert list(fidelity) == ["float32", "bfloat16", "onnx float32", "int8", "128 dims"]
    assert fidelity["onnx float32"]["min_cosine"] > 0.9999
    assert 0.95 < fidelity["int8"]["mean_cosine"] < 1 and abs(fidelity["int8"]["stsb_delta"]) < 0.02
    assert fidelity["128 dims"]["dim"] == 128 and math.isnan(fidelity["128 dims"]["mean_cosine"])
    search = results["quantized_search"]
    assert search["binary, Hamming only"]["bytes per vector"] == 48
    assert search["binary, rescored x4 from float32"]["nDCG@10"] >= search["binary, Hamming only"]["nDCG@10"] - 0.05
    assert results["multi_process"]["max_abs_difference"] < 1e-4
