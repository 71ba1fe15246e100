"""What every evaluator shares: the call contract, encoding, CSV logging, input checks.

An evaluator is called with a model and returns a flat dict of floats whose
keys start with the evaluator's ``name``; ``primary_metric`` is the key the
trainer watches (for the best checkpoint or early stopping) and
``greater_is_better`` says which direction is good.

Subclasses implement :meth:`Evaluator.compute`, which returns the metrics
*without* the prefix; :meth:`Evaluator.__call__` adds the prefix, logs the
result and appends it to ``<output_path>/<name>_results.csv``.

Example
-------
>>> import numpy as np
>>> class Norm(Evaluator):
...     def compute(self, model):
...         return {"norm": float(np.linalg.norm(self.encode(model, ["a"])))}
>>> Norm("demo", main_metric="norm")(LookupEncoder({"a": [1.0, 1.0, 1.0, 1.0]}))
{'demo_norm': 2.0}
"""

from __future__ import annotations

import csv
import logging
import os
import re
from pathlib import Path
from typing import Any, ClassVar, Iterable, Sequence

import numpy as np

from ..data.tables import Table, as_examples
from ..hooks import Hooks
from ..typing import Encoder

logger = logging.getLogger(__name__)

#: Similarity names every pair evaluator reports (larger is more similar; distances are negated).
SIMILARITY_NAMES = ("cosine", "dot", "euclidean", "manhattan")


