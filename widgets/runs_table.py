"""RunsTable: the runs of a parameter grid side by side, and a metric plotted against a parameter."""

from __future__ import annotations

import html
import numbers
import os
from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from workbench.runs import load_runs

from ._common import WidgetView, html_table
from ._figure import figure_widget

NONE = "(none)"
PARAMETER_PREFIX, RESULT_PREFIX = "parameters.", "results."
LAYOUT = {"height": 380, "margin": {"t": 30, "b": 50, "l": 60, "r": 20}, "legend": {"orientation": "h", "y": -0.2}}


class RunsTable(WidgetView):
    """The table :func:`workbench.runs.run_grid` collects, with one result plotted against one parameter.

    Dropdowns choose the metric (any numeric result), the parameter on the
    x axis, and a parameter that splits the runs into one line per value.
    Failed runs stay in the table with their error and are left out of the
    plot; the line above the plot names them.

    Parameters
    ----------
    runs
        The table (``run_grid``'s or :func:`workbench.runs.load_runs`'s), or a runs folder.
    metric, parameter, by
        The first choices (names without the ``results.``/``parameters.``
        prefix); default: the first numeric result, the first parameter,
        and the next parameter that takes several values.

    Attributes
    ----------
    table
        The runs, one row each.
    parameters, metrics
        What the dropdowns offer.
    metric, parameter, by
        The dropdowns.
    points
        What the plot shows: one row per successful run with ``x``, ``y``, ``group`` and ``run``.
    figure
        The plotly ``FigureWidget``.

    Example
    -------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"run": ["run-000", "run-001"], "status": ["ok", "failed"],
    ...     "error": [None, "ValueError: nan loss"], "parameters.lr": [2e-5, 5e-5], "results.spearman": [0.86, None]})
    >>> view = RunsTable(table)
    >>> view.metric.value, view.parameter.value, view.points[["x", "y"]].values.tolist()
    ('spearman', 'lr', [[2e-05, 0.86]])
    >>> view.status.value
    '2 runs, 1 failed: run-001 (ValueError: nan loss)'
    """

    def __init__(
        self,
        runs: pd.DataFrame | str | os.PathLike,
        metric: str | None = None,
        parameter: str | None = None,
        by: str | None = None,
    ) -> None:
        self.table = load_runs(runs) if isinstance(runs, (str, os.PathLike)) else runs.reset_index(drop=True)
        missing = [c for c in ("run", "status") if c not in self.table.columns]
        if missing:
            raise ValueError(f"runs: the table has no {missing} column; expected run_grid's or load_runs' table")
        self.parameters = [c[len(PARAMETER_PREFIX) :] for c in self.table.columns if c.startswith(PARAMETER_PREFIX)]
        self.metrics = [
            c[len(RESULT_PREFIX) :]
            for c in self.table.columns
            if c.startswith(RESULT_PREFIX) and _numeric(self.table[c]).notna().any()
        ]
        if not self.parameters or not self.metrics:
            raise ValueError(
                f"runs: nothing to plot; parameters {self.parameters}, numeric results {self.metrics} "
                "(the grid needs a parameter and a run that wrote a number)"
            )
        varying = [p for p in self.parameters if self.table[PARAMETER_PREFIX + p].astype(str).nunique() > 1]
        parameter = parameter or (varying or self.parameters)[0]
        if by is None:
            by = next((p for p in varying if p != parameter), NONE)
        self.metric = w.Dropdown(options=self.metrics, value=metric or self.metrics[0], description="metric")
        self.parameter = w.Dropdown(options=self.parameters, value=parameter, description="against")
        self.by = w.Dropdown(options=[NONE, *self.parameters], value=by, description="one line per")
        self.status = w.HTML(_status(self.table))
        shown = [c for c in self.table.columns if c in ("run", "status", "error") or c.startswith(PARAMETER_PREFIX)]
        shown += [RESULT_PREFIX + m for m in self.metrics]
        self.table_html = w.HTML(
            html_table(self.table[shown].rename(columns=_short)), layout=w.Layout(max_height="320px", overflow="auto")
        ).add_class("wb-runs-table")
        self.figure = figure_widget(go.Figure(self._traces(), {**LAYOUT, **self._axes()}), "wb-runs-plot")
        for control in (self.metric, self.parameter, self.by):
            control.observe(lambda _change: self._redraw(), names="value")
        self.widget = w.VBox(
            [w.HBox([self.metric, self.parameter, self.by]), self.status, self.figure, self.table_html]
        ).add_class("wb-runs")

    @property
    def points(self) -> pd.DataFrame:
        """One row per successful run that has the chosen parameter and a number for the chosen metric."""
        table = self.table
        frame = pd.DataFrame(
            {
                "run": table["run"],
                "x": table[PARAMETER_PREFIX + self.parameter.value],
                "y": _numeric(table[RESULT_PREFIX + self.metric.value]),
                "group": table[PARAMETER_PREFIX + self.by.value].astype(str) if self.by.value != NONE else "",
            }
        )
        frame = frame[(table["status"] == "ok") & frame["x"].notna() & frame["y"].notna()]
        numeric_x = pd.to_numeric(frame["x"], errors="coerce")
        order = numeric_x if numeric_x.notna().all() else frame["x"].astype(str)
        return frame.assign(_order=order).sort_values(["group", "_order"], kind="stable").drop(columns="_order")

    def show(self, metric: str | None = None, parameter: str | None = None, by: str | None = None) -> None:
        """Choose what is plotted, as the dropdowns do (``by=NONE``, ``"(none)"``, for a single line)."""
        for control, value in ((self.metric, metric), (self.parameter, parameter), (self.by, by)):
            if value is not None:
                control.value = value

    def _traces(self) -> list[go.Scatter]:
        points = self.points
        traces = []
        for group, rows in points.groupby("group", sort=False):
            name = f"{self.by.value} = {group}" if self.by.value != NONE else self.metric.value
            traces.append(
                go.Scatter(
                    x=rows["x"].tolist(),
                    y=rows["y"].tolist(),
                    mode="lines+markers",
                    name=html.escape(name),
                    text=rows["run"].tolist(),
                    hovertemplate="%{text}: %{x} → %{y:.4g}<extra>%{fullData.name}</extra>",
                )
            )
        return traces

    def _axes(self) -> dict[str, Any]:
        return {
            "xaxis": {"title": {"text": html.escape(self.parameter.value)}},
            "yaxis": {"title": {"text": html.escape(self.metric.value)}},
            "showlegend": self.by.value != NONE,
        }

    def _redraw(self) -> None:
        with self.figure.batch_update():
            self.figure.data = []
            self.figure.update_layout(self._axes())
        self.figure.add_traces(self._traces())


def _numeric(column: pd.Series) -> pd.Series:
    """The column's finite numbers, NaN elsewhere (bools, text and lists are not metrics)."""
    return column.map(
        lambda v: (
            float(v)
            if isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and np.isfinite(v)
            else np.nan
        )
    ).astype(float)


def _status(table: pd.DataFrame) -> str:
    failed = table[table["status"] != "ok"]
    text = f"{len(table)} runs, {len(failed)} failed"
    if len(failed):
        errors = failed["error"] if "error" in failed.columns else pd.Series("", index=failed.index)
        text += ": " + "; ".join(f"{run} ({error})" for run, error in zip(failed["run"], errors))
    return html.escape(text)


def _short(column: str) -> str:
    """A table header without its prefix."""
    for prefix in (PARAMETER_PREFIX, RESULT_PREFIX):
        if column.startswith(prefix):
            return column[len(prefix) :]
    return column
