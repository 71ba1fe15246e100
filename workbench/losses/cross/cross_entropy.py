"""CrossEntropyLoss: a cross-encoder classifies pairs (e.g. entailment / neutral / contradiction)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .base import CrossEncoderLoss


class CrossEntropyLoss(CrossEncoderLoss):
    """Cross-entropy of the pair's class logits against its class id.

    Inputs: 2 text columns (first, second) and a ``torch.long`` class id in
    ``[0, num_labels)`` per pair; the model has ``num_labels >= 2`` outputs.

    Example
    -------
    >>> ce = CrossEncoder.from_encoder("all-MiniLM-L6-v2", num_labels=3)       # doctest: +SKIP
    >>> loss = CrossEntropyLoss(ce)                                          # doctest: +SKIP
    """

    columns = 2
    label_kind = "int"
    single_score = False
    expects = "2 text columns (first, second) and a torch.long class id in [0, num_labels) per pair"

    def check_batch(self, n_columns: int, labels: Tensor | None) -> None:
        super().check_batch(n_columns, labels)
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.model.num_labels):
            self.fail(
                f"labels range from {int(labels.min())} to {int(labels.max())} but the model has "
                f"{self.model.num_labels} classes"
            )

    def compute(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        return F.cross_entropy(embeddings[0], labels)
