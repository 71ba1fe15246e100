"""What the cross-encoder losses share: pairs tokenized together, one score column per candidate column.

Examples hold a query (or first text) and one or more candidate texts.  Each
candidate is tokenized *together with* its query by the collator (so in the
trainer's loader workers), through :meth:`CrossEncoderLoss.featurize`:

* ``features[0]``: the queries tokenized alone; the trainer counts examples
  from it, it is not scored;
* ``features[i]`` for ``i >= 1``: the pairs (query, text of column ``i``).

:meth:`CrossEncoderLoss.embed` runs the model on every pair column and gives
:meth:`~workbench.losses.base.Loss.compute` the logits of each, ``(batch,
num_labels)``; the usual validation of columns and labels applies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from ..base import Loss

if TYPE_CHECKING:
    from ...cross_encoder import CrossEncoder


class CrossEncoderLoss(Loss):
    """Base class of the losses that train a :class:`~workbench.CrossEncoder`.

    Parameters
    ----------
    model:
        The cross-encoder being trained.
    """

    cross_encoder = True
    #: The number of outputs the model must have: 1 (a score) or None (2 or more classes).
    single_score: bool | None = True

    def __init__(self, model: CrossEncoder) -> None:
        super().__init__(model)
        if self.single_score is True and model.num_labels != 1:
            raise ValueError(
                f"{type(self).__name__} trains a one-score cross-encoder (num_labels=1); this one has "
                f"num_labels={model.num_labels}"
            )
        if self.single_score is False and model.num_labels < 2:
            raise ValueError(
                f"{type(self).__name__} trains a classifier (num_labels >= 2); this cross-encoder has "
                f"num_labels={model.num_labels}"
            )

    def featurize(self, columns: list[list[str]]) -> list[dict[str, Tensor]]:
        """The queries alone, then each candidate column tokenized together with the queries."""
        queries = columns[0]
        return [self.model.tokenize(queries)] + [self.model.tokenize_pairs(queries, column) for column in columns[1:]]

    def embed(self, features: list[dict[str, Tensor]]) -> list[Tensor]:
        """The logits ``(rows, num_labels)`` of every pair column (``features[1:]``)."""
        if len(features) < 2:
            self.fail(f"got {len(features)} feature column(s); build the batch with {type(self).__name__}.featurize")
        return [self.model(dict(column))["scores"] for column in features[1:]]

    @staticmethod
    def scores(logits: list[Tensor]) -> Tensor:
        """The one-label logits of every candidate column side by side, ``(batch, candidates)``."""
        return torch.cat([column.reshape(len(column), -1)[:, :1] for column in logits], dim=1)


class ActivatedScoreLoss(CrossEncoderLoss):
    """A one-score cross-encoder loss on ``activation_fn(logit)``; the logit as it is by default."""

    def __init__(self, model: CrossEncoder, activation_fn: nn.Module | None = None) -> None:
        super().__init__(model)
        self.activation_fn = activation_fn if activation_fn is not None else nn.Identity()
