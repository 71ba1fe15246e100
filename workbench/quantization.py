"""Smaller embeddings: int8/uint8 codes with calibration ranges, and binary codes searched by Hamming distance.

* :func:`quantize_embeddings` turns float embeddings into ``int8``/``uint8``
  (256 levels per dimension between calibrated bounds, as sentence-transformers
  makes them: 4x smaller) or
  ``binary``/``ubinary`` (one bit per dimension, the sign, packed eight to a
  byte: 32x smaller).  Binary codes are laid out as sentence-transformers
  lays them out, so either library can search the other's.
* :func:`binary_search` finds neighbours among binary codes with Hamming
  distances on the packed bits, then rescores a few times more candidates
  than asked for with the float query (and the float corpus when given),
  which recovers most of float search's quality.

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> corpus = rng.normal(size=(1000, 64)).astype(np.float32)
>>> codes = quantize_embeddings(corpus, "ubinary")
>>> codes.shape, codes.dtype
((1000, 8), dtype('uint8'))
>>> hits = binary_search(corpus[:2], codes, top_k=1)
>>> [h[0]["corpus_id"] for h in hits]
[0, 1]
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .validation import describe_rows, non_finite_rows, positive_int

#: The output types of ``encode(precision=...)`` and :func:`quantize_embeddings` (sentence-transformers' meaning).
OUTPUT_PRECISIONS = ("float32", "int8", "uint8", "binary", "ubinary")


def check_output_precision(precision: Any) -> str:
    """``precision`` when it is one of :data:`OUTPUT_PRECISIONS`, else a ``ValueError`` naming them.

    Example
    -------
    >>> check_output_precision("bfloat16")
    Traceback (most recent call last):
    ...
    ValueError: precision must be one of ('float32', 'int8', 'uint8', 'binary', 'ubinary') (the output type), got 'bfloat16'
    """
    if precision not in OUTPUT_PRECISIONS:
        raise ValueError(f"precision must be one of {OUTPUT_PRECISIONS} (the output type), got {precision!r}")
    return precision


def __getattr__(name: str) -> Any:
    # PRECISIONS named three different things across the library; its old name here warns for one release.
    if name == "PRECISIONS":
        warnings.warn(
            "workbench.quantization.PRECISIONS is deprecated: use OUTPUT_PRECISIONS", FutureWarning, stacklevel=2
        )
        return OUTPUT_PRECISIONS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _as_array(embeddings: Any, name: str = "embeddings") -> np.ndarray:
    """A 2-D numpy array of ``embeddings`` (numpy, torch, list); one vector becomes one row."""
    if hasattr(embeddings, "detach"):
        embeddings = embeddings.detach().cpu().float().numpy()
    array = np.asarray(embeddings)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise ValueError(f"{name} must be (n, dim) or (dim,), got shape {array.shape}")
    return array


def _finite_rows(array: np.ndarray, name: str) -> np.ndarray:
    """``array`` when every value is finite: one NaN row would set the bounds of every row's codes."""
    bad = non_finite_rows(array)
    if bad:
        raise ValueError(
            f"{name} has NaN or infinite values in {describe_rows(bad)}; only finite embeddings can be quantized"
        )
    return array


def calibration_ranges(embeddings: Any) -> np.ndarray:
    """Per-dimension bounds ``[[min...], [max...]]`` (shape ``(2, dim)``) for int8/uint8 quantization.

    Compute them once on a representative sample and reuse them, so that codes
    of different batches (corpus today, queries tomorrow) mean the same thing.

    Example
    -------
    >>> calibration_ranges([[0.0, -1.0], [2.0, 1.0]])
    array([[ 0., -1.],
           [ 2.,  1.]], dtype=float32)
    """
    array = _finite_rows(_as_array(embeddings).astype(np.float32, copy=False), "calibration embeddings")
    if len(array) == 0:
        raise ValueError("cannot calibrate on zero embeddings")
    return np.stack([array.min(0), array.max(0)])


