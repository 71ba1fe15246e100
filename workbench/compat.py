"""sentence-transformers' names for the workbench's own classes, so that its tutorials run here.

Code written for sentence-transformers runs after replacing the import
``sentence_transformers`` with ``workbench``: ``SentenceTransformer`` is
:class:`~workbench.SentenceEncoder`, ``InputExample`` an
:class:`~workbench.data.Example` built with sentence-transformers' argument
order, ``SentencesDataset`` a dataset of examples for a ``DataLoader``, and
the readers below read the data sets' original files into examples.  The
losses, evaluators (with ``from_input_examples``), modules (``models``) and
:mod:`workbench.util` keep their sentence-transformers names.  Nothing here
warns: tutorials are meant to be copied.  The table of names is in the README.

Example
-------
>>> from workbench import InputExample, SentencesDataset
>>> example = InputExample(texts=["A man eats.", "Someone eats."], label=0.9)
>>> example.texts, example.label
(['A man eats.', 'Someone eats.'], 0.9)
>>> len(SentencesDataset([example]))
1
"""

from __future__ import annotations

import csv
import logging
import os
import re
from itertools import zip_longest
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from torch.utils.data import Dataset

from .data.readers import NLI_LABELS, DataFormatError, _lines, _number, iter_nli, read_sts_benchmark
from .data.records import Example, Label
from .encoder import SentenceEncoder

__all__ = [
    "SentenceTransformer",
    "InputExample",
    "SentencesDataset",
    "STSBenchmarkDataReader",
    "NLIDataReader",
    "LabelSentenceReader",
    "LoggingHandler",
]

#: sentence-transformers' name of the encoder; the same class.
SentenceTransformer = SentenceEncoder


class InputExample(Example):
    """An :class:`~workbench.data.Example` made as sentence-transformers makes one: ``(guid, texts, label)``.

    Example
    -------
    >>> InputExample("pair-1", ["a", "b"], 1)
    InputExample(texts=['a', 'b'], label=1, guid='pair-1')
    """

    def __init__(self, guid: str = "", texts: Sequence[str] | None = None, label: Label = 0) -> None:
        super().__init__(list(texts or []), label, guid)


class SentencesDataset(Dataset):
    """The examples of a ``DataLoader`` for ``fit`` (``model`` is accepted and unused: batches are tokenized in ``fit``).

    Example
    -------
    >>> data = SentencesDataset([InputExample(texts=["a", "b"], label=1.0)], model=None)
    >>> data[0].label
    1.0
    """

    def __init__(self, examples: Iterable[Example], model: Any = None) -> None:
        self.examples = list(examples)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> Example:
        return self.examples[index]

    def __iter__(self) -> Iterator[Example]:
        return iter(self.examples)


def _limited(rows: Iterable[Example], max_examples: int) -> list[Example]:
    """The first ``max_examples`` rows (all of them for 0), as the readers' ``max_examples`` means."""
    if not isinstance(max_examples, int) or max_examples < 0:
        raise ValueError(f"max_examples must be a whole number >= 0 (0: all), got {max_examples!r}")
    out = []
    for row in rows:
        out.append(row)
        if len(out) == max_examples:
            break
    return out


def _split_of(filename: str, pattern: str, what: str) -> str:
    match = re.fullmatch(pattern, filename)
    if match is None:
        raise ValueError(f"{what}: cannot tell the split from the file name {filename!r}; expected {pattern!r}")
    return match.group(1)


class STSBenchmarkDataReader:
    """Read STS benchmark files: the original ``sts-train.csv`` layout, or the mirror's ``stsbenchmark.tsv.gz``.

    ``dataset_folder`` holds the original files (``genre, file, year, id,
    score, sentence1, sentence2`` per TAB-separated row, no header, no
    quoting; ``.gz`` or not); the column positions and the delimiter can be
    changed as in sentence-transformers.  It may also be the single
    ``stsbenchmark.tsv.gz`` of the data mirror (sbert.net's layout), whose
    rows of ``sts-<split>.csv`` are then read.  Scores are scaled to 0..1
    with ``normalize_scores`` (the default, as in sentence-transformers).

    Example
    -------
    >>> reader = STSBenchmarkDataReader("datasets/stsbenchmark")               # doctest: +SKIP
    >>> reader.get_examples("sts-dev.csv")[0].label                             # doctest: +SKIP
    1.0
    """

    def __init__(
        self,
        dataset_folder: str | os.PathLike,
        s1_col_idx: int = 5,
        s2_col_idx: int = 6,
        score_col_idx: int = 4,
        delimiter: str = "\t",
        quoting: int = csv.QUOTE_NONE,
        normalize_scores: bool = True,
        min_score: float = 0,
        max_score: float = 5,
    ) -> None:
        if not max_score > min_score:
            raise ValueError(f"max_score ({max_score}) must be greater than min_score ({min_score})")
        self.dataset_folder = Path(dataset_folder)
        self.columns = (s1_col_idx, s2_col_idx, score_col_idx)
        self.delimiter, self.quoting = delimiter, quoting
        self.normalize_scores, self.min_score, self.max_score = normalize_scores, min_score, max_score

    def _scaled(self, score: float) -> float:
        return (score - self.min_score) / (self.max_score - self.min_score) if self.normalize_scores else score

    def get_examples(self, filename: str, max_examples: int = 0) -> list[InputExample]:
        """The pairs of ``filename`` with their (scaled) scores; ``max_examples`` > 0 keeps the first ones."""
        if self.dataset_folder.is_file():  # the mirror's single file of all splits
            split = _split_of(filename, r"sts-(train|dev|test)\.csv(?:\.gz)?", str(self.dataset_folder))
            rows = (
                InputExample(f"{filename}{i}", ex.texts, self._scaled(ex.label))
                for i, ex in enumerate(read_sts_benchmark(self.dataset_folder, split))
            )
            return _limited(rows, max_examples)
        return _limited(self._read(self.dataset_folder / filename), max_examples)

    def _read(self, path: Path) -> Iterator[InputExample]:
        expected = "an STS benchmark file (sts-train.csv layout: TAB-separated, score in column 5)"
        s1, s2, score = self.columns
        for lineno, line in _lines(path, expected):
            if not line:
                continue
            row = next(csv.reader([line], delimiter=self.delimiter, quoting=self.quoting))
            if len(row) <= max(self.columns):
                raise DataFormatError(
                    f"{path}, line {lineno}: {len(row)} fields, but the sentences and score are "
                    f"read from columns {s1}, {s2} and {score} (0-based)"
                )
            value = self._scaled(_number(row[score], path, lineno, "score"))
            yield InputExample(f"{path.name}{lineno - 1}", [row[s1], row[s2]], value)


