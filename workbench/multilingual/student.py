"""Students for distillation: any encoder plus a Dense projection to the teacher's width."""

from __future__ import annotations

import copy
import os

import torch
from torch import nn

from ..encoder import SentenceEncoder
from ..modules import Dense, Normalize, StaticEmbedding


def build_student(
    base: str | os.PathLike | SentenceEncoder,
    dimension: int,
    activation: str = "identity",
    static_width: int | None = None,
    device: str | None = None,
) -> SentenceEncoder:
    """A student encoder: ``base`` plus, when its width differs, a Dense projection to ``dimension``.

    Works for any base: a static model (``"static-multilingual"``, 64-d), a
    Transformer with pooling, a saved folder.  A given encoder is copied, so
    the original stays as it was (e.g. to compare before and after training).

    A base that starts with StaticEmbedding and Normalize is prepared for
    training without changing its sentence similarities: its token vectors are
    rescaled to a mean norm of 1 (so one learning rate suits both the table
    and the projection), and ``static_width`` widens them by a random map with
    orthonormal columns.  A static model's capacity is its table: 64 numbers
    per token are too few to follow a 384-d teacher (256 are about enough).

    Parameters
    ----------
    base
        A :class:`~workbench.SentenceEncoder`, or what ``SentenceEncoder(...)`` loads.
    dimension
        The teacher's embedding width.
    activation
        Of the projection; ``identity`` (default) keeps it linear, fit for regressing onto the teacher.
    static_width
        Widen a static base's token vectors to this many dimensions (``None``: keep them).
        Uses torch's global random generator (seed it with ``torch.manual_seed``).
    device
        Where the student lives; default: the base's device (or the library default).

    Example
    -------
    >>> from workbench import SentenceEncoder
    >>> student = build_student("static-multilingual", 384, static_width=256)       # doctest: +SKIP
    >>> [type(m).__name__ for m in student], student.get_sentence_embedding_dimension()  # doctest: +SKIP
    (['StaticEmbedding', 'Normalize', 'Dense'], 384)
    >>> student[2].in_features                                                      # doctest: +SKIP
    256
    """
    if not isinstance(dimension, int) or dimension < 1:
        raise ValueError(f"dimension must be a positive integer (the teacher's width), got {dimension!r}")
    encoder = copy.deepcopy(base) if isinstance(base, SentenceEncoder) else SentenceEncoder(base, device=device)
    static = len(encoder) > 1 and isinstance(encoder[0], StaticEmbedding) and isinstance(encoder[1], Normalize)
    if static_width is not None:
        if not static:
            raise ValueError(
                f"static_width applies to a base that starts with StaticEmbedding and Normalize; "
                f"this one starts with {[type(m).__name__ for m in encoder][:2]}"
            )
        _widen(encoder[0], static_width)
    if static:
        # The sentence vector is normalised, so one scale for all token vectors changes no output. Adam moves
        # every weight by about the learning rate per step: at model2vec's row norms (~90) the table would
        # hardly move at a rate that suits the projection.
        with torch.no_grad():
            table = encoder[0].embedding.weight
            table /= table.norm(dim=1).mean()
    width = encoder.get_sentence_embedding_dimension()
    if width is None:
        raise ValueError(
            f"cannot tell the width of {type(encoder[-1]).__name__}'s output; "
            "give a base whose modules report get_sentence_embedding_dimension()"
        )
    if width != dimension:
        encoder.append(Dense(width, dimension, activation=activation))
    return encoder.to(device or encoder.device)


def _widen(static: StaticEmbedding, width: int) -> None:
    """Give the token vectors ``width`` dimensions; every dot product between them stays the same."""
    table = static.embedding.weight.detach()
    if not isinstance(width, int) or width < table.shape[1]:
        raise ValueError(
            f"static_width must be an integer of at least the current width {table.shape[1]}, got {width!r}"
        )
    # Q has orthonormal columns (Q^T Q = I), so (x Q^T) . (y Q^T) = x . y.
    q, _ = torch.linalg.qr(torch.randn(width, table.shape[1], device=table.device))
    static.embedding = nn.EmbeddingBag.from_pretrained(table @ q.T, freeze=False, mode="mean")
