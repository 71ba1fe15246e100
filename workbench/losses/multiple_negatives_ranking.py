"""MultipleNegativesRankingLoss: find each anchor's positive among all candidates of the batch."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from ..similarity import SimilarityFunction
from .base import Loss, loss_similarity

if TYPE_CHECKING:
    from ..encoder import SentenceEncoder


class MultipleNegativesRankingLoss(Loss):
    """Cross-entropy of each anchor over every candidate of the batch (in-batch negatives, InfoNCE).

    For anchor ``i`` the candidates are all positives of the batch and all
    hard negatives; the right answer is positive ``i``.  Larger batches give
    more negatives and usually better models; a batch of one pair without
    hard negatives has nothing to rank against, so the trainer refuses
    ``batch_size=1`` (:meth:`check_batch_size`).

    Inputs: 2 or more text columns (anchor, positive, then any number of
    hard-negative columns) and no labels.

    Parameters
    ----------
    model:
        The encoder being trained.
    scale:
        Multiplies the similarities before the softmax (inverse temperature);
        20 suits cosine, 1 suits dot product.
    similarity_fn_name:
        ``cosine`` (default), ``dot``, ``euclidean``, ``manhattan`` or a
        function returning the ``(len(a), len(b))`` similarity matrix;
        ``similarity_fct`` (sentence-transformers' name) is the same argument,
        ``similarity`` its deprecated name.
    symmetric:
        Also rank the anchors for each positive and average both directions
        (hard negatives only take part in the anchor-to-positive direction).

    Example
    -------
    >>> loss = MultipleNegativesRankingLoss(model)                             # doctest: +SKIP
    >>> features = [model.tokenize(["A man eats.", "A dog runs."]),
    ...             model.tokenize(["Someone eats.", "The dog plays."])]       # doctest: +SKIP
    >>> loss(features, None).backward()                                        # doctest: +SKIP
    """

    columns = (2, None)
    label_kind = None
    expects = "2 or more text columns (anchor, positive, optional hard negatives) and no labels"

    def __init__(
        self,
        model: SentenceEncoder,
        scale: float = 20.0,
        similarity_fn_name: str | SimilarityFunction = "cosine",
        symmetric: bool = False,
        *,
        similarity_fct: str | SimilarityFunction | None = None,
        similarity: str | SimilarityFunction | None = None,
    ) -> None:
        super().__init__(model)
        self.scale = scale
        self.similarity_fct = loss_similarity(
            self, similarity_fn_name, "cosine", similarity_fct=similarity_fct, similarity=similarity
        )
        self.symmetric = symmetric

    def check_batch_size(self, batch_size: int, n_columns: int) -> None:
        """Refuse batches of one pair: the positive is the only candidate, the loss is always 0, nothing is learned."""
        if batch_size < 2 and n_columns < 3:
            self.fail(
                f"batches of {batch_size} example(s) (batch_size, or the size of the data) leave each anchor "
                "no negative to rank its positive against: the loss is always 0 and the model learns "
                "nothing; use batch_size >= 2 (larger is better) or add hard-negative columns"
            )

    def compute(self, embeddings: list[Tensor], labels: None) -> Tensor:
        anchors, positives = embeddings[0], embeddings[1]
        targets = torch.arange(len(anchors), device=anchors.device)
        scores = self.similarity_fct(anchors, torch.cat(embeddings[1:])) * self.scale
        loss = F.cross_entropy(scores, targets)
        if self.symmetric:
            backward_scores = self.similarity_fct(positives, anchors) * self.scale
            loss = (loss + F.cross_entropy(backward_scores, targets)) / 2
        return loss
