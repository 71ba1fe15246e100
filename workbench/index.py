"""Search over millions of embeddings: an approximate index (faiss), with exact chunked search as the fallback.

:func:`build_index` returns an object with ``search(queries, k) -> (scores,
ids)``.  With faiss installed it builds a faiss index (HNSW by default: no
training, good recall; ``"IVF1024,SQ8"`` and other factory strings trade
recall for memory); without faiss, or with ``kind="exact"``, it searches the
embeddings exactly, chunk by chunk, with :func:`workbench.search.semantic_search`,
so a ``np.memmap`` corpus is never loaded whole.

Why faiss (``faiss-cpu`` on PyPI): among the three candidates it is the
best kept -- released every few months by Meta (1.15 in 2026), the most
used of the three, with flat, HNSW, IVF and product-quantized indexes behind
one factory string.  hnswlib has had no release since 0.8.0 (December 2023);
usearch is maintained and light, but far less used.

Example
-------
>>> import numpy as np
>>> emb = np.random.default_rng(0).normal(size=(1000, 32)).astype(np.float32)
>>> index = build_index(emb, kind="exact")
>>> scores, ids = index.search(emb[:2], k=3)
>>> ids[:, 0].tolist()
[0, 1]
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .io import read_json, write_json
from .search import semantic_search
from .similarity import check_dimensions
from .validation import describe_rows, non_finite_rows, positive_int, renamed_argument

METRICS = ("cosine", "dot", "euclidean")
KINDS = ("auto", "faiss", "exact")


def faiss_available() -> bool:
    """Whether the faiss library can be imported (``pip install faiss-cpu``)."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def _rows(embeddings: Any, one_allowed: bool = False, name: str = "embeddings") -> Any:
    """Keep numpy arrays (and memmaps) as they are; convert tensors and lists; one vector becomes a row if allowed."""
    if hasattr(embeddings, "detach"):
        embeddings = embeddings.detach().cpu().float().numpy()
    array = embeddings if isinstance(embeddings, np.ndarray) else np.asarray(embeddings, dtype=np.float32)
    if one_allowed and array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise ValueError(f"{name} must be (n, dim), got shape {array.shape}")
    return array


def _refuse_non_finite(rows: Any, name: str, batch_size: int = 50_000) -> None:
    """Raise naming every row of ``rows`` with a NaN or an infinity, reading a memmap block by block.

    faiss cannot rank such a row: it drops it from results, leaves holes in
    an HNSW graph and refuses to train IVF on it with an error naming no row.
    """
    bad = [
        start + i
        for start in range(0, len(rows), batch_size)
        for i in non_finite_rows(rows[start : start + batch_size])
    ]
    if bad:
        raise ValueError(
            f"{name} has NaN or infinite values in {describe_rows(bad)}; a faiss index cannot rank them: "
            "drop or re-encode those rows, or use kind='exact', which ranks them after every finite row"
        )


def _float32(block: Any, similarity_fn_name: str) -> np.ndarray:
    block = np.ascontiguousarray(block, dtype=np.float32)
    if similarity_fn_name == "cosine":
        block = block / np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)
    return block


def _similarity_fn_name(where: str, similarity_fn_name: str, metric: str | None) -> str:
    """The checked similarity function of an index, from its name or the deprecated ``metric``."""
    similarity_fn_name = renamed_argument(
        where, "similarity_fn_name", similarity_fn_name, "metric", metric, "cosine", stacklevel=4
    )
    if similarity_fn_name not in METRICS:
        raise ValueError(f"similarity_fn_name must be one of {METRICS}, got {similarity_fn_name!r}")
    return similarity_fn_name


