"""Bitext retrieval: is each sentence's nearest neighbour in the other language its translation?"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from ..search import semantic_search
from ..typing import Encoder
from .base import ColumnsEvaluator, check_choice

PRIMARY_CHOICES = ("mean_accuracy", "min_accuracy")


class TranslationEvaluator(ColumnsEvaluator):
    """Nearest-neighbour (cosine) accuracy from source to target sentences and back.

    Keys: ``<name>_src2trg_accuracy`` (share of source sentences whose
    nearest target is their translation), ``<name>_trg2src_accuracy``,
    ``<name>_mean_accuracy`` and ``<name>_min_accuracy``.

    Parameters
    ----------
    source_sentences, target_sentences
        Line-aligned translations.
    primary
        ``"mean_accuracy"`` (default) or ``"min_accuracy"`` (the weaker direction).
    name, batch_size, callbacks
        See :class:`~workbench.evaluation.base.Evaluator`.

    Example
    -------
    >>> from workbench.evaluation.base import LookupEncoder
    >>> model = LookupEncoder({"cat": [1.0, 0.0], "Katze": [0.9, 0.1], "dog": [0.0, 1.0], "Hund": [0.8, 0.2]})
    >>> m = TranslationEvaluator(["cat", "dog"], ["Katze", "Hund"], name="de")(model)
    >>> m["de_src2trg_accuracy"], m["de_trg2src_accuracy"], m["de_mean_accuracy"]
    (1.0, 0.5, 0.75)
    """

    columns = ("source_sentences", "target_sentences")
    rows_name = "sentence pairs"

    def __init__(
        self,
        source_sentences: Sequence[str],
        target_sentences: Sequence[str],
        primary: str = "mean_accuracy",
        name: str = "translation",
        batch_size: int = 32,
        callbacks: Iterable[Any] | None = None,
    ) -> None:
        check_choice(primary, PRIMARY_CHOICES, "primary")
        super().__init__((source_sentences, target_sentences), None, primary, name, batch_size, callbacks)

    def compute(self, model: Encoder) -> dict[str, float]:
        source, target = self.column_embeddings(model)
        expected = np.arange(len(source))
        src2trg = np.array([hits[0]["corpus_id"] for hits in semantic_search(source, target, top_k=1)])
        trg2src = np.array([hits[0]["corpus_id"] for hits in semantic_search(target, source, top_k=1)])
        accuracies = (float((src2trg == expected).mean()), float((trg2src == expected).mean()))
        return {
            "src2trg_accuracy": accuracies[0],
            "trg2src_accuracy": accuracies[1],
            "mean_accuracy": sum(accuracies) / 2,
            "min_accuracy": min(accuracies),
        }
