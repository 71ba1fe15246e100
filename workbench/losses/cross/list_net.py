"""ListNetLoss: a cross-encoder learns to order a list of documents as their relevance labels do."""

from __future__ import annotations

import torch
from torch import Tensor

from .base import ActivatedScoreLoss


class ListNetLoss(ActivatedScoreLoss):
    """Cross-entropy between the top-one probabilities of the labels and of the scores (Cao et al., 2007).

    For each query, ``softmax(labels)`` and ``softmax(scores)`` over its
    documents are distributions of "which document is first"; the loss is the
    cross-entropy of the second against the first, averaged over queries.  Only
    the order and the spread of scores within a list matter, not their level.

    Inputs: 2 or more text columns (query, document 1, ..., document n) and a
    float tensor ``(batch, n)`` of relevance labels (e.g. 0-3 grades); every
    example of one objective has the same number of documents.

    Parameters
    ----------
    model:
        A cross-encoder with one output.
    activation_fn:
        Applied to the logits before the softmax; default ``Identity``.

    Example
    -------
    >>> loss = ListNetLoss(ce)                                                 # doctest: +SKIP
    >>> data = [Example(["query", "best doc", "fair doc", "bad doc"], [2.0, 1.0, 0.0])]  # doctest: +SKIP
    """

    columns = (2, None)
    label_kind = "float"
    label_ndim = 2
    expects = "2 or more text columns (query, documents...) and float relevance labels of shape (batch, documents)"

    def check_batch(self, n_columns: int, labels: Tensor | None) -> None:
        super().check_batch(n_columns, labels)
        self.check_candidate_labels(labels, n_columns - 1)

    def compute(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        log_p = torch.log_softmax(self.activation_fn(self.scores(embeddings)), dim=1)
        return -(torch.softmax(labels, dim=1) * log_p).sum(dim=1).mean()
