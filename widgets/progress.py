"""ProgressBar: the notebook twin of :class:`workbench.hooks.TqdmProgress`."""

from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as w

from workbench.hooks import Callback, Event, postfix

from ._common import Throttle, WidgetView


@dataclass
class TaskProgress:
    """Where one task stands: ``n`` of ``total`` (None: unknown) ``unit`` and the latest postfix."""

    desc: str
    total: int | None
    unit: str
    n: int = 0
    done: bool = False
    postfix: dict[str, Any] = field(default_factory=dict)
    started_at: float = field(default_factory=time.monotonic)


class ProgressBar(Callback, WidgetView):
    """One ``IntProgress`` and a label per task of the ``progress_*`` events (encode, corpus, download, train).

    A task that begins again (e.g. ``encode`` at every evaluation) reuses its
    bar.  Labels and bars are redrawn at most every ``redraw_every_s`` seconds
    and at the end of a task.

    Parameters
    ----------
    redraw_every_s
        Shortest time between two redraws of a bar, in seconds.
    leave
        Keep a finished task's bar (``False`` removes it).

    Example
    -------
    >>> from widgets import ProgressBar
    >>> bar = ProgressBar()
    >>> # display(bar); model.encode(sentences, callbacks=[bar])
    >>> from workbench.hooks import Hooks
    >>> hooks = Hooks([bar])
    >>> _ = hooks.emit("progress_begin", task="encode", total=4, unit="sentences")
    >>> _ = hooks.emit("progress_update", task="encode", n=4)
    >>> _ = hooks.emit("progress_end", task="encode")
    >>> bar.tasks["encode"].n, bar.bars["encode"].value
    (4, 4)
    """

    def __init__(self, redraw_every_s: float = 0.2, leave: bool = True) -> None:
        self.leave = leave
        self._redraw_every_s = redraw_every_s
        self.tasks: dict[str, TaskProgress] = {}
        self.bars: dict[str, w.IntProgress] = {}
        self._labels: dict[str, w.HTML] = {}
        self._rows: dict[str, w.HBox] = {}
        self._throttles: dict[str, Throttle] = {}
        self.widget = w.VBox().add_class("wb-progress")

    def on_progress_begin(self, event: Event) -> None:
        task = event.task
        total = event.get("total")
        self.tasks[task] = TaskProgress(desc=event.get("desc", task), total=total, unit=event.get("unit", "it"))
        if task not in self.bars:
            self.bars[task] = w.IntProgress(min=0)
            self._labels[task] = w.HTML()
            self._rows[task] = w.HBox([self.bars[task], self._labels[task]])
            self._throttles[task] = Throttle(self._redraw_every_s)
        if self._rows[task] not in self.widget.children:
            self.widget.children = (*self.widget.children, self._rows[task])
        # An unknown total shows a full striped bar that only counts.
        self.bars[task].max = total if total else 1
        self.bars[task].bar_style = "" if total else "info"
        self._draw(task)

    def on_progress_update(self, event: Event) -> None:
        state = self.tasks.get(event.task)
        if state is None:
            return
        state.n += event.get("n", 1)
        state.postfix.update(postfix(event))
        if self._throttles[event.task].due():
            self._draw(event.task)

    def on_progress_end(self, event: Event) -> None:
        state = self.tasks.get(event.task)
        if state is None:
            return
        state.done = True
        self._draw(event.task)
        if not self.leave:
            self.widget.children = tuple(row for row in self.widget.children if row is not self._rows[event.task])

    def _draw(self, task: str) -> None:
        state = self.tasks[task]
        bar = self.bars[task]
        bar.value = min(state.n, bar.max) if state.total else int(state.done)
        if state.done:
            bar.bar_style = "success"
        elapsed = time.monotonic() - state.started_at
        text = f"{state.desc}: {state.n}" + (f"/{state.total}" if state.total else "") + f" {state.unit}"
        if state.n and elapsed > 0:
            text += f" · {state.n / elapsed:.1f} {state.unit}/s"
        if state.postfix:
            text += " · " + ", ".join(f"{k}={_short(v)}" for k, v in state.postfix.items())
        self._labels[task].value = html.escape(text)


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
