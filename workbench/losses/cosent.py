"""CoSENTLoss: rank the pairs of a batch by similarity in the order of their scores."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..similarity import SimilarityFunction
from .base import Loss, loss_similarity

if TYPE_CHECKING:
    from ..encoder import SentenceEncoder


class CoSENTLoss(Loss):
    """``log(1 + sum exp(scale * (s_j - s_i)))`` over the pairs ``i, j`` of the batch with ``label_i > label_j``.

    ``s`` is the similarity of each pair's two texts.  Only the order of the
    labels matters, so scores need no rescaling, and the gradient does not
    vanish near a target the way a regression on the cosine does (Su, 2022).

    Inputs: 2 text columns (sentence1, sentence2) and a float score per pair
    (any range; higher means more similar).

    Parameters
    ----------
    model:
        The encoder being trained.
    scale:
        Multiplies the similarity differences (inverse temperature).
    similarity_fn_name:
        ``cosine`` (default), ``dot``, ``euclidean``, ``manhattan`` or a
        function returning one similarity per row pair (``similarity_fct``:
        sentence-transformers' name of it; ``similarity``: deprecated).

    Example
    -------
    >>> loss = CoSENTLoss(model)                                               # doctest: +SKIP
    >>> features = [model.tokenize(["A man eats.", "A dog runs."]),
    ...             model.tokenize(["Someone eats.", "A car drives."])]        # doctest: +SKIP
    >>> loss(features, torch.tensor([4.8, 0.5])).backward()                    # doctest: +SKIP
    """

    columns = 2
    label_kind = "float"
    expects = "2 text columns (sentence1, sentence2) and a float score per pair (higher: more similar)"

    def __init__(
        self,
        model: SentenceEncoder,
        scale: float = 20.0,
        similarity_fn_name: str | SimilarityFunction = "cosine",
        *,
        similarity_fct: str | SimilarityFunction | None = None,
        similarity: str | SimilarityFunction | None = None,
    ) -> None:
        super().__init__(model)
        self.scale = scale
        self.similarity_fct = loss_similarity(
            self, similarity_fn_name, "cosine", similarity_fct=similarity_fct, similarity=similarity, pairwise=True
        )

    def compute(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        scores = self.similarity_fct(*embeddings) * self.scale
        # [i, j] = s_j - s_i, a penalty only where pair i should rank above pair j
        differences = scores[None, :] - scores[:, None]
        differences = differences.masked_fill(labels[:, None] <= labels[None, :], float("-inf"))
        # The leading zero is the "1 +" inside the log.
        return torch.logsumexp(torch.cat([differences.new_zeros(1), differences.flatten()]), dim=0)
