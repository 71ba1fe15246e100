"""Turn a batch of examples into what a loss takes: tokenized text columns and a label tensor.

A loss is called as ``loss(features, labels)`` where ``features`` holds one
tokenized batch per text column (column ``i`` is the ``i``-th text of every
example) and ``labels`` is a tensor of the loss's ``label_kind``.
:class:`Collator` builds both; the trainer gives one to each objective's
``DataLoader``, so tokenisation runs in the loader's worker processes when
``num_workers > 0``.
"""

from __future__ import annotations

import numbers
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor

#: What ``Loss.label_kind`` may be: float scores, integer class ids or no labels.
LABEL_KINDS = ("float", "int", None)

Features = list[dict[str, Tensor]]


def label_tensor(labels: Sequence[Any], label_kind: str | None, what: str = "the loss") -> Tensor | None:
    """The labels of a batch as a tensor of ``label_kind``; ``None`` for losses without labels.

    Parameters
    ----------
    labels:
        One label per example: a number, or a vector (list / array) of numbers
        for losses that regress onto vectors.
    label_kind:
        ``"float"`` (float32 tensor), ``"int"`` (int64 class ids) or ``None``
        (labels are ignored, the result is ``None``).
    what:
        Who needs the labels, for error messages.

    Example
    -------
    >>> label_tensor([0.5, 1], "float")
    tensor([0.5000, 1.0000])
    >>> label_tensor([2, 0], "int")
    tensor([2, 0])
    >>> label_tensor(["entailment"], "int", "SoftmaxLoss")
    Traceback (most recent call last):
    ...
    ValueError: example 0 has label 'entailment' (str) but SoftmaxLoss needs integer class ids; map class names to 0, 1, ... first
    """
    if label_kind not in LABEL_KINDS:
        raise ValueError(f"unknown label_kind {label_kind!r}; valid: 'float', 'int' or None")
    if label_kind is None:
        return None
    for i, label in enumerate(labels):
        problem = _label_problem(label, label_kind)
        if problem:
            raise ValueError(f"example {i} has label {label!r:.60} ({type(label).__name__}) but {what} {problem}")
    if label_kind == "int":
        return torch.tensor([int(label) for label in labels], dtype=torch.long)
    return torch.as_tensor(np.asarray(labels, dtype=np.float32))


def _label_problem(label: Any, label_kind: str) -> str | None:
    """Why ``label`` cannot be a label of ``label_kind``, or None when it can."""
    if label is None:
        return f"needs {'integer class ids' if label_kind == 'int' else 'float labels'}; give every example a label"
    if label_kind == "int":
        if isinstance(label, str):
            return "needs integer class ids; map class names to 0, 1, ... first"
        integral = isinstance(label, numbers.Integral) or (
            isinstance(label, numbers.Real) and float(label).is_integer()
        )
        return None if integral and not isinstance(label, bool) else "needs integer class ids"
    if isinstance(label, str):
        return "needs float labels (scores), not text"
    return None


class Collator:
    """Collate function of one training objective: tokenise per column, build the labels.

    Parameters
    ----------
    tokenize:
        ``model.tokenize``: a list of texts to a dict of tensors.
    label_kind:
        The loss's ``label_kind`` (``"float"``, ``"int"`` or ``None``).
    what:
        Name of the objective or loss, used in error messages.
    featurize:
        Turns all text columns of a batch into the loss's inputs at once, in
        place of tokenising each column alone (a cross-encoder loss tokenises
        each text together with its query); default: ``tokenize`` per column.

    Example
    -------
    >>> from workbench.data.records import Example
    >>> collate = Collator(lambda texts: {"n": torch.tensor([len(t) for t in texts])}, "float")
    >>> features, labels = collate([Example(["ab", "c"], 1.0), Example(["d", "ef"], 0.0)])
    >>> [f["n"].tolist() for f in features], labels.tolist()
    ([[2, 1], [1, 2]], [1.0, 0.0])
    """

    def __init__(
        self,
        tokenize: Callable[[list[str]], dict[str, Tensor]],
        label_kind: str | None,
        what: str = "the loss",
        featurize: Callable[[list[list[str]]], Features] | None = None,
    ) -> None:
        if label_kind not in LABEL_KINDS:
            raise ValueError(f"unknown label_kind {label_kind!r}; valid: 'float', 'int' or None")
        self.tokenize = tokenize
        self.featurize = featurize
        self.label_kind = label_kind
        self.what = what

    def columns(self, examples: Sequence[Any]) -> list[list[str]]:
        """The texts of ``examples`` split into columns; every example needs the same number of texts."""
        if not examples:
            raise ValueError(f"{self.what}: got an empty batch")
        width = None
        for i, example in enumerate(examples):
            texts = getattr(example, "texts", None)
            if texts is None:
                raise TypeError(
                    f"{self.what}: item {i} of the batch is a {type(example).__name__}, not an Example; "
                    "training data must be Example(texts=[...], label=...) records"
                )
            if width is None:
                width = len(texts)
            elif len(texts) != width:
                raise ValueError(
                    f"{self.what}: example {i} of the batch has {len(texts)} texts but example 0 has {width}; "
                    "all examples of one objective need the same number of texts"
                )
        return [[example.texts[c] for example in examples] for c in range(width)]

    def labels(self, examples: Sequence[Any]) -> Tensor | None:
        """The label tensor of ``examples`` (``None`` when the loss takes no labels)."""
        return label_tensor([example.label for example in examples], self.label_kind, self.what)

    def __call__(self, examples: Sequence[Any]) -> tuple[Features, Tensor | None]:
        columns = self.columns(examples)
        if self.featurize is not None:
            return self.featurize(columns), self.labels(examples)
        return [self.tokenize(column) for column in columns], self.labels(examples)
