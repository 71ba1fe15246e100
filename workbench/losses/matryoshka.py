"""MatryoshkaLoss: train embeddings that still work when cut to their first dimensions."""

from __future__ import annotations

from typing import Sequence

from torch import Tensor

from .base import Loss


class MatryoshkaLoss(Loss):
    """The weighted sum of another loss on the embeddings truncated to each of ``matryoshka_dims``.

    The model runs once per batch: the full embeddings are computed by the
    inner loss's :meth:`~Loss.embed` and cut to each width before its
    :meth:`~Loss.compute`.  The trained model can then be used with
    ``truncate_dim`` at little loss of quality.  Works with every loss whose
    ``compute`` accepts narrower embeddings (not :class:`SoftmaxLoss`, whose
    classifier has a fixed input width), including
    :class:`CachedMultipleNegativesRankingLoss`.

    Inputs: those of the inner loss.

    Parameters
    ----------
    loss:
        The loss to evaluate at every width.
    matryoshka_dims:
        The widths, e.g. ``(768, 512, 256, 128, 64)``; include the full width
        to keep training the untruncated embeddings.
    matryoshka_weights:
        One weight per width; default 1 each.

    Example
    -------
    >>> inner = MultipleNegativesRankingLoss(model)                            # doctest: +SKIP
    >>> loss = MatryoshkaLoss(inner, matryoshka_dims=(384, 128, 32))           # doctest: +SKIP
    >>> features = [model.tokenize(["A man eats."]), model.tokenize(["Someone eats."])]  # doctest: +SKIP
    >>> loss(features, None).backward()                                        # doctest: +SKIP
    """

    def __init__(
        self, loss: Loss, matryoshka_dims: Sequence[int], matryoshka_weights: Sequence[float] | None = None
    ) -> None:
        if not isinstance(loss, Loss):
            raise TypeError(f"MatryoshkaLoss wraps a workbench loss, got {type(loss).__name__}")
        if not loss.truncatable:
            raise ValueError(
                f"{type(loss).__name__} cannot be computed on truncated embeddings "
                "(it has weights of a fixed input width); wrap another loss"
            )
        dims = tuple(matryoshka_dims)
        if not dims or not all(isinstance(d, int) and d > 0 for d in dims) or len(set(dims)) != len(dims):
            raise ValueError(f"matryoshka_dims must be distinct positive integers, got {matryoshka_dims!r}")
        weights = tuple(matryoshka_weights) if matryoshka_weights is not None else (1.0,) * len(dims)
        if len(weights) != len(dims):
            raise ValueError(f"got {len(weights)} matryoshka_weights for {len(dims)} matryoshka_dims")
        super().__init__(loss.model)
        self.loss = loss
        self.matryoshka_dims = dims
        self.matryoshka_weights = weights
        self.columns, self.label_kind = loss.columns, loss.label_kind
        self.label_ndim, self.expects = loss.label_ndim, loss.expects

    def check_batch(self, n_columns: int, labels: Tensor | None) -> None:
        self.loss.check_batch(n_columns, labels)

    def embed(self, features: list[dict[str, Tensor]]) -> list[Tensor]:
        return self.loss.embed(features)

    def check_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> None:
        self.loss.check_embeddings(embeddings, labels)
        # Checked here, not at construction: the model's reported width may include its truncate_dim.
        width = embeddings[0].shape[1]
        too_wide = [d for d in self.matryoshka_dims if d > width]
        if too_wide:
            raise ValueError(f"matryoshka_dims {too_wide} exceed the model's embedding width {width}")

    def compute(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        return sum(
            weight * self.loss.compute([e[:, :dim] for e in embeddings], labels)
            for dim, weight in zip(self.matryoshka_dims, self.matryoshka_weights)
        )
