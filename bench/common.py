"""Shared helpers of the benchmarks: machine description, peak memory, STSb sentences."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from workbench.paths import use_data_mirror  # noqa: E402  (this checkout's workbench, put on the path above)

use_data_mirror()


def bench_parser(
    doc: str | None, batch_size: int, repeats: int, repeats_help: str | None, threads_help: str
) -> argparse.ArgumentParser:
    """The options every timing benchmark has: batch size, repeats and threads; the script adds its own."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--repeats", type=int, default=repeats, help=repeats_help)
    parser.add_argument("--threads", type=int, default=None, help=threads_help)
    return parser


def set_threads(threads: int | None) -> None:
    """Use ``threads`` torch threads when given (``--threads``), else torch's default."""
    if threads:
        import torch

        torch.set_num_threads(threads)


#: The instruction sets that decide which bf16 and int8 kernels a CPU can use, as /proc/cpuinfo names them.
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16", "amx_int8")


def _cpuinfo_field(name: str) -> str | None:
    """The first ``name : value`` of /proc/cpuinfo (None where there is no such file or field)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == name:
                return value.strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else what ``platform`` says."""
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """Which of :data:`CPU_FLAGS` this CPU has (from /proc/cpuinfo's ``flags``; empty where there is none)."""
    found = set((_cpuinfo_field("flags") or "").split())
    return [flag for flag in CPU_FLAGS if flag in found]


def machine() -> str:
    import torch

    return f"{cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"


def peak_rss_mb() -> float:
    """Peak resident memory of this process, in MB.

    Linux's ``VmHWM`` where there is one: ``getrusage``'s ``ru_maxrss`` survives
    ``exec``, so a child started by a large benchmark process would report its
    parent's size at the fork instead of its own.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Best wall time over ``repeats`` runs (the least disturbed by other load) and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def stsb_sentences(limit: int) -> list[str]:
    """Unique STSb sentences in file order (train, dev, test)."""
    from workbench.data import load_dataset

    seen: dict[str, None] = {}
    for split in ("train", "dev", "test"):
        for example in load_dataset("stsb", split=split):
            for text in example.texts:
                seen.setdefault(text, None)
    sentences = list(seen)
    if len(sentences) < limit:
        raise SystemExit(f"only {len(sentences)} unique STSb sentences, asked for {limit}")
    return sentences[:limit]


def stsb_spearman(encode: Callable[[list[str]], Any], split: str = "test") -> float:
    import numpy as np
    from scipy.stats import spearmanr

    from workbench.data import load_dataset

    data = load_dataset("stsb", split=split)
    a = np.asarray(encode([e.texts[0] for e in data]), dtype=np.float32)
    b = np.asarray(encode([e.texts[1] for e in data]), dtype=np.float32)
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    return float(spearmanr(cos, [e.label for e in data]).statistic)


def min_cosine(a: Any, b: Any) -> float:
    import numpy as np

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min())


def run_child(code: str) -> dict[str, Any]:
    """Run ``code`` in a fresh Python (for clean peak-memory numbers); it must print one JSON line last."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError(f"child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(rows: list[tuple], header: tuple) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [fmt.format(*r) for r in rows])
