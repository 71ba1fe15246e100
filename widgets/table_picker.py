"""TablePicker: upload a file or name a path, pick the text and label columns, see a preview."""

from __future__ import annotations

import html
import io
from typing import Any, Sequence

import ipywidgets as w
import pandas as pd

from workbench.data.tables import COMPRESSIONS, LABEL_NAMES, TABLE_FORMATS, Table, describe, read_table, table_format

from ._common import WidgetView, html_table

NO_LABEL = "(none)"


class TablePicker(WidgetView):
    """A small form that turns a user's file into a :class:`~workbench.data.Table`.

    Upload a CSV, TSV, JSON-lines or Parquet file (or type its path and press
    **Load**), choose the text column(s) and, optionally, the label or score
    column; the preview shows the first rows of the chosen columns, and
    ``table`` is the mapped table, ready for ``fit``, an evaluator's
    ``from_examples``, a ``SearchBox`` or a ``ClusterExplorer``.

    Parameters
    ----------
    source
        A table to load at once (a path, a DataFrame or a ``datasets.Dataset``).
    texts, label
        The columns to select at once; by default every text column but one
        named ``label`` or ``score``, which becomes the label.
    preview_rows
        Rows shown in the preview.

    Attributes
    ----------
    upload, path, load_button
        Where the table comes from.
    text_columns, label_column
        The column choices (a ``SelectMultiple``, in the table's column order, and a ``Dropdown``).
    frame
        The loaded table, every column (None before loading).
    error
        Why the current choice is not a usable table (None when it is).

    Example
    -------
    >>> import pandas as pd
    >>> from widgets import TablePicker
    >>> frame = pd.DataFrame({"q": ["a", "b"], "d": ["c", "d"], "score": [1.0, 0.5]})
    >>> picker = TablePicker(frame)
    >>> picker.table.text_columns, picker.table.label_column
    (['q', 'd'], 'score')
    >>> picker.select(texts=["q"], label=None).text_columns
    ['q']
    """

    def __init__(
        self, source: Any = None, texts: Sequence[str] | None = None, label: str | None = None, preview_rows: int = 5
    ) -> None:
        self.preview_rows = preview_rows
        self.frame: pd.DataFrame | None = None
        self.name = ""
        self.error: str | None = None
        suffixes = [
            *TABLE_FORMATS,
            *(f"{s}{c}" for s in TABLE_FORMATS if TABLE_FORMATS[s] != "parquet" for c in COMPRESSIONS),
        ]
        self.upload = w.FileUpload(accept=",".join(suffixes), multiple=False, description="Upload")
        self.path = w.Text(
            placeholder="or a path, e.g. data/pairs.csv", continuous_update=False, layout=w.Layout(width="40%")
        )
        self.load_button = w.Button(description="Load", icon="folder-open")
        self.text_columns = w.SelectMultiple(options=[], description="text(s)", rows=4)
        self.label_column = w.Dropdown(options=[NO_LABEL], value=NO_LABEL, description="label/score")
        self.status = w.HTML("upload a file or give a path")
        self.preview = w.HTML(layout=w.Layout(max_height="260px", overflow="auto")).add_class("wb-table-preview")
        self.upload.observe(self._uploaded, names="value")
        self.load_button.on_click(lambda _button: self._load_from_path())
        self._holding = False  # True while load/select set several controls at once
        for control in (self.text_columns, self.label_column):
            control.observe(lambda _change: self._refresh(), names="value")
        self.widget = w.VBox(
            [
                w.HBox([self.upload, self.path, self.load_button]),
                w.HBox([self.text_columns, self.label_column]),
                self.status,
                self.preview,
            ]
        ).add_class("wb-table-picker")
        if source is not None:
            self.load(source)
            if texts is not None or label is not None:
                self.select(texts, label)

    # ------------------------------------------------------------------ state
    def load(self, source: Any, format: str | None = None, name: str | None = None) -> pd.DataFrame:
        """Read ``source`` (see :func:`~workbench.data.read_table`), offer its columns, choose the default mapping."""
        frame = read_table(source, format).rename(columns=str)  # the controls name columns by text
        self.frame, self.name = frame, name or describe(source)
        columns = list(frame.columns)
        label = next((c for c in columns if c.lower() in LABEL_NAMES), None)
        texts = [c for c in columns if c != label and not pd.api.types.is_numeric_dtype(frame[c])]
        self._holding = True
        try:
            self.text_columns.options = columns
            self.label_column.options = [NO_LABEL, *columns]
            self.text_columns.value = tuple(texts)
            self.label_column.value = label or NO_LABEL
        finally:
            self._holding = False
        self._refresh()
        return frame

    def select(self, texts: Sequence[str] | None = None, label: str | None = None) -> Table:
        """Choose the text columns (in the table's order) and the label column (None: no label); return ``table``."""
        if self.frame is None:
            raise ValueError("no table loaded yet; upload a file or call load(path)")
        chosen = list(self.text_columns.value if texts is None else texts)
        # Unknown or unusable columns are refused here, by name; the controls only offer real ones.
        Table(self.frame, chosen, label, name=self.name)
        self._holding = True
        try:
            self.text_columns.value = tuple(c for c in self.text_columns.options if c in chosen)
            self.label_column.value = label if label is not None else NO_LABEL
        finally:
            self._holding = False
        self._refresh()
        return self.table

    @property
    def table(self) -> Table:
        """The loaded table through the chosen columns (raises, naming the problem, when they do not fit)."""
        if self.frame is None:
            raise ValueError("no table loaded yet; upload a file or call load(path)")
        label = None if self.label_column.value == NO_LABEL else self.label_column.value
        if not self.text_columns.value:
            raise ValueError(f"{self.name}: choose at least one text column")
        return Table(self.frame, list(self.text_columns.value), label, name=self.name)

    # ------------------------------------------------------------------ events
    def _uploaded(self, change: dict[str, Any]) -> None:
        files = change["new"]
        if not files:
            return
        upload = files[0]
        fmt = table_format(upload["name"])
        if fmt is None:
            self.status.value = html.escape(
                f"{upload['name']} is not a table file; accepted: {', '.join(TABLE_FORMATS)}"
            )
            return
        self._try(lambda: self.load(io.BytesIO(bytes(upload["content"])), format=fmt, name=upload["name"]))

    def _load_from_path(self) -> None:
        self._try(lambda: self.load(self.path.value.strip()))

    def _try(self, action: Any) -> None:
        try:
            action()
        except (ValueError, TypeError, OSError) as err:  # shown in the form, not as a traceback in the log
            self.status.value = f"<span style='color:#b00'>{html.escape(str(err))}</span>"

    def _refresh(self) -> None:
        if self._holding or self.frame is None:
            return
        try:
            table = self.table
        except (ValueError, KeyError) as err:
            self.error = str(err)
            self.status.value = f"<span style='color:#b00'>{html.escape(self.error)}</span>"
            shown = list(self.text_columns.value) or list(self.frame.columns)
            self.preview.value = html_table(self.frame[shown].head(self.preview_rows))
            return
        self.error = None
        columns = [*table.text_columns, *([table.label_column] if table.label_column is not None else [])]
        label = f", label {table.label_column!r}" if table.label_column is not None else ", no label"
        self.status.value = html.escape(f"{self.name}: {len(table)} rows; texts {table.text_columns}{label}")
        self.preview.value = html_table(self.frame[columns].head(self.preview_rows))
