"""Encode corpora larger than memory into a memory-mapped ``.npy`` file, resumably.

The corpus is read as a stream and encoded in chunks; each finished chunk is
flushed to disk and recorded in ``progress.json``, so an interrupted run
resumes where it stopped without recomputing finished chunks.

Example
-------
>>> from workbench import SentenceEncoder
>>> from workbench.corpus import encode_corpus
>>> model = SentenceEncoder("all-MiniLM-L6-v2")                            # doctest: +SKIP
>>> emb = encode_corpus(model, "sentences.txt", "out/", dtype="float16")   # doctest: +SKIP
>>> emb.shape                                                              # doctest: +SKIP
(1000000, 384)
"""
from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from .data.tables import is_table, texts_from_table
from .hooks import progress_hooks
from .io import read_json, write_json

EMBEDDINGS_NAME = "embeddings.npy"
PROGRESS_NAME = "progress.json"


@dataclass(frozen=True)
class MemoryEstimate:
    """Rough memory needs of a corpus encoding, in MB."""

    output_on_disk_mb: float
    model_mb: float
    batch_activations_mb: float
    chunk_texts_mb: float

    @property
    def peak_ram_mb(self) -> float:
        """RAM beyond the Python/torch runtime: the model, one batch and one chunk of text."""
        return self.model_mb + self.batch_activations_mb + self.chunk_texts_mb


def estimate_memory(model: Any, n_sentences: int, dtype: str = "float16", batch_size: int = 32,
                    chunk_size: int = 10_000, avg_chars: int = 100) -> MemoryEstimate:
    """Estimate disk and RAM needs of :func:`encode_corpus` before running it."""
    dim = model.get_sentence_embedding_dimension() or 0
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    hidden = max((getattr(m, "get_word_embedding_dimension", lambda: dim)() for m in model), default=dim)
    tokens = model.max_seq_length or 128
    # A transformer layer keeps a handful of (batch, tokens, 4*hidden) float32 tensors alive.
    activations = batch_size * tokens * hidden * 4 * 8
    mb = 1 / 2**20
    return MemoryEstimate(
        output_on_disk_mb=n_sentences * dim * np.dtype(dtype).itemsize * mb,
        model_mb=params * mb,
        batch_activations_mb=activations * mb,
        chunk_texts_mb=chunk_size * (avg_chars + 50) * mb,
    )


