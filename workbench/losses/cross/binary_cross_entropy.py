"""BinaryCrossEntropyLoss: a cross-encoder learns whether a pair is relevant (or a soft 0-1 score)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import CrossEncoderLoss

if TYPE_CHECKING:
    from ...cross_encoder import CrossEncoder


class BinaryCrossEntropyLoss(CrossEncoderLoss):
    """Binary cross-entropy of the pair's logit against a label in [0, 1] (sigmoid applied inside).

    Inputs: 2 text columns (query, document) and a float label per pair, 1
    relevant and 0 not (values between are soft targets, e.g. STS scores / 5).

    Parameters
    ----------
    model:
        A cross-encoder with one output.
    pos_weight:
        Weight of the positive class (e.g. the ratio negatives / positives when
        positives are rare); ``None``: 1.

    Example
    -------
    >>> loss = BinaryCrossEntropyLoss(ce)                                     # doctest: +SKIP
    >>> ce.fit([([Example(["query", "relevant text"], 1.0)], loss)])           # doctest: +SKIP
    """

    columns = 2
    label_kind = "float"
    expects = "2 text columns (query, document) and a float label in [0, 1] per pair"

    def __init__(self, model: CrossEncoder, pos_weight: float | None = None) -> None:
        super().__init__(model)
        if pos_weight is not None and not (isinstance(pos_weight, (int, float)) and pos_weight > 0):
            raise ValueError(f"pos_weight must be a positive number or None, got {pos_weight!r}")
        self.pos_weight = pos_weight

    def check_batch(self, n_columns: int, labels: Tensor | None) -> None:
        super().check_batch(n_columns, labels)
        if labels.numel() and (labels.min() < 0 or labels.max() > 1):
            self.fail(f"labels range from {float(labels.min()):g} to {float(labels.max()):g}")

    def compute(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        logits = self.scores(embeddings)[:, 0]
        weight = None if self.pos_weight is None else torch.tensor(self.pos_weight, device=logits.device)
        return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype), pos_weight=weight)