class Evaluator:
    """Base class of the evaluators.

    Parameters
    ----------
    name
        Prefix of every metric key and name of the CSV file, e.g. ``"sts-dev"``.
    main_metric
        The metric (without prefix) that :attr:`primary_metric` points at.
    batch_size
        Passed to ``model.encode``.
    callbacks
        Subscribers of the ``progress_*`` events that long evaluations emit.

    Attributes
    ----------
    greater_is_better
        Whether a larger primary metric is better (True for every evaluator here).
    """

    greater_is_better: bool = True

    def __init__(
        self,
        name: str,
        main_metric: str,
        batch_size: int = 32,
        callbacks: Iterable[Any] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string (the metric prefix), got {name!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.name = name
        self.main_metric = main_metric
        self.batch_size = batch_size
        self.callbacks = list(callbacks or ())

    @property
    def primary_metric(self) -> str:
        """Full key of the primary metric in the returned dict, e.g. ``"sts-dev_spearman_cosine"``."""
        return self.key(self.main_metric)

    def key(self, metric: str) -> str:
        """``metric`` with this evaluator's prefix."""
        return f"{self.name}_{metric}"

    @property
    def csv_file(self) -> str:
        """File name of the results CSV (the name, made safe for file systems)."""
        return re.sub(r"[^A-Za-z0-9._-]+", "_", self.name) + "_results.csv"

    def compute(self, model: Any) -> dict[str, float]:
        """Metrics without prefix; subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement compute(model)")

    def __call__(
        self,
        model: Any,
        output_path: str | os.PathLike | None = None,
        epoch: int = -1,
        steps: int = -1,
    ) -> dict[str, float]:
        """Evaluate ``model``; return ``{name_metric: value}`` and log it to CSV when ``output_path`` is given.

        Parameters
        ----------
        model
            Anything with ``encode(sentences, batch_size=..., convert_to_numpy=True, show_progress_bar=False)``.
        output_path
            Folder of the results CSV; one row (epoch, steps, metrics) is appended per call.
        epoch, steps
            Where in training the evaluation happens (-1: outside training).
        """
        raw = self.compute(model)
        if self.main_metric not in raw:
            raise KeyError(f"{type(self).__name__} computed {sorted(raw)} but not its main metric {self.main_metric!r}")
        metrics = {self.key(k): float(v) for k, v in raw.items()}
        logger.info(
            "%s (epoch %d, steps %d): %s = %.4f",
            self.name,
            epoch,
            steps,
            self.primary_metric,
            metrics[self.primary_metric],
        )
        if output_path is not None:
            append_csv_row(Path(output_path) / self.csv_file, {"epoch": epoch, "steps": steps, **raw})
        return metrics

    def encode(self, model: Encoder, sentences: Sequence[str], **kwargs: Any) -> np.ndarray:
        """``model.encode`` with this evaluator's batch size, as a numpy array."""
        embeddings = np.asarray(
            model.encode(
                list(sentences), batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False, **kwargs
            )
        )
        if embeddings.ndim != 2 or len(embeddings) != len(sentences):  # else an IndexError far from the cause
            raise ValueError(
                f"{type(model).__name__}.encode returned an array of shape {embeddings.shape} for "
                f"{len(sentences)} sentences; expected one row per sentence, shape ({len(sentences)}, dim)"
            )
        return embeddings

    def predict(self, model: Any, pairs: Sequence[tuple[str, str]], **kwargs: Any) -> np.ndarray:
        """A cross-encoder's ``model.predict`` with this evaluator's batch size and callbacks, as a numpy array."""
        scores = model.predict(
            list(pairs),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            show_progress_bar=False,
            callbacks=self.callbacks or None,
            **kwargs,
        )
        return np.asarray(scores)

    def encode_columns(self, model: Encoder, *columns: Sequence[str]) -> list[np.ndarray]:
        """Embeddings of each column, encoding every distinct sentence of all columns once."""
        unique = list(dict.fromkeys(s for column in columns for s in column))
        embeddings = self.encode(model, unique)
        row = {sentence: i for i, sentence in enumerate(unique)}
        return [embeddings[[row[s] for s in column]] for column in columns]

    def hooks(self) -> Hooks | None:
        """The callbacks as :class:`~workbench.hooks.Hooks`, or None when there are none."""
        return Hooks(self.callbacks) if self.callbacks else None

    @classmethod
    def from_input_examples(cls, examples: Iterable[Any], **kwargs: Any) -> "Evaluator":
        """sentence-transformers' name of ``from_examples``: build from a list of examples.

        Example
        -------
        >>> from workbench import InputExample
        >>> from workbench.evaluation import EmbeddingSimilarityEvaluator
        >>> ev = EmbeddingSimilarityEvaluator.from_input_examples(
        ...     [InputExample(texts=["a", "b"], label=1.0), InputExample(texts=["a", "c"], label=0.0)], name="dev")
        >>> ev.primary_metric
        'dev_spearman_cosine'
        """
        if not hasattr(cls, "from_examples"):
            raise TypeError(f"{cls.__name__} is not built from examples; give its arguments directly")
        return cls.from_examples(examples, **kwargs)

    @classmethod
    def from_table(
        cls, source: Any, texts: str | Sequence[str] | None = None, label: str | None = None, **kwargs: Any
    ) -> "Evaluator":
        """Build from a table's rows through a column mapping (see :class:`~workbench.data.Table`).

        ``source`` is a DataFrame, a ``datasets.Dataset`` or a CSV/TSV/JSONL/Parquet
        path; the rows become the examples that ``from_examples`` takes.

        Example
        -------
        >>> import pandas as pd
        >>> from workbench.evaluation import EmbeddingSimilarityEvaluator
        >>> frame = pd.DataFrame({"q": ["a", "a"], "d": ["b", "c"], "score": [1.0, 0.0]})
        >>> EmbeddingSimilarityEvaluator.from_table(frame, texts=["q", "d"], label="score", name="mine").scores.tolist()
        [1.0, 0.0]
        """
        return cls.from_input_examples(Table(source, texts, label), **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, primary_metric={self.primary_metric!r})"


class ColumnsEvaluator(Evaluator):
    """Base of the evaluators of aligned text columns (pairs, triplets, translations), with or without labels.

    A subclass names its column attributes in ``columns`` and its labels in
    ``labels_name`` (None: it takes none, and the labels of examples are
    ignored); this base checks that all have one non-zero length, keeps the
    columns as lists, builds the evaluator from examples and encodes the
    columns, each distinct sentence once.  The subclass still writes only
    :meth:`compute`.
    """

    columns: ClassVar[tuple[str, ...]] = ()
    labels_name: ClassVar[str | None] = None
    #: What one row is called in the error for no rows.
    rows_name: ClassVar[str] = "rows"

    def __init__(
        self,
        texts: Sequence[Sequence[str]],
        labels: Sequence[Any] | None,
        main_metric: str,
        name: str,
        batch_size: int,
        callbacks: Iterable[Any] | None,
    ) -> None:
        lengths = dict(zip(self.columns, texts))
        if self.labels_name is not None:
            lengths[self.labels_name] = labels
        if not check_same_length(**lengths):
            raise ValueError(f"no {self.rows_name} to evaluate")
        super().__init__(name, main_metric, batch_size, callbacks)
        for attribute, column in zip(self.columns, texts):
            setattr(self, attribute, list(column))

    @classmethod
    def from_examples(cls, examples: Iterable[Any], **kwargs: Any) -> "ColumnsEvaluator":
        """Build from examples with one text per column (and a label, when the evaluator takes labels).

        Example
        -------
        >>> from workbench.data.records import Example
        >>> from workbench.evaluation import EmbeddingSimilarityEvaluator, TripletEvaluator
        >>> TripletEvaluator.from_examples([Example(["a", "b", "c"])]).negatives
        ['c']
        >>> ev = EmbeddingSimilarityEvaluator.from_examples([Example(["a", "b"], 1.0), Example(["a", "c"], 0.0)])
        >>> ev.sentences2, ev.scores.tolist()
        (['b', 'c'], [1.0, 0.0])
        """
        texts, labels = example_columns(examples, len(cls.columns), cls.__name__)
        return cls(*texts, *([labels] if cls.labels_name is not None else []), **kwargs)

    def column_embeddings(self, model: Encoder) -> list[np.ndarray]:
        """Embeddings of each column, in the order of ``columns``."""
        return self.encode_columns(model, *(getattr(self, attribute) for attribute in self.columns))


def main_similarity_metric(main_similarity: str, template: str) -> str:
    """The primary metric of an evaluator that reports every similarity: ``template`` filled with ``main_similarity``.

    Example
    -------
    >>> main_similarity_metric("dot", "spearman_{}")
    'spearman_dot'
    """
    check_choice(main_similarity, SIMILARITY_NAMES, "main_similarity")
    return template.format(main_similarity)


class LookupEncoder:
    """A stand-in model whose ``encode`` looks sentences up in a dict of fixed vectors.

    Makes evaluator examples (and checks by hand) independent of any trained model.

    Example
    -------
    >>> LookupEncoder({"a": [1.0, 0.0]}).encode(["a", "a"])
    array([[1., 0.],
           [1., 0.]])
    """

    def __init__(self, vectors: dict[str, Sequence[float]]) -> None:
        self.vectors = {text: np.asarray(vector, dtype=np.float64) for text, vector in vectors.items()}

    @classmethod
    def example(cls) -> "LookupEncoder":
        """The stand-in of the evaluators' examples: ``a`` and ``b`` nearly the same, ``c`` at a right angle to ``a``."""
        return cls({"a": [1.0, 0.0], "b": [0.9, 0.1], "c": [0.0, 1.0]})

    def encode(self, sentences: Sequence[str], **kwargs: Any) -> np.ndarray:
        missing = [s for s in sentences if s not in self.vectors]
        if missing:
            raise KeyError(f"no vector for {missing[:3]}; known: {sorted(self.vectors)[:10]}")
        return np.stack([self.vectors[s] for s in sentences])


def append_csv_row(path: Path, row: dict[str, Any]) -> None:
    """Append ``row`` to the CSV at ``path``, writing the header when the file is new.

    An existing file must have the same columns, so that rows never shift
    under a header they do not match.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(row)
    if path.is_file() and path.stat().st_size:
        with open(path, newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), [])
        if header != columns:
            raise ValueError(
                f"{path} has columns {header} but this evaluator writes {columns}; "
                "give a different output_path or evaluator name"
            )
        write_header = False
    else:
        write_header = True
    with open(path, "a", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        if write_header:
            writer.writerow(columns)
        writer.writerow(row.values())


def check_same_length(**sequences: Sequence[Any]) -> int:
    """Return the common length of ``sequences``, or raise naming every length.

    Example
    -------
    >>> check_same_length(sentences1=["a", "b"], scores=[1.0])
    Traceback (most recent call last):
    ...
    ValueError: different numbers of items: sentences1 has 2, scores has 1; they must be the same length
    """
    lengths = {name: len(seq) for name, seq in sequences.items()}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise ValueError(f"different numbers of items: {described}; they must be the same length")
    return next(iter(lengths.values()), 0)


def check_choice(value: Any, choices: Sequence[Any], what: str) -> None:
    """Raise a ``ValueError`` naming ``what`` and the valid choices when ``value`` is not one of them."""
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; valid: {', '.join(map(str, choices))}")


def example_columns(examples: Iterable[Any], n_texts: int, what: str) -> tuple[list[list[str]], list[Any]]:
    """Split examples (anything with ``.texts`` and ``.label``) into ``n_texts`` text columns and the labels.

    Example
    -------
    >>> from types import SimpleNamespace as Ex
    >>> example_columns([Ex(texts=["a", "b"], label=1)], 2, "pairs")
    ([['a'], ['b']], [1])
    """
    columns: list[list[str]] = [[] for _ in range(n_texts)]
    labels = []
    for i, example in enumerate(as_examples(examples)):
        texts = list(example.texts)
        if len(texts) != n_texts:
            raise ValueError(f"{what}: example {i} has {len(texts)} texts, expected {n_texts}: {texts!r:.120}")
        for column, text in zip(columns, texts):
            column.append(text)
        labels.append(example.label)
    return columns, labels
