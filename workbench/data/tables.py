"""A user's own table as training, evaluation or corpus data: the one adapter every entry point uses.

A *table* is a pandas ``DataFrame``, a path to a CSV, TSV, JSON-lines or
Parquet file (optionally ``.gz``/``.bz2``/``.xz``/``.zst`` compressed) or a
Hugging Face ``datasets.Dataset``.  A column mapping says which columns hold
the texts and which one the label (a score or a class)::

    Table("qa.csv", texts=["question", "answer"], label="score")

Without a mapping the columns are read as sentence-transformers reads a
``datasets.Dataset``: a column named ``label`` or ``score`` is the label,
every other column is a text, in order.

A :class:`Table` is a sequence of :class:`~workbench.data.records.Example`, so
it goes wherever examples go; ``fit``, ``Evaluator.from_examples`` /
``Evaluator.from_table``, the widgets and ``encode_corpus`` also accept the
raw table and convert it here.

Example
-------
>>> import pandas as pd
>>> frame = pd.DataFrame({"question": ["Who?", "Where?"], "answer": ["Ann.", "Here."], "score": [0.9, 0.2]})
>>> table = Table(frame)
>>> table.text_columns, table.label_column, table[0]
(['question', 'answer'], 'score', Example(texts=['Who?', 'Ann.'], label=0.9, guid=None))
>>> Table(frame, texts=["question", "anser"])
Traceback (most recent call last):
...
workbench.data.readers.DataFormatError: the table (a DataFrame) has no column 'anser' (did you mean 'answer'?); its columns: 'question', 'answer', 'score'
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, Iterator, Sequence, overload

import numpy as np
import pandas as pd

from .readers import DataFormatError
from .records import Example, Label

#: File suffixes read as tables, and the format each means.
TABLE_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
#: Compression suffixes pandas undoes by itself (not for Parquet, which compresses inside).
COMPRESSIONS = (".gz", ".bz2", ".xz", ".zst")
#: Column names read as the label when no mapping is given (sentence-transformers' convention).
LABEL_NAMES = ("label", "score")
#: Rows named in an error message before "...".
SHOWN_ROWS = 5


def table_format(path: str | os.PathLike) -> str | None:
    """The table format of a file name (``"csv"``, ``"tsv"``, ``"jsonl"``, ``"parquet"``), or None.

    Example
    -------
    >>> table_format("pairs.tsv.gz"), table_format("notes.txt")
    ('tsv', None)
    """
    suffixes = [s.lower() for s in Path(path).suffixes]
    compressed = bool(suffixes) and suffixes[-1] in COMPRESSIONS
    if compressed:
        suffixes = suffixes[:-1]
    fmt = TABLE_FORMATS.get(suffixes[-1]) if suffixes else None
    # Parquet compresses inside the file; a compressed Parquet file is not something pandas reads.
    return None if compressed and fmt == "parquet" else fmt


def _is_hf_dataset(obj: Any) -> bool:
    # Checked by module name, so that ``datasets`` is never imported for a plain list.
    return type(obj).__module__.split(".")[0] == "datasets"


def is_table(obj: Any) -> bool:
    """Whether ``obj`` is read by :func:`read_table`: a DataFrame, a ``datasets`` object or a table file's path.

    Example
    -------
    >>> is_table("scores.csv"), is_table("sentences.txt"), is_table(["a", "b"])
    (True, False, False)
    """
    if isinstance(obj, pd.DataFrame) or _is_hf_dataset(obj):
        return True
    return isinstance(obj, (str, os.PathLike)) and table_format(obj) is not None


def describe(source: Any) -> str:
    """How error messages name a table."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return f"the table (a {type(source).__name__})"


