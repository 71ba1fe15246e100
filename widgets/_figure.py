"""Plotly figure widgets whose first drawing reaches the browser even when the browser is slow."""

from __future__ import annotations

import plotly.graph_objects as go


class _FigureWidget(go.FigureWidget):
    # ipywidgets opens the comm at the end of Widget.__init__, before plotly has set the traces and layout
    # (plotly then sends them as updates); `figure_widget` opens it itself once everything is set.
    _comm_held = True

    def open(self) -> None:
        if not self._comm_held:
            super().open()


def figure_widget(figure: go.Figure, css_class: str | None = None) -> go.FigureWidget:
    """A ``FigureWidget`` of ``figure`` (traces, layout, subplot grid) whose browser model is created with all of it.

    A plain ``go.FigureWidget`` opens its comm with no traces and an empty
    layout and sends both, and any CSS class, as updates right after.
    anywidget (0.11) gives a model 2 s to load its module, and plotly's is
    5 MB: on a loaded machine the browser takes longer, and anywidget then
    drops every update to that model, so the figure stayed an empty
    700 x 360 px frame.  Here the comm opens only when traces, layout and
    class are set, so the first drawing needs no update.  Later changes
    (``batch_update``, ``add_trace``) still travel as updates.

    Example
    -------
    >>> import plotly.graph_objects as go
    >>> widget = figure_widget(go.Figure(go.Scatter(x=[1, 2], y=[3, 4]), {"height": 300}), "my-plot")
    >>> len(widget.get_state()["_widget_data"]), widget.get_state()["_widget_layout"]["height"]
    (1, 300)
    >>> widget._dom_classes
    ('my-plot',)
    """
    widget = _FigureWidget(figure)
    if css_class:
        widget.add_class(css_class)
    widget._comm_held = False
    widget.open()
    return widget
