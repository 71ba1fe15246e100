"""Accuracy of a classification head (e.g. the one inside SoftmaxLoss) on top of the embeddings."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

from ..typing import Encoder
from .base import Evaluator, check_same_length


class LabelAccuracyEvaluator(Evaluator):
    """Share of examples whose highest-scoring class is their label.

    The texts are encoded, one embedding tensor per text column, and given
    to the classifier, which returns class scores ``(n, num_classes)``.
    Key: ``<name>_accuracy``.

    Parameters
    ----------
    texts
        One item per example: a string, or a sequence of strings (one per
        column, e.g. a sentence pair for NLI).  Every item has the same number.
    labels
        Class index per example.
    classifier
        Either an object with ``logits(*embeddings)`` such as
        :class:`~workbench.losses.SoftmaxLoss` (its trained head is used), or
        a callable ``classifier(*embeddings)``, e.g. an ``nn.Linear`` for
        single sentences.  Modules are run in eval mode without gradients.
    name, batch_size, callbacks
        See :class:`~workbench.evaluation.base.Evaluator`.

    Example
    -------
    >>> import numpy as np, torch
    >>> class Fixed:
    ...     def encode(self, sentences, **kwargs):
    ...         return np.array([[1.0, 0.0] if "good" in s else [0.0, 1.0] for s in sentences])
    >>> head = torch.nn.Linear(2, 2, bias=False)
    >>> _ = head.weight.data.copy_(torch.eye(2))
    >>> ev = LabelAccuracyEvaluator(["good film", "bad film", "good?"], [0, 1, 1], head, name="sst")
    >>> round(ev(Fixed())["sst_accuracy"], 4)
    0.6667
    """

    def __init__(
        self,
        texts: Sequence[str | Sequence[str]],
        labels: Sequence[int],
        classifier: Any,
        name: str = "label",
        batch_size: int = 32,
        callbacks: Iterable[Any] | None = None,
    ) -> None:
        if not check_same_length(texts=texts, labels=labels):
            raise ValueError("no examples to evaluate")
        super().__init__(name, "accuracy", batch_size, callbacks)
        rows = [[item] if isinstance(item, str) else list(item) for item in texts]
        widths = sorted({len(row) for row in rows})
        if len(widths) > 1:
            raise ValueError(f"every example needs the same number of texts; found {widths}")
        self.columns = [list(column) for column in zip(*rows)]
        bad = [label for label in labels if not isinstance(label, (int, np.integer)) or isinstance(label, bool)]
        if bad:
            raise TypeError(
                f"labels must be class indices (int), got e.g. {bad[0]!r}; map class names to indices first"
            )
        self.labels = np.asarray(labels, dtype=np.int64)
        self.logits: Callable[..., torch.Tensor] = getattr(classifier, "logits", classifier)
        if not callable(self.logits):
            raise TypeError(
                f"classifier must be callable or have a logits(*embeddings) method (like SoftmaxLoss), "
                f"got {type(classifier).__name__}"
            )
        self.classifier = classifier

    @classmethod
    def from_examples(cls, examples: Iterable[Any], classifier: Any, **kwargs: Any) -> "LabelAccuracyEvaluator":
        """Build from examples whose label is a class index.

        Example
        -------
        >>> from workbench.data.records import Example
        >>> LabelAccuracyEvaluator.from_examples([Example(["a", "b"], 2)], classifier=print).columns
        [['a'], ['b']]
        """
        examples = list(examples)
        return cls([e.texts for e in examples], [e.label for e in examples], classifier, **kwargs)

    def compute(self, model: Encoder) -> dict[str, float]:
        embeddings = self.encode_columns(model, *self.columns)
        # a plain callable gets a stand-in module, so eval mode and device need no special case
        module = self.classifier if isinstance(self.classifier, torch.nn.Module) else torch.nn.Module()
        device = next(module.parameters(), torch.empty(0)).device
        was_training = module.training
        module.eval()
        try:
            with torch.no_grad():
                scores = self.logits(*(torch.as_tensor(e, dtype=torch.float32, device=device) for e in embeddings))
        finally:
            module.train(was_training)
        predicted = torch.as_tensor(scores).argmax(dim=1).cpu().numpy()
        return {"accuracy": float((predicted == self.labels).mean())}
