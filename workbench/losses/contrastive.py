"""ContrastiveLoss: pull similar pairs together, push dissimilar ones beyond a margin."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch.nn.functional as F
from torch import Tensor

from .base import BinaryPairLoss, pairwise_distance

if TYPE_CHECKING:
    from ..encoder import SentenceEncoder


class ContrastiveLoss(BinaryPairLoss):
    """``0.5 * (y * d**2 + (1 - y) * max(margin - d, 0)**2)`` per pair (Hadsell et al., 2006).

    Inputs: 2 text columns (sentence1, sentence2) and a ``torch.long`` label
    per pair: 1 for similar, 0 for dissimilar.

    Parameters
    ----------
    model, distance_metric, margin:
        See :class:`~workbench.losses.base.BinaryPairLoss`; cosine distance and margin 0.5 by default.
    size_average:
        Average over the pairs (default) rather than sum.

    Example
    -------
    >>> loss = ContrastiveLoss(model, distance_metric="euclidean", margin=2.0)       # doctest: +SKIP
    >>> features = [model.tokenize(["A man eats."]), model.tokenize(["Someone eats."])]  # doctest: +SKIP
    >>> loss(features, torch.tensor([1])).backward()                          # doctest: +SKIP
    """

    def __init__(
        self,
        model: SentenceEncoder,
        distance_metric: str = "cosine",
        margin: float = 0.5,
        size_average: bool = True,
        *,
        distance: str | None = None,
    ) -> None:
        super().__init__(model, distance_metric, margin, distance=distance)
        self.size_average = size_average

    def compute(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        d = pairwise_distance(embeddings[0], embeddings[1], self.distance_metric)
        similar = labels.to(d.dtype)
        losses = 0.5 * (similar * d.pow(2) + (1 - similar) * F.relu(self.margin - d).pow(2))
        return losses.mean() if self.size_average else losses.sum()
