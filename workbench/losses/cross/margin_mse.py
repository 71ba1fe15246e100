"""MarginMSELoss for cross-encoders: learn a teacher's score margins between a positive and negatives."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ..base import MarginLoss
from .base import ActivatedScoreLoss


class MarginMSELoss(MarginLoss, ActivatedScoreLoss):
    """Mean squared error between ``s(q, pos) - s(q, neg_i)`` and the teacher's margin for each negative.

    Only differences of scores are learned, so the student's scale is free
    (Hofstätter et al., 2020).

    Inputs: 3 or more text columns (query, positive, negative 1, ...) and float
    margins: ``(batch,)`` for one negative, ``(batch, negatives)`` for several.

    Parameters
    ----------
    model:
        A cross-encoder with one output.
    activation_fn:
        Applied to every score before the differences; default ``Identity``.

    Example
    -------
    >>> margins = teacher.predict(pos_pairs) - teacher.predict(neg_pairs)       # doctest: +SKIP
    >>> data = [Example([q, p, n], m) for (q, p), (_, n), m in zip(pos_pairs, neg_pairs, margins)]  # doctest: +SKIP
    """

    def compute(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        scores = self.activation_fn(self.scores(embeddings))
        margins = scores[:, :1] - scores[:, 1:]
        return F.mse_loss(margins, labels.reshape(margins.shape))
