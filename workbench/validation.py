"""Argument checks shared by encoding, search and the indexes.

Every error names the argument and says what is accepted; every check on
embeddings names the rows, so a bad input is found where it enters.

Example
-------
>>> positive_int("top_k", 3)
3
>>> positive_int("top_k", 2.5)
Traceback (most recent call last):
...
ValueError: top_k must be a positive integer, got 2.5 (float)
>>> non_finite_rows([[1.0, 0.0], [float("nan"), 1.0]])
[1]
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable, Mapping, TypeVar

import numpy as np
import torch

__all__ = [
    "positive_int",
    "non_finite_rows",
    "describe_rows",
    "RENAMED",
    "renamed_keywords",
    "accepts_renamed",
    "renamed_argument",
]

F = TypeVar("F", bound=Callable[..., Any])

#: Deprecated parameter names and the names that replaced them (sentence-transformers' names; see the
#: glossary in DEVELOPERS.md).  The old names still work, with a FutureWarning.
RENAMED = {"output_dir": "output_path", "eval_steps": "evaluation_steps", "show_progress": "show_progress_bar"}


def _warn_renamed(where: str, old: str, new: str, stacklevel: int) -> None:
    # The one deprecation message of both helpers; stacklevel counts from the helper that called this.
    warnings.warn(f"{where}({old}=...) is deprecated: use {new}=...", FutureWarning, stacklevel=stacklevel)


def renamed_keywords(
    where: str, options: Mapping[str, Any], renames: Mapping[str, str] = RENAMED, stacklevel: int = 3
) -> dict[str, Any]:
    """``options`` with deprecated keyword names replaced by their new names, warning once for each.

    ``stacklevel`` points the warning at the caller's line (3: the caller of the function calling this).

    Example
    -------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     renamed_keywords("fit", {"eval_steps": 10, "lr": 1e-3})
    {'lr': 0.001, 'evaluation_steps': 10}
    >>> print(caught[0].message)
    fit(eval_steps=...) is deprecated: use evaluation_steps=...
    """
    result = dict(options)
    for old, new in renames.items():
        if old in result:
            if new in result:
                raise TypeError(
                    f"{where}() got both {old}= and {new}=; {old} is the deprecated name of {new}: give only {new}"
                )
            _warn_renamed(where, old, new, stacklevel + 1)
            result[new] = result.pop(old)
    return result


def accepts_renamed(**renames: str) -> Callable[[F], F]:
    """Let a function take the deprecated keyword names ``old=new`` too, warning that ``new`` replaces them."""

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if renames.keys() & kwargs.keys():
                kwargs = renamed_keywords(function.__name__, kwargs, renames)
            return function(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def renamed_argument(
    where: str, new: str, value: Any, old: str, old_value: Any, default: Any, stacklevel: int = 3
) -> Any:
    """``value`` of the argument ``new``, or ``old_value`` when only its deprecated name ``old`` was given.

    The old name warns (a ``FutureWarning`` naming the new one); both at once
    is a ``TypeError``.  ``old_value`` is ``None`` when the old name was not
    used; ``default`` is the new argument's default (to tell whether it was given);
    ``stacklevel`` points the warning at the user's call (3: the caller of the function calling this).

    Example
    -------
    >>> renamed_argument("f", "similarity_fn_name", "cosine", "metric", None, "cosine")
    'cosine'
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     renamed_argument("f", "similarity_fn_name", "cosine", "metric", "dot", "cosine")
    'dot'
    >>> str(caught[0].message)
    'f(metric=...) is deprecated: use similarity_fn_name=...'
    """
    if old_value is None:
        return value
    if value != default:
        raise TypeError(f"{where}() got both {new} and its deprecated name {old}; give {new} only")
    _warn_renamed(where, old, new, stacklevel + 1)
    return old_value


def positive_int(name: str, value: Any) -> int:
    """``value`` as an ``int`` when it is a whole number of at least 1, else a ``ValueError`` naming ``name``.

    ``True`` is refused although Python counts it as 1: ``batch_size=True``
    is a slip, not a size.  Numpy integers are accepted.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a positive integer, got {value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def non_finite_rows(matrix: Any) -> list[int]:
    """Indices of the rows of a 2-D array or tensor that hold a NaN or an infinity.

    A 1-D input counts as one row.
    """
    if isinstance(matrix, torch.Tensor):
        rows = matrix.detach() if matrix.dim() > 1 else matrix.detach().unsqueeze(0)
        return torch.nonzero(~torch.isfinite(rows).flatten(1).all(dim=1)).flatten().tolist()
    array = np.asarray(matrix)
    if array.dtype.kind not in "fc":  # integers are always finite
        return []
    rows = array if array.ndim > 1 else array[None]
    return np.flatnonzero(~np.isfinite(rows).all(axis=tuple(range(1, rows.ndim)))).tolist()


def describe_rows(rows: list[int], limit: int = 10) -> str:
    """``"rows 3, 7"`` or ``"12 rows (first 10: 0, 1, ...)"`` for messages about particular rows."""
    shown = ", ".join(map(str, rows[:limit]))
    if len(rows) == 1:
        return f"row {shown}"
    return f"rows {shown}" if len(rows) <= limit else f"{len(rows)} rows (first {limit}: {shown})"
