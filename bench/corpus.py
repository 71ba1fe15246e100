"""Corpus-scale encoding: 1,000,000 short sentences to disk, killed halfway, resumed without recomputing.

    .venv/bin/python bench/corpus.py [--sentences 1000000] [--compute-dtype int8] [--threads N] [--index]

all-MiniLM-L6-v2 (zoo).  The sentences (STSb sentences with a counter, one
per line) are written to a text file; :func:`workbench.corpus.encode_corpus`
streams it into a float16 ``.npy`` memmap in a child process, which is
killed (SIGKILL) once ``progress.json`` shows about half of the chunks done;
a second child resumes.  Peak RSS is the larger of the two children's.
``--index`` then builds a faiss index over the result and reports its recall
against exact search.  Prints a table, then one JSON line with sentences,
sentences_per_s, peak_rss_mb, recomputed_chunks_after_resume (and more).
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, machine, peak_rss_mb, stsb_sentences, table


def write_sentences(path: Path, n: int) -> None:
    """``n`` distinct short sentences, one per line."""
    base = stsb_sentences(10_000)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(f"{base[i % len(base)]} ({i // len(base)})\n")


def child(args: argparse.Namespace) -> None:
    """Encode (or resume encoding) the corpus; print what this run encoded as one JSON line."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from workbench import SentenceEncoder
    from workbench.corpus import encode_corpus

    class Count:
        """Chunks this run encoded, and those it skipped because an earlier run had finished them."""

        encoded = skipped = 0

        def on_progress_update(self, event):
            if event.get("skipped"):
                Count.skipped += 1
            else:
                Count.encoded += 1

    model = SentenceEncoder("all-MiniLM-L6-v2", device="cpu")
    started = time.perf_counter()
    encode_corpus(
        model,
        args.file,
        args.out,
        chunk_size=args.chunk_size,
        dtype="float16",
        batch_size=args.batch_size,
        compute_dtype=args.compute_dtype,
        callbacks=[Count()],
    )
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - started,
                "encoded_chunks": Count.encoded,
                "skipped_chunks": Count.skipped,
                "peak_rss_mb": peak_rss_mb(),
                "threads": torch.get_num_threads(),
            }
        )
    )


