"""One hook mechanism for everything that takes a while.

Long-running work (encoding, training, evaluation, downloads) *emits* named
events; subscribers (*callbacks*) react to them.  Progress bars, live plots,
checkpointing and early stopping are all subscribers, never code inside the
loops that emit the events.

A callback is any object with ``on_<event>(event)`` methods; the
:class:`Callback` base class only exists to document the events and to give
subscribers a common ``order``.  Every handler receives an :class:`Event`
whose attributes are the keyword arguments of the emit call.  :data:`EVENTS`
is the contract: every event the project emits and the fields it carries.
Work that takes a while reports through :class:`Progress`.

Example
-------
>>> from workbench.hooks import Callback, Hooks
>>> class Printer(Callback):
...     def on_progress_begin(self, event):
...         print("starting", event.task, event.total)
>>> hooks = Hooks([Printer()])
>>> with Progress(hooks, "encode", total=3, unit="sentences") as progress:
...     progress.update(3)
starting encode 3
"""

from __future__ import annotations

import difflib
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator


@dataclass(frozen=True)
class EventSpec:
    """The fields of one event: always sent, sometimes sent, and whether more may come (a progress postfix)."""

    fields: tuple[str, ...]
    optional: tuple[str, ...] = ()
    open: bool = False
    doc: str = ""


#: Every event the project emits (name -> fields); a handler is ``on_<name>``.  The training events all
#: carry ``trainer`` (the :class:`~workbench.training.Trainer`); the progress events carry no object, since
#: their extra fields are shown as a bar's postfix.  Code that emits an event of its own adds it here.
EVENTS: dict[str, EventSpec] = {
    "progress_begin": EventSpec(("task", "total", "unit"), ("desc",), doc="a task starts; total may be None (unknown)"),
    "progress_update": EventSpec(
        ("task", "n"), open=True, doc="n more units done; other fields (loss=, skipped=) are the postfix"
    ),
    "progress_end": EventSpec(("task",), doc="the task ended, also on an error"),
    "train_begin": EventSpec(("trainer", "total_steps")),
    "epoch_begin": EventSpec(("trainer", "epoch")),
    "step_end": EventSpec(
        ("trainer", "step", "total_steps", "epoch", "losses", "lr", "samples_per_s", "grad_norm"),
        doc="losses: {objective: float}",
    ),
    "evaluation": EventSpec(
        (
            "trainer",
            "step",
            "epoch",
            "metrics",
            "primary",
            "is_best",
            "primary_metric",
            "greater_is_better",
            "saved_to",
            "final",
        ),
        doc="saved_to: the folder the best model was just saved to, else None; sent before the step_end of "
        "its step, except the final evaluation of the weights training ended with, after it",
    ),
    "checkpoint": EventSpec(("trainer", "step", "path")),
    "epoch_end": EventSpec(("trainer", "epoch")),
    "exception": EventSpec(("trainer", "error"), doc="a KeyboardInterrupt or any other exception"),
    "train_end": EventSpec(
        ("trainer", "history", "stopped_early", "interrupted", "reason"), doc="reason: why it stopped early, or None"
    ),
}


def check_event(name: str, fields: dict[str, Any]) -> None:
    """Raise ``ValueError`` when event ``name`` is not in :data:`EVENTS` or its fields differ from the table.

    Example
    -------
    >>> check_event("progress_end", {"task": "encode"})
    >>> check_event("progress_end", {})
    Traceback (most recent call last):
    ...
    ValueError: event 'progress_end' lacks the fields ['task'] (EVENTS in workbench/hooks.py)
    """
    spec = EVENTS.get(name)
    if spec is None:
        raise ValueError(f"event {name!r} is not in EVENTS (workbench/hooks.py){_closest(name)}")
    missing = [key for key in spec.fields if key not in fields]
    if missing:
        raise ValueError(f"event {name!r} lacks the fields {missing} (EVENTS in workbench/hooks.py)")
    unknown = sorted(set(fields) - set(spec.fields) - set(spec.optional))
    if unknown and not spec.open:
        raise ValueError(
            f"event {name!r} has fields {unknown} that EVENTS does not list for it; "
            f"it has {[*spec.fields, *spec.optional]}"
        )


def postfix(event: "Event") -> dict[str, Any]:
    """The fields of a ``progress_update`` beyond its own (``loss=``, ...), which bars show as a postfix."""
    spec = EVENTS[event.name]
    return {k: v for k, v in event.fields.items() if k not in spec.fields and k not in spec.optional}


def _closest(name: str) -> str:
    found = difflib.get_close_matches(name, EVENTS, n=1)
    return f"; did you mean {found[0]!r}?" if found else f"; events: {', '.join(EVENTS)}"


@dataclass
class Event:
    """What a handler receives: the event's name and the fields of the emit call."""

    name: str
    fields: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, key: str) -> Any:
        try:
            return self.fields[key]
        except KeyError:
            raise AttributeError(f"event {self.name!r} has no field {key!r}; it has {sorted(self.fields)}") from None

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)


class Callback:
    """Base class of subscribers: ``on_<name>(event)`` for the events of :data:`EVENTS` it handles.

    * progress: ``progress_begin(task, total, unit)``, ``progress_update(task, n, **postfix)``,
      ``progress_end(task)``; sent through :class:`Progress` by encoding, corpus encoding,
      search, evaluation, training and downloads.
    * training: ``train_begin``, ``epoch_begin``, ``step_end``, ``evaluation``,
      ``checkpoint``, ``epoch_end``, ``train_end``, ``exception``.

    ``order`` sorts subscribers: lower runs first (e.g. a NaN guard before a
    checkpoint writer).
    """

    order: int = 0


