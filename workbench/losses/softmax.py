"""SoftmaxLoss: a classifier on the pair's embeddings (natural language inference)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import Loss

if TYPE_CHECKING:
    from ..encoder import SentenceEncoder


class SoftmaxLoss(Loss):
    """Cross-entropy of a linear classifier on ``(u, v, |u - v|, u * v)``.

    The classifier's weights belong to the loss (they are among its
    ``parameters()``), not to the model: they are trained alongside it and
    dropped when the model is saved.

    Inputs: 2 text columns (sentence1, sentence2) and a ``torch.long`` class
    id in ``[0, num_labels)`` per pair.

    Parameters
    ----------
    model:
        The encoder being trained.
    num_labels:
        Number of classes (3 for entailment / neutral / contradiction).
    sentence_embedding_dimension:
        Width of the model's embeddings; default: asked from the model.
    concat_difference:
        Feed ``|u - v|`` to the classifier.
    concat_product:
        Feed ``u * v`` to the classifier.

    Example
    -------
    >>> loss = SoftmaxLoss(model, num_labels=3)                               # doctest: +SKIP
    >>> features = [model.tokenize(["A man eats."]), model.tokenize(["Nobody eats."])]  # doctest: +SKIP
    >>> loss(features, torch.tensor([2])).backward()                          # doctest: +SKIP
    """

    columns = 2
    label_kind = "int"
    truncatable = False

    def __init__(
        self,
        model: SentenceEncoder,
        num_labels: int,
        sentence_embedding_dimension: int | None = None,
        concat_difference: bool = True,
        concat_product: bool = False,
    ) -> None:
        super().__init__(model)
        if not isinstance(num_labels, int) or num_labels < 2:
            raise ValueError(f"num_labels must be an integer of at least 2, got {num_labels!r}")
        dim = sentence_embedding_dimension or model.get_sentence_embedding_dimension()
        if not dim:
            raise ValueError("the model does not report its embedding width; pass sentence_embedding_dimension")
        self.num_labels = num_labels
        self.concat_difference = concat_difference
        self.concat_product = concat_product
        self.expects = (
            f"2 text columns (sentence1, sentence2) and a torch.long class id in [0, {num_labels - 1}] per pair"
        )
        n_parts = 2 + concat_difference + concat_product
        self.classifier = nn.Linear(n_parts * dim, num_labels, device=model.device)

    def logits(self, u: Tensor, v: Tensor) -> Tensor:
        """Class scores ``(batch, num_labels)`` for the embeddings of the two columns."""
        parts = [u, v]
        if self.concat_difference:
            parts.append((u - v).abs())
        if self.concat_product:
            parts.append(u * v)
        return self.classifier(torch.cat(parts, dim=1))

    def check_batch(self, n_columns: int, labels: Tensor | None) -> None:
        super().check_batch(n_columns, labels)
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_labels):
            self.fail(f"labels range from {int(labels.min())} to {int(labels.max())}")

    def compute(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        return F.cross_entropy(self.logits(*embeddings), labels)