class NLIDataReader:
    """Read NLI pairs: the original AllNLI folder (``s1.<split>.gz``, ``s2.<split>.gz``, ``labels.<split>.gz``)
    or an NLI TSV in AllNLI.tsv layout (the mirror's ``snli-esnli.tsv.gz``).

    Labels become ``contradiction`` 0, ``entailment`` 1, ``neutral`` 2.

    Example
    -------
    >>> reader = NLIDataReader("datasets/AllNLI")                               # doctest: +SKIP
    >>> reader.get_examples("train.gz")[0].texts                                # doctest: +SKIP
    """

    def __init__(self, dataset_folder: str | os.PathLike) -> None:
        self.dataset_folder = Path(dataset_folder)

    def get_examples(self, filename: str, max_examples: int = 0) -> list[InputExample]:
        """The pairs of the split ``filename`` (``"train.gz"``: ``s1.train.gz`` ...); ``max_examples`` > 0 keeps the first."""
        if self.dataset_folder.is_file():
            split = _split_of(filename, r"(train|dev|test)(?:\.gz)?", str(self.dataset_folder))
            rows = (
                InputExample(f"{filename}-{i}", ex.texts, ex.label)
                for i, ex in enumerate(iter_nli(self.dataset_folder, split))
            )
            return _limited(rows, max_examples)
        return _limited(self._read(filename), max_examples)

    def _read(self, filename: str) -> Iterator[InputExample]:
        files = [self.dataset_folder / f"{part}.{filename}" for part in ("s1", "s2", "labels")]
        streams = [
            _lines(path, f"the {part} file of an AllNLI split")
            for path, part in zip(files, ("first sentences", "second sentences", "labels"))
        ]
        for index, rows in enumerate(zip_longest(*streams)):
            if None in rows:
                short = files[rows.index(None)]
                raise DataFormatError(f"{short} ends after {index} lines, but the other files of the split go on")
            (lineno, a), (_, b), (_, label) = rows
            yield InputExample(f"{filename}-{index}", [a, b], self.map_label(label, files[2], lineno))

    @staticmethod
    def get_labels() -> dict[str, int]:
        return dict(NLI_LABELS)

    def get_num_labels(self) -> int:
        return len(NLI_LABELS)

    @staticmethod
    def map_label(label: str, path: str | os.PathLike = "", lineno: int = 0) -> int:
        """The class index of a label name (case and spaces ignored)."""
        key = label.strip().lower()
        if key not in NLI_LABELS:
            raise DataFormatError(f"{path}, line {lineno}: label {label!r} is not one of {list(NLI_LABELS)}")
        return NLI_LABELS[key]


class LabelSentenceReader:
    """Read ``label<TAB>sentence`` rows; labels become ids in order of first appearance (kept across files).

    Example
    -------
    >>> reader = LabelSentenceReader("datasets/trec")                            # doctest: +SKIP
    >>> reader.get_examples("train.tsv")[0].label                                # doctest: +SKIP
    0
    """

    def __init__(
        self, folder: str | os.PathLike, label_col_idx: int = 0, sentence_col_idx: int = 1, separator: str = "\t"
    ) -> None:
        self.folder = Path(folder)
        self.label_col_idx, self.sentence_col_idx, self.separator = label_col_idx, sentence_col_idx, separator
        self.label_map: dict[str, int] = {}

    def get_examples(self, filename: str, max_examples: int = 0) -> list[InputExample]:
        """The sentences of ``filename`` with integer labels; ``max_examples`` > 0 keeps the first ones."""
        return _limited(self._read(self.folder / filename), max_examples)

    def _read(self, path: Path) -> Iterator[InputExample]:
        needed = max(self.label_col_idx, self.sentence_col_idx)
        for index, (lineno, line) in enumerate(_lines(path, "a file of label<TAB>sentence rows")):
            fields = line.strip().split(self.separator)
            if len(fields) <= needed:
                raise DataFormatError(
                    f"{path}, line {lineno}: {len(fields)} field(s); the label and sentence are "
                    f"read from columns {self.label_col_idx} and {self.sentence_col_idx} (0-based)"
                )
            label = self.label_map.setdefault(fields[self.label_col_idx], len(self.label_map))
            yield InputExample(f"{path.name}-{index}", [fields[self.sentence_col_idx]], label)


class LoggingHandler(logging.Handler):
    """A logging handler that writes through ``tqdm.write``, so log lines do not break progress bars.

    Example
    -------
    >>> import logging
    >>> logging.basicConfig(level=logging.INFO, handlers=[LoggingHandler()])  # doctest: +SKIP
    """

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm.auto import tqdm

        try:
            tqdm.write(self.format(record))
        except Exception:  # a handler must never raise into the code that logs
            self.handleError(record)