def read_table(source: Any, format: str | None = None) -> pd.DataFrame:
    """Read ``source`` into a DataFrame (a DataFrame comes back as it is).

    Parameters
    ----------
    source
        A DataFrame, a ``datasets.Dataset``, a path, or an open binary file
        (an upload) together with ``format``.
    format
        ``"csv"``, ``"tsv"``, ``"jsonl"`` or ``"parquet"``; default: from the file name.

    CSV and TSV cells are read as text except where a whole column is
    numeric; only empty cells count as missing ("NA" or "null" stay text).

    Example
    -------
    >>> import io
    >>> read_table(io.BytesIO(b"text,label\\nNA,1\\n"), format="csv").to_dict("records")
    [{'text': 'NA', 'label': 1}]
    """
    if isinstance(source, pd.DataFrame):
        return source
    if _is_hf_dataset(source):
        return _dataset_frame(source)
    if isinstance(source, (str, os.PathLike)):
        fmt = format or table_format(source)
        if fmt is None:
            raise DataFormatError(
                f"{source} is not a table file; accepted: "
                f"{', '.join(TABLE_FORMATS)} (CSV, TSV and JSON lines also compressed: "
                f"{', '.join(COMPRESSIONS)})"
            )
        if not Path(source).is_file():
            raise FileNotFoundError(f"no table file at {source}")
    elif hasattr(source, "read"):
        if format is None:
            raise ValueError("reading a table from an open file needs format= 'csv', 'tsv', 'jsonl' or 'parquet'")
        fmt = format
    else:
        raise TypeError(
            f"a table must be a pandas DataFrame, a datasets.Dataset or the path of a "
            f"{'/'.join(sorted(set(TABLE_FORMATS.values())))} file, got {type(source).__name__}"
        )
    readers = {
        # Only empty cells are missing: a text "NA" or "null" is a text.
        "csv": lambda: pd.read_csv(source, keep_default_na=False, na_values=[""]),
        "tsv": lambda: pd.read_csv(source, sep="\t", keep_default_na=False, na_values=[""]),
        "jsonl": lambda: pd.read_json(source, lines=True, dtype=False, precise_float=True),
        "parquet": lambda: pd.read_parquet(source),
    }
    if fmt not in readers:
        raise ValueError(f"unknown table format {fmt!r}; valid: {', '.join(readers)}")
    try:
        return readers[fmt]()
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise DataFormatError(f"{describe(source)} could not be read as {fmt}: {err}") from err


def _dataset_frame(dataset: Any) -> pd.DataFrame:
    name = type(dataset).__name__
    if name == "DatasetDict" or hasattr(dataset, "keys") and not hasattr(dataset, "to_pandas"):
        raise TypeError(f"a {name} holds several splits {list(dataset.keys())}; give one, e.g. dataset['train']")
    if not hasattr(dataset, "to_pandas"):
        raise TypeError(
            f"a {name} (a streamed dataset) cannot be read as a table; load it without "
            "streaming=True, or take rows with dataset.take(n) and Dataset.from_list"
        )
    return dataset.to_pandas()


def _rows(positions: Sequence[int]) -> str:
    shown = ", ".join(str(int(p)) for p in positions[:SHOWN_ROWS])
    return shown + (", ..." if len(positions) > SHOWN_ROWS else "")


