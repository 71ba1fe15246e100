"""Encode corpora larger than memory into a memory-mapped ``.npy`` file, resumably.

The corpus is read as a stream and encoded in chunks; each finished chunk is
flushed to disk and recorded in ``progress.json`` together with a hash of its
input lines and of the rows written, and the run's settings with a hash of
the model's weights and configuration.  An interrupted run resumes where it
stopped without recomputing finished chunks -- but only when the input, the
model and the settings are those of the earlier run (anything else is refused,
naming what changed), and only chunks whose rows on disk still match their
checksums are trusted (damaged ones are encoded again, with a warning).

A *line* of a text file is what :func:`read_lines` yields: text up to each
``\\n`` (a ``\\r`` just before it is dropped; any other ``\\r`` is kept), plus
the text after the last ``\\n`` when there is any.  Row ``i`` of the output is
line ``i`` of the input.

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

import codecs
import itertools
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from .data.tables import is_table, texts_from_table
from .fingerprint import hash_bytes, hash_file, hash_state_dict, hash_texts
from .hooks import Progress, progress_hooks
from .encoder import renamed_precision
from .io import read_json, write_json
from .validation import accepts_renamed
from .typing import SizedEncoder

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


def estimate_memory(
    model: Any,
    n_sentences: int,
    dtype: str = "float16",
    batch_size: int = 32,
    chunk_size: int = 10_000,
    avg_chars: int = 100,
) -> MemoryEstimate:
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


def read_lines(path: str | os.PathLike, encoding: str = "utf-8") -> Iterator[str]:
    """Yield the lines of a text file, the one definition of a corpus line in workbench.

    Lines end at ``\\n`` only; the ``\\r`` of a ``\\r\\n`` ending is dropped, any
    other ``\\r`` stays part of its line (so a stray ``\\r`` never splits a line
    in two).  A final newline does not start another line, so ``"a\\nb\\n"`` and
    ``"a\\nb"`` both hold two lines, while ``"a\\n\\n"`` holds ``"a"`` and ``""``.

    Parameters
    ----------
    path:
        The text file.
    encoding:
        Its encoding: UTF-8 (default), ``"utf-8-sig"`` (drops a leading BOM),
        ``"latin-1"``, ``"cp1252"``, ... -- any encoding that writes ``\\n`` as
        the single byte 0x0A (UTF-16 and UTF-32 do not).

    Raises ``ValueError`` naming the file, the line number and the encoding
    when a line cannot be decoded.

    Example
    -------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "c.txt"
    >>> _ = path.write_bytes(b"one\\r\\ntw\\ro\\n\\nlast")
    >>> list(read_lines(path))
    ['one', 'tw\\ro', '', 'last']
    """
    _check_encoding(encoding)
    codec = encoding
    before = 0  # lines in earlier batches
    with open(path, "rb") as fh:
        # Batches of whole lines (a binary file splits on b"\n" only), decoded and split at once: 3x faster than per line.
        while batch := fh.readlines(1 << 20):
            try:
                lines = b"".join(batch).decode(codec).split("\n")
            except UnicodeDecodeError:
                _decode_error(path, batch, before, codec, encoding)
            last = lines.pop()  # "" after a final newline, else the unterminated last line of the file
            yield from [line[:-1] if line.endswith("\r") else line for line in lines]
            if last:
                yield last
            before += len(batch)
            if codecs.lookup(codec).name == "utf-8-sig":
                codec = "utf-8"  # the BOM is dropped from the start of the file only


def _decode_error(path: str | os.PathLike, batch: list[bytes], before: int, codec: str, encoding: str) -> None:
    """Raise the error for the first line of ``batch`` that ``codec`` cannot decode, naming its line number."""
    for number, raw in enumerate(batch, before + 1):
        try:
            raw.decode(codec)
        except UnicodeDecodeError as err:
            raise ValueError(
                f"{path}, line {number}: not valid {encoding} (byte 0x{raw[err.start]:02x} at position "
                f"{err.start} of the line: {err.reason}); pass encoding= with the file's encoding "
                "(e.g. encoding='latin-1' or 'cp1252'), or convert the file to UTF-8"
            ) from None
    raise AssertionError("a batch that cannot be decoded has a line that cannot")  # lines end on whole characters


def _check_encoding(encoding: str) -> None:
    try:
        newline = codecs.encode("\r\n", encoding)
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}; use a codec name such as 'utf-8' or 'latin-1'") from None
    if not newline.endswith(b"\r\n"):
        raise ValueError(
            f"encoding {encoding!r} does not write a newline as the byte 0x0A, so its lines cannot be "
            "split; accepted: UTF-8 and other ASCII-compatible encodings (latin-1, cp1252, ...)"
        )


def _chunks(texts: Iterable[str], chunk_size: int) -> Iterator[list[str]]:
    """``texts`` in lists of ``chunk_size`` (the last may be shorter); refuses non-strings by their index."""
    stream = iter(texts)
    start = 0
    while chunk := list(itertools.islice(stream, chunk_size)):
        for i, text in enumerate(chunk):
            if not isinstance(text, str):
                raise TypeError(f"sentence {start + i} is {type(text).__name__} ({text!r:.40}), not str")
        yield chunk
        start += len(chunk)


def chunk_lines(chunk_ids: list[int], chunk_size: int, n: int) -> str:
    """The rows of some chunks as 1-based line numbers, as an editor shows them: ``"lines 6-10, line 21"``."""
    spans = [(i * chunk_size + 1, min(n, (i + 1) * chunk_size)) for i in chunk_ids[:5]]
    shown = ", ".join(f"line {a}" if a == b else f"lines {a}-{b}" for a, b in spans)
    return shown + (f" and {len(chunk_ids) - 5} more chunks" if len(chunk_ids) > 5 else "")


def model_fingerprint(model: Any) -> dict[str, str]:
    """Hashes of what decides a model's embeddings: ``weights`` (its ``state_dict``) and ``config``.

    ``config`` covers each module's type and settings (``max_seq_length``,
    pooling modes, ...), its tokenizer's vocabulary, and the encoder's prompts,
    ``truncate_dim`` and backend.  The device is not part of it.

    Example
    -------
    >>> model_fingerprint(model)["weights"][:12]                               # doctest: +SKIP
    '3f0c1d9a2b7e'
    """
    state = model.state_dict() if hasattr(model, "state_dict") else {}
    modules = list(model) if isinstance(model, Iterable) else []
    config = {
        "type": type(model).__qualname__,
        **{key: getattr(model, key, None) for key in ("prompts", "default_prompt_name", "truncate_dim", "backend")},
        "modules": [
            {
                "type": type(module).__qualname__,
                "config": module.get_config() if hasattr(module, "get_config") else None,
                "vocab": _vocab(getattr(module, "tokenizer", None)),
            }
            for module in modules
        ],
    }
    # default=repr: configs may hold values json cannot write (sets, numpy numbers)
    return {
        "weights": hash_state_dict(state),
        "config": hash_bytes(json.dumps(config, sort_keys=True, default=repr).encode()),
    }


def _vocab(tokenizer: Any) -> list[tuple[str, int]] | None:
    vocab = tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else None
    return sorted(vocab.items()) if vocab is not None else None


def describe_changes(saved: dict[str, Any], now: dict[str, Any], labels: dict[str, str]) -> list[str]:
    """What differs between a saved run's settings and this run's, one phrase per ``labels`` key that changed."""
    changes = []
    for key, label in labels.items():
        if saved.get(key) == now.get(key):
            continue
        if key == "model":
            old, new = saved.get("model") or {}, now["model"]
            source = (
                f" (earlier: {old.get('source')}, now: {new.get('source')})"
                if old.get("source") or new.get("source")
                else ""
            )
            changes += [f"the model weights differ{source}"] if old.get("weights") != new["weights"] else []
            changes += (
                [f"the model configuration differs (module settings, tokenizer, prompts or truncate_dim){source}"]
                if old.get("config") != new["config"]
                else []
            )
        else:
            changes.append(f"{label}: {saved.get(key)!r} earlier, {now.get(key)!r} now")
    return changes


#: Settings of a run, as they are named in messages; a resume must match every one.
SETTING_LABELS = {
    "n": "number of sentences",
    "dim": "embedding dimension",
    "dtype": "dtype",
    "chunk_size": "chunk_size",
    "batch_size": "batch_size",
    "precision": "compute_dtype",
    "normalize": "normalize_embeddings",
    "text_column": "text_column",
    "model": "model",
}
#: Version of the progress record; earlier ones had no fingerprints and cannot be resumed safely.
PROGRESS_FORMAT = 2


@accepts_renamed(output_dir="output_path")
def encode_corpus(
    model: SizedEncoder,
    sentences: str | os.PathLike | Iterable[str],
    output_path: str | os.PathLike,
    total: int | None = None,
    chunk_size: int = 10_000,
    dtype: str = "float16",
    batch_size: int = 32,
    compute_dtype: str = "float32",
    normalize_embeddings: bool = False,
    callbacks: Iterable[Any] | None = None,
    show_progress_bar: bool | None = None,
    encoding: str = "utf-8",
    restart: bool = False,
    text_column: str | None = None,
    precision: str | None = None,
) -> np.memmap:
    """Encode ``sentences`` chunk by chunk into ``output_path/embeddings.npy``; row ``i`` embeds sentence ``i``.

    Parameters
    ----------
    model:
        A :class:`~workbench.SentenceEncoder`.
    sentences:
        A text file (one sentence per line, as :func:`read_lines` splits it), a
        list, or any iterable of strings (then ``total`` is required). Only one
        chunk is held in memory at a time.
        Or a table: a DataFrame, a ``datasets.Dataset`` or a CSV/TSV/JSONL/Parquet
        path, whose ``text_column`` is encoded (read whole).
    output_path:
        Receives ``embeddings.npy`` (open it with ``np.load(..., mmap_mode="r")``)
        and ``progress.json``. Running again with the same folder resumes: the
        input lines of every finished chunk, the model's weights and
        configuration and the settings below must be those of the earlier run,
        else the resume is refused with a ``ValueError`` that says what changed.
        Finished chunks whose rows on disk no longer match their checksums
        (a truncated or damaged file) are encoded again, with a warning.
    total:
        Number of sentences, for streams without a length.
    chunk_size:
        Sentences per recorded chunk: the unit of resumption.
    dtype:
        ``float16`` (half the disk) or ``float32``.
    batch_size, compute_dtype, normalize_embeddings:
        Passed to :meth:`SentenceEncoder.encode` (``compute_dtype``: ``float32``, ``bfloat16``
        or ``int8``; the rows are stored as ``dtype``).
    precision:
        Deprecated name of ``compute_dtype`` (a FutureWarning).
    callbacks, show_progress_bar:
        Progress subscribers; one ``progress_*`` task ``"corpus"`` counts sentences.
    encoding:
        Encoding of a text file ``sentences`` (see :func:`read_lines`).
    restart:
        Discard an earlier run in ``output_path`` (its ``embeddings.npy`` and
        ``progress.json``) and encode everything again, instead of resuming.
        Files this function did not write are never replaced, restart or not.
    text_column:
        The column of a table to encode (default: ``"text"``, or its only column).

    Returns
    -------
    The memory-mapped (n, dim) array.
    """
    compute_dtype = renamed_precision(precision, compute_dtype, "encode_corpus")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if dtype not in ("float16", "float32"):
        raise ValueError(f"dtype must be 'float16' or 'float32', got {dtype!r}")
    if text_column is not None or is_table(sentences):
        sentences = texts_from_table(sentences, text_column)
    if is_file := isinstance(sentences, (str, os.PathLike)):
        # Read once before encoding: counts the lines, surfaces decoding errors before any work,
        # and lets a resume with another input be refused before anything is written.
        n, input_hashes = _scan(sentences, chunk_size, encoding)
    else:
        n, input_hashes = _count(sentences), None
    if n is None:
        if total is None:
            raise ValueError("cannot size a stream of texts: pass total= (the number of sentences) or a list or a file")
        n = total
    elif total is not None and total != n:
        raise ValueError(f"total={total} but sentences holds {n} {'lines' if is_file else 'texts'}; leave total out")
    # The compute dtype keeps its old key "precision": folders written before the rename still resume.
    settings = {
        "n": n,
        "dim": model.get_sentence_embedding_dimension(),
        "dtype": dtype,
        "chunk_size": chunk_size,
        "batch_size": batch_size,
        "precision": compute_dtype,
        "normalize": normalize_embeddings,
        "model": {"source": getattr(model, "source", None), **model_fingerprint(model)},
    }
    if text_column is not None:  # resuming with another column of the same table must not mix them
        settings["text_column"] = text_column
    out = Path(output_path)
    out.mkdir(parents=True, exist_ok=True)
    chunks, emb = _open(out, settings, restart)
    if input_hashes is not None:
        _check_inputs(out, chunks, dict(enumerate(input_hashes)), settings)
    hooks = progress_hooks(show_progress_bar, callbacks)
    with Progress(hooks, "corpus", total=n, unit="sentences", desc="Encoding corpus") as progress:
        stream = _chunks(read_lines(sentences, encoding) if is_file else sentences, chunk_size)
        for chunk_id in range(-(-n // chunk_size)):
            start = chunk_id * chunk_size
            texts = next(stream, [])
            if len(texts) != min(chunk_size, n - start):
                raise ValueError(f"the corpus ended after {start + len(texts)} sentences; total says {n}")
            input_hash = hash_texts(texts)
            if chunk_id in chunks:  # resume: skip without encoding, once its input is known to be the same
                _check_inputs(out, chunks, {chunk_id: input_hash}, settings)
                progress.update(len(texts), skipped=True)
                continue
            rows = np.ascontiguousarray(
                model.encode(
                    texts,
                    batch_size=batch_size,
                    compute_dtype=compute_dtype,
                    normalize_embeddings=normalize_embeddings,
                    show_progress_bar=False,
                ).astype(dtype, copy=False)
            )
            _write_rows(emb, start, rows)
            chunks[chunk_id] = {"input": input_hash, "output": hash_bytes(rows.data)}
            _record(out, settings, chunks)
            progress.update(len(texts))
        if next(stream, None) is not None:
            warnings.warn(
                f"the stream of sentences holds more than total={n}; only the first {n} were encoded", stacklevel=2
            )
    return emb


def _scan(path: str | os.PathLike, chunk_size: int, encoding: str) -> tuple[int, list[str]]:
    """Number of lines of a text file and the input hash of each of its chunks."""
    n, hashes = 0, []
    for chunk in _chunks(read_lines(path, encoding), chunk_size):
        n += len(chunk)
        hashes.append(hash_texts(chunk))
    return n, hashes


def _count(source: Iterable[str]) -> int | None:
    return len(source) if hasattr(source, "__len__") else None  # type: ignore[arg-type]


def _check_inputs(
    out: Path, chunks: dict[int, dict[str, str]], hashes: dict[int, str], settings: dict[str, Any]
) -> None:
    """Refuse to resume when finished chunks were encoded from other lines than ``hashes`` says the input holds."""
    changed = [i for i, h in hashes.items() if i in chunks and chunks[i]["input"] != h]
    if changed:
        refuse_resume(
            out,
            [
                f"the input differs in {chunk_lines(changed, settings['chunk_size'], settings['n'])}, "
                "which the earlier run already encoded"
            ],
        )


def check_resumable(
    out: Path, record: Path, previous: dict[str, Any], settings: dict[str, Any], labels: dict[str, str], version: int
) -> None:
    """Refuse to resume a run whose ``record`` is of another format ``version`` or holds other settings."""
    if previous.get("format") != version:
        refuse_resume(
            out,
            [
                f"{record} comes from an earlier version of workbench that recorded no input "
                "or model fingerprints, so its rows cannot be checked"
            ],
        )
    changes = describe_changes(previous, settings, labels)
    if changes:
        refuse_resume(out, changes)


def refuse_resume(out: Path, changes: list[str]) -> None:
    """Raise the ``ValueError`` of a resume that would mix two runs' rows, listing ``changes``."""
    raise ValueError(
        f"{out} holds a run with other settings or input, so resuming would mix its rows with new ones: "
        + "; ".join(changes)
        + ". Pass restart=True to discard that run and encode everything again, or use another output_path."
    )


