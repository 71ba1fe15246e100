"""BatchSemiHardTripletLoss: each positive pair with its nearest negative that is still farther away."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import BatchTripletLoss, label_masks, safe_mean


class BatchSemiHardTripletLoss(BatchTripletLoss):
    """Triplet loss on semi-hard negatives, averaged over the positive pairs of the batch.

    For each anchor ``a`` and positive ``p`` the negative is the nearest one
    with ``d(a, n) > d(a, p)`` (semi-hard: wrong by less than the margin,
    which keeps training stable; Schroff et al., 2015); when every negative
    is nearer than ``p``, the farthest negative is used instead.  The
    penalty is ``max(d(a, p) - d(a, n) + margin, 0)``.

    Inputs: 1 text column and a ``torch.long`` label per text; every pair of
    texts with the same label is a positive pair, so a batch needs at least
    two texts of some label.  ``distance_metric`` (euclidean) and ``margin`` (5):
    see :class:`~workbench.losses.base.BatchTripletLoss`.

    Example
    -------
    >>> loss = BatchSemiHardTripletLoss(model, margin=2.0)                    # doctest: +SKIP
    >>> texts = ["A man plays guitar.", "Someone plays music.", "A dog runs.", "The dog plays."]
    >>> loss([model.tokenize(texts)], torch.tensor([0, 0, 1, 1])).backward()  # doctest: +SKIP
    """

    def compute(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        d = self.distances(embeddings)
        positive, negative = label_masks(labels)
        # [a, p, n]: n is a negative of a that lies beyond p
        beyond = negative[:, None, :] & (d[:, None, :] > d[:, :, None])
        nearest_beyond = d[:, None, :].masked_fill(~beyond, float("inf")).amin(2)
        farthest = d.masked_fill(~negative, float("-inf")).amax(1, keepdim=True)
        chosen = torch.where(beyond.any(2), nearest_beyond, farthest)
        pairs = positive & negative.any(1, keepdim=True)
        return safe_mean(F.relu(d - chosen + self.margin)[pairs])
