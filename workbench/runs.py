"""Run a notebook over a grid of parameters with papermill and collect every run's results into one table.

From a shell::

    python -m workbench.runs notebooks/03_train_sts.ipynb -p lr 2e-5 5e-5 -p epochs 1 2 --jobs 2

runs the four combinations, each in its own kernel with its own output
notebook, and writes ``runs.json`` and ``runs.csv`` into the runs folder
(``--out``; default ``runs/<notebook>-<time>``). From Python,
:func:`run_grid` does the same and returns the table. A value is read as a
Python literal when it is one (``2e-5``, ``None``, ``[1, 2]``), else it is a
string (``CoSENTLoss``).

A runs folder holds ``run-000/``, ``run-001/``, … (``notebook.ipynb``, the
executed notebook; ``results.json``, what it wrote; ``run.json``, its row;
``output/``, its ``output_path`` when the notebook has that parameter) and
the table of all its runs. Naming the same folder again adds runs to it; a
folder the runner did not make is never written into unless it is empty.
The executions go through papermill's command line in child processes, so
this module imports nothing of Jupyter.

Example
-------
>>> expand_grid({"lr": [2e-5, 5e-5], "epochs": [1]})
[{'lr': 2e-05, 'epochs': 1}, {'lr': 5e-05, 'epochs': 1}]
>>> parse_value("2e-5"), parse_value("None"), parse_value("CoSENTLoss")
(2e-05, None, 'CoSENTLoss')
"""

from __future__ import annotations

import argparse
import ast
import datetime
import importlib.util
import itertools
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from .io import folder_lock, read_json, write_json
from .reproducibility import RECORD_KEY

#: The file that marks a folder as a runs folder of this module.
MARKER = ".workbench-runs.json"
#: Parameters the runner sets itself for every run.
RESULTS_PARAMETER, OUTPUT_PARAMETER = "results_path", "output_path"
_RUN_PREFIX = "run-"


