"""How well paraphrase mining over a sentence collection recovers the known duplicate pairs."""

from __future__ import annotations

from itertools import combinations
from typing import Any, Hashable, Iterable, Mapping, Sequence

import numpy as np

from ..search import connected_groups, paraphrase_mining_embeddings
from ..typing import Encoder
from .base import Evaluator, example_columns
from .binary_classification import counts_at_thresholds, midpoint_thresholds


def _closure(pairs: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """Every pair inside each group of items connected by ``pairs`` (duplicates of duplicates)."""
    return {(a, b) for members in connected_groups(pairs) for a, b in combinations(members, 2)}


class ParaphraseMiningEvaluator(Evaluator):
    """Mine the most similar pairs of a sentence collection and score them against gold duplicates.

    The mined pairs (:func:`workbench.search.paraphrase_mining_embeddings`,
    cosine) are ranked by score; keys: ``<name>_average_precision`` (the
    primary metric: precision at each gold pair found, summed and divided by
    the number of gold pairs), and the best ``f1`` over score thresholds with
    its ``precision``, ``recall`` and ``threshold`` (a pair counts as a
    duplicate when its cosine is at least the threshold).

    Parameters
    ----------
    sentences
        Id -> sentence, or a list (ids are the positions).
    duplicates
        Pairs of ids that are duplicates; order within a pair does not matter.
    add_transitive_closure
        Also count as duplicates all pairs linked through other duplicates
        (a~b and b~c gives a~c).
    top_k, max_pairs
        Neighbours per sentence and most pairs kept while mining.
    name, batch_size, callbacks
        See :class:`~workbench.evaluation.base.Evaluator`.

    Example
    -------
    >>> from workbench.evaluation.base import LookupEncoder
    >>> model = LookupEncoder.example()
    >>> ev = ParaphraseMiningEvaluator({"x": "a", "y": "b", "z": "c"}, [("y", "x")], name="dups")
    >>> ev(model)["dups_average_precision"]
    1.0
    """

    def __init__(
        self,
        sentences: Mapping[Hashable, str] | Sequence[str],
        duplicates: Iterable[tuple[Hashable, Hashable]],
        add_transitive_closure: bool = False,
        top_k: int = 5,
        max_pairs: int = 500_000,
        name: str = "paraphrase-mining",
        batch_size: int = 32,
        callbacks: Iterable[Any] | None = None,
    ) -> None:
        super().__init__(name, "average_precision", batch_size, callbacks)
        if not isinstance(sentences, Mapping):
            sentences = dict(enumerate(sentences))
        if len(sentences) < 2:
            raise ValueError(f"paraphrase mining needs at least 2 sentences, got {len(sentences)}")
        self.ids = list(sentences)
        self.sentences = list(sentences.values())
        position = {sid: i for i, sid in enumerate(self.ids)}
        pairs = set()
        for pair in duplicates:
            unknown = [sid for sid in pair if sid not in position]
            if len(pair) != 2 or unknown:
                raise ValueError(f"duplicate {pair!r} must be two ids of sentences; unknown: {unknown}")
            a, b = sorted(position[sid] for sid in pair)
            if a != b:
                pairs.add((a, b))
        self.gold = _closure(pairs) if add_transitive_closure else pairs
        if not self.gold:
            raise ValueError("duplicates holds no pair of two different sentences; nothing to find")
        self.top_k, self.max_pairs = top_k, max_pairs

    @classmethod
    def from_examples(cls, examples: Iterable[Any], **kwargs: Any) -> "ParaphraseMiningEvaluator":
        """Build from labelled pairs: every text is a sentence, pairs labelled 1 are the duplicates.

        Example
        -------
        >>> from workbench.data.records import Example
        >>> ev = ParaphraseMiningEvaluator.from_examples([Example(["a", "b"], 1), Example(["a", "c"], 0)])
        >>> ev.sentences, ev.gold
        (['a', 'b', 'c'], {(0, 1)})
        """
        (first, second), labels = example_columns(examples, 2, cls.__name__)
        sentences = list(dict.fromkeys(first + second))
        position = {s: i for i, s in enumerate(sentences)}
        duplicates = [(position[a], position[b]) for a, b, label in zip(first, second, labels) if label == 1]
        return cls(sentences, duplicates, **kwargs)

    def compute(self, model: Encoder) -> dict[str, float]:
        embeddings = self.encode(model, self.sentences)
        mined = paraphrase_mining_embeddings(embeddings, top_k=self.top_k, max_pairs=self.max_pairs)
        if not mined:
            return {"average_precision": 0.0, "f1": 0.0, "precision": 0.0, "recall": 0.0, "threshold": float("inf")}
        scores = np.array([score for score, _, _ in mined])
        hits = np.array([(i, j) in self.gold for _, i, j in mined], dtype=np.int64)
        n_gold = len(self.gold)
        precision_at = np.cumsum(hits) / np.arange(1, len(hits) + 1)
        average_precision = float(precision_at[hits == 1].sum() / n_gold)
        tp, fp, cut_scores = counts_at_thresholds(scores, hits)
        f1 = 2 * tp / (tp + fp + n_gold)
        best = int(np.argmax(f1))
        return {
            "average_precision": average_precision,
            "f1": float(f1[best]),
            "precision": float(tp[best] / (tp[best] + fp[best])),
            "recall": float(tp[best] / n_gold),
            "threshold": float(midpoint_thresholds(cut_scores)[best]),
        }
