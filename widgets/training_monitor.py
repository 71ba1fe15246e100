"""TrainingMonitor: a live view of a training run, fed by the trainer's events."""

from __future__ import annotations

import html
import math
import time
import weakref
from typing import Any

import ipywidgets as w
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.hooks import Callback, Event
from workbench.training import History

from ._common import Throttle, WidgetView, html_table
from ._figure import figure_widget

STOP_REASON = "stopped from the notebook"


class TrainingMonitor(Callback, WidgetView):
    """Progress, loss and learning-rate curves, evaluation metrics and a Stop button for ``fit``.

    A subscriber of the training events (pass it in ``callbacks``).  Events
    are only recorded as they come; the widgets are redrawn at most every
    ``redraw_every_s`` seconds, after each evaluation and at the end, so
    watching costs little training speed.

    Parameters
    ----------
    redraw_every_s
        Shortest time between two redraws, in seconds.
    max_plot_points
        Longest curve sent to the browser; longer histories are thinned
        evenly (``history`` keeps every step).

    Attributes
    ----------
    widget
        The ipywidgets container (``display(monitor)`` shows it).
    stop_button
        Ends training after the current step (``trainer.request_stop``).
    figure
        Plotly ``FigureWidget``: loss per objective and learning rate
        (right axis) against the step; the evaluator's primary metric.
    redraws
        How many times the widgets were redrawn.

    Example
    -------
    >>> from widgets import TrainingMonitor
    >>> monitor = TrainingMonitor(redraw_every_s=0.5)
    >>> # display(monitor); model.fit([(data, loss)], evaluator, callbacks=[monitor])
    >>> monitor.history.empty, monitor.best
    (True, None)
    """

    def __init__(self, redraw_every_s: float = 0.5, max_plot_points: int = 2000) -> None:
        if max_plot_points < 2:
            raise ValueError(f"max_plot_points must be at least 2, got {max_plot_points}")
        self.max_plot_points = max_plot_points
        self.redraws = 0
        self._throttle = Throttle(redraw_every_s)
        self._trainer: Any = None  # the running trainer, for the Stop button only
        self._last_run: weakref.ref | None = None
        self._reset()

        self.progress = w.IntProgress(value=0, min=0, max=1, description="step").add_class("wb-progress")
        self.status = w.HTML("waiting for training to start")
        self.stop_button = w.Button(
            description="Stop",
            icon="stop",
            button_style="danger",
            disabled=True,
            tooltip="end training after the current step",
        ).add_class("wb-stop")
        self.stop_button.on_click(self._on_stop)
        _heard_while_busy(self.stop_button)
        self.best_label = w.HTML()
        self.table = w.HTML(layout=w.Layout(max_height="260px", overflow="auto")).add_class("wb-metrics-table")
        self.figure = self._make_figure()
        self.widget = w.VBox(
            [
                w.HBox([self.progress, self.stop_button]),
                self.status,
                self.figure,
                self.best_label,
                self.table,
            ]
        ).add_class("wb-monitor")

    # ------------------------------------------------------------------ state
    @property
    def history(self) -> Any:
        """One row per step: ``step, epoch, loss, [loss_<objective>], lr, grad_norm, samples_per_s`` + metrics."""
        return self._history.dataframe()

    @property
    def metrics_table(self) -> Any:
        """One row per evaluation: ``step, epoch``, the primary metric, then the evaluator's other metrics."""
        import pandas as pd

        frame = pd.DataFrame(self._evaluations)
        first = ["step", "epoch", self._primary_metric]
        return frame[[c for c in first if c in frame] + [c for c in frame if c not in first]]

    @property
    def best(self) -> dict[str, Any] | None:
        """The best evaluation so far: ``step, metric, value, path``.

        ``path`` is where that model was saved (``output_path``), else its checkpoint, else None.
        """
        return dict(self._best) if self._best is not None else None

    def _reset(self) -> None:
        self._history = History()
        self._evaluations: list[dict[str, Any]] = []
        self._best: dict[str, Any] | None = None
        self._primary_metric: str | None = None
        self._steps: list[int] = []
        self._losses: dict[str, list[float]] = {}
        self._lr: list[float] = []
        self._total = 0
        self._started_at = time.monotonic()
        self._first_step: int | None = None
        self._table_rows_drawn = -1
        self._outcome = ""

    # ------------------------------------------------------------------ events
    def on_train_begin(self, event: Event) -> None:
        # Another trainer is another run; fit() again on the same trainer continues the curves.
        if self._last_run is not None and self._last_run() is not event.trainer:
            self._reset()
        self._trainer = event.trainer
        self._last_run = weakref.ref(event.trainer)
        self._total = event.total_steps
        self._started_at = time.monotonic()
        self._first_step = None
        self._outcome = ""
        self.stop_button.disabled = False
        self.stop_button.description = "Stop"
        self._redraw()

    def on_step_end(self, event: Event) -> None:
        self._history.on_step_end(event)
        if self._first_step is None:
            self._first_step = event.step - 1
        self._steps.append(event.step)
        for name in event.losses:
            # An objective first seen late (proportional sampling) has no value before.
            self._losses.setdefault(name, [math.nan] * (len(self._steps) - 1))
        for name, values in self._losses.items():
            values.append(event.losses.get(name, math.nan))
        self._lr.append(event.lr)
        self._total = event.total_steps
        if self._throttle.due():
            self._redraw()

    def on_evaluation(self, event: Event) -> None:
        self._history.on_evaluation(event)
        self._evaluations.append({"step": event.step, "epoch": event.epoch, **event.metrics})
        self._primary_metric = event.primary_metric
        if event.is_best:
            saved_to = event.get("saved_to")
            self._best = {
                "step": event.step,
                "metric": event.primary_metric,
                "value": event.primary,
                "path": str(saved_to) if saved_to is not None else None,
            }
        self._redraw()

    def on_checkpoint(self, event: Event) -> None:
        if self._best is not None and self._best["step"] == event.step and self._best["path"] is None:
            self._best["path"] = str(event.path)

    def on_train_end(self, event: Event) -> None:
        self._trainer = None
        self.stop_button.disabled = True
        self.stop_button.description = "Stop"  # not "Stopping…" forever: the status says how it ended
        if event.interrupted:
            self._outcome = "interrupted"
        elif event.stopped_early:
            reason = event.get("reason")
            self._outcome = f"stopped early: {reason}" if reason else "stopped early"
        else:
            self._outcome = "finished"
        self._redraw()

    def _on_stop(self, _button: Any = None) -> None:
        # A click arrives between two steps or during one; either way the trainer stops after it.
        trainer = self._trainer
        if trainer is None:
            self.status.value = "nothing to stop: training is not running"
            return
        trainer.request_stop(STOP_REASON)
        self.stop_button.disabled = True
        self.stop_button.description = "Stopping…"

    # ------------------------------------------------------------------ drawing
    def _make_figure(self) -> Any:
        figure = make_subplots(
            rows=1,
            cols=2,
            specs=[[{"secondary_y": True}, {}]],
            subplot_titles=("training loss and learning rate", "evaluation"),
        )
        figure.add_trace(
            go.Scatter(name="learning rate", mode="lines", line={"dash": "dot", "color": "grey"}),
            row=1,
            col=1,
            secondary_y=True,
        )
        figure.add_trace(go.Scatter(name="primary metric", mode="lines+markers"), row=1, col=2)
        figure.add_trace(go.Scatter(name="best", mode="markers", marker={"symbol": "star", "size": 14}), row=1, col=2)
        figure.update_layout(
            height=360, margin={"t": 40, "b": 40, "l": 50, "r": 20}, legend={"orientation": "h", "y": -0.2}
        )
        figure.update_xaxes(title_text="step")
        figure.update_yaxes(title_text="loss", row=1, col=1, secondary_y=False, rangemode="tozero")
        figure.update_yaxes(
            title_text="learning rate", row=1, col=1, secondary_y=True, showgrid=False, rangemode="tozero"
        )
        # Traces and layout go with the browser's model, not as updates it can lose while it loads plotly.
        return figure_widget(figure)

    def _redraw(self) -> None:
        self.redraws += 1
        step = self._steps[-1] if self._steps else 0
        self.progress.max = max(self._total, 1)
        self.progress.value = min(step, self.progress.max)
        self.status.value = self._status_text(step)
        self._draw_curves()
        if len(self._evaluations) != self._table_rows_drawn:
            self._table_rows_drawn = len(self._evaluations)
            self.table.value = html_table(self.metrics_table) if self._evaluations else ""
        best = self._best
        self.best_label.value = (
            ""
            if best is None
            else html.escape(
                f"best: {best['metric']} = {best['value']:.4f} at step {best['step']}"
                + (f", saved in {best['path']}" if best["path"] else "")
            )
        )

    def _status_text(self, step: int) -> str:
        parts = [f"step {step} / {self._total}"]
        done = step - (self._first_step or 0)
        elapsed = time.monotonic() - self._started_at
        if done > 0:
            parts.append(f"elapsed {_duration(elapsed)}")
            if not self._outcome:
                parts.append(f"ETA {_duration((self._total - step) * elapsed / done)}")
            recent = self._history.rows[-20:]
            parts.append(f"{np.mean([row['samples_per_s'] for row in recent]):.1f} samples/s")
        if self._outcome:
            parts.append(self._outcome)
        return html.escape(" · ".join(parts))

    def _draw_curves(self) -> None:
        keep = _thin(len(self._steps), self.max_plot_points)
        steps = np.asarray(self._steps)[keep]
        names = list(self._losses)
        # One loss trace per objective, after the three fixed ones (a new run may have other objectives).
        if len(self.figure.data) > 3 + len(names):
            self.figure.data = self.figure.data[: 3 + len(names)]
        for _ in range(3 + len(names) - len(self.figure.data)):
            self.figure.add_trace(go.Scatter(mode="lines"), row=1, col=1)
        key, best = self._primary_metric, self._best
        with self.figure.batch_update():
            lr_trace, metric_trace, best_trace, *loss_traces = self.figure.data
            for trace, name in zip(loss_traces, names):
                trace.name = f"loss {name}"
                trace.x, trace.y = steps, np.asarray(self._losses[name])[keep]
            lr_trace.x, lr_trace.y = steps, np.asarray(self._lr)[keep]
            metric_trace.name = key or "primary metric"
            metric_trace.x = [row["step"] for row in self._evaluations]
            metric_trace.y = [row.get(key, math.nan) for row in self._evaluations]
            best_trace.x, best_trace.y = ([best["step"]], [best["value"]]) if best else ([], [])
            self.figure.layout.yaxis3.title.text = key or ""


