"""Run several evaluators as one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

from .base import Evaluator, append_csv_row


class SequentialEvaluator(Evaluator):
    """Call each evaluator in turn and merge their metrics into one dict.

    Every evaluator keeps its own keys (and writes its own CSV).  The
    primary metric is the one of the evaluator chosen by ``main``, or, with
    ``main_score_function``, a new ``<name>_combined_score`` computed from
    the primary metrics of all of them (e.g. their mean), logged to
    ``<name>_results.csv``.

    Parameters
    ----------
    evaluators
        The evaluators; their names must differ (they prefix the keys).
    main
        Index or name of the evaluator whose primary metric is primary (default: the last).
    main_score_function
        Combines the list of primary metrics into ``<name>_combined_score``
        (greater is better); overrides ``main``.
    name
        Prefix of the combined score.

    Example
    -------
    >>> import numpy as np
    >>> from workbench.evaluation import TranslationEvaluator
    >>> class Fixed:
    ...     def encode(self, sentences, **kwargs):
    ...         return np.array([[len(s), 1.0] for s in sentences])
    >>> de = TranslationEvaluator(["a", "bbb"], ["a", "bbb"], name="de")
    >>> fr = TranslationEvaluator(["a", "bbb"], ["bbb", "a"], name="fr")
    >>> both = SequentialEvaluator([de, fr], main_score_function=lambda scores: sum(scores) / len(scores))
    >>> metrics = both(Fixed())
    >>> both.primary_metric, metrics["sequential_combined_score"], metrics["fr_mean_accuracy"]
    ('sequential_combined_score', 0.5, 0.0)
    """

    def __init__(
        self,
        evaluators: Sequence[Evaluator],
        main: int | str = -1,
        main_score_function: Callable[[list[float]], float] | None = None,
        name: str = "sequential",
    ) -> None:
        super().__init__(name, "combined_score")
        self.evaluators = list(evaluators)
        if not self.evaluators:
            raise ValueError("SequentialEvaluator needs at least one evaluator")
        names = [e.name for e in self.evaluators]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"evaluator names must differ (they prefix the metric keys); repeated: {repeated}")
        self.main_score_function = main_score_function
        if isinstance(main, str):
            if main not in names:
                raise ValueError(f"main={main!r} is not the name of an evaluator; names: {names}")
            main = names.index(main)
        elif not -len(names) <= main < len(names):
            raise ValueError(f"main={main} is out of range for {len(names)} evaluators")
        self.main = self.evaluators[main]
        if main_score_function is None:
            self.greater_is_better = self.main.greater_is_better

    @property
    def primary_metric(self) -> str:
        if self.main_score_function is not None:
            return self.key("combined_score")
        return self.main.primary_metric

    def __call__(
        self, model: Any, output_path: str | os.PathLike | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        """Run every evaluator (each logs its own CSV) and return all their metrics together."""
        merged: dict[str, float] = {}
        for evaluator in self.evaluators:
            metrics = evaluator(model, output_path=output_path, epoch=epoch, steps=steps)
            clash = sorted(merged.keys() & metrics.keys())
            if clash:
                raise ValueError(f"evaluator {evaluator.name!r} returns keys already returned by another: {clash}")
            merged.update(metrics)
        if self.main_score_function is not None:
            combined = float(self.main_score_function([merged[e.primary_metric] for e in self.evaluators]))
            merged[self.primary_metric] = combined
            if output_path is not None:
                append_csv_row(
                    Path(output_path) / self.csv_file, {"epoch": epoch, "steps": steps, "combined_score": combined}
                )
        return merged
