"""Retrieval quality (MRR, nDCG, MAP, recall, precision, accuracy at k) of queries against a corpus."""

from __future__ import annotations

import heapq
import logging
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import numpy as np

from ..data.tables import as_examples
from ..hooks import Progress
from ..search import semantic_search
from ..similarity import get_similarity
from ..typing import Encoder
from .base import SIMILARITY_NAMES, Evaluator, check_choice

logger = logging.getLogger(__name__)

#: Relevance judgements of one query: relevant doc ids (grade 1 each) or doc id -> grade.
Qrels = Iterable[str] | Mapping[str, float]


def _graded(relevant: Qrels) -> dict[str, float]:
    if isinstance(relevant, Mapping):
        return {str(doc): float(grade) for doc, grade in relevant.items()}
    if isinstance(relevant, str):
        raise TypeError(
            f"relevant docs must be a collection of doc ids or a dict id -> grade, got the string {relevant!r}"
        )
    return {str(doc): 1.0 for doc in relevant}


def _check_cutoffs(**cutoffs: Sequence[int]) -> None:
    for what, ks in cutoffs.items():
        if any(not isinstance(k, int) or k < 1 for k in ks):
            raise ValueError(f"{what} must hold positive integers, got {list(ks)}")


def retrieval_metrics(
    ranked: Sequence[Sequence[str]],
    qrels: Sequence[Qrels],
    mrr_at_k: Sequence[int] = (10,),
    ndcg_at_k: Sequence[int] = (10,),
    accuracy_at_k: Sequence[int] = (1, 3, 5, 10),
    precision_recall_at_k: Sequence[int] = (1, 3, 5, 10),
    map_at_k: Sequence[int] = (100,),
) -> dict[str, float]:
    """Mean retrieval metrics over queries, with the definitions of trec_eval (as used by BEIR and MTEB).

    A document is relevant when its grade is above 0.  For a query with the
    set R of relevant documents and the ranking d_1, d_2, ...:

    * ``mrr@k``: 1 / rank of the first relevant document within the top k (0 if none);
    * ``ndcg@k``: DCG / ideal DCG with DCG = sum_{i<=k} grade(d_i) / log2(i + 1)
      (linear gain) and the ideal DCG computed from the grades in the qrels;
    * ``map@k``: sum of precision@i over relevant d_i with i <= k, divided by |R|;
    * ``recall@k``: |R in top k| / |R|;  ``precision@k``: |R in top k| / k;
    * ``accuracy@k``: 1 if any relevant document is in the top k.

    Parameters
    ----------
    ranked
        Per query, the retrieved doc ids, best first.
    qrels
        Per query, its relevant doc ids (grade 1) or a dict doc id -> grade.
    mrr_at_k, ndcg_at_k, accuracy_at_k, precision_recall_at_k, map_at_k
        Cut-offs of each metric.

    Returns
    -------
    dict
        ``{"accuracy@1": ..., "precision@1": ..., "recall@1": ..., "mrr@10": ..., "ndcg@10": ..., "map@100": ...}``.

    Example
    -------
    >>> m = retrieval_metrics([["d2", "d1"]], [{"d1"}], mrr_at_k=[2], ndcg_at_k=[2], accuracy_at_k=[1],
    ...                       precision_recall_at_k=[2], map_at_k=[2])
    >>> m["mrr@2"], round(m["ndcg@2"], 4), m["recall@2"], m["precision@2"], m["accuracy@1"]
    (0.5, 0.6309, 1.0, 0.5, 0.0)
    """
    if len(ranked) != len(qrels):
        raise ValueError(f"ranked has {len(ranked)} queries but qrels has {len(qrels)}; they must match")
    cutoffs = {
        "mrr_at_k": mrr_at_k,
        "ndcg_at_k": ndcg_at_k,
        "accuracy_at_k": accuracy_at_k,
        "precision_recall_at_k": precision_recall_at_k,
        "map_at_k": map_at_k,
    }
    _check_cutoffs(**cutoffs)
    sums: dict[str, float] = {}
    for docs, judged in zip(ranked, qrels):
        for key, value in _query_metrics(docs, judged, **cutoffs).items():
            sums[key] = sums.get(key, 0.0) + value
    n = max(len(ranked), 1)
    return {key: float(value / n) for key, value in sums.items()}


