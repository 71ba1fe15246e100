"""Correlation between a cross-encoder's pair scores and gold similarity scores (STS)."""

from __future__ import annotations

from typing import Any, ClassVar, Iterable, Sequence

import numpy as np
from scipy.stats import pearsonr, spearmanr

from ..cross_encoder import check_pairs
from .base import Evaluator, check_same_length, example_columns


class CrossEncoderPairsEvaluator(Evaluator):
    """Base of the cross-encoder evaluators of labelled pairs: holds and checks the pairs and their labels."""

    #: What the subclass calls its labels, for error messages.
    labels_name: ClassVar[str] = "labels"

    def __init__(
        self,
        sentence_pairs: Sequence[Sequence[str]],
        labels: Sequence[Any],
        main_metric: str,
        name: str,
        batch_size: int,
        callbacks: Iterable[Any] | None,
    ) -> None:
        pairs, single = check_pairs(sentence_pairs)
        if single:
            raise TypeError("sentence_pairs must be a list of pairs, got one pair; wrap it in a list")
        if not check_same_length(sentence_pairs=pairs, **{self.labels_name: labels}):
            raise ValueError("no pairs to evaluate")
        super().__init__(name, main_metric, batch_size, callbacks)
        self.sentence_pairs = pairs

    @classmethod
    def from_examples(cls, examples: Iterable[Any], **kwargs: Any) -> "CrossEncoderPairsEvaluator":
        """Build from examples with two texts and a label.

        Example
        -------
        >>> from workbench.data.records import Example
        >>> CrossEncoderCorrelationEvaluator.from_examples([Example(["a", "b"], 1.0), Example(["a", "c"], 0.0)]).scores
        array([1., 0.])
        """
        (first, second), labels = example_columns(examples, 2, cls.__name__)
        return cls(list(zip(first, second)), labels, **kwargs)


class CrossEncoderCorrelationEvaluator(CrossEncoderPairsEvaluator):
    """Pearson and Spearman correlation of the cross-encoder's scores with gold scores.

    Keys: ``<name>_pearson`` and ``<name>_spearman`` (the primary metric).
    Scores are ``model.predict``'s, with the model's activation.

    Parameters
    ----------
    sentence_pairs
        The pairs ``(a, b)``.
    scores
        Gold similarity per pair (any scale).
    name, batch_size, callbacks
        See :class:`~workbench.evaluation.base.Evaluator`.

    Example
    -------
    >>> class Overlap:  # a stand-in cross-encoder: shared words
    ...     def predict(self, pairs, **kwargs):
    ...         return [len(set(a.split()) & set(b.split())) for a, b in pairs]
    >>> ev = CrossEncoderCorrelationEvaluator([("a b", "a b"), ("a b", "a c"), ("a", "c")], [5.0, 2.0, 0.0])
    >>> ev(Overlap())["cross-sts_spearman"]
    1.0
    """

    labels_name = "scores"

    def __init__(
        self,
        sentence_pairs: Sequence[Sequence[str]],
        scores: Sequence[float],
        name: str = "cross-sts",
        batch_size: int = 32,
        callbacks: Iterable[Any] | None = None,
    ) -> None:
        super().__init__(sentence_pairs, scores, "spearman", name, batch_size, callbacks)
        if len(scores) < 2:
            raise ValueError(f"correlations need at least 2 pairs, got {len(scores)}")
        self.scores = np.asarray(scores, dtype=np.float64)
        if not np.isfinite(self.scores).all():
            raise ValueError("scores contain NaN or infinite values")

    def compute(self, model: Any) -> dict[str, float]:
        predicted = self.predict(model, self.sentence_pairs).astype(np.float64)
        if predicted.ndim != 1:
            raise ValueError(
                f"the model gives {predicted.shape[1:]} scores per pair; correlation needs one "
                "(a cross-encoder with num_labels=1)"
            )
        return {
            "pearson": float(pearsonr(self.scores, predicted)[0]),
            "spearman": float(spearmanr(self.scores, predicted)[0]),
        }
