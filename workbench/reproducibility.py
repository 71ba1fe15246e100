"""The reproducibility record of a run, and the one writer of a notebook's results JSON.

Every notebook ends by calling :func:`write_results`: the results go to the
JSON file its ``results_path`` parameter names, with the record of
:func:`reproducibility_record` under the key ``"reproducibility"``: library
versions, CPU and GPU, threads, the seed, the SHA-256 of every data file read,
and the git commit of the checkout the workbench was imported from.
:mod:`workbench.runs` collects these files from a grid of runs into one table.

Example
-------
>>> record = reproducibility_record(seed=0)
>>> record["seed"], "torch" in record["versions"]
(0, True)
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Iterable, Mapping

from .data.registry import files_read
from .download import sha256_file
from .io import atomic_write_bytes

#: The key of the record in a results JSON.
RECORD_KEY = "reproducibility"
#: Distributions whose version is recorded when they are installed (torch, numpy and the workbench always are).
OPTIONAL_LIBRARIES = ("transformers", "onnxruntime")
#: CPU flags that change which kernels run, and so the speed and the last bits of the numbers.
CPU_FLAG_PREFIXES = ("avx2", "avx512", "amx")
#: Environment variables that change what the workbench computes or how many threads it uses.
ENVIRONMENT = ("WORKBENCH_FUSED", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def reproducibility_record(
    seed: int | None = None, data_files: Iterable[str | os.PathLike] = (), *, registry: bool = True
) -> dict[str, Any]:
    """A JSON-able description of the machine, libraries, data and code a result came from.

    Parameters
    ----------
    seed
        The run's seed, recorded as given (None: not given).
    data_files
        Files or folders read besides the registry's data sets (a user's
        table); a folder counts as every file under it.
    registry
        Also record the data-set files read through the registry in this
        process (:func:`workbench.data.files_read`).

    Returns
    -------
    dict
        ``created`` (UTC), ``versions`` (python, workbench, torch, numpy, and
        transformers and onnxruntime when installed), ``platform``, ``cpu``
        (model, cores, flags among avx2/avx512*/amx*, torch's capability),
        ``gpus`` (name and memory of each CUDA device; empty without one),
        ``threads`` (torch's), ``environment`` (the :data:`ENVIRONMENT`
        variables that are set), ``seed``, ``data_files`` (path, bytes and
        sha256 of each), ``git_commit`` and ``git_dirty`` (None when the
        workbench was not imported from a git checkout, or git is missing).

    Raises
    ------
    FileNotFoundError
        A path of ``data_files`` does not exist.

    Example
    -------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "pairs.csv"
    >>> _ = path.write_bytes(b"a,b\\n")
    >>> record = reproducibility_record(data_files=[path], registry=False)
    >>> record["data_files"][0]["bytes"], record["data_files"][0]["sha256"][:12]
    (4, '5be08c9684a1')
    """
    import torch

    from . import __version__

    paths = [Path(p) for p in data_files]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"data_files: no such file or folder: {missing}")
    if registry:
        paths += files_read()
    versions = {"python": platform.python_version(), "workbench": __version__, "torch": torch.__version__}
    for name in ("numpy", *OPTIONAL_LIBRARIES):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    commit, dirty = _git_state(_PACKAGE_ROOT)
    return {
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": versions,
        "platform": platform.platform(),
        "cpu": {**_cpu(), "cores": os.cpu_count(), "torch_capability": torch.backends.cpu.get_cpu_capability()},
        "gpus": [
            {"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1)}
            for props in map(torch.cuda.get_device_properties, range(torch.cuda.device_count()))
        ]
        if torch.cuda.is_available()
        else [],
        "threads": {"torch": torch.get_num_threads(), "torch_interop": torch.get_num_interop_threads()},
        "environment": {name: os.environ[name] for name in ENVIRONMENT if name in os.environ},
        "seed": seed,
        "data_files": _checksums(paths),
        "git_commit": commit,
        "git_dirty": dirty,
    }


def write_results(
    path: str | os.PathLike,
    results: Mapping[str, Any],
    *,
    seed: int | None = None,
    data_files: Iterable[str | os.PathLike] = (),
) -> dict[str, Any]:
    """Write ``results`` and their :func:`reproducibility_record` to the JSON file ``path``; return what was written.

    The record goes under ``"reproducibility"`` (``results`` must not use that
    key). NumPy numbers and arrays become JSON numbers and lists, anything else
    JSON cannot hold becomes its ``str``. The file is replaced atomically, its
    folder created when missing.

    Example
    -------
    >>> import json, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "results.json"
    >>> written = write_results(path, {"spearman": 0.82}, seed=42)
    >>> saved = json.loads(path.read_text())
    >>> saved["spearman"], saved["reproducibility"]["seed"]
    (0.82, 42)
    """
    if RECORD_KEY in results:
        raise ValueError(f"results already hold a {RECORD_KEY!r} key; write_results adds it, rename yours")
    written = {**results, RECORD_KEY: reproducibility_record(seed, data_files)}
    text = json.dumps(written, indent=2, ensure_ascii=False, default=_plain)
    atomic_write_bytes(path, (text + "\n").encode())
    return json.loads(text)


def _plain(value: Any) -> Any:
    """What ``json.dumps`` writes for a value it cannot hold: NumPy's own value, else the text."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


def _cpu() -> dict[str, Any]:
    """The CPU model and the flags of :data:`CPU_FLAG_PREFIXES` (Linux's ``/proc/cpuinfo``; elsewhere the model only)."""
    model, flags = platform.processor() or None, []
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            model = value.strip()
        elif key.strip() == "flags":
            flags = sorted(flag for flag in value.split() if flag.startswith(CPU_FLAG_PREFIXES))
            break
    return {"model": model, "flags": flags}


def _checksums(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Path, size and SHA-256 of each file, a folder's files in sorted order; each file once."""
    files: dict[Path, None] = {}
    for path in paths:
        path = path.resolve()
        below = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        files.update(dict.fromkeys(below))
    return [{"path": str(p), "bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in files]


def _git_state(folder: Path) -> tuple[str | None, bool | None]:
    """The commit checked out at ``folder`` and whether tracked files differ from it; (None, None) when unknown.

    Only when ``folder`` is the top of the checkout: a workbench installed
    into some other project's repository has no commit of its own.
    """
    # Optional locks off: a status taken while another git command runs must neither wait nor leave a lock.
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    try:
        top, commit = _git(folder, env, "rev-parse", "--show-toplevel", "HEAD").split()
        if Path(top).resolve() != folder.resolve():
            return None, None
        return commit, bool(_git(folder, env, "status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError, ValueError):
        return None, None


def _git(folder: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(folder), *args], capture_output=True, text=True, env=env, timeout=30, check=True
    )
    return done.stdout
