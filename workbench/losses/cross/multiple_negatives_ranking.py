"""MultipleNegativesRankingLoss for cross-encoders: pick each query's positive among in-batch and hard negatives."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import CrossEncoderLoss

if TYPE_CHECKING:
    from ...cross_encoder import CrossEncoder


class MultipleNegativesRankingLoss(CrossEncoderLoss):
    """Cross-entropy of each query over its positive, the positives of other queries and its hard negatives.

    A cross-encoder scores each (query, candidate) pair with a forward pass, so
    unlike the bi-encoder loss only ``num_negatives`` in-batch negatives are
    scored per query: the positives of the next ``num_negatives`` examples of
    the (shuffled) batch.  Scores are ``scale * activation_fn(logit)``.

    Inputs: 2 or more text columns (query, positive, optional hard negatives)
    and no labels.

    Parameters
    ----------
    model:
        A cross-encoder with one output.
    num_negatives:
        In-batch negatives per query (fewer when the batch is smaller).
    scale:
        Multiplies the scores before the softmax.
    activation_fn:
        Applied to the logits; default ``Sigmoid``.

    Example
    -------
    >>> loss = MultipleNegativesRankingLoss(ce, num_negatives=4)               # doctest: +SKIP
    """

    columns = (2, None)
    label_kind = None
    expects = "2 or more text columns (query, positive, optional hard negatives) and no labels"

    def __init__(
        self, model: CrossEncoder, num_negatives: int = 4, scale: float = 10.0, activation_fn: nn.Module | None = None
    ) -> None:
        super().__init__(model)
        if isinstance(num_negatives, bool) or not isinstance(num_negatives, int) or num_negatives < 0:
            raise ValueError(f"num_negatives must be an integer >= 0, got {num_negatives!r}")
        self.num_negatives = num_negatives
        self.scale = scale
        self.activation_fn = activation_fn if activation_fn is not None else nn.Sigmoid()

    def check_batch_size(self, batch_size: int, n_columns: int) -> None:
        """Refuse batches where a query has nothing to rank its positive against (the loss would always be 0)."""
        if n_columns < 3 and (batch_size < 2 or self.num_negatives == 0):
            self.fail(
                f"batches of {batch_size} example(s) with num_negatives={self.num_negatives} and no hard "
                "negatives leave each query only its positive: the loss is always 0; use batch_size >= 2 "
                "and num_negatives >= 1, or add hard-negative columns"
            )

    def featurize(self, columns: list[list[str]]) -> list[dict[str, Tensor]]:
        """Like the base, but the positive column pairs every query with the positives of the next examples too.

        Its rows are blocks of ``batch`` pairs: block ``s`` pairs query ``j`` with positive ``(j + s) % batch``.
        """
        queries, positives = columns[0], columns[1]
        shifts = min(self.num_negatives, len(queries) - 1) + 1
        shifted = [positives[(j + s) % len(queries)] for s in range(shifts) for j in range(len(queries))]
        return [
            self.model.tokenize(queries),
            self.model.tokenize_pairs(queries * shifts, shifted),
            *(self.model.tokenize_pairs(queries, column) for column in columns[2:]),
        ]

    def embed(self, features: list[dict[str, Tensor]]) -> list[Tensor]:
        """Logits per column; the positive column's blocks are laid side by side as ``(batch, shifts)``."""
        logits = super().embed(features)
        batch = len(features[0]["input_ids"])
        return [logits[0][:, 0].reshape(-1, batch).T, *logits[1:]]

    def compute(self, embeddings: list[Tensor], labels: None) -> Tensor:
        # Column 0 of embeddings[0] is each query's own positive, the target of the cross-entropy.
        columns = [embeddings[0], *([self.scores(embeddings[1:])] if len(embeddings) > 1 else [])]
        scores = self.scale * self.activation_fn(torch.cat(columns, dim=1))
        return F.cross_entropy(scores, torch.zeros(len(scores), dtype=torch.long, device=scores.device))
