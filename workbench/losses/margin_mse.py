"""MarginMSELoss: a bi-encoder learns a teacher's (e.g. a cross-encoder's) score margins."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from ..similarity import SimilarityFunction
from .base import MarginLoss, loss_similarity

if TYPE_CHECKING:
    from ..encoder import SentenceEncoder


class MarginMSELoss(MarginLoss):
    """Mean squared error between ``sim(q, pos) - sim(q, neg_i)`` and the teacher's margin for each negative.

    Distillation from a cross-encoder (Hofstätter et al., 2020): the teacher
    scores (query, positive) and (query, negative) and the bi-encoder learns
    the differences, not the scores, so the two scales need not match.

    Inputs: 3 or more text columns (query, positive, negative 1, ...) and float
    margins, ``(batch,)`` for one negative or ``(batch, negatives)``.

    Parameters
    ----------
    model:
        The encoder being trained.
    similarity_fn_name:
        ``dot`` (default, as in the paper), ``cosine``, ``euclidean``, ``manhattan``
        or a row-by-row function of two embedding batches (``similarity_fct``:
        sentence-transformers' name of it; ``similarity``: deprecated).

    Example
    -------
    >>> margins = ce.predict(list(zip(q, pos)), activation_fn=torch.nn.Identity()) - ce.predict(
    ...     list(zip(q, neg)), activation_fn=torch.nn.Identity())               # doctest: +SKIP
    >>> data = [Example([a, b, c], m) for a, b, c, m in zip(q, pos, neg, margins)]  # doctest: +SKIP
    >>> model.fit([(data, MarginMSELoss(model))])                              # doctest: +SKIP
    """

    def __init__(
        self,
        model: SentenceEncoder,
        similarity_fn_name: str | SimilarityFunction = "dot",
        *,
        similarity_fct: str | SimilarityFunction | None = None,
        similarity: str | SimilarityFunction | None = None,
    ) -> None:
        super().__init__(model)
        self.similarity_fct = loss_similarity(
            self, similarity_fn_name, "dot", similarity_fct=similarity_fct, similarity=similarity, pairwise=True
        )

    def compute(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        query, positive, *negatives = embeddings
        positive_score = self.similarity_fct(query, positive).unsqueeze(1)
        margins = positive_score - torch.stack([self.similarity_fct(query, neg) for neg in negatives], dim=1)
        return F.mse_loss(margins, labels.reshape(margins.shape))
