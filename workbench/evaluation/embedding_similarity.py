"""Correlation between embedding similarities and gold similarity scores (STS)."""

from __future__ import annotations

import warnings
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


def correlations(
    gold: Sequence[float] | np.ndarray, predicted: Sequence[float] | np.ndarray, quiet: bool = False
) -> dict[str, float]:
    """Pearson and Spearman correlation of predicted similarities with gold scores.

    What :class:`EmbeddingSimilarityEvaluator` reports for each similarity,
    and what the ``STSExplorer`` view shows for any subset of the pairs.
    Undefined correlations (fewer than 2 pairs, gold scores or predictions
    all equal, a NaN or infinite value) are NaN, with a ``RuntimeWarning``
    saying why unless ``quiet`` (for a view that shows the NaN itself).

    Example
    -------
    >>> correlations([1.0, 2.0, 3.0], [0.1, 0.3, 0.2])
    {'pearson': 0.5, 'spearman': 0.5}
    """
    gold = np.asarray(gold, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    if gold.ndim != 1 or gold.shape != predicted.shape:
        raise ValueError(
            f"gold and predicted must be two sequences of one number per pair, "
            f"got shapes {gold.shape} and {predicted.shape}"
        )
    why = None
    if len(gold) < 2:
        why = f"{len(gold)} pair(s); correlations need at least 2"
    elif not (np.isfinite(gold).all() and np.isfinite(predicted).all()):
        why = "NaN or infinite values among the scores"
    elif np.ptp(gold) == 0 or np.ptp(predicted) == 0:
        why = "the gold scores or the predictions are all equal"
    if why is not None:
        if not quiet:
            warnings.warn(f"correlation undefined ({why}); reported as NaN", RuntimeWarning, stacklevel=2)
        return {"pearson": float("nan"), "spearman": float("nan")}
    return {"pearson": float(pearsonr(gold, predicted)[0]), "spearman": float(spearmanr(gold, predicted)[0])}


class LabelledPairsEvaluator(ColumnsEvaluator):
    """Base of the evaluators of sentence pairs with one label each (a gold score or a class)."""

    columns = ("sentences1", "sentences2")
    labels_name = "labels"
    rows_name = "pairs"

    def similarities(self, model: Encoder, names: Sequence[str] = SIMILARITY_NAMES) -> dict[str, np.ndarray]:
        """Each pair's similarity of its two embeddings, per similarity name (distances negated).

        Example
        -------
        >>> from workbench.evaluation.base import LookupEncoder
        >>> evaluator = EmbeddingSimilarityEvaluator(["a", "a"], ["b", "c"], [1.0, 0.0])
        >>> evaluator.similarities(LookupEncoder({"a": [1.0, 0.0], "b": [0.6, 0.8], "c": [0.0, 2.0]}), ["cosine", "dot"])
        {'cosine': array([0.6, 0. ]), 'dot': array([0.6, 0. ])}
        """
        first, second = self.column_embeddings(model)
        return pair_similarities(first, second, names)


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

    def __init__(
        self,
        sentences1: Sequence[str],
        sentences2: Sequence[str],
        scores: Sequence[float],
        main_similarity: str = "cosine",
        name: str = "sts",
        batch_size: int = 32,
        callbacks: Iterable[Any] | None = None,
    ) -> None:
        super().__init__(
            (sentences1, sentences2),
            scores,
            main_similarity_metric(main_similarity, "spearman_{}"),
            name,
            batch_size,
            callbacks,
        )
        if len(scores) < 2:
            raise ValueError(f"correlations need at least 2 pairs, got {len(scores)}")
        self.scores = np.asarray(scores, dtype=np.float64)

    def compute(self, model: Encoder) -> dict[str, float]:
        metrics = {}
        for sim, values in self.similarities(model).items():
            for correlation, value in correlations(self.scores, values).items():
                metrics[f"{correlation}_{sim}"] = value
        return metrics
