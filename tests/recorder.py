"""A callback that records the events it is sent, shared by the trainer, cross-encoder, encoder and evaluator tests."""

from __future__ import annotations

from typing import Any, Callable

from workbench.hooks import Callback


class Recorder(Callback):
    """Records every event's name and fields."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []

    def __getattr__(self, name: str) -> Callable[[Any], None]:
        if not name.startswith("on_"):
            raise AttributeError(name)
        return lambda event: self.events.append((event.name, dict(event.fields)))

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def progress(self) -> list[tuple[str, int | None]]:
        """The progress events in order: ``("begin", total)``, ``("update", n)`` and ``("end", None)``."""
        counts = {"progress_begin": "total", "progress_update": "n"}
        return [
            (name.removeprefix("progress_"), fields[counts[name]] if name in counts else None)
            for name, fields in self.events
            if name.startswith("progress_")
        ]
