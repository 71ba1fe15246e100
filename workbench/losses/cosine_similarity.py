"""CosineSimilarityLoss: regress the cosine of each pair onto a score."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from torch import Tensor, nn

from ..similarity import pairwise_cos_sim
from .base import Loss

if TYPE_CHECKING:
    from ..encoder import SentenceEncoder


class CosineSimilarityLoss(Loss):
    """``loss_fct(cos(u, v), label)``, mean squared error by default.

    Inputs: 2 text columns (sentence1, sentence2) and a float score in
    ``[-1, 1]`` per pair -- a cosine cannot reach a score outside it, so
    scale other ranges first (STS-B's 0..5 scores divided by 5).

    Parameters
    ----------
    model:
        The encoder being trained.
    loss_fct:
        Compares the cosines with the labels; default ``nn.MSELoss()``
        (``nn.L1Loss()`` is a common alternative).

    Example
    -------
    >>> loss = CosineSimilarityLoss(model)                                    # doctest: +SKIP
    >>> features = [model.tokenize(["A man eats.", "A dog runs."]),
    ...             model.tokenize(["Someone eats.", "A car drives."])]       # doctest: +SKIP
    >>> loss(features, torch.tensor([0.9, 0.1])).backward()                   # doctest: +SKIP
    """

    columns = 2
    label_kind = "float"
    expects = "2 text columns (sentence1, sentence2) and a float score in [-1, 1] per pair"

    def __init__(self, model: SentenceEncoder, loss_fct: Callable[[Tensor, Tensor], Tensor] | None = None) -> None:
        super().__init__(model)
        self.loss_fct = loss_fct if loss_fct is not None else nn.MSELoss()

    def check_batch(self, n_columns: int, labels: Tensor | None) -> None:
        super().check_batch(n_columns, labels)
        if labels.numel() and (labels.min() < -1 or labels.max() > 1):
            self.fail(f"labels range from {float(labels.min()):g} to {float(labels.max()):g}")

    def compute(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        return self.loss_fct(pairwise_cos_sim(*embeddings), labels)
