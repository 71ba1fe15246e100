"""BatchAllTripletLoss: every valid triplet of the batch."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .base import BatchTripletLoss, label_masks


class BatchAllTripletLoss(BatchTripletLoss):
    """``max(d(a, p) - d(a, n) + margin, 0)`` over every (anchor, positive, negative) of the batch.

    The sum is divided by the number of triplets that still violate the
    margin, not by all of them: as training goes on most triplets are
    satisfied, and averaging over those zeros would shrink the gradient.
    Memory grows with ``batch**3``.

    Inputs: 1 text column and a ``torch.long`` label per text; ``k`` texts
    per label in a batch of ``n`` give ``n * (k - 1) * (n - k)`` triplets.
    The parameters, ``distance_metric`` (euclidean) and ``margin`` (5), are those of
    :class:`~workbench.losses.base.BatchTripletLoss`.

    Example
    -------
    >>> loss = BatchAllTripletLoss(model)                                     # doctest: +SKIP
    >>> texts = ["a good film", "a great movie", "a bad film", "a terrible movie", "a sad film"]
    >>> loss([model.tokenize(texts)], torch.tensor([1, 1, 0, 0, 0])).backward()  # doctest: +SKIP
    """

    def compute(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        d = self.distances(embeddings)
        positive, negative = label_masks(labels)
        # [a, p, n]: d(a, p) - d(a, n) + margin, kept where p is a positive and n a negative of a
        violations = F.relu((d[:, :, None] - d[:, None, :] + self.margin)[positive[:, :, None] & negative[:, None, :]])
        return violations.sum() / (violations > 0).sum().clamp(min=1)
