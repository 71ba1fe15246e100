"""Mine hard negatives: for each (query, positive), texts of a corpus that a bi-encoder finds close but are not positives.

Training with negatives that are hard -- similar to the query, yet wrong --
teaches a model more than random in-batch negatives.  The risk is false
negatives (unlabelled positives); the margin options and an optional
cross-encoder judge guard against them.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Iterable, Literal, Sequence

import numpy as np

from .data.records import Example
from .encoder import check_texts
from .hooks import Progress, progress_hooks
from .search import semantic_search
from .similarity import get_similarity
from .typing import Encoder

logger = logging.getLogger(__name__)

SAMPLING = ("top", "random")
OUTPUT_FORMATS = ("triplet", "n-tuple", "labeled-pair")


def _pairs(dataset: Iterable[Any]) -> list[tuple[str, str]]:
    """The (query, positive) of every row: an Example (its first two texts) or a pair of strings."""
    pairs = []
    for i, row in enumerate(dataset):
        texts = getattr(row, "texts", row)
        if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence) or len(texts) < 2:
            raise TypeError(
                f"dataset row {i} must be an Example(texts=[query, positive, ...]) or a (query, positive) "
                f"pair, got {row!r:.80}"
            )
        try:
            query, positive = check_texts(list(texts[:2]))
        except TypeError as err:
            raise TypeError(f"dataset row {i}: {err}") from None
        pairs.append((query, positive))
    if not pairs:
        raise ValueError("dataset is empty; give (query, positive) pairs")
    return pairs


def _check_options(
    num_negatives: Any,
    range_min: Any,
    range_max: Any,
    margins: dict[str, Any],
    sampling_strategy: str,
    output_format: str,
) -> None:
    for name, value, low in (("num_negatives", num_negatives, 1), ("range_min", range_min, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if range_max is not None and (
        isinstance(range_max, bool) or not isinstance(range_max, int) or range_max <= range_min
    ):
        raise ValueError(f"range_max must be an integer > range_min ({range_min}) or None, got {range_max!r}")
    for name, value in margins.items():
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
        ):
            raise ValueError(f"{name} must be a finite number or None, got {value!r}")
    if sampling_strategy not in SAMPLING:
        raise ValueError(f"unknown sampling_strategy {sampling_strategy!r}; valid: {', '.join(SAMPLING)}")
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"unknown output_format {output_format!r}; valid: {', '.join(OUTPUT_FORMATS)}")


def mine_hard_negatives(
    dataset: Iterable[Any],
    model: Encoder,
    corpus: Sequence[str] | None = None,
    cross_encoder: Any = None,
    num_negatives: int = 3,
    range_min: int = 0,
    range_max: int | None = None,
    max_score: float | None = None,
    min_score: float | None = None,
    absolute_margin: float | None = None,
    relative_margin: float | None = None,
    sampling_strategy: Literal["top", "random"] = "top",
    output_format: Literal["triplet", "n-tuple", "labeled-pair"] = "triplet",
    batch_size: int = 32,
    seed: int = 0,
    show_progress_bar: bool | None = None,
    callbacks: Iterable[Any] | None = None,
) -> list[Example]:
    """Find hard negatives for each (query, positive) of ``dataset`` among ``corpus``.

    The bi-encoder ``model`` embeds the queries and the corpus; for each query
    the corpus is ranked by similarity (``model.similarity_fn_name``), with
    every positive the query has anywhere in ``dataset`` (and the query text
    itself) left out, so rank 0 is the closest non-positive.  Candidates at
    ranks ``range_min`` to ``range_max - 1`` are then filtered by score and
    ``num_negatives`` of them are chosen.

    Parameters
    ----------
    dataset:
        Examples whose first two texts are (query, positive), or such pairs.
    model:
        The bi-encoder (:class:`~workbench.SentenceEncoder`) that ranks the corpus.
    corpus:
        Texts to take negatives from; default: every positive of ``dataset``.
    cross_encoder:
        A one-output :class:`~workbench.CrossEncoder`: rescores (query,
        positive) and (query, candidate); then the score filters, margins and
        ``"top"`` sampling use its scores instead of the bi-encoder's (the
        ranks stay the bi-encoder's).
    num_negatives:
        Negatives per (query, positive).
    range_min, range_max:
        Ranks considered: skipping the closest ``range_min`` avoids the likeliest
        false negatives; default ``range_max``: ``range_min + 10 * num_negatives``.
    max_score, min_score:
        Keep candidates with ``min_score <= score <= max_score``.
    absolute_margin, relative_margin:
        Keep candidates with ``score <= positive_score - absolute_margin`` and
        ``score <= positive_score * (1 - relative_margin)``: clearly below the positive.
    sampling_strategy:
        ``"top"``: the highest-scoring candidates left; ``"random"``: a random
        choice among them (seeded by ``seed``).
    output_format:
        ``"triplet"``: ``Example([query, positive, negative])`` per negative;
        ``"n-tuple"``: ``Example([query, positive, neg_1, ..., neg_n])``, only for
        rows that found all ``num_negatives``; ``"labeled-pair"``:
        ``Example([query, positive], 1.0)`` and ``Example([query, negative], 0.0)``
        (cross-encoder training data).
    batch_size, show_progress_bar, callbacks:
        Batching of the encoders; ``progress_*`` events of the encoding, the
        search (``semantic_search``), the cross-encoder and the selection
        (``mine_hard_negatives``, counted in rows).

    Returns
    -------
    list of :class:`~workbench.data.records.Example`; rows that found no
    negative are left out (their number is logged).

    Example
    -------
    >>> triplets = mine_hard_negatives(pairs, model, num_negatives=1, range_min=2,
    ...                                relative_margin=0.05)                   # doctest: +SKIP
    >>> triplets[0].texts                                                      # doctest: +SKIP
    ['how do I learn python?', 'best way to learn python', 'how do I learn java?']
    """
    margins = {
        "max_score": max_score,
        "min_score": min_score,
        "absolute_margin": absolute_margin,
        "relative_margin": relative_margin,
    }
    _check_options(num_negatives, range_min, range_max, margins, sampling_strategy, output_format)
    if cross_encoder is not None and getattr(cross_encoder, "num_labels", 1) != 1:
        raise ValueError(
            f"cross_encoder must give one score per pair (num_labels=1), it has {cross_encoder.num_labels}"
        )
    pairs = _pairs(dataset)
    corpus = list(dict.fromkeys(check_texts(corpus) if corpus is not None else [p for _, p in pairs]))
    if not corpus:
        raise ValueError("the corpus is empty; give texts to take negatives from")
    range_max = range_max if range_max is not None else range_min + 10 * num_negatives
    hooks = progress_hooks(show_progress_bar, callbacks)
    listeners = {"show_progress_bar": False, "callbacks": list(hooks) or None}

    excluded: dict[str, set[str]] = {}
    for query, positive in pairs:
        excluded.setdefault(query, {query}).add(positive)
    queries = list(excluded)
    texts = list(dict.fromkeys([*corpus, *(p for _, p in pairs)]))  # each text embedded once
    row_of = {text: i for i, text in enumerate(texts)}
    embeddings = model.encode(texts, batch_size=batch_size, convert_to_numpy=True, **listeners)
    query_embeddings = model.encode(queries, batch_size=batch_size, convert_to_numpy=True, **listeners)
    similarity = getattr(model, "similarity_fn_name", "cosine")
    # Enough hits that range_max remain after the query's positives are dropped.
    depth = min(len(corpus), range_max + max(len(e) for e in excluded.values()))
    hits = semantic_search(
        query_embeddings, embeddings[: len(corpus)], top_k=depth, similarity_fn_name=similarity, hooks=hooks
    )
    candidates = {
        query: [corpus[h["corpus_id"]] for h in found if corpus[h["corpus_id"]] not in excluded[query]][
            range_min:range_max
        ]
        for query, found in zip(queries, hits)
    }
    q_row = {query: i for i, query in enumerate(queries)}

    def bi_scores(query: str, docs: Sequence[str]) -> np.ndarray:
        rows = embeddings[[row_of[d] for d in docs]] if docs else embeddings[:0]
        return get_similarity(similarity)(query_embeddings[[q_row[query]]], rows).cpu().numpy()[0]

    if cross_encoder is not None:
        scored = [(q, d) for q, docs in candidates.items() for d in docs] + list(dict.fromkeys(pairs))
        values = (
            cross_encoder.predict(scored, batch_size=batch_size, convert_to_numpy=True, **listeners) if scored else []
        )
        judged = {pair: float(v) for pair, v in zip(scored, values)}
        score_of = {q: np.array([judged[(q, d)] for d in docs], dtype=np.float64) for q, docs in candidates.items()}
        positive_score = {pair: judged[pair] for pair in pairs}
    else:
        score_of = {q: bi_scores(q, docs).astype(np.float64) for q, docs in candidates.items()}
        positive_score = {(q, p): float(bi_scores(q, [p])[0]) for q, p in dict.fromkeys(pairs)}

    rng = np.random.default_rng(seed)
    mined: list[Example] = []
    short = 0
    with Progress(hooks, "mine_hard_negatives", total=len(pairs), unit="rows") as progress:
        for query, positive in pairs:
            docs, scores = candidates[query], score_of[query]
            keep = np.ones(len(docs), dtype=bool)
            top = positive_score[(query, positive)]
            if max_score is not None:
                keep &= scores <= max_score
            if min_score is not None:
                keep &= scores >= min_score
            if absolute_margin is not None:
                keep &= scores <= top - absolute_margin
            if relative_margin is not None:
                keep &= scores <= top * (1 - relative_margin)
            left = np.flatnonzero(keep)
            if sampling_strategy == "top":
                chosen = left[np.argsort(-scores[left], kind="stable")][:num_negatives]
            else:
                chosen = rng.choice(left, size=min(num_negatives, len(left)), replace=False) if len(left) else left
            negatives = [docs[i] for i in chosen]
            short += len(negatives) < num_negatives
            progress.update(1)
            if not negatives or (output_format == "n-tuple" and len(negatives) < num_negatives):
                continue
            if output_format == "triplet":
                mined.extend(Example([query, positive, negative]) for negative in negatives)
            elif output_format == "n-tuple":
                mined.append(Example([query, positive, *negatives]))
            else:
                mined.append(Example([query, positive], 1.0))
                mined.extend(Example([query, negative], 0.0) for negative in negatives)
    if short:
        logger.info(
            "mine_hard_negatives: %d of %d rows found fewer than %d negatives%s",
            short,
            len(pairs),
            num_negatives,
            " and are left out (n-tuple)" if output_format == "n-tuple" else "",
        )
    return mined
