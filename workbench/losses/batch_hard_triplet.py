"""BatchHardTripletLoss: each anchor with its farthest positive and nearest negative."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .base import BatchTripletLoss, label_masks, safe_mean


def hardest_gaps(distances: Tensor, labels: Tensor) -> Tensor:
    """``d(a, hardest positive) - d(a, hardest negative)`` for each anchor that has both.

    Example
    -------
    >>> import torch
    >>> d = torch.tensor([[0.0, 1.0, 3.0], [1.0, 0.0, 2.0], [3.0, 2.0, 0.0]])
    >>> hardest_gaps(d, torch.tensor([0, 0, 1]))
    tensor([-2., -1.])
    """
    positive, negative = label_masks(labels)
    has_both = positive.any(1) & negative.any(1)
    farthest_positive = distances.masked_fill(~positive, float("-inf")).amax(1)
    nearest_negative = distances.masked_fill(~negative, float("inf")).amin(1)
    return farthest_positive[has_both] - nearest_negative[has_both]


class BatchHardTripletLoss(BatchTripletLoss):
    """``max(d(a, farthest positive) - d(a, nearest negative) + margin, 0)``, averaged over anchors.

    Each anchor is judged by its hardest triplet only (Hermans et al., 2017).

    Inputs: 1 text column and a ``torch.long`` label per text.  An anchor
    counts when the batch also holds another text of its label and one of
    another label.  Parameters (``distance_metric``, euclidean; ``margin``, 5) as
    for :class:`~workbench.losses.base.BatchTripletLoss`.

    Example
    -------
    >>> loss = BatchHardTripletLoss(model, distance_metric="cosine", margin=0.5)     # doctest: +SKIP
    >>> texts = ["A dog runs.", "The dog plays.", "A man eats.", "Someone eats."]
    >>> loss([model.tokenize(texts)], torch.tensor([0, 0, 1, 1])).backward()  # doctest: +SKIP
    """

    def compute(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        return safe_mean(F.relu(hardest_gaps(self.distances(embeddings), labels) + self.margin))
