"""Classification quality of a cross-encoder: binary (thresholded score) or multi-class (argmax)."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
from sklearn.metrics import average_precision_score, f1_score

from .binary_classification import best_accuracy, best_f1
from .cross_encoder_correlation import CrossEncoderPairsEvaluator


class CrossEncoderClassificationEvaluator(CrossEncoderPairsEvaluator):
    """Accuracy, F1 and average precision of a cross-encoder's pair classes.

    With labels 0/1 the task is binary: the score of a one-output model (or
    the softmax probability of class 1 of a two-output one) is thresholded
    at the best accuracy and at the best F1 found on the data; keys
    ``accuracy``, ``accuracy_threshold``, ``f1``, ``precision``, ``recall``,
    ``f1_threshold`` and ``ap`` (average precision, the primary metric).
    With more classes the predicted class is the argmax; keys ``accuracy``,
    ``f1_macro`` (primary), ``f1_micro`` and ``f1_weighted``.

    Parameters
    ----------
    sentence_pairs
        The pairs ``(a, b)``.
    labels
        Class id per pair (0/1 for a binary task).
    name, batch_size, callbacks
        See :class:`~workbench.evaluation.base.Evaluator`.

    Example
    -------
    >>> class Overlap:  # a stand-in one-output cross-encoder: shared words
    ...     num_labels = 1
    ...     def predict(self, pairs, **kwargs):
    ...         return [len(set(a.split()) & set(b.split())) for a, b in pairs]
    >>> ev = CrossEncoderClassificationEvaluator([("a b", "a b"), ("a", "c"), ("a b", "b")], [1, 0, 0], name="dup")
    >>> ev(Overlap())["dup_accuracy"], ev.primary_metric
    (1.0, 'dup_ap')
    """

    def __init__(
        self,
        sentence_pairs: Sequence[Sequence[str]],
        labels: Sequence[int],
        name: str = "cross-classification",
        batch_size: int = 32,
        callbacks: Iterable[Any] | None = None,
    ) -> None:
        bad = [
            label
            for label in labels
            if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or label < 0
        ]
        if bad:
            raise TypeError(f"labels must be class ids (integers >= 0), got e.g. {bad[0]!r}")
        self.binary = set(int(label) for label in labels) <= {0, 1}
        super().__init__(sentence_pairs, labels, "ap" if self.binary else "f1_macro", name, batch_size, callbacks)
        self.labels = np.asarray(labels, dtype=np.int64)

    def compute(self, model: Any) -> dict[str, float]:
        num_labels = int(model.num_labels)
        if self.binary and num_labels <= 2:
            scores = self.predict(model, self.sentence_pairs, **({"apply_softmax": True} if num_labels == 2 else {}))
            scores = scores if num_labels == 1 else scores[:, 1]
            accuracy, accuracy_threshold = best_accuracy(scores, self.labels)
            f1, precision, recall, f1_threshold = best_f1(scores, self.labels)
            return {
                "accuracy": accuracy,
                "accuracy_threshold": accuracy_threshold,
                "f1": f1,
                "precision": precision,
                "recall": recall,
                "f1_threshold": f1_threshold,
                "ap": float(average_precision_score(self.labels, scores)),
            }
        if num_labels < 2 or self.labels.max() >= num_labels:
            raise ValueError(
                f"the labels are class ids up to {int(self.labels.max())} but the model has "
                f"{num_labels} output(s); a multi-class task needs one output per class"
            )
        predicted = self.predict(model, self.sentence_pairs).argmax(axis=1)
        metrics = {"accuracy": float((predicted == self.labels).mean())}
        for average in ("macro", "micro", "weighted"):
            metrics[f"f1_{average}"] = float(f1_score(self.labels, predicted, average=average, zero_division=0))
        return metrics
