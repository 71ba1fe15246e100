"""Notebook views of the workbench: ipywidgets and plotly, fed by the core's events.

The only layer that imports ipywidgets, plotly and umap; ``workbench`` never
imports it.  Each view has ``.widget`` (``display(view)`` shows it) and a plain
Python state API (set a value, press a button, read the result), so it can be
driven without a browser.

Example
-------
>>> from widgets import TrainingMonitor
>>> monitor = TrainingMonitor()
>>> # display(monitor); model.fit([(data, loss)], evaluator, callbacks=[monitor])
"""

from .cluster_explorer import ClusterExplorer
from .duplicate_finder import DuplicateFinder
from .model_picker import ModelPicker
from .progress import ProgressBar
from .retrieval_explorer import RetrievalExplorer
from .reproducibility_card import ReproducibilityCard
from .runs_table import RunsTable
from .search_box import SearchBox
from .sts_explorer import STSExplorer
from .table_picker import TablePicker
from .training_monitor import TrainingMonitor

__all__ = [
    "TrainingMonitor",
    "STSExplorer",
    "SearchBox",
    "ClusterExplorer",
    "RetrievalExplorer",
    "DuplicateFinder",
    "ModelPicker",
    "ProgressBar",
    "TablePicker",
    "ReproducibilityCard",
    "RunsTable",
]
