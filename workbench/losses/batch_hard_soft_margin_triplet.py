"""BatchHardSoftMarginTripletLoss: batch-hard mining with a smooth penalty instead of a hinge."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch.nn.functional as F
from torch import Tensor

from .base import BatchTripletLoss, safe_mean
from .batch_hard_triplet import hardest_gaps

if TYPE_CHECKING:
    from ..encoder import SentenceEncoder


class BatchHardSoftMarginTripletLoss(BatchTripletLoss):
    """``log(1 + exp(d(a, farthest positive) - d(a, nearest negative)))``, averaged over anchors.

    The soft-plus replaces the hinge of :class:`BatchHardTripletLoss`, so
    there is no margin to tune and well-separated triplets still pull a little.

    Inputs: 1 text column and a ``torch.long`` label per text; a batch must
    hold several texts of each label.

    Parameters
    ----------
    model, distance_metric:
        As for :class:`~workbench.losses.base.BatchTripletLoss` (euclidean distance by default).
    margin:
        Added to the gap inside the soft-plus; 0 (default) is the usual soft-margin loss.

    Example
    -------
    >>> loss = BatchHardSoftMarginTripletLoss(model)                          # doctest: +SKIP
    >>> texts = ["A man eats.", "Someone eats.", "A car drives.", "A man drives."]
    >>> loss([model.tokenize(texts)], torch.tensor([7, 7, 3, 3])).backward()  # doctest: +SKIP
    """

    def __init__(
        self,
        model: SentenceEncoder,
        distance_metric: str = "euclidean",
        margin: float = 0.0,
        *,
        distance: str | None = None,
    ) -> None:
        super().__init__(model, distance_metric, margin, distance=distance)

    def compute(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        return safe_mean(F.softplus(hardest_gaps(self.distances(embeddings), labels) + self.margin))
