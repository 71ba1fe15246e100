"""MSELoss for cross-encoders: the pair's score regressed onto a target (a teacher's score, or a gold one)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .base import ActivatedScoreLoss


class MSELoss(ActivatedScoreLoss):
    """Mean squared error between ``activation_fn(logit)`` of each pair and its float label.

    Inputs: 2 text columns (query, document) and a float target per pair.

    Parameters
    ----------
    model:
        A cross-encoder with one output.
    activation_fn:
        Applied to the logit before the comparison; default ``Identity`` (the
        target is a logit, e.g. a teacher cross-encoder's raw score); use
        ``torch.nn.Sigmoid()`` for targets in [0, 1].

    Example
    -------
    >>> loss = MSELoss(ce, activation_fn=torch.nn.Sigmoid())                  # doctest: +SKIP
    """

    columns = 2
    label_kind = "float"
    expects = "2 text columns (query, document) and a float target score per pair"

    def compute(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        return F.mse_loss(self.activation_fn(self.scores(embeddings)[:, 0]), labels)
