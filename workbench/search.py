"""Semantic search and paraphrase mining over embeddings, in bounded memory.

Both walk the score matrix block by block and keep only a running top-k per
query, so a corpus of millions of embeddings (a ``np.memmap`` on disk, say)
never needs its full ``queries x corpus`` matrix in memory.

Example
-------
>>> import torch
>>> from workbench.search import semantic_search
>>> corpus = torch.eye(3)
>>> hits = semantic_search(torch.tensor([[0.9, 0.1, 0.0]]), corpus, top_k=2)
>>> [hit["corpus_id"] for hit in hits[0]]
[0, 1]
"""

from __future__ import annotations

import logging
import math
from typing import Any, Iterable, Protocol, Sequence

import numpy as np
import torch

from .hooks import Hooks, Progress  # Progress: imported from here before it moved to hooks
from .similarity import ArrayLike, SimilarityFunction, as_matrix, check_dimensions, get_similarity
from .typing import Encoder
from .validation import positive_int, renamed_argument

logger = logging.getLogger(__name__)

__all__ = [
    "semantic_search",
    "rerank",
    "rerank_hits",
    "paraphrase_mining_embeddings",
    "paraphrase_mining",
    "connected_groups",
    "Progress",
]


class _Rows(Protocol):
    """A 2-D container that can be sliced by rows without loading all of it."""

    shape: tuple[int, ...]

    def __getitem__(self, item: slice) -> Any: ...


def _corpus_rows(corpus: ArrayLike) -> _Rows:
    """Keep arrays and tensors as they are (a memmap stays on disk); convert the rest."""
    if isinstance(corpus, (np.ndarray, torch.Tensor)):
        return corpus.reshape(1, -1) if corpus.ndim == 1 else corpus
    return as_matrix(corpus)


def _check_positive(**values: Any) -> None:
    for name, value in values.items():
        positive_int(name, value)


def _similarity(
    where: str, similarity_fn_name: str | SimilarityFunction, score_function: str | SimilarityFunction | None
) -> SimilarityFunction:
    """The function ``similarity_fn_name`` names, or that of its deprecated name ``score_function`` (which warns)."""
    # stacklevel 5 reaches the user: past renamed_argument, this helper, the public function and its no_grad wrapper.
    chosen = renamed_argument(
        where, "similarity_fn_name", similarity_fn_name, "score_function", score_function, "cosine", stacklevel=5
    )
    return get_similarity(chosen)


