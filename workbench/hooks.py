"""One hook mechanism for everything that takes a while.

Long-running work (encoding, training, evaluation, downloads) *emits* named
events; subscribers (*callbacks*) react to them.  Progress bars, live plots,
checkpointing and early stopping are all subscribers, never code inside the
loops that emit the events.

A callback is any object with ``on_<event>(event)`` methods; the
:class:`Callback` base class only exists to document the events and to give
subscribers a common ``order``.  Every handler receives an :class:`Event`
whose attributes are the keyword arguments of the emit call.

Example
-------
>>> from workbench.hooks import Callback, Hooks
>>> class Printer(Callback):
...     def on_progress_begin(self, event):
...         print("starting", event.task, event.total)
>>> hooks = Hooks([Printer()])
>>> _ = hooks.emit("progress_begin", task="encode", total=3, unit="sentences")
starting encode 3
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable


@dataclass
class Event:
    """What a handler receives: the event's name and the fields of the emit call."""

    name: str
    fields: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, key: str) -> Any:
        try:
            return self.fields[key]
        except KeyError:
            raise AttributeError(
                f"event {self.name!r} has no field {key!r}; it has {sorted(self.fields)}"
            ) from None

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)


class Callback:
    """Base class of subscribers.

    Events emitted by the project (each handler is ``on_<name>``):

    * progress: ``progress_begin(task, total, unit)``, ``progress_update(task, n, **postfix)``,
      ``progress_end(task)``; emitted by encode, corpus encoding and downloads.
    * training: ``train_begin``, ``epoch_begin``, ``step_end``, ``evaluation``,
      ``checkpoint``, ``epoch_end``, ``train_end``, ``exception`` (see
      :mod:`workbench.training.trainer` for their fields).

    ``order`` sorts subscribers: lower runs first (e.g. a NaN guard before a
    checkpoint writer).
    """

    order: int = 0


class Hooks:
    """An ordered list of subscribers that events are sent to."""

    def __init__(self, callbacks: Iterable[Any] | None = None) -> None:
        self.callbacks: list[Any] = []
        for cb in callbacks or ():
            self.add(cb)

    def add(self, callback: Any) -> None:
        self.callbacks.append(callback)
        self.callbacks.sort(key=lambda cb: getattr(cb, "order", 0))

    def remove(self, callback: Any) -> None:
        self.callbacks.remove(callback)

    def emit(self, name: str, **fields: Any) -> Event:
        event = Event(name, fields)
        for cb in list(self.callbacks):
            handler = getattr(cb, f"on_{name}", None)
            if handler is not None:
                handler(event)
        return event

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)


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
            total=event.get("total"), desc=event.get("desc", event.task),
            unit=event.get("unit", "it"), leave=self.leave, **self.tqdm_kwargs,
        )

    def on_progress_update(self, event: Event) -> None:
        bar = self._bars.get(event.task)
        if bar is None:
            return
        bar.update(event.get("n", 1))
        postfix = {k: v for k, v in event.fields.items() if k not in ("task", "n")}
        if postfix:
            bar.set_postfix(postfix, refresh=False)

    def on_progress_end(self, event: Event) -> None:
        self._close(event.task)

    def _close(self, task: str) -> None:
        bar = self._bars.pop(task, None)
        if bar is not None:
            bar.close()


def progress_hooks(show_progress: bool | None, callbacks: Iterable[Any] | None = None) -> Hooks:
    """Hooks for one call: the caller's callbacks plus a tqdm bar when asked for.

    ``show_progress=None`` shows a bar only when no callbacks were given, so a
    widget subscriber replaces the terminal bar instead of doubling it.
    """
    hooks = Hooks(callbacks)
    if show_progress or (show_progress is None and not len(hooks) and _interactive()):
        hooks.add(TqdmProgress())
    return hooks


def _interactive() -> bool:
    import sys

    return bool(getattr(sys.stderr, "isatty", lambda: False)())
