"""Similarity functions between embeddings.

Every function accepts numpy arrays (memmaps included), torch tensors or
(nested) lists; a 1-D input is one row.  The matrix functions return a torch
tensor of shape ``(len(a), len(b))``, the ``pairwise_*`` functions compare row
``i`` of ``a`` with row ``i`` of ``b`` and return a vector.  Larger is always
more similar, so the distances are negated.

Example
-------
>>> from workbench.similarity import get_similarity
>>> get_similarity("cosine")([[1.0, 0.0]], [[3.0, 0.0], [0.0, 1.0]])
tensor([[1., 0.]])
"""

from __future__ import annotations

from typing import Any, Callable, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

from .validation import renamed_argument

#: What the similarity functions accept as embeddings.
ArrayLike = Union[torch.Tensor, np.ndarray, Sequence[Any]]
#: A similarity function: two batches of embeddings in, a score matrix or vector out.
SimilarityFunction = Callable[[ArrayLike, ArrayLike], torch.Tensor]

__all__ = [
    "ArrayLike",
    "SimilarityFunction",
    "to_tensor",
    "as_matrix",
    "check_dimensions",
    "cos_sim",
    "dot_score",
    "euclidean_sim",
    "manhattan_sim",
    "pairwise_cos_sim",
    "pairwise_dot_score",
    "pairwise_euclidean_sim",
    "pairwise_manhattan_sim",
    "SIMILARITY_FUNCTIONS",
    "PAIRWISE_SIMILARITY_FUNCTIONS",
    "get_similarity",
    "similarity_matrix",
]


def to_tensor(x: ArrayLike) -> torch.Tensor:
    """Convert ``x`` to a floating-point torch tensor without changing its shape.

    Tensors keep their device, dtype and autograd graph; integer data becomes
    float32 and lists of plain numbers take torch's default dtype.  Read-only
    numpy arrays (e.g. ``np.memmap(mode="r")``) are copied because torch
    cannot share memory it may not write.

    Example
    -------
    >>> import numpy as np
    >>> to_tensor(np.arange(3)).dtype
    torch.float32
    """
    if isinstance(x, torch.Tensor):
        t = x
    elif isinstance(x, np.ndarray):
        t = torch.from_numpy(x if x.flags.writeable else np.array(x))
    elif isinstance(x, (list, tuple)) and x and all(isinstance(v, torch.Tensor) for v in x):
        t = torch.stack(list(x))
    elif isinstance(x, (list, tuple)) and x and all(isinstance(v, np.ndarray) for v in x):
        t = torch.from_numpy(np.stack(x))
    else:
        # plain numbers: torch's default dtype, as torch.tensor([...]) would give
        t = torch.as_tensor(x, dtype=torch.get_default_dtype())
    return t if t.is_floating_point() else t.float()


def as_matrix(x: ArrayLike) -> torch.Tensor:
    """Like :func:`to_tensor`, but always 2-D: a 1-D input becomes one row.

    Example
    -------
    >>> as_matrix([1.0, 2.0]).shape
    torch.Size([1, 2])
    """
    t = to_tensor(x)
    if t.dim() == 1:
        # an empty 1-D input is no rows, not one row of width zero
        return t.reshape(0, 0) if t.numel() == 0 else t.unsqueeze(0)
    if t.dim() != 2:
        raise ValueError(f"embeddings must be 1-D or 2-D, got shape {tuple(t.shape)}")
    return t


def check_dimensions(a_shape: Sequence[int], b_shape: Sequence[int], names: tuple[str, str] = ("a", "b")) -> None:
    """Raise a ``ValueError`` naming both shapes when the embedding sizes differ.

    Example
    -------
    >>> check_dimensions((2, 3), (5, 3))
    """
    if a_shape[-1] != b_shape[-1]:
        raise ValueError(
            f"{names[0]} has shape {tuple(a_shape)} but {names[1]} has shape {tuple(b_shape)}: "
            f"embedding dimensions {a_shape[-1]} and {b_shape[-1]} must match"
        )