class Table(Sequence[Example]):
    """The rows of a table as :class:`Example` records, through a column mapping.

    Parameters
    ----------
    source
        A DataFrame, a ``datasets.Dataset``, or the path of a CSV, TSV,
        JSON-lines or Parquet file (see :func:`read_table`).
    texts
        The text column(s), in the order the loss or evaluator takes them
        (a pair: ``["question", "answer"]``).  Default: every column but the label.
    label
        The score or class column; ``None`` for none.  When ``texts`` is not
        given either, a column named ``label`` or ``score`` is the label.
    format
        The file format when the path's suffix does not say it.
    name
        How error messages name the table (default: its path, or its type).

    Text cells must be strings (a wholly numeric column is refused as text);
    numeric labels must be finite; labels written as text that all parse as
    numbers are read as numbers, other text labels are class names.  Errors
    name the column and the first rows at fault (counted from 0, the header
    not counted).

    Attributes
    ----------
    frame
        The whole table as read (every column, for previews and search results).
    text_columns, label_column
        The mapping.
    labels
        One label per row, or None.

    Example
    -------
    >>> import pandas as pd
    >>> t = Table(pd.DataFrame({"a": ["x", "y", "z", "w"], "score": [1, 0, 1, 0]}))
    >>> t.labels, len(t.split(0.25, seed=0)[1])
    ([1, 0, 1, 0], 1)
    """

    def __init__(
        self,
        source: Any,
        texts: str | Sequence[str] | None = None,
        label: str | None = None,
        format: str | None = None,
        name: str | None = None,
    ) -> None:
        self.source = name or describe(source)
        frame = read_table(source, format)
        if texts is None and label is None:
            label = next((c for c in frame.columns if str(c).lower() in LABEL_NAMES), None)
        if texts is None:
            texts = [c for c in frame.columns if c != label]
        elif isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if not texts:
            raise ValueError(f"{self.source}: no text column; give texts= one or more of {_listed(frame.columns)}")
        for column in [*texts, *([label] if label is not None else [])]:
            self._check_column(frame, column)
        if label is not None and label in texts:
            raise ValueError(f"{self.source}: column {label!r} is given both as a text and as the label")
        if frame.empty:
            raise ValueError(f"{self.source} has no rows (columns: {_listed(frame.columns)})")
        self.frame = frame.reset_index(drop=True)
        self.text_columns: list[str] = texts
        self.label_column: str | None = label
        self._texts = [self._text_values(column) for column in texts]
        self.labels: list[Label] | None = None if label is None else self._label_values(label)

    # ------------------------------------------------------------------ checks
    def _check_column(self, frame: pd.DataFrame, column: Any) -> None:
        if column in frame.columns:
            return
        close = difflib.get_close_matches(str(column), [str(c) for c in frame.columns], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise DataFormatError(f"{self.source} has no column {column!r}{hint}; its columns: {_listed(frame.columns)}")

    def _text_values(self, column: str) -> list[str]:
        values = self.frame[column]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            raise DataFormatError(
                f"{self.source}: column {column!r} holds numbers ({values.dtype}), not texts; "
                f"the text columns must hold sentences; columns: {_listed(self.frame.columns)}"
            )
        missing = np.flatnonzero(values.isna().to_numpy())
        if len(missing):
            raise DataFormatError(
                f"{self.source}: column {column!r} has {len(missing)} empty cell(s), at rows "
                f"{_rows(missing)}; fill or drop them (e.g. frame.dropna(subset=[{column!r}]))"
            )
        wrong = [i for i, value in enumerate(values) if not isinstance(value, str)]
        if wrong:
            bad = values.iloc[wrong[0]]
            raise DataFormatError(
                f"{self.source}: column {column!r} must hold texts, but rows {_rows(wrong)} do not "
                f"(row {wrong[0]} is a {type(bad).__name__}: {bad!r:.60})"
            )
        return values.tolist()

    def _label_values(self, column: str) -> list[Label]:
        values = self.frame[column]
        missing = np.flatnonzero(values.isna().to_numpy())
        if len(missing):
            raise DataFormatError(
                f"{self.source}: label column {column!r} has {len(missing)} empty cell(s), "
                f"at rows {_rows(missing)}; every row needs a label (or give label=None)"
            )
        if pd.api.types.is_bool_dtype(values):
            return [int(v) for v in values]
        if not pd.api.types.is_numeric_dtype(values):
            numbers = pd.to_numeric(values, errors="coerce")
            if numbers.notna().all():  # numbers written as text (a JSON file, "nan" in a CSV)
                values = numbers
            else:
                return [_plain(v) for v in values]
        bad = np.flatnonzero(~np.isfinite(values.to_numpy(dtype=np.float64)))
        if len(bad):
            raise DataFormatError(
                f"{self.source}: label column {column!r} has {len(bad)} non-finite value(s) "
                f"(NaN or infinite), at rows {_rows(bad)}"
            )
        return [_plain(v) for v in values]

    # ------------------------------------------------------------------ the sequence
    def __len__(self) -> int:
        return len(self.frame)

    @overload
    def __getitem__(self, index: int) -> Example: ...
    @overload
    def __getitem__(self, index: slice) -> list[Example]: ...

    def __getitem__(self, index: int | slice) -> Example | list[Example]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return Example([column[index] for column in self._texts], None if self.labels is None else self.labels[index])

    def __iter__(self) -> Iterator[Example]:
        return (self[i] for i in range(len(self)))

    def column(self, name: str) -> list[str]:
        """The texts of the mapped text column ``name``."""
        if name not in self.text_columns:
            raise KeyError(f"{name!r} is not a text column of this table; its text columns: {self.text_columns}")
        return self._texts[self.text_columns.index(name)]

    def split(self, test_size: float, seed: int = 0) -> tuple["Table", "Table"]:
        """A shuffled (train, held-out) split; ``test_size`` is the held-out fraction, both parts keep >= 1 row."""
        if not 0 < test_size < 1:
            raise ValueError(f"test_size must be a fraction in (0, 1), got {test_size!r}")
        if len(self) < 2:
            raise ValueError(f"{self.source} has {len(self)} row; a split needs at least 2")
        order = np.random.default_rng(seed).permutation(len(self))
        n_test = min(max(1, round(test_size * len(self))), len(self) - 1)
        return self._subset(order[n_test:]), self._subset(order[:n_test])

    def _subset(self, rows: np.ndarray) -> "Table":
        return Table(
            self.frame.iloc[np.sort(rows)],
            self.text_columns,
            self.label_column,
            name=f"{self.source} ({len(rows)} of its {len(self)} rows)",
        )

    def __repr__(self) -> str:
        return f"Table({self.source!r}, {len(self)} rows, texts={self.text_columns}, label={self.label_column!r})"


def _plain(value: Any) -> Label:
    """A numpy scalar as the Python number (or text) it holds."""
    return value.item() if isinstance(value, np.generic) else value


def _listed(columns: Any) -> str:
    return ", ".join(repr(c) for c in columns) or "(none)"


def examples_from_table(
    source: Any, texts: str | Sequence[str] | None = None, label: str | None = None, format: str | None = None
) -> list[Example]:
    """The rows of a table as a list of :class:`Example` (see :class:`Table` for the mapping).

    Example
    -------
    >>> import pandas as pd
    >>> examples_from_table(pd.DataFrame({"q": ["a"], "d": ["b"], "y": [1]}), texts=["q", "d"], label="y")
    [Example(texts=['a', 'b'], label=1, guid=None)]
    """
    return list(Table(source, texts, label, format))


def texts_from_table(source: Any, column: str | None = None, format: str | None = None) -> list[str]:
    """One text column of a table; ``column`` defaults to ``"text"``, or the table's only column.

    Example
    -------
    >>> import pandas as pd
    >>> texts_from_table(pd.DataFrame({"id": [7, 8], "text": ["a", "b"]}))
    ['a', 'b']
    """
    frame = read_table(source, format)
    if column is None:
        columns = list(frame.columns)
        if "text" not in columns and len(columns) != 1:
            raise ValueError(
                f"{describe(source)} has several columns and none is called 'text'; "
                f"name the text column (one of {_listed(columns)})"
            )
        column = "text" if "text" in columns else columns[0]
    return Table(frame, [column], name=describe(source)).column(column)


def as_examples(data: Any) -> Any:
    """``data`` as examples when it is a table (columns mapped by default), else ``data`` unchanged."""
    return Table(data) if is_table(data) else data
