"""OnlineContrastiveLoss: the contrastive loss on the hard pairs of the batch only."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .base import BinaryPairLoss, pairwise_distance


class OnlineContrastiveLoss(BinaryPairLoss):
    """Contrastive loss summed over the batch's hard positives and hard negatives.

    A similar pair is hard when it is farther apart than the nearest
    dissimilar pair; a dissimilar pair is hard when it is nearer than the
    farthest similar pair.  Easy pairs add nothing, so the model spends its
    capacity where the ranking is wrong.  When the batch holds only one kind
    of pair, all pairs of that kind count.  Hard positives cost ``d**2``,
    hard negatives ``max(margin - d, 0)**2``.

    Inputs: 2 text columns and a ``torch.long`` label per pair, 1 for
    similar, 0 for dissimilar.  The parameters, ``distance_metric`` (cosine) and
    ``margin`` (0.5), are those of :class:`~workbench.losses.base.BinaryPairLoss`.

    Example
    -------
    >>> loss = OnlineContrastiveLoss(model)                                    # doctest: +SKIP
    >>> questions = [model.tokenize(["how to cook pasta", "how to ride a horse", "how to play guitar"]),
    ...              model.tokenize(["cooking pasta", "horse riding", "how to cook pasta"])]  # doctest: +SKIP
    >>> loss(questions, torch.tensor([1, 1, 0])).backward()                    # doctest: +SKIP
    """

    def compute(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        d = pairwise_distance(embeddings[0], embeddings[1], self.distance_metric)
        positives, negatives = d[labels == 1], d[labels == 0]
        hard_positives = positives[positives > negatives.min()] if len(negatives) else positives
        hard_negatives = negatives[negatives < positives.max()] if len(positives) else negatives
        return hard_positives.pow(2).sum() + F.relu(self.margin - hard_negatives).pow(2).sum()
