"""Reranking quality of a cross-encoder: MRR@k, nDCG@k and MAP over given candidate lists."""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..encoder import check_texts
from .base import Evaluator
from .information_retrieval import retrieval_metrics


class CrossEncoderRerankingEvaluator(Evaluator):
    """Rerank each query's candidates by the cross-encoder's score and measure the ranking.

    Each sample is a dict with ``query``, ``positive`` (the relevant texts)
    and either ``documents`` (the candidates in a first-stage ranking, e.g. a
    bi-encoder's top 50) or ``negative`` (irrelevant texts; the candidates are
    then the positives and the negatives).  A positive missing from
    ``documents`` counts as never retrieved, as in a real pipeline.  Metrics
    are those of :func:`~workbench.evaluation.retrieval_metrics` (trec_eval's
    definitions): ``mrr@k``, ``ndcg@k`` (the primary metric) and ``map``
    over the whole candidate list; with ``documents`` also ``base_mrr@k``,
    ``base_ndcg@k`` and ``base_map`` of the given order, to see what the
    reranking changed.  Samples without a positive are skipped.

    Parameters
    ----------
    samples
        The queries with their candidates, as above.
    at_k
        The cut-off of MRR and nDCG.
    name, batch_size, callbacks
        See :class:`~workbench.evaluation.base.Evaluator`; the callbacks get
        the ``progress_*`` events of scoring the pairs.

    Example
    -------
    >>> class Overlap:  # a stand-in cross-encoder: shared words
    ...     def predict(self, pairs, **kwargs):
    ...         return [len(set(a.split()) & set(b.split())) for a, b in pairs]
    >>> ev = CrossEncoderRerankingEvaluator([{"query": "a b", "positive": ["a b c"], "documents": ["x", "a b c"]}],
    ...                                     name="toy")
    >>> m = ev(Overlap())
    >>> m["toy_mrr@10"], m["toy_base_mrr@10"]
    (1.0, 0.5)
    """

    def __init__(
        self,
        samples: Iterable[Mapping[str, Any]],
        at_k: int = 10,
        name: str = "cross-rerank",
        batch_size: int = 32,
        callbacks: Iterable[Any] | None = None,
    ) -> None:
        if isinstance(at_k, bool) or not isinstance(at_k, int) or at_k < 1:
            raise ValueError(f"at_k must be a positive integer, got {at_k!r}")
        super().__init__(name, f"ndcg@{at_k}", batch_size, callbacks)
        self.at_k = at_k
        self.queries: list[str] = []
        self.candidates: list[list[str]] = []
        self.positives: list[set[str]] = []
        self.has_documents: bool | None = None
        for i, sample in enumerate(samples):
            self._add(i, sample)
        if not self.queries:
            raise ValueError(
                "no sample has a positive; give samples with 'query', 'positive' and 'documents' or 'negative'"
            )

    def _add(self, i: int, sample: Mapping[str, Any]) -> None:
        where = f"sample {i}"
        if not isinstance(sample, Mapping) or "query" not in sample or "positive" not in sample:
            raise ValueError(
                f"{where} must be a dict with 'query', 'positive' and 'documents' or 'negative'; got {sample!r:.80}"
            )
        has_documents = "documents" in sample
        if has_documents == ("negative" in sample):
            raise ValueError(
                f"{where}: give either 'documents' (a ranked candidate list) or 'negative', not "
                f"{'both' if has_documents else 'neither'}"
            )
        if self.has_documents not in (None, has_documents):
            raise ValueError(f"{where}: every sample needs the same kind of candidates ('documents' or 'negative')")
        self.has_documents = has_documents
        if not isinstance(sample["query"], str):
            raise TypeError(f"{where}: 'query' must be a string, got {type(sample['query']).__name__}")
        positives = check_texts(sample["positive"])
        others = check_texts(sample["documents"] if has_documents else sample["negative"])
        if not positives:
            return
        # Equal texts are one candidate: a duplicate must not count as a second hit.
        self.queries.append(sample["query"])
        self.candidates.append(list(dict.fromkeys(others if has_documents else [*positives, *others])))
        self.positives.append(set(positives))

    def _metrics(self, ranked: Sequence[Sequence[str]], prefix: str = "") -> dict[str, float]:
        depth = max(max(len(c) for c in self.candidates), 1)
        found = retrieval_metrics(
            ranked,
            self.positives,
            mrr_at_k=[self.at_k],
            ndcg_at_k=[self.at_k],
            accuracy_at_k=[],
            precision_recall_at_k=[],
            map_at_k=[depth],
        )
        return {
            f"{prefix}mrr@{self.at_k}": found[f"mrr@{self.at_k}"],
            f"{prefix}ndcg@{self.at_k}": found[f"ndcg@{self.at_k}"],
            f"{prefix}map": found[f"map@{depth}"],
        }

    def compute(self, model: Any) -> dict[str, float]:
        pairs = [(query, doc) for query, docs in zip(self.queries, self.candidates) for doc in docs]
        scores = self.predict(model, pairs).astype(np.float64) if pairs else np.empty(0)
        if scores.ndim != 1:
            raise ValueError("reranking needs one score per pair (a cross-encoder with num_labels=1)")
        ranked, start = [], 0
        for docs in self.candidates:
            own = scores[start : start + len(docs)]
            start += len(docs)
            ranked.append([docs[j] for j in np.argsort(-own, kind="stable")])
        metrics = self._metrics(ranked)
        if self.has_documents:
            metrics.update(self._metrics(self.candidates, prefix="base_"))
        return metrics