class Hooks:
    """An ordered list of subscribers that events are sent to.

    ``add`` warns about an ``on_<name>`` method whose name is no event of
    :data:`EVENTS` (a misspelt handler would never be called).  With
    ``check_events`` (default: the environment variable
    ``WORKBENCH_CHECK_EVENTS=1``) ``emit`` refuses events whose fields differ
    from the table.

    Example
    -------
    >>> import warnings
    >>> class Late:
    ...     def on_step_ended(self, event): ...
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = Hooks([Late()])
    >>> print(caught[0].message)
    Late.on_step_ended matches no event, so it is never called; did you mean 'step_end'?
    """

    check_events: bool = os.environ.get("WORKBENCH_CHECK_EVENTS") == "1"

    def __init__(self, callbacks: Iterable[Any] | None = None) -> None:
        self.callbacks: list[Any] = []
        for cb in callbacks or ():
            self.add(cb)

    def add(self, callback: Any) -> None:
        for attr in dir(callback):
            if attr.startswith("on_") and attr[3:] not in EVENTS and callable(getattr(callback, attr, None)):
                warnings.warn(
                    f"{type(callback).__name__}.{attr} matches no event, so it is never called{_closest(attr[3:])}",
                    stacklevel=2,
                )
        self.callbacks.append(callback)
        self.callbacks.sort(key=lambda cb: getattr(cb, "order", 0))

    def remove(self, callback: Any) -> None:
        self.callbacks.remove(callback)

    def emit(self, name: str, **fields: Any) -> Event:
        if self.check_events:
            check_event(name, fields)
        event = Event(name, fields)
        for cb in list(self.callbacks):
            handler = getattr(cb, f"on_{name}", None)
            if handler is not None:
                handler(event)
        return event

    def __iter__(self) -> Iterator[Any]:
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)


class Progress:
    """One task's ``progress_begin/update/end`` events on ``hooks``; does nothing when ``hooks`` is None.

    As a context manager it sends ``progress_end`` however the block ends, an
    exception included, so no bar stays open in a notebook.  ``begin`` and
    ``end`` do the same by hand for work that spans calls; each is sent once.

    Example
    -------
    >>> seen = []
    >>> class Log:
    ...     def on_progress_update(self, event): seen.append((event.n, postfix(event)))
    ...     def on_progress_end(self, event): seen.append("end")
    >>> try:
    ...     with Progress(Hooks([Log()]), "demo", total=4, unit="rows") as progress:
    ...         progress.update(2, loss=0.5)
    ...         raise RuntimeError("stop")
    ... except RuntimeError:
    ...     pass
    >>> seen
    [(2, {'loss': 0.5}), 'end']
    """

    def __init__(self, hooks: Hooks | None, task: str, total: int | None, unit: str, desc: str | None = None) -> None:
        self.hooks, self.task, self.total, self.unit, self.desc = hooks, task, total, unit, desc
        self._state = "new"

    def begin(self) -> "Progress":
        if self.hooks is not None and self._state == "new":
            desc = {"desc": self.desc} if self.desc is not None else {}
            self.hooks.emit("progress_begin", task=self.task, total=self.total, unit=self.unit, **desc)
        self._state = "running"
        return self

    def update(self, n: int = 1, **shown: Any) -> None:
        """``n`` more units done; ``postfix`` fields (``loss=``) are shown beside the bar."""
        if self.hooks is not None:
            self.hooks.emit("progress_update", task=self.task, n=n, **shown)

    def end(self) -> None:
        if self.hooks is not None and self._state == "running":
            self.hooks.emit("progress_end", task=self.task)
        self._state = "ended"

    def __enter__(self) -> "Progress":
        return self.begin()

    def __exit__(self, *exc: Any) -> None:
        self.end()


class TqdmProgress(Callback):
    """Shows every ``progress_*`` task as a tqdm bar (the terminal subscriber).

    Uses ``tqdm.auto`` so the same subscriber renders in Jupyter too when
    ipywidgets is present.
    """

    def __init__(self, leave: bool = False, **tqdm_kwargs: Any) -> None:
        self.leave = leave
        self.tqdm_kwargs = tqdm_kwargs
        self._bars: dict[str, Any] = {}

    def on_progress_begin(self, event: Event) -> None:
        from tqdm.auto import tqdm

        self._close(event.task)
        self._bars[event.task] = tqdm(
            total=event.get("total"),
            desc=event.get("desc", event.task),
            unit=event.get("unit", "it"),
            leave=self.leave,
            **self.tqdm_kwargs,
        )

    def on_progress_update(self, event: Event) -> None:
        bar = self._bars.get(event.task)
        if bar is None:
            return
        bar.update(event.get("n", 1))
        shown = postfix(event)
        if shown:
            bar.set_postfix(shown, refresh=False)

    def on_progress_end(self, event: Event) -> None:
        self._close(event.task)

    def _close(self, task: str) -> None:
        bar = self._bars.pop(task, None)
        if bar is not None:
            bar.close()


def progress_hooks(show_progress_bar: bool | None, callbacks: Iterable[Any] | None = None) -> Hooks:
    """Hooks for one call: the caller's callbacks plus a tqdm bar when asked for.

    ``show_progress_bar=None`` shows a bar only when no callbacks were given, so a
    widget subscriber replaces the terminal bar instead of doubling it.
    """
    hooks = Hooks(callbacks)
    if show_progress_bar or (show_progress_bar is None and not len(hooks) and _interactive()):
        hooks.add(TqdmProgress())
    return hooks


def _interactive() -> bool:
    import sys

    return bool(getattr(sys.stderr, "isatty", lambda: False)())
