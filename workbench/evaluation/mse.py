"""Distance of a student's embeddings from a teacher's (knowledge distillation, multilingual training)."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from ..typing import Encoder
from .base import Evaluator, check_same_length, example_columns


class MSEEvaluator(Evaluator):
    """Mean squared error between teacher embeddings of the sources and student embeddings of the targets.

    The metric is ``<name>_negative_mse``: the MSE over all embedding
    entries, times 100, **negated** so that greater is better like every
    other primary metric (0 is a perfect match; -0.5 is worse than -0.1).

    The teacher's embeddings are computed once, in the constructor.

    Parameters
    ----------
    source_sentences
        What the teacher encodes (e.g. English sentences).
    target_sentences
        What the student encodes, aligned with the sources (e.g. their
        translations); default: the source sentences themselves.
    teacher_model
        A model with ``encode``; or give ``teacher_embeddings`` instead.
    teacher_embeddings
        Precomputed ``(len(source_sentences), dim)`` teacher embeddings.
    name, batch_size, callbacks
        See :class:`~workbench.evaluation.base.Evaluator`.

    Example
    -------
    >>> import numpy as np
    >>> class Zeros:
    ...     def encode(self, sentences, **kwargs):
    ...         return np.zeros((len(sentences), 2))
    >>> ev = MSEEvaluator(["hello"], ["hallo"], teacher_embeddings=np.array([[0.1, 0.3]]), name="de")
    >>> round(ev(Zeros())["de_negative_mse"], 6)
    -5.0
    """

    def __init__(
        self,
        source_sentences: Sequence[str],
        target_sentences: Sequence[str] | None = None,
        teacher_model: Encoder | None = None,
        teacher_embeddings: Any = None,
        name: str = "mse",
        batch_size: int = 32,
        callbacks: Iterable[Any] | None = None,
    ) -> None:
        super().__init__(name, "negative_mse", batch_size, callbacks)
        self.target_sentences = list(source_sentences if target_sentences is None else target_sentences)
        check_same_length(source_sentences=source_sentences, target_sentences=self.target_sentences)
        if (teacher_model is None) == (teacher_embeddings is None):
            raise ValueError("give either teacher_model or teacher_embeddings, not both or neither")
        if teacher_model is not None:
            teacher_embeddings = self.encode(teacher_model, source_sentences)
        self.teacher_embeddings = np.asarray(teacher_embeddings, dtype=np.float32)
        if self.teacher_embeddings.ndim != 2 or len(self.teacher_embeddings) != len(source_sentences):
            raise ValueError(
                f"teacher_embeddings has shape {self.teacher_embeddings.shape}; expected "
                f"({len(source_sentences)}, dim), one row per source sentence"
            )

    @classmethod
    def from_examples(cls, examples: Iterable[Any], **kwargs: Any) -> "MSEEvaluator":
        """Build from (source, target) examples, e.g. parallel sentences; labels are ignored.

        Example
        -------
        >>> import numpy as np
        >>> from workbench.data.records import Example
        >>> MSEEvaluator.from_examples([Example(["hi", "hallo"])], teacher_embeddings=np.zeros((1, 2))).target_sentences
        ['hallo']
        """
        (sources, targets), _ = example_columns(examples, 2, cls.__name__)
        return cls(sources, targets, **kwargs)

    def compute(self, model: Encoder) -> dict[str, float]:
        student = self.encode(model, self.target_sentences)
        if student.shape != self.teacher_embeddings.shape:
            raise ValueError(
                f"student embeddings have shape {student.shape} but teacher embeddings {self.teacher_embeddings.shape}; "
                "the student must produce vectors of the teacher's width"
            )
        mse = float(((self.teacher_embeddings - student.astype(np.float32)) ** 2).mean())
        return {"negative_mse": -100.0 * mse}
