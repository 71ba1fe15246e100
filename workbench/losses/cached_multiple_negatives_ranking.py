"""CachedMultipleNegativesRankingLoss: MultipleNegativesRankingLoss on batches too large for memory (GradCache)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from ..similarity import SimilarityFunction
from .multiple_negatives_ranking import MultipleNegativesRankingLoss

if TYPE_CHECKING:
    from ..encoder import SentenceEncoder


class CachedMultipleNegativesRankingLoss(MultipleNegativesRankingLoss):
    """The same loss and gradients as :class:`MultipleNegativesRankingLoss`, with memory set by ``mini_batch_size``.

    GradCache (Gao et al., 2021): the contrastive loss needs every embedding
    of the batch at once, but not every activation.  Each column is embedded
    in mini-batches whose activations are dropped right away; the loss is
    computed on the full set of embeddings; on ``backward`` the gradient
    with respect to each mini-batch's embeddings is known, so the
    mini-batch is run again, this time keeping activations, and that
    gradient is pushed through it.  Peak memory is one mini-batch's
    activations plus the batch's embeddings and its ``batch x candidates``
    score matrix, so a batch of thousands fits where the plain loss would
    not; the price is a second forward pass.

    The random state is saved before each mini-batch and restored for its
    re-run, so dropout draws the same masks both times and the gradients are
    those of the embeddings the loss saw.  This is what
    ``torch.utils.checkpoint`` does, and the implementation relies on it.
    Wrappers such as :class:`~workbench.losses.MatryoshkaLoss` work unchanged,
    since only :meth:`embed_column` differs from the uncached loss.

    Inputs: 2 or more text columns (anchor, positive, optional hard
    negatives) and no labels.

    Parameters
    ----------
    model, scale, similarity_fn_name, symmetric:
        As for :class:`MultipleNegativesRankingLoss`.
    mini_batch_size:
        Texts per forward pass; lower saves memory, higher runs faster.

    Example
    -------
    >>> loss = CachedMultipleNegativesRankingLoss(model, mini_batch_size=32)  # doctest: +SKIP
    >>> anchors, positives = ["A man eats."] * 1024, ["Someone eats."] * 1024
    >>> loss([model.tokenize(anchors), model.tokenize(positives)], None).backward()  # doctest: +SKIP
    """

    def __init__(
        self,
        model: SentenceEncoder,
        scale: float = 20.0,
        similarity_fn_name: str | SimilarityFunction = "cosine",
        symmetric: bool = False,
        mini_batch_size: int = 32,
        *,
        similarity_fct: str | SimilarityFunction | None = None,
        similarity: str | SimilarityFunction | None = None,
    ) -> None:
        super().__init__(
            model, scale, similarity_fn_name, symmetric, similarity_fct=similarity_fct, similarity=similarity
        )
        self.mini_batch_size = check_mini_batch_size(mini_batch_size)

    def embed_column(self, features: dict[str, Tensor]) -> Tensor:
        """One column's embeddings, computed ``mini_batch_size`` rows at a time without keeping activations."""
        return embed_in_mini_batches(super().embed_column, features, self.mini_batch_size)


def check_mini_batch_size(mini_batch_size: Any) -> int:
    """``mini_batch_size`` when it is a positive integer, else ``ValueError``."""
    if isinstance(mini_batch_size, bool) or not isinstance(mini_batch_size, int) or mini_batch_size < 1:
        raise ValueError(f"mini_batch_size must be a positive integer, got {mini_batch_size!r}")
    return mini_batch_size


def embed_in_mini_batches(
    embed: Callable[[dict[str, Tensor]], Tensor], features: dict[str, Tensor], mini_batch_size: int
) -> Tensor:
    """``embed(features)`` run ``mini_batch_size`` rows at a time; with gradients on, activations are recomputed on backward."""
    rows = len(next(iter(features.values())))
    chunks = []
    for start in range(0, rows, mini_batch_size):
        part = {k: v[start : start + mini_batch_size] for k, v in features.items()}
        if torch.is_grad_enabled():
            # Keeps only the inputs; activations are recomputed (same RNG state) on backward.
            chunks.append(checkpoint(embed, part, use_reentrant=False))
        else:
            chunks.append(embed(part))
    return torch.cat(chunks)