def _record(out: Path, settings: dict[str, Any], chunks: dict[int, dict[str, str]]) -> None:
    write_json(
        out / PROGRESS_NAME,
        settings
        | {
            "format": PROGRESS_FORMAT,
            "chunks_done": sorted(chunks),
            "chunks": {str(i): chunks[i] for i in sorted(chunks)},
        },
    )


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


def _open(out: Path, settings: dict[str, Any], restart: bool) -> tuple[dict[int, dict[str, str]], np.memmap]:
    """Reopen a matching unfinished run with its trustworthy chunks, or start a new output file.

    Only files this module wrote are ever replaced: an ``embeddings.npy``
    without a ``progress.json`` beside it, or a ``progress.json`` that is not
    ours, is refused even with ``restart``.
    """
    path = out / EMBEDDINGS_NAME
    progress = out / PROGRESS_NAME
    previous = _read_progress(progress) if progress.exists() else None
    if previous is None and path.exists():
        raise FileExistsError(
            f"{path} exists but was not written by encode_corpus (there is no {PROGRESS_NAME} "
            "beside it); it is left alone: move it away or use another output_path"
        )
    chunks: dict[int, dict[str, str]] = {}
    if previous is not None and not restart:
        check_resumable(out, progress, previous, settings, SETTING_LABELS, PROGRESS_FORMAT)
        chunks = {int(i): record for i, record in previous["chunks"].items()}
        if chunks and not path.exists():
            warnings.warn(
                f"{path} is missing although {progress} records {len(chunks)} finished chunks; encoding them again",
                stacklevel=3,
            )
            chunks = {}
        elif chunks:
            chunks = _verified(path, settings, chunks)
    if chunks:
        emb = np.lib.format.open_memmap(path, mode="r+")  # extends a truncated file with zeros: re-encoded below
    else:
        emb = np.lib.format.open_memmap(
            path, mode="w+", dtype=settings["dtype"], shape=(settings["n"], settings["dim"])
        )
    _record(out, settings, chunks)
    return chunks, emb


