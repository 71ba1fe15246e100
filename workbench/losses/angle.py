"""AnglELoss: CoSENT on an angle difference in complex space, which does not saturate like the cosine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor

from .cosent import CoSENTLoss

if TYPE_CHECKING:
    from ..encoder import SentenceEncoder


def pairwise_angle_sim(a: Tensor, b: Tensor) -> Tensor:
    """AnglE's similarity of row ``i`` of ``a`` with row ``i`` of ``b``.

    Each embedding is read as a vector of ``dim / 2`` complex numbers (first
    half real parts, second half imaginary parts).  Coordinate by coordinate,
    ``z_a * conj(z_b)`` has the angle difference of the two as its argument;
    the similarity is ``|sum(real + imaginary parts)| / (|z_a| |z_b|)``, the
    length-normalised quotient ``z_a / z_b`` of AnglE (Li & Li, 2023).

    Example
    -------
    >>> import torch
    >>> pairwise_angle_sim(torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 0.0]]))
    tensor([1.])
    """
    if a.shape[-1] % 2:
        raise ValueError(
            f"the angle similarity needs an even embedding width (real and imaginary halves), got {a.shape[-1]}"
        )
    re_a, im_a = a.chunk(2, dim=-1)
    re_b, im_b = b.chunk(2, dim=-1)
    re = re_a * re_b + im_a * im_b  # z_a * conj(z_b)
    im = im_a * re_b - re_a * im_b
    # A complex vector's length is that of its real and imaginary parts side by side.
    lengths = (a.norm(dim=-1) * b.norm(dim=-1)).clamp(min=1e-12)
    return ((re + im).sum(dim=-1) / lengths).abs()


class AnglELoss(CoSENTLoss):
    """:class:`CoSENTLoss` with :func:`pairwise_angle_sim` as the similarity.

    The cosine's gradient vanishes near +-1, where many pairs sit; an angle
    difference in complex space keeps a usable gradient there.

    Inputs: as for :class:`CoSENTLoss`; the embedding width must be even.

    Parameters
    ----------
    model, scale:
        As for :class:`CoSENTLoss`.

    Example
    -------
    >>> loss = AnglELoss(model)                                                # doctest: +SKIP
    >>> sts = [model.tokenize(["A man plays guitar.", "A cat sits."]),
    ...        model.tokenize(["A man plays music.", "A car drives."])]        # doctest: +SKIP
    >>> loss(sts, torch.tensor([0.8, 0.1])).backward()                         # doctest: +SKIP
    """

    def __init__(self, model: SentenceEncoder, scale: float = 20.0) -> None:
        super().__init__(model, scale=scale, similarity_fn_name=pairwise_angle_sim)