class ExactIndex:
    """Exact search, chunk by chunk, over an array or a memmap kept where it is.

    Example
    -------
    >>> ExactIndex(np.eye(3, dtype=np.float32)).search(np.eye(3)[:1], k=2)[1].tolist()
    [[0, 1]]
    """

    def __init__(
        self,
        embeddings: Any,
        similarity_fn_name: str = "cosine",
        chunk_size: int = 50_000,
        *,
        metric: str | None = None,
    ) -> None:
        similarity_fn_name = _similarity_fn_name("ExactIndex", similarity_fn_name, metric)
        self.embeddings, self.similarity_fn_name = _rows(embeddings), similarity_fn_name
        self.chunk_size = positive_int("chunk_size", chunk_size)

    def __len__(self) -> int:
        return len(self.embeddings)

    def search(self, queries: Any, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best ``(scores, ids)`` per query, best first, shape ``(n_queries, min(k, len))``.

        Corpus rows that are not finite score NaN and rank after every finite row.
        """
        width = min(positive_int("k", k), len(self))
        hits = semantic_search(
            _rows(queries, one_allowed=True, name="queries"),
            self.embeddings,
            top_k=k,
            similarity_fn_name=self.similarity_fn_name,
            corpus_chunk_size=self.chunk_size,
        )
        scores = np.array([[hit["score"] for hit in row] for row in hits], dtype=np.float32)
        ids = np.array([[hit["corpus_id"] for hit in row] for row in hits], dtype=np.int64)
        return scores.reshape(len(hits), width), ids.reshape(len(hits), width)


class FaissIndex:
    """A faiss index built from embeddings added in batches (a memmap is read batch by batch).

    Parameters
    ----------
    embeddings:
        ``(n, dim)`` array, memmap or tensor.
    similarity_fn_name:
        ``cosine`` (normalised inner product), ``dot`` or ``euclidean`` (scores are minus the distance);
        ``metric`` is its deprecated name.
    factory:
        A faiss factory string: ``HNSW32`` (default), ``IVF1024,SQ8``, ``IVF4096,PQ48``, ``Flat``…
    train_size:
        Rows used to train indexes that need it (IVF, PQ, SQ), taken evenly across the corpus.
    batch_size:
        Rows converted and added at once.
    ef_search, nprobe:
        Search-time accuracy knobs of HNSW and IVF indexes.

    Example
    -------
    >>> index = FaissIndex(np.eye(4, dtype=np.float32), factory="Flat")                 # doctest: +SKIP
    >>> index.search(np.eye(4)[:1], k=1)[1].tolist()                                   # doctest: +SKIP
    [[0]]
    """

    def __init__(
        self,
        embeddings: Any,
        similarity_fn_name: str = "cosine",
        factory: str = "HNSW32",
        train_size: int = 100_000,
        batch_size: int = 50_000,
        ef_search: int = 64,
        nprobe: int = 16,
        *,
        metric: str | None = None,
    ) -> None:
        import faiss

        similarity_fn_name = _similarity_fn_name("FaissIndex", similarity_fn_name, metric)
        rows = _rows(embeddings)
        if len(rows) == 0:
            raise ValueError(f"embeddings has no rows (shape {rows.shape}); a faiss index needs at least one")
        train_size, batch_size = positive_int("train_size", train_size), positive_int("batch_size", batch_size)
        self.similarity_fn_name, self.factory = similarity_fn_name, factory
        faiss_metric = faiss.METRIC_L2 if similarity_fn_name == "euclidean" else faiss.METRIC_INNER_PRODUCT
        self.index = faiss.index_factory(rows.shape[1], factory, faiss_metric)
        if not self.index.is_trained:
            sample = np.linspace(0, len(rows) - 1, min(train_size, len(rows))).astype(np.int64)
            train = rows[sample]
            if non_finite_rows(train):  # only then read the whole corpus, to name every bad row
                _refuse_non_finite(rows, "embeddings", batch_size)
            self.index.train(_float32(train, similarity_fn_name))
        for start in range(0, len(rows), batch_size):
            block = rows[start : start + batch_size]
            if non_finite_rows(block):
                _refuse_non_finite(rows, "embeddings", batch_size)
            self.index.add(_float32(block, similarity_fn_name))
        self.set_search_parameters(ef_search=ef_search, nprobe=nprobe)

    def set_search_parameters(self, ef_search: int | None = None, nprobe: int | None = None) -> None:
        """Raise ``ef_search`` (HNSW) or ``nprobe`` (IVF) for better recall at some speed."""
        import faiss

        hnsw = getattr(faiss.downcast_index(self.index), "hnsw", None)
        if hnsw is not None and ef_search is not None:
            hnsw.efSearch = ef_search
        try:
            ivf = faiss.extract_index_ivf(self.index)
        except RuntimeError:  # not an IVF index
            ivf = None
        if ivf is not None and nprobe is not None:
            ivf.nprobe = nprobe

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries: Any, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best ``(scores, ids)`` per query, best first, shape ``(n_queries, min(k, len))``.

        Queries must be finite: faiss answers a NaN query with id -1, which would index the last row.
        """
        k = min(positive_int("k", k), len(self))
        queries = _rows(queries, one_allowed=True, name="queries")
        check_dimensions(queries.shape, (len(self), self.index.d), ("queries", "the index"))
        _refuse_non_finite(queries, "queries")
        scores, ids = self.index.search(_float32(queries, self.similarity_fn_name), k)
        if self.similarity_fn_name == "euclidean":
            scores = -np.sqrt(np.maximum(scores, 0))
        return scores, ids.astype(np.int64)

    def save(self, path: str | os.PathLike) -> None:
        """Write the index to ``path`` (a folder: ``index.faiss`` and ``index.json``); read it with :func:`load_index`."""
        import faiss

        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(folder / "index.faiss"))
        write_json(folder / "index.json", {"similarity_fn_name": self.similarity_fn_name, "factory": self.factory})

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FaissIndex":
        import faiss

        folder = Path(path)
        info = read_json(folder / "index.json")
        index = cls.__new__(cls)
        # "metric": the key of indexes saved before the similarity function had one name everywhere
        index.similarity_fn_name = info["similarity_fn_name"] if "similarity_fn_name" in info else info["metric"]
        index.factory = info["factory"]
        index.index = faiss.read_index(str(folder / "index.faiss"))
        return index