def process_peak_rss_mb(pid: int) -> float:
    """Peak RSS so far of a running process, in MB (Linux ``VmHWM``; 0 once it is gone).

    Not ``getrusage(RUSAGE_CHILDREN)``: its ``ru_maxrss`` survives ``exec``, so
    it would count this process's own size at the fork as the child's.
    """
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run(args: argparse.Namespace, folder: Path) -> dict:
    from workbench import SentenceEncoder
    from workbench.corpus import chunks_done, estimate_memory

    text, out = folder / "sentences.txt", folder / "out"
    write_sentences(text, args.sentences)
    n_chunks = -(-args.sentences // args.chunk_size)
    command = [
        sys.executable,
        __file__,
        "--child",
        "--file",
        str(text),
        "--out",
        str(out),
        "--chunk-size",
        str(args.chunk_size),
        "--batch-size",
        str(args.batch_size),
        "--compute-dtype",
        args.compute_dtype,
    ] + (["--threads", str(args.threads)] if args.threads else [])

    # First run: kill it once about half of the chunks are on disk.
    target = max(1, round(args.interrupt_at * n_chunks))
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    first_started, first_peak_mb = None, 0.0
    while proc.poll() is None:
        first_peak_mb = max(first_peak_mb, process_peak_rss_mb(proc.pid))
        done = chunks_done(out)
        if first_started is None and (out / "progress.json").exists():
            first_started = time.perf_counter()  # the model is loaded and the output file exists
        if len(done) >= target:
            first_peak_mb = max(first_peak_mb, process_peak_rss_mb(proc.pid))
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.2)
    proc.wait()
    first_seconds = time.perf_counter() - (first_started or time.perf_counter())
    if proc.returncode != -signal.SIGKILL:
        raise SystemExit(f"the first run ended by itself (code {proc.returncode}) before it could be interrupted")
    done_at_kill = len(chunks_done(out))

    # Second run: resume.
    resumed = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if resumed.returncode != 0:
        raise SystemExit(f"the resumed run failed:\n{resumed.stderr[-3000:]}")
    second = json.loads(resumed.stdout.strip().splitlines()[-1])

    import numpy as np

    emb = np.load(out / "embeddings.npy", mmap_mode="r")
    empty_rows = sum(int((~np.any(emb[s : s + 100_000] != 0, axis=1)).sum()) for s in range(0, len(emb), 100_000))
    estimate = estimate_memory(
        SentenceEncoder("all-MiniLM-L6-v2", device="cpu"),
        args.sentences,
        dtype="float16",
        batch_size=args.batch_size,
        chunk_size=args.chunk_size,
        avg_chars=60,
    )
    encoded = done_at_kill * args.chunk_size + second["encoded_chunks"] * args.chunk_size
    result = {
        "machine": machine(),
        "threads": second["threads"],
        "sentences": args.sentences,
        "compute_dtype": args.compute_dtype,
        "chunk_size": args.chunk_size,
        "chunks": n_chunks,
        "chunks_done_when_killed": done_at_kill,
        "recomputed_chunks_after_resume": second["encoded_chunks"] - (n_chunks - done_at_kill),
        "skipped_chunks_after_resume": second["skipped_chunks"],
        "sentences_per_s": min(encoded, args.sentences) / (first_seconds + second["seconds"]),
        "peak_rss_mb": max(first_peak_mb, second["peak_rss_mb"]),
        "peak_rss_mb_first_run": first_peak_mb,
        "peak_rss_mb_resumed_run": second["peak_rss_mb"],
        "estimated_peak_ram_mb": estimate.peak_ram_mb,
        "output_mb": (out / "embeddings.npy").stat().st_size / 2**20,
        "empty_rows": empty_rows,
    }
    if args.index:
        result.update(index_check(emb))
    return result


def index_check(emb) -> dict:
    """Build a faiss index over the embeddings; recall@10 and query time against exact chunked search."""
    import numpy as np

    from workbench.index import build_index

    queries = np.asarray(emb[np.linspace(0, len(emb) - 1, 100).astype(int)], dtype=np.float32)
    queries += np.random.default_rng(0).normal(scale=0.01, size=queries.shape).astype(np.float32)
    started = time.perf_counter()
    approximate = build_index(emb, factory="IVF1024,SQ8", nprobe=32)
    build_seconds = time.perf_counter() - started
    started = time.perf_counter()
    found = approximate.search(queries, 10)[1]
    search_ms = (time.perf_counter() - started) / len(queries) * 1000
    started = time.perf_counter()
    exact = build_index(emb, kind="exact").search(queries, 10)[1]
    exact_ms = (time.perf_counter() - started) / len(queries) * 1000
    recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact)]))
    return {
        "index": "faiss IVF1024,SQ8 (nprobe 32)",
        "index_build_s": build_seconds,
        "index_recall_at_10": recall,
        "index_query_ms": search_ms,
        "exact_query_ms": exact_ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=1_000_000)
    parser.add_argument("--chunk-size", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--compute-dtype",
        default="int8",
        choices=["float32", "bfloat16", "int8"],
        help="int8: onnxruntime dynamic quantization, the fastest setting that keeps STSb within 0.5%%",
    )
    parser.add_argument("--threads", type=int, default=None, help="threads per child (default: PyTorch's)")
    parser.add_argument("--interrupt-at", type=float, default=0.5, help="kill the first run after this share of chunks")
    parser.add_argument("--index", action="store_true", help="also build and check a faiss index")
    parser.add_argument("--workdir", default=None, help="keep the files here (default: a temporary folder)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if not 0 < args.interrupt_at < 1:
        raise SystemExit(f"--interrupt-at must be between 0 and 1, got {args.interrupt_at}")
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
        result = run(args, Path(args.workdir))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result = run(args, Path(tmp))
    rows = [(key, f"{value:,.2f}" if isinstance(value, float) else str(value)) for key, value in result.items()]
    print(table(rows, ("measure", "value")))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