def _query_metrics(
    docs: Sequence[str],
    judged: Qrels,
    mrr_at_k: Sequence[int],
    ndcg_at_k: Sequence[int],
    accuracy_at_k: Sequence[int],
    precision_recall_at_k: Sequence[int],
    map_at_k: Sequence[int],
) -> dict[str, float]:
    """The metrics of :func:`retrieval_metrics` for one query's ranking ``docs``."""
    metrics: dict[str, float] = {}
    grades = {doc: g for doc, g in _graded(judged).items() if g > 0}
    hit = np.array([doc in grades for doc in docs], dtype=bool)
    gains = np.array([grades.get(doc, 0.0) for doc in docs])
    first = int(np.argmax(hit)) + 1 if hit.any() else None
    for k in accuracy_at_k:
        metrics[f"accuracy@{k}"] = float(hit[:k].any())
    for k in precision_recall_at_k:
        found = hit[:k].sum()
        metrics[f"precision@{k}"] = found / k
        metrics[f"recall@{k}"] = found / len(grades) if grades else 0.0
    for k in mrr_at_k:
        metrics[f"mrr@{k}"] = 1.0 / first if first is not None and first <= k else 0.0
    for k in ndcg_at_k:
        discount = 1.0 / np.log2(np.arange(2, k + 2))
        ideal = np.sort(np.fromiter(grades.values(), float))[::-1][:k]
        idcg = float((ideal * discount[: len(ideal)]).sum())
        dcg = float((gains[:k] * discount[: len(gains[:k])]).sum())
        metrics[f"ndcg@{k}"] = dcg / idcg if idcg > 0 else 0.0
    for k in map_at_k:
        precision_at_hits = np.cumsum(hit[:k]) / np.arange(1, len(hit[:k]) + 1)
        metrics[f"map@{k}"] = float(precision_at_hits[hit[:k]].sum()) / len(grades) if grades else 0.0
    return {key: float(value) for key, value in metrics.items()}


class RankedDocument(NamedTuple):
    """A document in one query's results: where it was ranked, its score and its relevance grade."""

    doc_id: str
    #: From 1; None when it ranked below the evaluator's depth (``top_k``) or is not in the corpus.
    rank: int | None
    #: The query's similarity to it; None when it is not in the corpus.
    score: float | None
    #: Its grade in the qrels (0 when not judged relevant).
    grade: float


@dataclass(frozen=True)
class QueryResult:
    """One query of an IR evaluation: its metrics, its ranking and where its relevant documents came.

    ``metrics`` has the keys of :func:`retrieval_metrics` (``"ndcg@10"``, …),
    computed for this query alone: their mean over the queries is what the
    evaluator reported.  ``hits`` are the retrieved documents, best first,
    ``top_k`` deep; ``relevant`` every relevant document (grade above 0),
    the retrieved ones by rank first, then the others by score.
    """

    query_id: str
    query: str
    metrics: dict[str, float]
    hits: list[RankedDocument]
    relevant: list[RankedDocument]

    @property
    def first_relevant_rank(self) -> int | None:
        """Rank of the best-ranked relevant document; None when none was retrieved."""
        return next((doc.rank for doc in self.hits if doc.grade > 0), None)

    def missed(self, k: int) -> list[RankedDocument]:
        """The relevant documents that are not in the top ``k``."""
        return [doc for doc in self.relevant if doc.rank is None or doc.rank > k]