def _texts(source: str | os.PathLike | Iterable[str]) -> Iterator[str]:
    """Yield texts from a one-sentence-per-line file or any iterable of strings."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, encoding="utf-8") as fh:
            for line in fh:
                yield line.rstrip("\r\n")
    else:
        yield from source


def _count(source: str | os.PathLike | Iterable[str], total: int | None) -> int:
    if total is not None:
        return total
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as fh:
            return sum(1 for _ in fh)
    if hasattr(source, "__len__"):
        return len(source)  # type: ignore[arg-type]
    raise ValueError("cannot size a stream of texts: pass total= (the number of sentences) or a list or a file")


def encode_corpus(
    model: Any,
    sentences: str | os.PathLike | Iterable[str],
    output_dir: str | os.PathLike,
    total: int | None = None,
    chunk_size: int = 10_000,
    dtype: str = "float16",
    batch_size: int = 32,
    precision: str = "float32",
    normalize_embeddings: bool = False,
    callbacks: Iterable[Any] | None = None,
    show_progress_bar: bool | None = None,
    text_column: str | None = None,
) -> np.memmap:
    """Encode ``sentences`` chunk by chunk into ``output_dir/embeddings.npy``.

    Parameters
    ----------
    model:
        A :class:`~workbench.SentenceEncoder`.
    sentences:
        A text file (one sentence per line), a list, or any iterable of strings
        (then ``total`` is required). Only one chunk is held in memory at a time.
        Or a table: a DataFrame, a ``datasets.Dataset`` or a CSV/TSV/JSONL/Parquet
        path, whose ``text_column`` is encoded (read whole).
    output_dir:
        Receives ``embeddings.npy`` (open it with ``np.load(..., mmap_mode="r")``)
        and ``progress.json``. Running again with the same folder resumes.
    total:
        Number of sentences, for streams without a length.
    chunk_size:
        Sentences per recorded chunk: the unit of resumption.
    dtype:
        ``float16`` (half the disk) or ``float32``.
    batch_size, precision, normalize_embeddings:
        Passed to :meth:`SentenceEncoder.encode`.
    callbacks, show_progress_bar:
        Progress subscribers; one ``progress_*`` task ``"corpus"`` counts sentences.
    text_column:
        The column of a table to encode (default: ``"text"``, or its only column).

    Returns
    -------
    The memory-mapped (n, dim) array.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if dtype not in ("float16", "float32"):
        raise ValueError(f"dtype must be 'float16' or 'float32', got {dtype!r}")
    if text_column is not None or is_table(sentences):
        sentences = texts_from_table(sentences, text_column)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    n = _count(sentences, total)
    dim = model.get_sentence_embedding_dimension()
    n_chunks = -(-n // chunk_size)
    settings = {"n": n, "dim": dim, "dtype": dtype, "chunk_size": chunk_size,
                "model": str(getattr(model, "source", None)), "precision": precision,
                "normalize": normalize_embeddings}
    if text_column is not None:  # resuming with another column of the same table must not mix them
        settings["text_column"] = text_column
    done, emb = _open(out, settings)
    hooks = progress_hooks(show_progress_bar, callbacks)
    hooks.emit("progress_begin", task="corpus", total=n, unit="sentences", desc="Encoding corpus")
    try:
        stream = _texts(sentences)
        for chunk_id in range(n_chunks):
            texts = list(itertools.islice(stream, chunk_size))
            if chunk_id in done:  # resume: skip without encoding
                hooks.emit("progress_update", task="corpus", n=len(texts), skipped=True)
                continue
            start = chunk_id * chunk_size
            if len(texts) != min(chunk_size, n - start):
                raise ValueError(f"the corpus ended after {start + len(texts)} sentences; total says {n}")
            _write_rows(emb, start, model.encode(
                texts, batch_size=batch_size, precision=precision, normalize_embeddings=normalize_embeddings,
                show_progress_bar=False,
            ).astype(dtype, copy=False))
            done.add(chunk_id)
            write_json(out / PROGRESS_NAME, settings | {"chunks_done": sorted(done)})
            hooks.emit("progress_update", task="corpus", n=len(texts))
    finally:
        hooks.emit("progress_end", task="corpus")
    return emb


def _write_rows(emb: np.memmap, start: int, rows: np.ndarray) -> None:
    """Write ``rows`` into ``emb``'s file from row ``start`` on, durably.

    Through the file rather than the mapping: pages written through a mapping
    stay in this process's resident memory, which would then grow with the
    corpus (768 MB for a million 384-d float16 rows); the mapping still sees
    the rows, since both share the page cache.
    """
    with open(emb.filename, "r+b") as fh:
        fh.seek(emb.offset + start * rows.shape[1] * rows.itemsize)
        fh.write(np.ascontiguousarray(rows).data)
        fh.flush()
        os.fsync(fh.fileno())


def _open(out: Path, settings: dict[str, Any]) -> tuple[set[int], np.memmap]:
    """Reopen a matching unfinished run, or start a new output file."""
    path = out / EMBEDDINGS_NAME
    progress = out / PROGRESS_NAME
    if progress.exists() and path.exists():
        previous = read_json(progress)
        mismatch = {k: (previous.get(k), v) for k, v in settings.items() if previous.get(k) != v}
        if mismatch:
            raise ValueError(
                f"{out} holds a run with other settings {mismatch} (saved, requested); "
                "use another folder or delete it to start over"
            )
        return set(previous.get("chunks_done", [])), np.lib.format.open_memmap(path, mode="r+")
    emb = np.lib.format.open_memmap(path, mode="w+", dtype=settings["dtype"], shape=(settings["n"], settings["dim"]))
    write_json(progress, settings | {"chunks_done": []})
    return set(), emb


def chunks_done(output_dir: str | os.PathLike) -> list[int]:
    """Chunks already finished in ``output_dir`` (empty when nothing was started)."""
    progress = Path(output_dir) / PROGRESS_NAME
    return list(read_json(progress).get("chunks_done", [])) if progress.exists() else []