def quantize_embeddings(
    embeddings: Any,
    precision: str,
    ranges: Any = None,
    calibration_embeddings: Any = None,
) -> np.ndarray:
    """Quantize float embeddings to ``precision``.

    Parameters
    ----------
    embeddings:
        ``(n, dim)`` floats (numpy, torch or lists).
    precision:
        ``float32`` (unchanged), ``int8`` / ``uint8`` (level ``floor((x - min) / step)``
        with ``step = (max - min) / 255`` per dimension, clipped to 0..255, so that
        the codes equal sentence-transformers'; int8 is uint8 shifted by -128),
        ``binary`` / ``ubinary`` (the sign bit of every dimension, packed: ``(n,
        ceil(dim / 8))``; ``binary`` is the packed byte minus 128 as int8).
    ranges:
        For int8/uint8: ``(2, dim)`` per-dimension min and max, e.g. from
        :func:`calibration_ranges`.
    calibration_embeddings:
        For int8/uint8 without ``ranges``: embeddings to take the bounds from.
        Without both, the bounds of ``embeddings`` themselves are used (at least
        two of them: one embedding has no range).

    Returns
    -------
    numpy array of the codes (dtype float32, int8 or uint8).

    Example
    -------
    >>> quantize_embeddings([[0.0, 255.0], [255.0, 0.0], [100.5, 3.0]], "uint8")
    array([[  0, 255],
           [255,   0],
           [100,   3]], dtype=uint8)
    >>> quantize_embeddings([[0.5, -0.2, 0.1, 0, 0, 0, 0, 0.3]], "ubinary")
    array([[161]], dtype=uint8)
    """
    check_output_precision(precision)
    array = _as_array(embeddings).astype(np.float32, copy=False)
    if precision == "float32":
        return array
    _finite_rows(array, "embeddings")
    if precision in ("binary", "ubinary"):
        packed = np.packbits(array > 0, axis=-1)
        return (packed.astype(np.int16) - 128).astype(np.int8) if precision == "binary" else packed
    if ranges is None:
        if calibration_embeddings is None and len(array) == 1:
            raise ValueError(
                f"cannot take {precision} bounds from a single embedding; give ranges= or "
                "calibration_embeddings= from a representative sample"
            )
        ranges = calibration_ranges(array if calibration_embeddings is None else calibration_embeddings)
    ranges = np.asarray(ranges, dtype=np.float32)
    if ranges.shape != (2, array.shape[1]):
        raise ValueError(
            f"ranges must have shape (2, {array.shape[1]}) (min and max per dimension), got {ranges.shape}"
        )
    # sentence-transformers' levels: 255 steps between the bounds, a dimension without range gets step 1
    low, step = ranges[0], _steps(ranges)
    levels = np.clip(np.floor((array - low) / step), 0, 255)
    return (levels - 128).astype(np.int8) if precision == "int8" else levels.astype(np.uint8)


def dequantize_embeddings(codes: Any, precision: str, ranges: Any = None, dim: int | None = None) -> np.ndarray:
    """Approximate float embeddings back from codes (level centres, or ±1 for binary codes).

    Parameters
    ----------
    codes:
        What :func:`quantize_embeddings` returned.
    precision:
        The precision they were made with.
    ranges:
        The bounds used for int8/uint8 codes (required for them).
    dim:
        For binary codes: the embedding width (default: 8 bits per byte).

    Example
    -------
    >>> dequantize_embeddings([[161]], "ubinary", dim=4)
    array([[ 1., -1.,  1., -1.]], dtype=float32)
    """
    check_output_precision(precision)
    array = _as_array(codes, "codes")
    if precision == "float32":
        return array.astype(np.float32)
    if precision in ("binary", "ubinary"):
        return _unpack(array, precision, dim)
    if ranges is None:
        raise ValueError(f"{precision} codes need the ranges they were quantized with")
    ranges = np.asarray(ranges, dtype=np.float32)
    levels = array.astype(np.float32) + (128 if precision == "int8" else 0)
    # the middle of each level's interval; the top level holds the maximum only
    return np.minimum(ranges[0] + (levels + 0.5) * _steps(ranges), ranges[1])


def _steps(ranges: np.ndarray) -> np.ndarray:
    """Width of one int8/uint8 level per dimension, as sentence-transformers computes it."""
    steps = (ranges[1] - ranges[0]) / 255
    return np.where(steps == 0, 1, steps).astype(np.float32)


def _unsigned(codes: np.ndarray, precision: str) -> np.ndarray:
    if precision == "binary":
        return (codes.astype(np.int16) + 128).astype(np.uint8)
    return codes.astype(np.uint8, copy=False)


def _unpack(codes: np.ndarray, precision: str, dim: int | None) -> np.ndarray:
    bits = np.unpackbits(_unsigned(codes, precision), axis=-1, count=dim)
    return bits.astype(np.float32) * 2 - 1


