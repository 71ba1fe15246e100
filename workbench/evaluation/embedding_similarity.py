"""Correlation between embedding similarities and gold similarity scores (STS)."""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
from scipy.stats import pearsonr, spearmanr

from ..similarity import get_similarity
from ..typing import Encoder
from .base import SIMILARITY_NAMES, ColumnsEvaluator, main_similarity_metric


def pair_similarities(a: np.ndarray, b: np.ndarray, names: Sequence[str] = SIMILARITY_NAMES) -> dict[str, np.ndarray]:
    """Row-by-row similarity of ``a`` and ``b`` for each name (distances negated: larger is closer).

    Example
    -------
    >>> pair_similarities(np.array([[3.0, 4.0]]), np.array([[0.0, 0.0]]), ["euclidean"])
    {'euclidean': array([-5.])}
    """
    return {name: get_similarity(name, pairwise=True)(a, b).cpu().numpy() for name in names}


class LabelledPairsEvaluator(ColumnsEvaluator):
    """Base of the evaluators of sentence pairs with one label each (a gold score or a class)."""

    columns = ("sentences1", "sentences2")
    labels_name = "labels"
    rows_name = "pairs"


class EmbeddingSimilarityEvaluator(LabelledPairsEvaluator):
    """Pearson and Spearman correlation of four similarities with gold scores.

    For every pair the cosine, dot, negated euclidean and negated manhattan
    similarities of the two embeddings are compared with the gold score;
    keys are ``<name>_pearson_<similarity>`` and ``<name>_spearman_<similarity>``.
    Each distinct sentence is encoded once.

    Parameters
    ----------
    sentences1, sentences2
        The two sides of the pairs.
    scores
        Gold similarity per pair (any scale: correlations ignore it).
    main_similarity
        Similarity of the primary metric ``<name>_spearman_<main_similarity>``.
    name, batch_size, callbacks
        See :class:`~workbench.evaluation.base.Evaluator`.

    Example
    -------
    >>> from workbench.evaluation.base import LookupEncoder
    >>> model = LookupEncoder.example()
    >>> evaluator = EmbeddingSimilarityEvaluator(["a", "a", "b"], ["b", "c", "c"], [5.0, 0.0, 1.0], name="sts-dev")
    >>> evaluator.primary_metric
    'sts-dev_spearman_cosine'
    >>> evaluator(model)["sts-dev_spearman_cosine"]
    1.0
    """

    labels_name = "scores"

    def __init__(self, sentences1: Sequence[str], sentences2: Sequence[str], scores: Sequence[float],
                 main_similarity: str = "cosine", name: str = "sts", batch_size: int = 32,
                 callbacks: Iterable[Any] | None = None) -> None:
        super().__init__((sentences1, sentences2), scores, main_similarity_metric(main_similarity, "spearman_{}"),
                         name, batch_size, callbacks)
        if len(scores) < 2:
            raise ValueError(f"correlations need at least 2 pairs, got {len(scores)}")
        self.scores = np.asarray(scores, dtype=np.float64)

    def compute(self, model: Encoder) -> dict[str, float]:
        metrics = {}
        for sim, values in pair_similarities(*self.column_embeddings(model)).items():
            metrics[f"pearson_{sim}"] = float(pearsonr(self.scores, values)[0])
            metrics[f"spearman_{sim}"] = float(spearmanr(self.scores, values)[0])
        return metrics
