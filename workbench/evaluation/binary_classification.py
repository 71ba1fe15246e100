"""Pair classification (duplicate / not duplicate) by thresholding a similarity."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
from sklearn.metrics import average_precision_score

from ..typing import Encoder
from .base import main_similarity_metric
from .embedding_similarity import LabelledPairsEvaluator


def counts_at_thresholds(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every distinct score s: the true and false positives of "positive iff score >= s", and s.

    Walking the scores from the highest down, the positives grow one run of
    equal scores at a time; only the end of each run is a possible cut.

    Example
    -------
    >>> counts_at_thresholds(np.array([0.9, 0.5, 0.5, 0.1]), np.array([1, 0, 1, 0]))
    (array([1, 2, 2]), array([0, 1, 2]), array([0.9, 0.5, 0.1]))
    """
    order = np.argsort(-scores, kind="stable")
    ranked, y = scores[order], labels[order]
    tp, fp = np.cumsum(y), np.cumsum(1 - y)
    run_end = np.flatnonzero(np.r_[ranked[1:] != ranked[:-1], True])
    return tp[run_end], fp[run_end], ranked[run_end]


def midpoint_thresholds(cut_scores: np.ndarray) -> np.ndarray:
    """Threshold of each cut: halfway to the next lower score (the lowest score for the last cut).

    Example
    -------
    >>> midpoint_thresholds(np.array([0.9, 0.5, 0.1]))
    array([0.7, 0.3, 0.1])
    """
    lower = np.r_[cut_scores[1:], cut_scores[-1]]
    return (cut_scores + lower) / 2


def best_accuracy(scores: Sequence[float], labels: Sequence[int]) -> tuple[float, float]:
    """Best accuracy of "positive iff score >= threshold" and that threshold.

    Predicting every pair negative is a candidate too (threshold ``inf``).

    Example
    -------
    >>> best_accuracy([0.9, 0.8, 0.3, 0.1], [1, 1, 0, 1])
    (0.75, 0.55)
    """
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    tp, fp, cut_scores = counts_at_thresholds(scores, labels)
    negatives = len(labels) - np.sum(labels)
    accuracy = (tp + negatives - fp) / len(labels)
    best = int(np.argmax(accuracy))
    if negatives / len(labels) > accuracy[best]:
        return float(negatives / len(labels)), float("inf")
    return float(accuracy[best]), float(midpoint_thresholds(cut_scores)[best])


def best_f1(scores: Sequence[float], labels: Sequence[int]) -> tuple[float, float, float, float]:
    """Best F1 of "positive iff score >= threshold": ``(f1, precision, recall, threshold)``.

    Example
    -------
    >>> best_f1([0.9, 0.8, 0.3, 0.1], [1, 1, 0, 1])
    (0.8571428571428571, 0.75, 1.0, 0.1)
    """
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    tp, fp, cut_scores = counts_at_thresholds(scores, labels)
    positives = np.sum(labels)
    if positives == 0:
        return 0.0, 0.0, 0.0, float("inf")
    f1 = 2 * tp / (tp + fp + positives)
    best = int(np.argmax(f1))
    precision = tp[best] / (tp[best] + fp[best])
    return float(f1[best]), float(precision), float(tp[best] / positives), float(midpoint_thresholds(cut_scores)[best])


class BinaryClassificationEvaluator(LabelledPairsEvaluator):
    """Accuracy, F1, precision, recall and average precision of pair labels from similarities.

    For each similarity (cosine, dot, and the negated euclidean and manhattan
    distances, so that larger always means "more likely a duplicate") the
    threshold with the best accuracy and the one with the best F1 are found
    on the data itself.  Thresholds are on that similarity scale: for
    euclidean and manhattan they are negated distances.  Keys:
    ``<sim>_accuracy``, ``<sim>_accuracy_threshold``, ``<sim>_f1``,
    ``<sim>_precision``, ``<sim>_recall``, ``<sim>_f1_threshold``, ``<sim>_ap``.

    Parameters
    ----------
    sentences1, sentences2
        The pairs.
    labels
        1 for a positive (duplicate, paraphrase) pair, 0 otherwise.
    main_similarity
        Similarity of the primary metric ``<name>_<main_similarity>_ap``.
    name, batch_size, callbacks
        See :class:`~workbench.evaluation.base.Evaluator`.

    Example
    -------
    >>> from workbench.evaluation.base import LookupEncoder
    >>> model = LookupEncoder.example()
    >>> evaluator = BinaryClassificationEvaluator(["a", "a"], ["b", "c"], [1, 0], name="quora")
    >>> evaluator(model)["quora_cosine_accuracy"]
    1.0
    """

    def __init__(
        self,
        sentences1: Sequence[str],
        sentences2: Sequence[str],
        labels: Sequence[int],
        main_similarity: str = "cosine",
        name: str = "binary",
        batch_size: int = 32,
        callbacks: Iterable[Any] | None = None,
    ) -> None:
        super().__init__(
            (sentences1, sentences2),
            labels,
            main_similarity_metric(main_similarity, "{}_ap"),
            name,
            batch_size,
            callbacks,
        )
        bad = sorted({repr(label) for label in labels if label not in (0, 1)})
        if bad:
            raise ValueError(f"labels must be 0 or 1 (or True/False), got {', '.join(bad[:5])}")
        self.labels = np.asarray(labels, dtype=np.int64)

    def compute(self, model: Encoder) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for sim, scores in self.similarities(model).items():
            accuracy, accuracy_threshold = best_accuracy(scores, self.labels)
            f1, precision, recall, f1_threshold = best_f1(scores, self.labels)
            metrics.update(
                {
                    f"{sim}_accuracy": accuracy,
                    f"{sim}_accuracy_threshold": accuracy_threshold,
                    f"{sim}_f1": f1,
                    f"{sim}_precision": precision,
                    f"{sim}_recall": recall,
                    f"{sim}_f1_threshold": f1_threshold,
                    f"{sim}_ap": float(average_precision_score(self.labels, scores)),
                }
            )
        return metrics