def hamming_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances ``(len(a), len(b))`` between packed uint8 bit codes.

    Example
    -------
    >>> hamming_distances(np.array([[0b1111]], np.uint8), np.array([[0b0101], [0b1111]], np.uint8))
    array([[2, 0]])
    """
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"codes have {a.shape[1]} and {b.shape[1]} bytes; they must come from the same width")
    if a.shape[1] % 8 == 0:  # eight bytes at a time
        a, b = np.ascontiguousarray(a).view(np.uint64), np.ascontiguousarray(b).view(np.uint64)
    xor = a[:, None, :] ^ b[None, :, :]
    counts = np.bitwise_count(xor) if hasattr(np, "bitwise_count") else _POPCOUNT[xor.view(np.uint8)]
    return counts.sum(-1, dtype=np.int64)


def binary_search(
    query_embeddings: Any,
    corpus_codes: Any,
    top_k: int = 10,
    rescore_multiplier: int = 4,
    corpus_embeddings: Any = None,
    precision: str = "ubinary",
    corpus_chunk_size: int = 8192,
    query_chunk_size: int = 64,
) -> list[list[dict[str, float | int]]]:
    """Nearest corpus items by Hamming distance on binary codes, rescored with floats.

    Parameters
    ----------
    query_embeddings:
        ``(n_queries, dim)`` float embeddings (or one ``(dim,)`` query).
    corpus_codes:
        ``(n_corpus, ceil(dim / 8))`` codes from ``quantize_embeddings(corpus, precision)``;
        a ``np.memmap`` is read chunk by chunk.
    top_k:
        Hits per query.
    rescore_multiplier:
        Keep ``top_k * rescore_multiplier`` candidates by Hamming distance and
        rank them by the dot product of the float query with each candidate:
        its float embedding when ``corpus_embeddings`` is given, else its ±1
        code.  ``0`` ranks by Hamming distance alone (score ``1 - 2 * distance / dim``).
    corpus_embeddings:
        Optional float corpus (a memmap is fine: only candidates are read);
        normalise it and the queries for cosine scores.
    precision:
        ``ubinary`` or ``binary``: how the codes were made.
    corpus_chunk_size, query_chunk_size:
        Rows compared at once (memory: about ``query_chunk * corpus_chunk * dim / 8`` bytes).

    Returns
    -------
    For each query, ``{"corpus_id", "score"}`` dicts, best first (as :func:`workbench.search.semantic_search`).

    Example
    -------
    >>> import numpy as np
    >>> corpus = np.array([[1.0, -1.0, 0.5, 0, 0, 0, 0, 0], [-1.0, 1.0, -0.5, 0, 0, 0, 0, 0]])
    >>> codes = quantize_embeddings(corpus, "ubinary")
    >>> binary_search([[0.9, -0.8, 0.2, 0, 0, 0, 0, 0]], codes, top_k=1, corpus_embeddings=corpus)
    [[{'corpus_id': 0, 'score': 1.8...}]]
    """
    if precision not in ("binary", "ubinary"):
        raise ValueError(f"binary_search needs binary or ubinary codes, got precision={precision!r}")
    for name, value in (
        ("top_k", top_k),
        ("corpus_chunk_size", corpus_chunk_size),
        ("query_chunk_size", query_chunk_size),
    ):
        positive_int(name, value)
    if rescore_multiplier < 0:
        raise ValueError(f"rescore_multiplier must be 0 (no rescoring) or more, got {rescore_multiplier}")
    queries = _as_array(query_embeddings, "query_embeddings").astype(np.float32, copy=False)
    if np.ndim(corpus_codes) != 2:
        raise ValueError(f"corpus_codes must be (n_corpus, bytes), got shape {np.shape(corpus_codes)}")
    dim = queries.shape[1]
    if -(-dim // 8) != corpus_codes.shape[1]:
        raise ValueError(
            f"queries have {dim} dimensions, which pack into {-(-dim // 8)} bytes, "
            f"but the corpus codes have {corpus_codes.shape[1]} bytes per row"
        )
    query_codes = np.packbits(queries > 0, axis=-1)
    n_corpus = corpus_codes.shape[0]
    keep = min(n_corpus, top_k * max(rescore_multiplier, 1))
    results: list[list[dict[str, float | int]]] = []
    for q_start in range(0, len(queries), query_chunk_size):
        q_codes = query_codes[q_start : q_start + query_chunk_size]
        best_d = np.empty((len(q_codes), 0), dtype=np.int64)
        best_i = np.empty((len(q_codes), 0), dtype=np.int64)
        for c_start in range(0, n_corpus, corpus_chunk_size):
            chunk = _unsigned(np.asarray(corpus_codes[c_start : c_start + corpus_chunk_size]), precision)
            d = np.concatenate([best_d, hamming_distances(q_codes, chunk)], axis=1)
            i = np.concatenate(
                [best_i, np.broadcast_to(np.arange(c_start, c_start + len(chunk)), (len(q_codes), len(chunk)))], axis=1
            )
            if d.shape[1] > keep:
                # ties on the distance go to the lower id, so that chunking cannot change the result
                part = np.argpartition(d * n_corpus + i, keep - 1, axis=1)[:, :keep]
                d, i = np.take_along_axis(d, part, 1), np.take_along_axis(i, part, 1)
            best_d, best_i = d, i
        for row, (distances, ids) in enumerate(zip(best_d, best_i)):
            order = np.argsort(ids)  # ascending reads are kinder to a memmap
            distances, ids = distances[order], ids[order]
            if rescore_multiplier == 0:
                scores = 1 - 2 * distances / dim
            elif corpus_embeddings is not None:
                scores = np.asarray(corpus_embeddings[ids], dtype=np.float32) @ queries[q_start + row]
            else:
                codes = _unsigned(np.asarray(corpus_codes[ids]), precision)
                scores = _unpack(codes, precision, dim) @ queries[q_start + row]
            # best score first, NaN and infinities after every finite score (as in semantic_search);
            # ties keep the lower corpus id first
            rank = np.where(np.isfinite(scores), scores, -np.inf)
            order = np.lexsort((ids, -rank))[:top_k]
            results.append([{"corpus_id": int(ids[j]), "score": float(scores[j])} for j in order])
    return results
