"""Triplet accuracy: is the anchor closer to its positive than to its negative?"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from ..typing import Encoder
from .base import SIMILARITY_NAMES, ColumnsEvaluator, main_similarity_metric
from .embedding_similarity import pair_similarities


class TripletEvaluator(ColumnsEvaluator):
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
    >>> model = LookupEncoder.example()
    >>> TripletEvaluator(["a", "c"], ["b", "a"], ["c", "b"], name="nli")(model)["nli_cosine_accuracy"]
    0.5
    """

    columns = ("anchors", "positives", "negatives")
    rows_name = "triplets"

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
        super().__init__(
            (anchors, positives, negatives),
            None,
            main_similarity_metric(main_similarity, "{}_accuracy"),
            name,
            batch_size,
            callbacks,
        )

    def compute(self, model: Encoder) -> dict[str, float]:
        anchor, positive, negative = self.column_embeddings(model)
        to_positive = pair_similarities(anchor, positive)
        to_negative = pair_similarities(anchor, negative)
        return {f"{sim}_accuracy": float((to_positive[sim] > to_negative[sim]).mean()) for sim in SIMILARITY_NAMES}
