"""Collection of the docstring examples: the views' need the widget extra, like tests/test_widgets.py."""

from __future__ import annotations

import importlib.util

# Without the widget extra the views cannot be imported; their examples are left out rather than failing.
collect_ignore_glob = (
    [] if all(importlib.util.find_spec(name) for name in ("ipywidgets", "plotly", "anywidget")) else ["widgets/*"]
)
