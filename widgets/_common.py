"""Pieces the widgets share: display, throttling, HTML tables and encoding with any encoder."""

from __future__ import annotations

import html
import numbers
import time
from typing import Any, Sequence

import numpy as np
from workbench.typing import Encoder


class WidgetView:
    """Base of the views: ``display(view)`` shows ``view.widget``, the ipywidgets container."""

    widget: Any

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


class Throttle:
    """Says when a redraw is due: at most once every ``every_s`` seconds, or when forced.

    Example
    -------
    >>> throttle = Throttle(every_s=60.0)
    >>> throttle.due(), throttle.due(), throttle.due(force=True)
    (True, False, True)
    """

    def __init__(self, every_s: float) -> None:
        if not every_s >= 0:
            raise ValueError(f"the redraw interval must be a number of seconds >= 0, got {every_s!r}")
        self.every_s = float(every_s)
        self._last: float | None = None

    def due(self, force: bool = False) -> bool:
        now = time.monotonic()
        if force or self._last is None or now - self._last >= self.every_s:
            self._last = now
            return True
        return False


def html_table(frame: Any, digits: int = 4) -> str:
    """A DataFrame as an HTML table (escaped text, floats with ``digits`` decimals)."""
    return frame.to_html(
        index=False, border=0, escape=True, na_rep="", float_format=lambda value: f"{value:.{digits}f}"
    )


def short_text(text: str, limit: int = 160) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut.

    Example
    -------
    >>> short_text("a long sentence", 6)
    'a lon…'
    """
    return text if len(text) <= limit else text[: limit - 1] + "…"


def hover_text(text: str, limit: int = 160) -> str:
    """``text`` cut to ``limit`` characters and escaped, so plotly's hover labels show it literally."""
    return html.escape(short_text(text, limit))


def encode(model: Encoder, texts: Sequence[str], batch_size: int = 64, name: str | None = None) -> np.ndarray:
    """Embed ``texts`` with any encoder that has a sentence-transformers style ``encode``.

    ``name`` is how error messages call the model (the view's argument; default: its class name).

    Raises
    ------
    ValueError
        The model did not return one row per text (a views' lookups would
        otherwise fail later with a bare ``IndexError``).
    """
    if not hasattr(model, "encode"):
        raise TypeError(f"expected an encoder with an encode(texts) method, got {type(model).__name__}")
    name = name or type(model).__name__
    embeddings = np.asarray(
        model.encode(list(texts), batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False),
        dtype=np.float32,
    )
    if embeddings.ndim != 2 or len(embeddings) != len(texts):
        raise ValueError(
            f"{name}.encode returned an array of shape {embeddings.shape} for {len(texts)} texts; "
            f"expected one row per text, shape ({len(texts)}, dim)"
        )
    return embeddings


def positive_int(name: str, value: Any) -> int:
    """``value`` when it is a whole number >= 1 (not a bool); else a ValueError naming ``name``.

    Example
    -------
    >>> positive_int("top_k", 3)
    3
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
    return int(value)


def error_text(what: str, error: BaseException) -> str:
    """A status line for an error caught in a click or typing handler, which has no caller to raise to.

    Example
    -------
    >>> error_text("cannot load m", ValueError("no modules.json"))
    'cannot load m: ValueError: no modules.json'
    """
    return html.escape(f"{what}: {type(error).__name__}: {error}")
