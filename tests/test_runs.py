"""The reproducibility record, the results writer, and the grid runner (``workbench.runs``) on a tiny notebook."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from notebook_kernel import REPO, notebook_kernel  # noqa: F401  (a fixture)
from workbench import reproducibility, runs
from workbench.data import registry
from workbench.reproducibility import RECORD_KEY, reproducibility_record, write_results
from workbench.runs import expand_grid, load_runs, main, notebook_parameters, parse_value, run_grid

NOTEBOOK = Path(__file__).parent / "fixtures" / "runs_notebook.ipynb"


# --------------------------------------------------------------------------- the record


def test_record_holds_versions_machine_threads_seed_and_checksums(tmp_path):
    data = tmp_path / "pairs.csv"
    data.write_bytes(b"sentence1,sentence2,score\na,b,1\n")
    folder = tmp_path / "corpus"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "b.txt").write_bytes(b"bee")
    (folder / "a.txt").write_bytes(b"ay")
    record = reproducibility_record(seed=7, data_files=[data, folder, data], registry=False)
    json.dumps(record)  # JSON-able as it is
    assert {"python", "workbench", "torch", "numpy"} <= set(record["versions"])
    assert {"model", "flags", "cores", "torch_capability"} <= set(record["cpu"])
    assert all(flag.startswith(("avx2", "avx512", "amx")) for flag in record["cpu"]["flags"])
    assert record["threads"]["torch"] >= 1 and isinstance(record["gpus"], list)
    assert record["seed"] == 7
    # The file once though given twice; a folder's files in sorted order.
    assert [Path(f["path"]) for f in record["data_files"]] == [data, folder / "a.txt", folder / "sub" / "b.txt"]
    assert record["data_files"][0] == {
        "path": str(data),
        "bytes": data.stat().st_size,
        "sha256": hashlib.sha256(data.read_bytes()).hexdigest(),
    }
    assert record["data_files"][2]["sha256"] == hashlib.sha256(b"bee").hexdigest()


def test_record_checksums_the_data_sets_the_registry_handed_out(tmp_path, monkeypatch):
    read = tmp_path / "stsbenchmark.tsv.gz"
    read.write_bytes(b"not really gzip")
    monkeypatch.setattr(registry, "_READ", {})
    assert registry._read(read) == read
    assert registry.files_read() == [read.resolve()]
    files = reproducibility_record()["data_files"]
    assert files == [
        {"path": str(read.resolve()), "bytes": 15, "sha256": hashlib.sha256(b"not really gzip").hexdigest()}
    ]
    assert reproducibility_record(registry=False)["data_files"] == []


def test_record_refuses_a_data_file_that_does_not_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="data_files: no such file or folder.*missing.csv"):
        reproducibility_record(data_files=[tmp_path / "missing.csv"])


def test_git_commit_is_none_without_git_or_outside_a_checkout(tmp_path, monkeypatch):
    assert reproducibility._git_state(tmp_path) == (None, None)  # not a checkout
    monkeypatch.setenv("PATH", str(tmp_path))  # no git program at all
    record = reproducibility_record(registry=False)
    assert record["git_commit"] is None and record["git_dirty"] is None


def test_git_commit_of_this_checkout(tmp_path):
    if not (REPO / ".git").exists():
        pytest.skip("not run from a git checkout")
    commit, dirty = reproducibility._git_state(REPO)
    assert commit is not None and len(commit) == 40 and isinstance(dirty, bool)
    assert reproducibility._git_state(REPO / "workbench") == (None, None)  # not the top of the checkout


def test_write_results_adds_the_record_and_writes_numpy_values_as_numbers(tmp_path):
    import numpy as np

    path = tmp_path / "deep" / "results.json"
    written = write_results(path, {"score": np.float32(0.5), "curve": np.arange(3), "where": tmp_path}, seed=3)
    saved = json.loads(path.read_text())
    assert saved == written
    assert saved["score"] == 0.5 and saved["curve"] == [0, 1, 2] and saved["where"] == str(tmp_path)
    assert saved[RECORD_KEY]["seed"] == 3
    with pytest.raises(ValueError, match="already hold a 'reproducibility' key"):
        write_results(path, {RECORD_KEY: {}})


# --------------------------------------------------------------------------- the grid, without running anything


def test_values_are_literals_where_they_look_like_them():
    assert [parse_value(v) for v in ("2e-5", "3", "None", "True", "[1, 2]", "'7'", "CoSENTLoss", "1e-5x")] == [
        2e-5,
        3,
        None,
        True,
        [1, 2],
        "7",
        "CoSENTLoss",
        "1e-5x",
    ]


def test_grid_is_the_cartesian_product():
    combinations = expand_grid({"lr": [2e-5, 5e-5], "epochs": [1, 2], "loss": ["a"]})
    assert combinations == [
        {"lr": 2e-5, "epochs": 1, "loss": "a"},
        {"lr": 2e-5, "epochs": 2, "loss": "a"},
        {"lr": 5e-5, "epochs": 1, "loss": "a"},
        {"lr": 5e-5, "epochs": 2, "loss": "a"},
    ]
    with pytest.raises(ValueError, match=r"grid\['lr'\] must be a non-empty list"):
        expand_grid({"lr": []})


def test_notebook_parameters_are_read_from_its_parameters_cell():
    assert notebook_parameters(NOTEBOOK) == {
        "scale": 1.0,
        "offset": 0,
        "fail": False,
        "seed": 0,
        "output_path": "output",
        "results_path": "results.json",
    }
    defaults = notebook_parameters(REPO / "notebooks" / "03_train_sts.ipynb")
    assert defaults["lr"] == 5e-5 and defaults["max_train"] is None


def test_unknown_parameters_are_refused_naming_them_and_the_accepted_ones(tmp_path):
    with pytest.raises(ValueError) as err:
        run_grid(NOTEBOOK, {"scale": [1.0], "learning_rate": [1e-5], "epoch": [1]}, out=tmp_path / "runs")
    message = str(err.value)
    assert "no parameters ['learning_rate', 'epoch']" in message
    assert "defines: ['fail', 'offset', 'output_path', 'results_path', 'scale', 'seed']" in message
    assert not (tmp_path / "runs").exists(), "a refused grid must not create its folder"
    with pytest.raises(ValueError, match="'results_path' is set by the runner"):
        run_grid(NOTEBOOK, {"results_path": ["x.json"]}, out=tmp_path / "runs")
    with pytest.raises(ValueError, match="several runs would write the same output_path"):
        run_grid(NOTEBOOK, {"scale": [1.0, 2.0], "output_path": ["same"]}, out=tmp_path / "runs")
    with pytest.raises(ValueError, match="parameter 'scale': .* is a set; accepted: None, bool"):
        run_grid(NOTEBOOK, {"scale": [{1, 2}]}, out=tmp_path / "runs")


def test_a_foreign_non_empty_folder_is_refused_and_left_alone(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    with pytest.raises(FileExistsError, match="is not empty and is not a runs folder"):
        run_grid(NOTEBOOK, {"scale": [1.0]}, out=out)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    with pytest.raises(FileExistsError, match="is a file"):
        run_grid(NOTEBOOK, {"scale": [1.0]}, out=out / "notes.txt")
    # The command line says so in one line and exits with status 2.
    with pytest.raises(SystemExit) as exit_:
        main([str(NOTEBOOK), "-p", "scale", "1", "--out", str(out)])
    assert exit_.value.code == 2 and "is not empty and is not a runs folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main([str(NOTEBOOK), "-p", "lr", "1e-5", "--out", str(tmp_path / "new")])
    assert exit_.value.code == 2 and "no parameters ['lr']" in capsys.readouterr().err


# --------------------------------------------------------------------------- the grid, run through papermill


@pytest.fixture
def this_checkout(monkeypatch):
    """The kernels import this checkout's workbench (an installed one may be another checkout's)."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))