def _pair(a: ArrayLike, b: ArrayLike, pairwise: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Both inputs as 2-D tensors of one dtype on ``a``'s device, shapes checked."""
    ta, tb = as_matrix(a), as_matrix(b)
    check_dimensions(ta.shape, tb.shape)
    if pairwise and ta.shape[0] != tb.shape[0]:
        raise ValueError(
            f"pairwise similarity needs as many rows in a as in b, got shapes {tuple(ta.shape)} and {tuple(tb.shape)}"
        )
    dtype = torch.promote_types(ta.dtype, tb.dtype)
    return ta.to(dtype), tb.to(device=ta.device, dtype=dtype)


def cos_sim(a: ArrayLike, b: ArrayLike) -> torch.Tensor:
    """Cosine similarity of every row of ``a`` with every row of ``b``.

    Returns
    -------
    torch.Tensor
        Shape ``(len(a), len(b))``; zero vectors score 0.

    Example
    -------
    >>> cos_sim([[1.0, 0.0], [1.0, 1.0]], [[2.0, 0.0]])
    tensor([[1.0000],
            [0.7071]])
    """
    ta, tb = _pair(a, b)
    return F.normalize(ta, dim=1) @ F.normalize(tb, dim=1).T


def dot_score(a: ArrayLike, b: ArrayLike) -> torch.Tensor:
    """Dot product of every row of ``a`` with every row of ``b``.

    Example
    -------
    >>> dot_score([[1.0, 2.0]], [[3.0, 4.0], [0.0, 1.0]])
    tensor([[11.,  2.]])
    """
    ta, tb = _pair(a, b)
    return ta @ tb.T


def euclidean_sim(a: ArrayLike, b: ArrayLike) -> torch.Tensor:
    """Negative Euclidean (L2) distance between every row of ``a`` and of ``b``.

    Example
    -------
    >>> euclidean_sim([[0.0, 0.0]], [[3.0, 4.0]])
    tensor([[-5.]])
    """
    ta, tb = _pair(a, b)
    # the matmul shortcut of cdist loses precision for near-identical rows
    return -torch.cdist(ta, tb, p=2.0, compute_mode="donot_use_mm_for_euclid_dist")


def manhattan_sim(a: ArrayLike, b: ArrayLike) -> torch.Tensor:
    """Negative Manhattan (L1) distance between every row of ``a`` and of ``b``.

    Example
    -------
    >>> manhattan_sim([[0.0, 0.0]], [[3.0, -4.0]])
    tensor([[-7.]])
    """
    ta, tb = _pair(a, b)
    return -torch.cdist(ta, tb, p=1.0)


def pairwise_cos_sim(a: ArrayLike, b: ArrayLike) -> torch.Tensor:
    """Cosine similarity of row ``i`` of ``a`` with row ``i`` of ``b``.

    Example
    -------
    >>> pairwise_cos_sim([[1.0, 0.0], [0.0, 1.0]], [[5.0, 0.0], [1.0, 0.0]])
    tensor([1., 0.])
    """
    ta, tb = _pair(a, b, pairwise=True)
    return (F.normalize(ta, dim=1) * F.normalize(tb, dim=1)).sum(dim=1)


def pairwise_dot_score(a: ArrayLike, b: ArrayLike) -> torch.Tensor:
    """Dot product of row ``i`` of ``a`` with row ``i`` of ``b``.

    Example
    -------
    >>> pairwise_dot_score([[1.0, 2.0]], [[3.0, 4.0]])
    tensor([11.])
    """
    ta, tb = _pair(a, b, pairwise=True)
    return (ta * tb).sum(dim=1)


def pairwise_euclidean_sim(a: ArrayLike, b: ArrayLike) -> torch.Tensor:
    """Negative Euclidean distance between row ``i`` of ``a`` and row ``i`` of ``b``.

    Example
    -------
    >>> pairwise_euclidean_sim([[0.0, 0.0]], [[3.0, 4.0]])
    tensor([-5.])
    """
    ta, tb = _pair(a, b, pairwise=True)
    return -torch.linalg.vector_norm(ta - tb, ord=2, dim=1)


def pairwise_manhattan_sim(a: ArrayLike, b: ArrayLike) -> torch.Tensor:
    """Negative Manhattan distance between row ``i`` of ``a`` and row ``i`` of ``b``.

    Example
    -------
    >>> pairwise_manhattan_sim([[0.0, 0.0]], [[3.0, -4.0]])
    tensor([-7.])
    """
    ta, tb = _pair(a, b, pairwise=True)
    return -torch.linalg.vector_norm(ta - tb, ord=1, dim=1)


#: name -> matrix similarity function.
SIMILARITY_FUNCTIONS: dict[str, SimilarityFunction] = {
    "cosine": cos_sim,
    "dot": dot_score,
    "euclidean": euclidean_sim,
    "manhattan": manhattan_sim,
}

#: name -> pairwise (row-by-row) similarity function.
PAIRWISE_SIMILARITY_FUNCTIONS: dict[str, SimilarityFunction] = {
    "cosine": pairwise_cos_sim,
    "dot": pairwise_dot_score,
    "euclidean": pairwise_euclidean_sim,
    "manhattan": pairwise_manhattan_sim,
}


def get_similarity(name: str | SimilarityFunction, pairwise: bool = False) -> SimilarityFunction:
    """The similarity function called ``name``; a callable is returned as it is.

    Parameters
    ----------
    name
        One of ``"cosine"``, ``"dot"``, ``"euclidean"``, ``"manhattan"``, or a
        function of two embedding batches.
    pairwise
        Return the row-by-row variant instead of the matrix one.

    Example
    -------
    >>> get_similarity("dot", pairwise=True).__name__
    'pairwise_dot_score'
    """
    if callable(name):
        return name
    table = PAIRWISE_SIMILARITY_FUNCTIONS if pairwise else SIMILARITY_FUNCTIONS
    try:
        return table[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown similarity function {name!r}; valid names are: {', '.join(table)}") from None


def similarity_matrix(
    embeddings: ArrayLike,
    similarity_fn_name: str | SimilarityFunction = "cosine",
    *,
    metric: str | SimilarityFunction | None = None,
) -> torch.Tensor:
    """Similarity of every embedding with every other one, shape ``(n, n)`` (``metric``: deprecated name).

    Example
    -------
    >>> similarity_matrix([[1.0, 0.0], [0.0, 1.0]], "dot")
    tensor([[1., 0.],
            [0., 1.]])
    """
    similarity_fn_name = renamed_argument(
        "similarity_matrix", "similarity_fn_name", similarity_fn_name, "metric", metric, "cosine"
    )
    return get_similarity(similarity_fn_name)(embeddings, embeddings)