class InformationRetrievalEvaluator(Evaluator):
    """Retrieve the corpus documents closest to each query and score the ranking against the qrels.

    Metrics are those of :func:`retrieval_metrics` (trec_eval's definitions,
    as BEIR and MTEB use them, so nDCG@10 is comparable with published MTEB
    scores), for every score function: keys such as ``<name>_cosine_ndcg@10``.
    Only queries with at least one relevant document are evaluated.  The
    corpus is encoded ``corpus_chunk_size`` documents at a time and a running
    top-k is kept, so its embeddings never need to be in memory together.

    Parameters
    ----------
    queries
        Query id -> text.
    corpus
        Document id -> text.
    relevant_docs
        Query id -> relevant doc ids (a set) or doc id -> relevance grade (graded nDCG).
    mrr_at_k, ndcg_at_k, accuracy_at_k, precision_recall_at_k, map_at_k
        Cut-offs of each metric.
    score_functions
        Similarities to rank by: any of ``cosine``, ``dot``, ``euclidean``, ``manhattan``.
    main_similarity
        Similarity of the primary metric ``<name>_<main_similarity>_ndcg@<max(ndcg_at_k)>``, one of
        ``score_functions`` (``main_score_function``, sentence-transformers' name here, is the same argument).
    corpus_chunk_size
        Documents encoded and searched at once.
    query_prompt, corpus_prompt
        Text prefixes passed to ``model.encode(prompt=...)`` (e.g. ``"query: "`` for E5 models).
    name, batch_size, callbacks
        See :class:`~workbench.evaluation.base.Evaluator`; the callbacks get
        ``progress_*`` events for the corpus, counted in documents.

    Example
    -------
    >>> from workbench.evaluation.base import LookupEncoder
    >>> model = LookupEncoder({"q": [1.0, 0.0], "near": [0.9, 0.1], "far": [0.0, 1.0]})
    >>> ir = InformationRetrievalEvaluator({"q1": "q"}, {"d1": "far", "d2": "near"}, {"q1": {"d1"}}, name="toy")
    >>> ir.primary_metric
    'toy_cosine_ndcg@10'
    >>> ir(model)["toy_cosine_mrr@10"]
    0.5
    """

    def __init__(
        self,
        queries: Mapping[str, str],
        corpus: Mapping[str, str],
        relevant_docs: Mapping[str, Qrels],
        mrr_at_k: Sequence[int] = (10,),
        ndcg_at_k: Sequence[int] = (10,),
        accuracy_at_k: Sequence[int] = (1, 3, 5, 10),
        precision_recall_at_k: Sequence[int] = (1, 3, 5, 10),
        map_at_k: Sequence[int] = (100,),
        score_functions: Sequence[str] = ("cosine", "dot"),
        main_similarity: str = "cosine",
        corpus_chunk_size: int = 50_000,
        query_prompt: str | None = None,
        corpus_prompt: str | None = None,
        name: str = "ir",
        batch_size: int = 32,
        callbacks: Iterable[Any] | None = None,
        *,
        main_score_function: str | None = None,
    ) -> None:
        for fn in score_functions:
            check_choice(fn, SIMILARITY_NAMES, "score function")
        if main_score_function is not None:  # sentence-transformers' name: no warning, its code runs here
            if main_similarity != "cosine":
                raise TypeError("give main_similarity or main_score_function (the same argument), not both")
            main_similarity = main_score_function
        check_choice(main_similarity, list(score_functions), "main_similarity (must be in score_functions)")
        if not ndcg_at_k:
            raise ValueError("ndcg_at_k must hold at least one cut-off: the primary metric is nDCG")
        if corpus_chunk_size < 1:
            raise ValueError(f"corpus_chunk_size must be at least 1, got {corpus_chunk_size}")
        self.cutoffs = {
            "mrr_at_k": list(mrr_at_k),
            "ndcg_at_k": list(ndcg_at_k),
            "accuracy_at_k": list(accuracy_at_k),
            "precision_recall_at_k": list(precision_recall_at_k),
            "map_at_k": list(map_at_k),
        }
        _check_cutoffs(**self.cutoffs)
        super().__init__(name, f"{main_similarity}_ndcg@{max(ndcg_at_k)}", batch_size, callbacks)
        self.top_k = max(max(ks) for ks in self.cutoffs.values() if ks)
        self.score_functions = list(score_functions)
        self.main_similarity = main_similarity
        self.corpus_chunk_size = corpus_chunk_size
        self.query_prompt, self.corpus_prompt = query_prompt, corpus_prompt

        self.corpus_ids = [str(doc) for doc in corpus]
        self.corpus_texts = list(corpus.values())
        self.qrels = {str(q): _graded(rel) for q, rel in relevant_docs.items()}
        self.query_ids = [str(q) for q in queries if any(g > 0 for g in self.qrels.get(str(q), {}).values())]
        if not self.query_ids:
            raise ValueError(
                f"none of the {len(queries)} queries has a relevant document in relevant_docs "
                f"({len(relevant_docs)} entries); their ids must match the keys of queries"
            )
        evaluated = set(self.query_ids)
        self.query_texts = [text for q, text in queries.items() if str(q) in evaluated]
        if len(self.query_ids) < len(queries):
            logger.info(
                "%s: %d of %d queries have no relevant document and are not evaluated",
                name,
                len(queries) - len(self.query_ids),
                len(queries),
            )
        known = set(self.corpus_ids)
        missing = {doc for q in self.query_ids for doc in self.qrels[q] if doc not in known}
        if missing:
            logger.warning(
                "%s: %d relevant doc ids are not in the corpus (e.g. %s); they count as never retrieved",
                name,
                len(missing),
                sorted(missing)[:3],
            )
        # (corpus index, query index) of every relevant document in the corpus, by corpus index: the
        # documents whose score each corpus chunk records, so that per_query can show the missed ones
        position = {doc: i for i, doc in enumerate(self.corpus_ids)}
        relevant_pairs = sorted(
            (position[doc], q)
            for q, qid in enumerate(self.query_ids)
            for doc, grade in self.qrels[qid].items()
            if grade > 0 and doc in position
        )
        self._relevant_docs = np.array([d for d, _ in relevant_pairs], dtype=np.int64)
        self._relevant_queries = np.array([q for _, q in relevant_pairs], dtype=np.int64)
        self._last_search: tuple[dict[str, list[list[tuple[float, int]]]], dict[str, np.ndarray]] | None = None

    @classmethod
    def from_examples(
        cls, examples: Iterable[Any], extra_corpus: Iterable[str] = (), **kwargs: Any
    ) -> "InformationRetrievalEvaluator":
        """Build from (query, relevant text, ...) examples; the corpus is every relevant text plus ``extra_corpus``.

        Equal texts share one id, so a query repeated over several examples
        gets all their documents as relevant.

        Example
        -------
        >>> from workbench.data.records import Example
        >>> ir = InformationRetrievalEvaluator.from_examples(
        ...     [Example(["q", "d"]), Example(["q", "e"])], extra_corpus=["noise"])
        >>> ir.qrels, ir.corpus_texts
        ({'q0': {'d0': 1.0, 'd1': 1.0}}, ['d', 'e', 'noise'])
        """
        queries: dict[str, str] = {}  # text -> id, as are docs
        docs: dict[str, str] = {}
        relevant: dict[str, dict[str, float]] = {}
        for i, example in enumerate(as_examples(examples)):
            texts = list(example.texts)
            if len(texts) < 2:
                raise ValueError(
                    f"{cls.__name__}: example {i} has {len(texts)} texts, expected a query and at least one document"
                )
            qid = queries.setdefault(texts[0], f"q{len(queries)}")
            for text in texts[1:]:
                relevant.setdefault(qid, {})[docs.setdefault(text, f"d{len(docs)}")] = 1.0
        for text in extra_corpus:
            docs.setdefault(text, f"d{len(docs)}")
        return cls({q: text for text, q in queries.items()}, {d: text for text, d in docs.items()}, relevant, **kwargs)

    def _encode_prompted(self, model: Encoder, texts: Sequence[str], prompt: str | None) -> np.ndarray:
        return self.encode(model, texts, **({"prompt": prompt} if prompt is not None else {}))

    def search(self, model: Encoder) -> dict[str, list[list[tuple[float, int]]]]:
        """Per score function and query: the best ``(score, corpus index)`` hits, best first."""
        return self._search(model)[0]

    def _search(self, model: Encoder) -> tuple[dict[str, list[list[tuple[float, int]]]], dict[str, np.ndarray]]:
        """``search``'s hits, and per score function the score of each relevant (query, document) pair."""
        query_emb = self._encode_prompted(model, self.query_texts, self.query_prompt)
        best: dict[str, list[list[tuple[float, int]]]] = {
            fn: [[] for _ in self.query_ids] for fn in self.score_functions
        }
        relevant_scores = {fn: np.full(len(self._relevant_docs), np.nan) for fn in self.score_functions}
        with Progress(self.hooks(), f"{self.name}: corpus", total=len(self.corpus_ids), unit="documents") as progress:
            for start in range(0, len(self.corpus_ids), self.corpus_chunk_size):
                chunk = self._encode_prompted(
                    model, self.corpus_texts[start : start + self.corpus_chunk_size], self.corpus_prompt
                )
                inside = slice(*np.searchsorted(self._relevant_docs, [start, start + len(chunk)]))
                for fn in self.score_functions:
                    hits = semantic_search(query_emb, chunk, top_k=self.top_k, similarity_fn_name=fn)
                    for q, query_hits in enumerate(hits):
                        found = [(h["score"], h["corpus_id"] + start) for h in query_hits]
                        # equal scores rank by corpus position, so chunking cannot reorder ties
                        best[fn][q] = heapq.nsmallest(self.top_k, best[fn][q] + found, key=lambda h: (-h[0], h[1]))
                    if inside.start < inside.stop:
                        pairwise = get_similarity(fn, pairwise=True)
                        queries, docs = self._relevant_queries[inside], self._relevant_docs[inside] - start
                        relevant_scores[fn][inside] = pairwise(query_emb[queries], chunk[docs]).cpu().numpy()
                progress.update(len(chunk))
        return best, relevant_scores

    def compute(self, model: Encoder) -> dict[str, float]:
        qrels = [self.qrels[q] for q in self.query_ids]
        metrics = {}
        self._last_search = self._search(model)
        for fn, hits in self._last_search[0].items():
            ranked = [[self.corpus_ids[i] for _, i in query_hits] for query_hits in hits]
            for key, value in retrieval_metrics(ranked, qrels, **self.cutoffs).items():
                metrics[f"{fn}_{key}"] = value
        return metrics

    def per_query(self, similarity: str | None = None) -> list[QueryResult]:
        """Each query of the last evaluation: its metrics, its ranked hits and where its relevant documents came.

        The rankings are those the evaluator scored when last called (no
        encoding here), by ``similarity`` (default: ``main_similarity``; one
        of ``score_functions``).  A relevant document ranked below ``top_k``
        keeps its score and has no rank.

        Raises
        ------
        RuntimeError
            The evaluator has not been called on a model yet.

        Example
        -------
        >>> from workbench.evaluation.base import LookupEncoder
        >>> model = LookupEncoder({"q": [1.0, 0.0], "near": [0.9, 0.1], "far": [0.0, 1.0]})
        >>> ir = InformationRetrievalEvaluator({"q1": "q"}, {"d1": "far", "d2": "near"}, {"q1": {"d1"}})
        >>> _ = ir(model)
        >>> result = ir.per_query()[0]
        >>> result.first_relevant_rank, round(result.metrics["ndcg@10"], 4), [doc.doc_id for doc in result.hits]
        (2, 0.6309, ['d2', 'd1'])
        """
        if self._last_search is None:
            raise RuntimeError(f"{self.name}: per_query needs an evaluation first; call the evaluator on a model")
        similarity = self.main_similarity if similarity is None else similarity
        check_choice(similarity, self.score_functions, "similarity")
        hits, relevant_scores = self._last_search
        score_of = {
            (int(q), self.corpus_ids[d]): float(score)
            for q, d, score in zip(self._relevant_queries, self._relevant_docs, relevant_scores[similarity])
        }
        results = []
        for q, (qid, text, query_hits) in enumerate(zip(self.query_ids, self.query_texts, hits[similarity])):
            grades = self.qrels[qid]
            ranked = [
                RankedDocument(self.corpus_ids[i], rank, score, grades.get(self.corpus_ids[i], 0.0))
                for rank, (score, i) in enumerate(query_hits, start=1)
            ]
            retrieved = {doc.doc_id: doc for doc in ranked}
            relevant = [
                retrieved.get(doc) or RankedDocument(doc, None, score_of.get((q, doc)), grade)
                for doc, grade in grades.items()
                if grade > 0
            ]
            # ranked ones by rank, then the others by score, documents missing from the corpus last
            relevant.sort(key=lambda d: (0, d.rank) if d.rank else (1, -d.score) if d.score is not None else (2, 0))
            metrics = _query_metrics([doc.doc_id for doc in ranked], grades, **self.cutoffs)
            results.append(QueryResult(qid, text, metrics, ranked, relevant))
        return results