#: The ipykernel versions whose message routing :func:`_heard_while_busy` is tested against
#: (pinned in pyproject.toml; tests/test_widgets.py checks the installed one).
IPYKERNEL_TESTED = ((7, 0), (7, 5))


def _heard_while_busy(button: w.Button) -> None:
    """Let ``button`` be clicked while the notebook's main shell is busy running ``fit``.

    JupyterLab 4 sends widget messages over a kernel subshell (its own
    thread), which ipykernel 7.0-7.3 handles right where they arrive: the
    click is heard between two training steps, at no cost to training (no
    polling).  ipykernel 7.4 re-routes a comm's incoming messages to the shell
    that last sent on it (``comm._reply_subshell_for``) -- the main one,
    blocked until ``fit`` returns; answering that hook with the subshell the
    message arrived on keeps the 7.0-7.3 behaviour.  Kernels without
    subshells (ipykernel 6) hear the click only after ``fit``: there Kernel →
    Interrupt ends training just as well (``fit`` still returns normally).
    """
    comm = getattr(button, "comm", None)
    if comm is not None:
        comm._reply_subshell_for = lambda _data, arrived_on: arrived_on


def _thin(n: int, limit: int) -> np.ndarray:
    """At most ``limit`` evenly spread indices of ``range(n)``, always with the last one."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(int))


def _duration(seconds: float) -> str:
    """``h:mm:ss`` (or ``m:ss`` under an hour)."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
