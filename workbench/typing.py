"""The structural types the library's functions take: what they call on a model, nothing more.

:class:`Encoder` is the contract of every function that embeds text with a
model it is given (evaluators, search, hard-negative mining, corpus and
parallel encoding, the widgets): a :class:`~workbench.SentenceEncoder`,
sentence-transformers' ``SentenceTransformer`` or any stand-in with such an
``encode`` satisfies it.

Example
-------
>>> import numpy as np
>>> class Lengths:
...     def encode(self, sentences, batch_size=32, **kwargs):
...         return np.array([[len(s), 1.0] for s in sentences])
>>> isinstance(Lengths(), Encoder)
True
>>> isinstance(["not", "a", "model"], Encoder)
False
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

__all__ = ["Encoder", "SizedEncoder"]


@runtime_checkable
class Encoder(Protocol):
    """Anything with ``encode(sentences, batch_size=..., **options)`` returning one embedding per sentence.

    The options callers pass are those of :meth:`workbench.SentenceEncoder.encode`
    (``convert_to_numpy``, ``convert_to_tensor``, ``show_progress_bar``,
    ``normalize_embeddings``, ``prompt``, ``callbacks``…); a stand-in may
    accept them as ``**kwargs`` and ignore the ones it has no use for.
    """

    def encode(self, sentences: str | Sequence[str], *, batch_size: int = ..., **kwargs: Any) -> Any:
        """An ``(n, dim)`` array or tensor for a list of sentences (``(dim,)`` for one string)."""
        ...


@runtime_checkable
class SizedEncoder(Encoder, Protocol):
    """An :class:`Encoder` that also tells its embedding width (``None`` when unknown), for writing files ahead."""

    def get_sentence_embedding_dimension(self) -> int | None:
        """The length of one embedding."""
        ...