def _read_progress(progress: Path) -> dict[str, Any]:
    record = read_json(progress)
    if not isinstance(record, dict) or "chunks_done" not in record:
        raise FileExistsError(
            f"{progress} was not written by encode_corpus; it is left alone: move it away or use another output_path"
        )
    return record


def _verified(path: Path, settings: dict[str, Any], chunks: dict[int, dict[str, str]]) -> dict[int, dict[str, str]]:
    """The finished chunks whose rows in ``path`` still match the checksums recorded when they were written."""
    n, dim, size = settings["n"], settings["dim"], settings["chunk_size"]
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            shape, _, dtype = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )(fh)
            offset = fh.tell()
    except (ValueError, OSError) as err:
        warnings.warn(f"{path} has no readable .npy header ({err}); encoding every chunk again", stacklevel=4)
        return {}
    if shape != (n, dim) or dtype != np.dtype(settings["dtype"]):
        warnings.warn(
            f"{path} holds a {dtype} array of shape {shape}, not ({n}, {dim}) {settings['dtype']}; "
            "encoding every chunk again",
            stacklevel=4,
        )
        return {}
    row_bytes = dim * dtype.itemsize
    good = {
        i: record
        for i, record in chunks.items()
        if hash_file(path, offset + i * size * row_bytes, (min(n, (i + 1) * size) - i * size) * row_bytes)
        == record["output"]
    }
    damaged = sorted(set(chunks) - set(good))
    if damaged:
        expected = offset + n * row_bytes
        actual = path.stat().st_size
        why = f"the file is truncated ({actual} of {expected} bytes)" if actual < expected else "the file was changed"
        warnings.warn(
            f"{path}: the rows of {len(damaged)} finished chunks ({chunk_lines(damaged, size, n)}) do not "
            f"match the checksums recorded when they were written ({why}); encoding them again",
            stacklevel=4,
        )
    return good


@accepts_renamed(output_dir="output_path")
def chunks_done(output_path: str | os.PathLike) -> list[int]:
    """Chunks already finished in ``output_path`` (empty when nothing was started)."""
    progress = Path(output_path) / PROGRESS_NAME
    return list(read_json(progress).get("chunks_done", [])) if progress.exists() else []
