"""TripletLoss: the anchor closer to its positive than to its negative, by a margin."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .base import DistanceLoss, pairwise_distance


class TripletLoss(DistanceLoss):
    """``max(d(a, p) - d(a, n) + margin, 0)``, averaged over the batch.

    Inputs: 3 text columns (anchor, positive, negative) and no labels.

    Parameters
    ----------
    model:
        The encoder being trained.
    distance_metric:
        Any of :data:`~workbench.losses.base.DISTANCES`; euclidean by default.
    margin:
        How much farther the negative must be than the positive (5 suits
        euclidean on unnormalised embeddings, ~0.5 cosine).

    Example
    -------
    >>> loss = TripletLoss(model, distance_metric="cosine", margin=0.5)              # doctest: +SKIP
    >>> features = [model.tokenize(["A man eats."]), model.tokenize(["Someone eats."]),
    ...             model.tokenize(["A car drives."])]                        # doctest: +SKIP
    >>> loss(features, None).backward()                                       # doctest: +SKIP
    """

    columns = 3
    label_kind = None
    expects = "3 text columns (anchor, positive, negative) and no labels"

    def compute(self, embeddings: list[Tensor], labels: None) -> Tensor:
        anchor, positive, negative = embeddings
        gap = pairwise_distance(anchor, positive, self.distance_metric) - pairwise_distance(
            anchor, negative, self.distance_metric
        )
        return F.relu(gap + self.margin).mean()