def build_index(
    embeddings: Any,
    similarity_fn_name: str = "cosine",
    kind: str = "auto",
    *,
    metric: str | None = None,
    **options: Any,
) -> FaissIndex | ExactIndex:
    """An index over ``embeddings`` with ``search(queries, k) -> (scores, ids)``.

    Parameters
    ----------
    embeddings:
        ``(n, dim)`` array, ``np.memmap`` (e.g. from :func:`workbench.corpus.encode_corpus`) or tensor.
    similarity_fn_name:
        ``cosine``, ``dot`` or ``euclidean`` (``metric``: its deprecated name).
    kind:
        ``auto`` (faiss when installed, else exact), ``faiss`` or ``exact``.
    **options:
        For faiss: ``factory``, ``train_size``, ``batch_size``, ``ef_search``, ``nprobe``
        (see :class:`FaissIndex`); for exact search: ``chunk_size``.

    Example
    -------
    >>> emb = np.random.default_rng(0).normal(size=(500, 16)).astype(np.float32)
    >>> build_index(emb, kind="exact").search(emb[:1], k=1)[1].tolist()
    [[0]]
    """
    similarity_fn_name = _similarity_fn_name("build_index", similarity_fn_name, metric)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if kind == "faiss" and not faiss_available():
        raise ImportError("kind='faiss' needs the faiss library: pip install faiss-cpu (or use kind='exact')")
    if kind == "exact" or (kind == "auto" and not faiss_available()):
        return ExactIndex(embeddings, similarity_fn_name, **options)
    return FaissIndex(embeddings, similarity_fn_name, **options)


def load_index(path: str | os.PathLike) -> FaissIndex:
    """Read an index written by :meth:`FaissIndex.save`."""
    return FaissIndex.load(path)
