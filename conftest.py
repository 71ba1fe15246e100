"""Collection of the docstring examples: the views' need the widget extra, like tests/test_widgets.py."""

from __future__ import annotations

import doctest
import importlib.util

import pytest

# Without the widget extra the views cannot be imported; their examples are left out rather than failing.
collect_ignore_glob = (
    [] if all(importlib.util.find_spec(name) for name in ("ipywidgets", "plotly", "anywidget")) else ["widgets/*"]
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A docstring whose every example is marked +SKIP (it needs a model, data or a kernel) documents usage and
    # runs nothing: collected, it would only add a "skipped" line to every run, hiding the skips that matter.
    items[:] = [item for item in items if not _only_skipped_examples(item)]


def _only_skipped_examples(item: pytest.Item) -> bool:
    test = getattr(item, "dtest", None)
    return (
        isinstance(test, doctest.DocTest)
        and bool(test.examples)
        and all(example.options.get(doctest.SKIP, False) for example in test.examples)
    )