def parse_value(text: str) -> Any:
    """A command-line value: the Python literal it spells (number, None, bool, list, dict, quoted string), else itself.

    Example
    -------
    >>> parse_value("5e-05"), parse_value("2"), parse_value("['de', 'fr']"), parse_value("umap")
    (5e-05, 2, ['de', 'fr'], 'umap')
    """
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values (the cartesian product), the last parameter varying fastest.

    Example
    -------
    >>> expand_grid({"a": [1, 2], "b": ["x", "y"]})
    [{'a': 1, 'b': 'x'}, {'a': 1, 'b': 'y'}, {'a': 2, 'b': 'x'}, {'a': 2, 'b': 'y'}]
    """
    for name, values in grid.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"grid[{name!r}] must be a non-empty list of values, got {values!r}")
    return [dict(zip(grid, combination)) for combination in itertools.product(*grid.values())]


def notebook_parameters(notebook: str | os.PathLike) -> dict[str, Any]:
    """The names its cell tagged ``parameters`` assigns, with their defaults (an expression's text when not a literal).

    Example
    -------
    >>> defaults = notebook_parameters("notebooks/03_train_sts.ipynb")  # doctest: +SKIP
    >>> defaults["lr"]  # doctest: +SKIP
    5e-05
    """
    path = Path(notebook)
    cells = [
        cell for cell in read_json(path).get("cells", []) if "parameters" in cell.get("metadata", {}).get("tags", [])
    ]
    if len(cells) != 1:
        raise ValueError(f"{path} has {len(cells)} cells tagged 'parameters'; the runner needs exactly one")
    source = cells[0]["source"]
    tree = ast.parse(source if isinstance(source, str) else "".join(source))
    defaults: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                try:
                    defaults[target.id] = ast.literal_eval(value)
                except ValueError:
                    defaults[target.id] = ast.unparse(value)
    return defaults


def default_jobs(runs: int) -> int:
    """Runs at once when not told: one per 4 cores this process may use (at least 1), at most ``runs``.

    A notebook that trains or encodes keeps about 4 threads busy; more runs
    than that on a small machine only share the same cores more slowly.

    Example
    -------
    >>> 1 <= default_jobs(3) <= 3
    True
    """
    return max(1, min(runs, _cores() // 4))


def _cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run_grid(
    notebook: str | os.PathLike,
    grid: Mapping[str, Sequence[Any]],
    *,
    out: str | os.PathLike | None = None,
    jobs: int | None = None,
    kernel_name: str | None = None,
    cwd: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Execute ``notebook`` once per combination of ``grid`` and return one row per run.

    Parameters
    ----------
    notebook
        A notebook with one cell tagged ``parameters`` that defines
        ``results_path`` (where it writes its results JSON).
    grid
        Parameter name -> the values to try; every name must be defined in
        the parameters cell. A one-value list fixes a parameter.
    out
        The runs folder: new, empty, or one this function made before (the
        runs are added to it). Default: ``runs/<notebook name>-<UTC time>``.
    jobs
        Runs executed at once (default :func:`default_jobs`). With more than
        one, each kernel gets ``OMP_NUM_THREADS`` = cores / jobs unless it is set.
    kernel_name
        The Jupyter kernel to run in; default: the notebook's own.
    cwd
        The kernel's working folder; default: the notebook's folder, as in JupyterLab.

    Returns
    -------
    pandas.DataFrame
        One row per run, in grid order: ``run``, ``status`` (``"ok"`` or
        ``"failed"``), ``error`` (the exception of a failed run, else None),
        ``notebook`` (the executed copy), ``source`` (the notebook run), ``seconds``, then
        ``parameters.<name>``, ``results.<key>`` and ``reproducibility.<key>``
        (nested keys joined with dots). The same table, of every run in the
        folder, is written to ``runs.csv`` and, unflattened, ``runs.json``.

    Raises
    ------
    ValueError
        A parameter the notebook does not define (the message lists the ones
        it does), ``results_path`` in the grid, or runs sharing one ``output_path``.
    FileExistsError
        ``out`` is a file, or a non-empty folder that is not a runs folder.

    Example
    -------
    >>> table = run_grid("notebooks/03_train_sts.ipynb", {"lr": [2e-5, 5e-5], "max_train": [64]})  # doctest: +SKIP
    >>> table[["parameters.lr", "status", "results.test_spearman_after"]]  # doctest: +SKIP
    """
    notebook = Path(notebook).resolve()
    defaults = notebook_parameters(notebook)
    unknown = [name for name in grid if name not in defaults]
    if unknown:
        raise ValueError(
            f"{notebook.name} has no parameters {unknown}; its parameters cell defines: {sorted(defaults)}"
        )
    if RESULTS_PARAMETER not in defaults:
        raise ValueError(
            f"{notebook.name} defines no {RESULTS_PARAMETER!r} parameter, so its results cannot be collected"
        )
    if RESULTS_PARAMETER in grid:
        raise ValueError(f"{RESULTS_PARAMETER!r} is set by the runner (each run's own file); leave it out of the grid")
    combinations = expand_grid(grid)
    for name, values in grid.items():
        for value in values:
            _check_value(name, value)
    _check_output_paths(combinations)
    if importlib.util.find_spec("papermill") is None:
        raise ModuleNotFoundError(
            "run_grid executes notebooks with papermill, which is not installed: pip install papermill"
        )
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ValueError(f"jobs must be a whole number >= 1, got {jobs!r}")
    jobs = jobs or default_jobs(len(combinations))
    folder = _runs_folder(Path(out) if out is not None else _default_out(notebook))
    env = dict(os.environ)
    if jobs > 1 and "OMP_NUM_THREADS" not in env:  # jobs kernels sharing the cores, not each taking all of them
        env["OMP_NUM_THREADS"] = str(max(1, _cores() // jobs))
    runs = [(_new_run_folder(folder), parameters) for parameters in combinations]
    start = Path(cwd) if cwd is not None else notebook.parent

    def execute(run: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
        run_folder, parameters = run
        given = dict(parameters)
        if OUTPUT_PARAMETER in defaults and OUTPUT_PARAMETER not in given and defaults[OUTPUT_PARAMETER] is not None:
            given[OUTPUT_PARAMETER] = str(run_folder / "output")
        return _execute(notebook, run_folder, parameters, given, kernel_name, start, env)

    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            rows = list(pool.map(execute, runs))
    finally:  # the table of the runs that finished, also when the grid was interrupted
        _write_table(folder)
    return runs_table(rows)


def runs_table(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The flat table of run rows (nested keys joined with dots), as :func:`run_grid` returns it.

    Example
    -------
    >>> runs_table([{"run": "run-000", "status": "ok", "parameters": {"lr": 1e-5}, "results": {"score": 0.5}}])
           run status  parameters.lr  results.score
    0  run-000     ok        0.00001            0.5
    """
    return pd.json_normalize(list(rows), sep=".")


def load_runs(folder: str | os.PathLike) -> pd.DataFrame:
    """The table of every run in a runs folder (read from each ``run-*/run.json``).

    Example
    -------
    >>> load_runs("runs/03_train_sts-20260101-120000")  # doctest: +SKIP
    """
    folder = Path(folder)
    if not (folder / MARKER).is_file():
        raise FileNotFoundError(f"{folder} is not a runs folder of workbench.runs (it has no {MARKER})")
    return runs_table(_rows(folder))


def _check_value(name: str, value: Any) -> None:
    """A value papermill can put into a parameters cell: None, bool, int, float, str, or lists and dicts of them."""
    if isinstance(value, list):
        for item in value:
            _check_value(name, item)
    elif isinstance(value, dict) and all(isinstance(key, str) for key in value):
        for item in value.values():
            _check_value(name, item)
    elif value is not None and not isinstance(value, (bool, int, float, str)):
        raise ValueError(
            f"parameter {name!r}: {value!r} is a {type(value).__name__}; accepted: None, bool, int, float, str, "
            "and lists and dicts (with str keys) of them"
        )


def _check_output_paths(combinations: list[dict[str, Any]]) -> None:
    chosen = [run[OUTPUT_PARAMETER] for run in combinations if run.get(OUTPUT_PARAMETER) is not None]
    if len(chosen) != len(set(map(str, chosen))):
        raise ValueError(
            f"several runs would write the same {OUTPUT_PARAMETER}; leave it out of the grid and each run gets "
            "its own folder in the runs folder"
        )


def _default_out(notebook: Path) -> Path:
    return Path("runs") / f"{notebook.stem}-{datetime.datetime.now(datetime.timezone.utc):%Y%m%d-%H%M%S}"


def _runs_folder(folder: Path) -> Path:
    """``folder`` ready to take runs: created, or empty, or marked as a runs folder by an earlier grid."""
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"out: {folder} is a file; name a new folder, an empty one, or an earlier runs folder")
    if folder.is_dir() and not (folder / MARKER).is_file() and any(folder.iterdir()):
        raise FileExistsError(
            f"out: {folder} is not empty and is not a runs folder (it has no {MARKER}); the runner writes only "
            "into a new or empty folder or one it made before"
        )
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / MARKER).is_file():
        write_json(folder / MARKER, {"made_by": "workbench.runs"})
    return folder.resolve()


def _new_run_folder(folder: Path) -> Path:
    """The next free ``run-NNN`` folder, claimed by creating it (two grids adding to one folder never share one)."""
    taken = [
        int(p.name[len(_RUN_PREFIX) :]) for p in folder.glob(f"{_RUN_PREFIX}*") if p.name[len(_RUN_PREFIX) :].isdigit()
    ]
    number = max(taken, default=-1) + 1
    while True:
        try:
            (run := folder / f"{_RUN_PREFIX}{number:03d}").mkdir()
            return run
        except FileExistsError:
            number += 1


def _execute(
    notebook: Path,
    run_folder: Path,
    parameters: dict[str, Any],
    given: dict[str, Any],
    kernel_name: str | None,
    cwd: Path,
    env: dict[str, str],
) -> dict[str, Any]:
    """Run one notebook through papermill's command line; its row (also written to ``run.json``)."""
    import yaml  # papermill's own dependency: its parameter files are YAML

    executed, results_path = run_folder / "notebook.ipynb", run_folder / "results.json"
    # safe_dump writes floats YAML reads back as floats (2e-05 as 2.0e-05; a bare 2e-05 would read as a string).
    (run_folder / "parameters.yaml").write_text(yaml.safe_dump({**given, RESULTS_PARAMETER: str(results_path)}))
    command = [
        sys.executable,
        "-m",
        "papermill",
        str(notebook),
        str(executed),
        "-f",
        str(run_folder / "parameters.yaml"),
    ]
    command += ["--cwd", str(cwd), "--no-progress-bar", "--no-log-output"]
    command += ["--kernel", kernel_name] if kernel_name else []
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    row: dict[str, Any] = {
        "run": run_folder.name,
        "status": "ok",
        "error": None,
        "notebook": str(executed),
        "source": str(notebook),
        "seconds": round(time.perf_counter() - started, 1),
        "parameters": parameters,
    }
    if done.returncode != 0:
        row.update(status="failed", error=_error(executed, done))
    else:
        try:
            results = read_json(results_path)
            row.update(
                results={k: v for k, v in results.items() if k != RECORD_KEY}, **{RECORD_KEY: results.get(RECORD_KEY)}
            )
        except (FileNotFoundError, ValueError) as err:
            row.update(status="failed", error=f"the notebook ran but its results JSON could not be read: {err}")
    write_json(run_folder / "run.json", row)
    return row


def _error(executed: Path, done: subprocess.CompletedProcess[str]) -> str:
    """The exception a failed run ended with: the error output of its executed notebook, else papermill's stderr."""
    try:
        for cell in read_json(executed).get("cells", []):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    return f"{output.get('ename')}: {output.get('evalue')}"
    except (FileNotFoundError, ValueError):
        pass
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    return "\n".join(lines[-5:]) or f"papermill exited with status {done.returncode}"


def _rows(folder: Path) -> list[dict[str, Any]]:
    runs = sorted(p for p in folder.glob(f"{_RUN_PREFIX}*/run.json"))
    return [read_json(p) for p in runs]


def _write_table(folder: Path) -> None:
    with folder_lock(folder):  # two grids adding to one folder write its table in turn
        rows = _rows(folder)
        write_json(folder / "runs.json", rows)
        runs_table(rows).to_csv(folder / "runs.csv", index=False)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m workbench.runs``: run the grid, print the table; exit status 1 when a run failed."""
    parser = argparse.ArgumentParser(
        prog="python -m workbench.runs", description="Run a notebook over a grid of parameters with papermill."
    )
    parser.add_argument("notebook", help="the notebook (.ipynb) with a cell tagged 'parameters'")
    parser.add_argument(
        "-p",
        "--parameter",
        nargs="+",
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="a parameter and the values to try (Python literals, else strings); repeat for more parameters",
    )
    parser.add_argument("--jobs", type=int, default=None, help="runs at once (default: one per 4 cores)")
    parser.add_argument("--out", default=None, help="the runs folder (default: runs/<notebook>-<time>)")
    parser.add_argument("--kernel", default=None, help="the Jupyter kernel (default: the notebook's)")
    args = parser.parse_args(argv)
    grid: dict[str, list[Any]] = {}
    for name, *values in args.parameter:
        if not values:
            parser.error(f"-p {name} needs at least one value")
        if name in grid:
            parser.error(f"-p {name} is given twice; list all its values after one -p")
        grid[name] = [parse_value(value) for value in values]
    try:
        table = run_grid(args.notebook, grid, out=args.out, jobs=args.jobs, kernel_name=args.kernel)
    except (ValueError, FileExistsError, FileNotFoundError) as err:
        parser.exit(2, f"error: {err}\n")
    shown = [c for c in table.columns if c in ("run", "status", "error", "seconds") or c.startswith("parameters.")]
    with pd.option_context("display.width", 200, "display.max_colwidth", 80):
        print(table[shown].to_string(index=False))
    print(f"\ntable of the runs: {Path(table['notebook'].iloc[0]).parents[1] / 'runs.csv'}")
    return int((table["status"] != "ok").any())


if __name__ == "__main__":
    sys.exit(main())