@pytest.mark.notebook
def test_a_2x1_grid_runs_each_combination_and_a_failed_run_is_kept(tmp_path, notebook_kernel, this_checkout):
    out = tmp_path / "runs"
    table = run_grid(NOTEBOOK, {"scale": [1.5, 4.0], "offset": [10]}, out=out, jobs=2, kernel_name=notebook_kernel)
    assert list(table["run"]) == ["run-000", "run-001"] and list(table["status"]) == ["ok", "ok"]
    assert list(table["parameters.scale"]) == [1.5, 4.0] and list(table["parameters.offset"]) == [10, 10]
    assert list(table["results.score"]) == [13.0, 18.0] and table["error"].isna().all()
    # Each run has its executed notebook and its own output folder, and its reproducibility record came along.
    assert [Path(p) for p in table["notebook"]] == [
        out.resolve() / r / "notebook.ipynb" for r in ("run-000", "run-001")
    ]
    assert [Path(p) for p in table["results.output_path"]] == [
        out.resolve() / r / "output" for r in ("run-000", "run-001")
    ]
    assert (table["reproducibility.seed"] == 0).all() and table["reproducibility.versions.torch"].notna().all()
    assert "reproducibility.git_commit" in table.columns
    if "OMP_NUM_THREADS" not in os.environ:  # two jobs share the cores: each kernel got its share of threads
        assert (table["reproducibility.threads.torch"] == max(1, runs._cores() // 2)).all()
    csv = pd.read_csv(out / "runs.csv")
    assert list(csv["run"]) == ["run-000", "run-001"] and list(csv["results.score"]) == [13.0, 18.0]

    # The same folder again, from the command line, with a run that fails: it is added after the others with its
    # error and executed notebook, nothing of theirs is rewritten, and the exit status says a run failed.
    first = (out / "run-000" / "run.json").read_text()
    status = main([str(NOTEBOOK), "-p", "fail", "True", "--out", str(out), "--kernel", notebook_kernel])
    assert status == 1
    assert (out / "run-000" / "run.json").read_text() == first
    everything = load_runs(out)
    assert list(everything["run"]) == ["run-000", "run-001", "run-002"]
    failed = everything.iloc[-1]
    assert failed["status"] == "failed" and failed["error"] == "ValueError: asked to fail (scale 1.0)"
    assert Path(failed["notebook"]).is_file()
    rows = json.loads((out / "runs.json").read_text())
    assert [row["status"] for row in rows] == ["ok", "ok", "failed"] and rows[-1]["parameters"] == {"fail": True}