def _best(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` best scores per row and their column positions, best first.

    NaN and infinite scores rank below every finite one (``topk`` alone puts
    NaN first): a corpus row that encoded to NaN must not top every query.
    They keep their value, so a caller still sees them for what they are.
    """
    rank = torch.where(
        torch.isfinite(scores), scores, torch.tensor(float("-inf"), dtype=scores.dtype, device=scores.device)
    )
    order = rank.topk(min(k, scores.shape[1]), dim=1).indices
    return scores.gather(1, order), order


def _top_k(
    queries: torch.Tensor,
    corpus: _Rows,
    top_k: int,
    score: SimilarityFunction,
    query_chunk_size: int,
    corpus_chunk_size: int,
    progress: Progress | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best ``min(top_k, len(corpus))`` scores and corpus ids per query, best first.

    The corpus is the outer loop so each corpus chunk is read (and converted)
    once, however many query chunks there are.
    """
    k = min(top_k, corpus.shape[0])
    starts = range(0, len(queries), query_chunk_size)
    # running (scores, ids) per query chunk; None until the first corpus chunk
    best: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * len(starts)
    for c_start in range(0, corpus.shape[0], corpus_chunk_size):
        chunk = as_matrix(corpus[c_start : c_start + corpus_chunk_size]).to(queries.device)
        for b, q_start in enumerate(starts):
            scores = score(queries[q_start : q_start + query_chunk_size], chunk)
            top_scores, top_ids = _best(scores, k)
            top_ids += c_start
            if best[b] is not None:
                # merge with the best so far; while chunks are smaller than k, keep all
                top_scores = torch.cat([best[b][0], top_scores], dim=1)
                top_ids = torch.cat([best[b][1], top_ids], dim=1)
                top_scores, order = _best(top_scores, k)
                top_ids = top_ids.gather(1, order)
            best[b] = (top_scores, top_ids)
        if progress is not None:
            progress.update(len(chunk))
    if not best or best[0] is None:  # no queries or an empty corpus
        return torch.empty(len(queries), 0), torch.empty(len(queries), 0, dtype=torch.long)
    return torch.cat([s for s, _ in best]), torch.cat([i for _, i in best])


@torch.no_grad()
def semantic_search(
    query_embeddings: ArrayLike,
    corpus_embeddings: ArrayLike,
    top_k: int = 10,
    similarity_fn_name: str | SimilarityFunction = "cosine",
    query_chunk_size: int = 100,
    corpus_chunk_size: int = 50_000,
    hooks: Hooks | None = None,
    *,
    score_function: str | SimilarityFunction | None = None,
) -> list[list[dict[str, float | int]]]:
    """Find the ``top_k`` most similar corpus embeddings for each query.

    Parameters
    ----------
    query_embeddings
        ``(n_queries, dim)`` or one ``(dim,)`` query; array, tensor or list.
    corpus_embeddings
        ``(n_corpus, dim)``; a ``np.memmap`` is read chunk by chunk.
    top_k
        Hits per query (fewer when the corpus is smaller).
    similarity_fn_name
        ``"cosine"``, ``"dot"``, ``"euclidean"``, ``"manhattan"`` or a function
        returning a ``(len(a), len(b))`` score matrix; larger is better.
        ``score_function`` is its deprecated name here (:func:`workbench.util.semantic_search`
        keeps sentence-transformers' ``score_function`` without a warning).
    query_chunk_size, corpus_chunk_size
        Block size of the score matrix computed at once.
    hooks
        Receives ``progress_*`` events for task ``"semantic_search"``,
        counted in corpus embeddings.

    Returns
    -------
    list of list of dict
        For each query, ``{"corpus_id": int, "score": float}`` dicts sorted by
        score, best first.  A NaN or infinite score (a corpus row that is not
        finite) ranks after every finite one and is returned as it is.

    Example
    -------
    >>> import numpy as np
    >>> corpus = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    >>> semantic_search([1.0, 0.5], corpus, top_k=2, similarity_fn_name="dot")
    [[{'corpus_id': 0, 'score': 1.0}, {'corpus_id': 2, 'score': 0.75}]]
    """
    _check_positive(top_k=top_k, query_chunk_size=query_chunk_size, corpus_chunk_size=corpus_chunk_size)
    score = _similarity("semantic_search", similarity_fn_name, score_function)
    queries = as_matrix(query_embeddings)
    corpus = _corpus_rows(corpus_embeddings)
    check_dimensions(queries.shape, corpus.shape, ("query_embeddings", "corpus_embeddings"))
    with Progress(hooks, "semantic_search", total=corpus.shape[0], unit="embeddings") as progress:
        scores, ids = _top_k(queries, corpus, top_k, score, query_chunk_size, corpus_chunk_size, progress)
    return [
        [{"corpus_id": i, "score": s} for s, i in zip(row_scores, row_ids)]
        for row_scores, row_ids in zip(scores.tolist(), ids.tolist())
    ]


def rerank_hits(hits: Sequence[dict[str, Any]], scores: Sequence[float]) -> list[dict[str, Any]]:
    """The ``hits`` of a first ranking ordered by new ``scores`` (one per hit), with both ranks and both scores.

    ``hits`` are ``{"corpus_id", "score"}`` dicts, best first (what
    :func:`semantic_search` returns for one query); ``scores[i]`` is the new
    score of ``hits[i]`` (a cross-encoder's).  Each returned dict has
    ``corpus_id``, ``rank`` and ``score`` (new, ranks from 1), ``first_rank``
    and ``first_score`` (the first ranking's), and ``movement`` =
    ``first_rank - rank``: positive when the hit moved up.  Equal new scores
    keep the first ranking's order; a NaN or infinite new score ranks after
    every finite one (with a warning).

    Example
    -------
    >>> hits = [{"corpus_id": 7, "score": 0.9}, {"corpus_id": 3, "score": 0.8}]
    >>> [(h["corpus_id"], h["rank"], h["first_rank"], h["movement"]) for h in rerank_hits(hits, [0.1, 0.6])]
    [(3, 1, 2, 1), (7, 2, 1, -1)]
    """
    if len(scores) != len(hits):
        raise ValueError(f"scores has {len(scores)} values for {len(hits)} hits; give one new score per hit")
    values = [float(v) for v in scores]
    bad = {i for i, v in enumerate(values) if not math.isfinite(v)}
    if bad:
        first = min(bad)
        logger.warning(
            "%d of the %d new scores are not finite (first: hit %d, corpus_id %s); they rank last",
            len(bad),
            len(values),
            first,
            hits[first].get("corpus_id"),
        )
    order = sorted(range(len(hits)), key=lambda i: (-values[i] if i not in bad else math.inf, i))
    return [
        {
            "corpus_id": hits[i]["corpus_id"],
            "rank": rank,
            "score": values[i],
            "first_rank": i + 1,
            "first_score": float(hits[i]["score"]),
            "movement": i + 1 - rank,
        }
        for rank, i in enumerate(order, start=1)
    ]


def rerank(
    cross_encoder: Any,
    query: str,
    hits: Sequence[dict[str, Any]],
    corpus: Sequence[str],
    top_k: int | None = None,
    batch_size: int = 32,
    show_progress_bar: bool | None = None,
    callbacks: Iterable[Any] | None = None,
) -> list[dict[str, Any]]:
    """Rerank a first ranking's ``hits`` for ``query`` with ``cross_encoder``: see :func:`rerank_hits` for the result.

    ``corpus[hit["corpus_id"]]`` is each hit's text; ``cross_encoder`` is
    anything with a sentence-transformers style ``predict(pairs)`` returning
    one score per pair (a one-output :class:`~workbench.CrossEncoder`).  The
    best ``top_k`` are returned (all when ``None``).

    Example
    -------
    >>> hits = semantic_search(model.encode([query]), corpus_embeddings, top_k=50)[0]   # doctest: +SKIP
    >>> rerank(cross_encoder, query, hits, corpus, top_k=10)[0]                         # doctest: +SKIP
    {'corpus_id': 12, 'rank': 1, 'score': 0.97, 'first_rank': 4, 'first_score': 0.71, 'movement': 3}
    """
    if not isinstance(query, str):
        raise TypeError(f"query must be a string, got {type(query).__name__}")
    if top_k is not None:
        positive_int("top_k", top_k)
    if not hits:
        return []
    pairs = [(query, corpus[hit["corpus_id"]]) for hit in hits]
    scores = np.asarray(
        cross_encoder.predict(
            pairs,
            batch_size=batch_size,
            show_progress_bar=show_progress_bar,
            **({"callbacks": callbacks} if callbacks is not None else {}),
        )
    )
    if scores.shape != (len(pairs),):
        raise ValueError(
            f"{type(cross_encoder).__name__}.predict returned shape {scores.shape} for {len(pairs)} "
            "pairs; reranking needs one score per pair (a model with one output)"
        )
    return rerank_hits(hits, scores.tolist())[:top_k]


@torch.no_grad()
def paraphrase_mining_embeddings(
    embeddings: ArrayLike,
    top_k: int = 100,
    max_pairs: int = 500_000,
    chunk_size: int = 512,
    corpus_chunk_size: int = 50_000,
    similarity_fn_name: str | SimilarityFunction = "cosine",
    hooks: Hooks | None = None,
    *,
    score_function: str | SimilarityFunction | None = None,
) -> list[tuple[float, int, int]]:
    """Most similar pairs among ``embeddings``: each item's ``top_k`` neighbours, merged.

    Every item contributes the pairs with its ``top_k`` most similar other
    items; pairs found from both ends count once.  The score function is
    assumed symmetric.

    Parameters
    ----------
    embeddings
        ``(n, dim)`` array, tensor, list or ``np.memmap``.
    top_k
        Neighbours considered per item.
    max_pairs
        Keep at most this many pairs, the best ones.
    chunk_size, corpus_chunk_size
        Rows and columns of the score block computed at once.
    similarity_fn_name
        As in :func:`semantic_search` (``score_function``: its deprecated name).
    hooks
        Receives ``progress_*`` events for task ``"paraphrase_mining"``,
        counted in embeddings.

    Returns
    -------
    list of (score, i, j)
        ``i < j``, no duplicates, sorted by score, best first; NaN and
        infinite scores come after every finite one.

    Example
    -------
    >>> emb = [[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]
    >>> [(i, j) for _, i, j in paraphrase_mining_embeddings(emb, top_k=1)]
    [(0, 1), (1, 2)]
    """
    _check_positive(top_k=top_k, max_pairs=max_pairs, chunk_size=chunk_size, corpus_chunk_size=corpus_chunk_size)
    score = _similarity("paraphrase_mining_embeddings", similarity_fn_name, score_function)
    corpus = _corpus_rows(embeddings)
    n = corpus.shape[0]
    best = _BestPairs(n, max_pairs)
    with Progress(hooks, "paraphrase_mining", total=n, unit="embeddings") as progress:
        for start in range(0, n, chunk_size):
            queries = as_matrix(corpus[start : start + chunk_size])
            # one extra neighbour because an item is usually its own best match
            scores, ids = _top_k(queries, corpus, top_k + 1, score, chunk_size, corpus_chunk_size)
            own = torch.arange(start, start + len(queries))
            scores, ids = _drop_self(scores.cpu(), ids.cpu(), own)
            rows = own.unsqueeze(1).expand_as(ids)
            # a pair (i, j) is stored once, under the key min * n + max
            keys = torch.minimum(rows, ids) * n + torch.maximum(rows, ids)
            best.add(scores.flatten().double().numpy(), keys.flatten().numpy())
            progress.update(len(queries))
    return best.pairs()


def _drop_self(scores: torch.Tensor, ids: torch.Tensor, own: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Remove each row's own id from its hits, or its last (worst) hit when absent.

    Either way every row loses exactly one hit, so the result stays rectangular.
    """
    keep = ids != own.unsqueeze(1)
    keep[keep.all(dim=1), -1] = False
    k = ids.shape[1] - 1
    return scores[keep].reshape(len(ids), k), ids[keep].reshape(len(ids), k)


class _BestPairs:
    """The best ``limit`` distinct pairs seen so far, each under its key ``i * n + j``.

    Pruning sorts the whole buffer, so it waits until the buffer holds twice
    what is kept: each pair is then sorted only a few times on average.
    """

    def __init__(self, n: int, limit: int) -> None:
        self.n, self.limit = n, limit
        self.scores: list[np.ndarray] = [np.empty(0)]
        self.keys: list[np.ndarray] = [np.empty(0, dtype=np.int64)]
        self.size = 0

    def add(self, scores: np.ndarray, keys: np.ndarray) -> None:
        self.scores.append(scores)
        self.keys.append(keys)
        self.size += len(keys)
        if self.size > 2 * self.limit:
            self._prune()

    def _prune(self) -> None:
        scores, keys = np.concatenate(self.scores), np.concatenate(self.keys)
        # non-finite scores rank last, as in semantic_search (argsort alone puts +inf first)
        rank = np.where(np.isfinite(scores), scores, -np.inf)
        # by key, best score first within a key: the first of each key is its best
        order = np.lexsort((-rank, keys))
        scores, keys, rank = scores[order], keys[order], rank[order]
        first = np.ones(len(keys), dtype=bool)
        first[1:] = keys[1:] != keys[:-1]
        scores, keys, rank = scores[first], keys[first], rank[first]
        # stable: ties stay in ascending (i, j) order, so the result is reproducible
        order = np.argsort(-rank, kind="stable")[: self.limit]
        self.scores, self.keys, self.size = [scores[order]], [keys[order]], len(order)

    def pairs(self) -> list[tuple[float, int, int]]:
        """The kept pairs as ``(score, i, j)``, best first."""
        self._prune()
        scores, keys = self.scores[0].tolist(), self.keys[0].tolist()
        return [(s, k // self.n, k % self.n) for s, k in zip(scores, keys)]


def paraphrase_mining(
    encoder: Encoder,
    sentences: list[str],
    batch_size: int = 32,
    **kwargs: Any,
) -> list[tuple[float, int, int]]:
    """Encode ``sentences`` and return their most similar pairs.

    Parameters
    ----------
    encoder
        Anything with ``encode(sentences, batch_size=..., convert_to_tensor=True)``.
    sentences
        The texts; the pair indices refer to this list.
    batch_size
        Passed to ``encoder.encode``.
    **kwargs
        Passed to :func:`paraphrase_mining_embeddings` (``top_k``,
        ``max_pairs``, ``similarity_fn_name``, ``hooks``...).

    Returns
    -------
    list of (score, i, j)
        As :func:`paraphrase_mining_embeddings`.

    Example
    -------
    >>> import torch
    >>> class Letters:
    ...     def encode(self, sentences, batch_size, convert_to_tensor):
    ...         return torch.tensor([[s.count("a"), s.count("b")] for s in sentences], dtype=torch.float)
    >>> [(i, j) for _, i, j in paraphrase_mining(Letters(), ["apple", "bob", "banana"], top_k=1)]
    [(0, 2), (1, 2)]
    """
    embeddings = encoder.encode(sentences, batch_size=batch_size, convert_to_tensor=True)
    return paraphrase_mining_embeddings(embeddings, **kwargs)


def connected_groups(pairs: Iterable[tuple[int, int]]) -> list[list[int]]:
    """The groups of items that ``pairs`` link, directly or through others (connected components).

    Applied to the mined pairs above a score threshold, these are the groups
    of near-duplicates: a~b and b~c put a, b and c in one group even when the
    pair (a, c) scores lower or was not mined.  Items that appear in no pair
    are in no group.

    Returns
    -------
    list of list of int
        Each group's items in ascending order; the largest group first, equal
        sizes by their smallest item.

    Example
    -------
    >>> connected_groups([(4, 5), (0, 1), (2, 1)])
    [[0, 1, 2], [4, 5]]
    """
    # imported on use, as in clustering: most users of this module never need scipy.sparse
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    edges = np.asarray(list(pairs), dtype=np.int64).reshape(-1, 2)
    if not len(edges):
        return []
    items, compact = np.unique(edges, return_inverse=True)
    compact = compact.reshape(-1, 2)
    graph = coo_matrix((np.ones(len(edges)), (compact[:, 0], compact[:, 1])), shape=(len(items), len(items)))
    _, component = connected_components(graph, directed=False)
    # items are sorted, so a stable sort by component keeps each group's items in ascending order
    order = np.argsort(component, kind="stable")
    groups = np.split(items[order], np.flatnonzero(np.diff(component[order])) + 1)
    groups.sort(key=lambda group: (-len(group), int(group[0])))
    return [group.tolist() for group in groups]
