"""sentence-transformers' ``util`` functions, with its names and arguments, over the workbench's own.

``pytorch_cos_sim``/``cos_sim``, ``dot_score`` and the ``pairwise_*`` scores
are :mod:`workbench.similarity`'s; ``semantic_search``,
``paraphrase_mining`` and ``community_detection`` take sentence-transformers'
arguments (``show_progress_bar``, ``query_chunk_size``, ...) and call
:mod:`workbench.search` and :mod:`workbench.clustering`, which give the same
results (chunk sizes only bound the memory used).

Example
-------
>>> from workbench import util
>>> util.semantic_search([[1.0, 0.0]], [[0.0, 1.0], [1.0, 0.1]], top_k=1)[0][0]["corpus_id"]
1
"""

from __future__ import annotations


from . import clustering, search
from .hooks import progress_hooks
from .quantization import quantize_embeddings
from .similarity import (
    ArrayLike,
    SimilarityFunction,
    cos_sim,
    dot_score,
    euclidean_sim,
    manhattan_sim,
    pairwise_cos_sim,
    pairwise_dot_score,
    pairwise_euclidean_sim,
    pairwise_manhattan_sim,
)
from .typing import Encoder

__all__ = [
    "pytorch_cos_sim",
    "cos_sim",
    "dot_score",
    "euclidean_sim",
    "manhattan_sim",
    "pairwise_cos_sim",
    "pairwise_dot_score",
    "pairwise_euclidean_sim",
    "pairwise_manhattan_sim",
    "semantic_search",
    "paraphrase_mining",
    "paraphrase_mining_embeddings",
    "community_detection",
    "quantize_embeddings",
]

#: sentence-transformers' older name of :func:`~workbench.similarity.cos_sim`.
pytorch_cos_sim = cos_sim


def semantic_search(
    query_embeddings: ArrayLike,
    corpus_embeddings: ArrayLike,
    query_chunk_size: int = 100,
    corpus_chunk_size: int = 500_000,
    top_k: int = 10,
    score_function: str | SimilarityFunction = cos_sim,
) -> list[list[dict[str, float | int]]]:
    """:func:`workbench.search.semantic_search` with sentence-transformers' argument order.

    Example
    -------
    >>> semantic_search([[1.0, 0.0]], [[0.0, 1.0], [1.0, 0.1]], top_k=1)[0][0]["corpus_id"]
    1
    """
    return search.semantic_search(
        query_embeddings,
        corpus_embeddings,
        top_k=top_k,
        similarity_fn_name=score_function,
        query_chunk_size=query_chunk_size,
        corpus_chunk_size=corpus_chunk_size,
    )


def paraphrase_mining(
    model: Encoder,
    sentences: list[str],
    show_progress_bar: bool = False,
    batch_size: int = 32,
    query_chunk_size: int = 5000,
    corpus_chunk_size: int = 100_000,
    max_pairs: int = 500_000,
    top_k: int = 100,
    score_function: str | SimilarityFunction = cos_sim,
) -> list[tuple[float, int, int]]:
    """Encode ``sentences`` and return their most similar pairs ``(score, i, j)``, best first.

    :func:`workbench.search.paraphrase_mining` with sentence-transformers' arguments.

    Example
    -------
    >>> pairs = paraphrase_mining(model, ["A man eats.", "A man is eating.", "A dog runs."])  # doctest: +SKIP
    """
    embeddings = model.encode(
        sentences, batch_size=batch_size, convert_to_tensor=True, show_progress_bar=show_progress_bar
    )
    return paraphrase_mining_embeddings(
        embeddings, query_chunk_size, corpus_chunk_size, max_pairs, top_k, score_function
    )


def paraphrase_mining_embeddings(
    embeddings: ArrayLike,
    query_chunk_size: int = 5000,
    corpus_chunk_size: int = 100_000,
    max_pairs: int = 500_000,
    top_k: int = 100,
    score_function: str | SimilarityFunction = cos_sim,
) -> list[tuple[float, int, int]]:
    """:func:`workbench.search.paraphrase_mining_embeddings` with sentence-transformers' arguments.

    Example
    -------
    >>> paraphrase_mining_embeddings([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]], top_k=1)[0][1:]
    (0, 1)
    """
    return search.paraphrase_mining_embeddings(
        embeddings,
        top_k=top_k,
        max_pairs=max_pairs,
        chunk_size=query_chunk_size,
        corpus_chunk_size=corpus_chunk_size,
        similarity_fn_name=score_function,
    )


def community_detection(
    embeddings: ArrayLike,
    threshold: float = 0.75,
    min_community_size: int = 10,
    batch_size: int = 1024,
    show_progress_bar: bool = False,
) -> list[list[int]]:
    """:func:`workbench.clustering.community_detection` with sentence-transformers' ``show_progress_bar``.

    Example
    -------
    >>> community_detection([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0]], threshold=0.9, min_community_size=2)
    [[0, 1]]
    """
    return clustering.community_detection(
        embeddings,
        threshold,
        min_community_size,
        batch_size,
        hooks=progress_hooks(show_progress_bar) if show_progress_bar else None,
    )
