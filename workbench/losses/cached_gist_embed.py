"""CachedGISTEmbedLoss: GISTEmbedLoss on batches too large for memory (GradCache)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor

from ..similarity import SimilarityFunction
from .cached_multiple_negatives_ranking import check_mini_batch_size, embed_in_mini_batches
from .gist_embed import GISTEmbedLoss

if TYPE_CHECKING:
    from ..encoder import SentenceEncoder


class CachedGISTEmbedLoss(GISTEmbedLoss):
    """The same loss and gradients as :class:`GISTEmbedLoss`, with memory set by ``mini_batch_size``.

    The trained model embeds each column ``mini_batch_size`` texts at a time
    without keeping activations, and re-runs each mini-batch on backward (see
    :class:`~workbench.losses.CachedMultipleNegativesRankingLoss`), so very
    large batches -- many in-batch negatives -- fit in memory.

    Inputs and parameters as for :class:`GISTEmbedLoss`, plus ``mini_batch_size``.

    Example
    -------
    >>> loss = CachedGISTEmbedLoss(model, guide, mini_batch_size=32)           # doctest: +SKIP
    """

    def __init__(
        self,
        model: SentenceEncoder,
        guide: SentenceEncoder,
        temperature: float = 0.01,
        margin_strategy: str = "absolute",
        margin: float = 0.0,
        similarity_fn_name: str | SimilarityFunction = "cosine",
        mini_batch_size: int = 32,
        *,
        similarity_fct: str | SimilarityFunction | None = None,
        similarity: str | SimilarityFunction | None = None,
    ) -> None:
        super().__init__(
            model,
            guide,
            temperature,
            margin_strategy,
            margin,
            similarity_fn_name,
            similarity_fct=similarity_fct,
            similarity=similarity,
        )
        self.mini_batch_size = check_mini_batch_size(mini_batch_size)

    def embed_column(self, features: dict[str, Tensor]) -> Tensor:
        """One column's embeddings by the trained model, ``mini_batch_size`` rows at a time."""
        return embed_in_mini_batches(super().embed_column, features, self.mini_batch_size)
