"""Triplet accuracy: is the anchor closer to its positive than to its negative?"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

from .base import SIMILARITY_NAMES, Evaluator, check_choice, check_same_length, example_columns
from .embedding_similarity import pair_similarities


class TripletEvaluator(Evaluator):
    """Share of triplets where ``sim(anchor, positive) > sim(anchor, negative)``, per similarity.

    Keys ``<name>_<sim>_accuracy`` for cosine, dot, euclidean and manhattan
    (the distances compared as "smaller is closer"); a tie counts as a miss.

    Parameters
    ----------
    anchors, positives, negatives
        The triplets, one per position.
    main_similarity
        Similarity of the primary metric ``<name>_<main_similarity>_accuracy``.
    name, batch_size, callbacks
        See :class:`~workbench.evaluation.base.Evaluator`.

    Example
    -------
    >>> from workbench.evaluation.base import LookupEncoder
    >>> model = LookupEncoder({"a": [1.0, 0.0], "b": [0.9, 0.1], "c": [0.0, 1.0]})
    >>> TripletEvaluator(["a", "c"], ["b", "a"], ["c", "b"], name="nli")(model)["nli_cosine_accuracy"]
    0.5
    """

    def __init__(
        self,
        anchors: Sequence[str],
        positives: Sequence[str],
        negatives: Sequence[str],
        main_similarity: str = "cosine",
        name: str = "triplet",
        batch_size: int = 32,
        callbacks: Iterable[Any] | None = None,
    ) -> None:
        check_choice(main_similarity, SIMILARITY_NAMES, "main_similarity")
        if not check_same_length(anchors=anchors, positives=positives, negatives=negatives):
            raise ValueError("no triplets to evaluate")
        super().__init__(name, f"{main_similarity}_accuracy", batch_size, callbacks)
        self.anchors, self.positives, self.negatives = list(anchors), list(positives), list(negatives)

    @classmethod
    def from_examples(cls, examples: Iterable[Any], **kwargs: Any) -> "TripletEvaluator":
        """Build from examples with three texts (anchor, positive, negative); labels are ignored.

        Example
        -------
        >>> from workbench.data.records import Example
        >>> TripletEvaluator.from_examples([Example(["a", "b", "c"])]).negatives
        ['c']
        """
        (anchors, positives, negatives), _ = example_columns(examples, 3, cls.__name__)
        return cls(anchors, positives, negatives, **kwargs)

    def compute(self, model: Any) -> dict[str, float]:
        anchor, positive, negative = self.encode_columns(model, self.anchors, self.positives, self.negatives)
        to_positive = pair_similarities(anchor, positive)
        to_negative = pair_similarities(anchor, negative)
        return {f"{sim}_accuracy": float((to_positive[sim] > to_negative[sim]).mean()) for sim in SIMILARITY_NAMES}
