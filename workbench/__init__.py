"""sentence-workbench: sentence embeddings you can train, evaluate and explore.

The core library; importable without Jupyter.  sentence-transformers' names
(``SentenceTransformer``, ``InputExample``, ``SentencesDataset``, and the
modules ``losses``, ``evaluation``, ``models``, ``readers``, ``util``) are
importable from here too, so its tutorials run after changing their import
(see :mod:`workbench.compat`).
"""

from .compat import InputExample, LoggingHandler, SentencesDataset, SentenceTransformer
from .data import Example, load_dataset
from .cross_encoder import CrossEncoder
from .encoder import SentenceEncoder
from .hard_negatives import mine_hard_negatives
from .hooks import EVENTS, Callback, Hooks, Progress, TqdmProgress

__all__ = [
    "SentenceEncoder",
    "CrossEncoder",
    "Example",
    "load_dataset",
    "Callback",
    "Hooks",
    "Progress",
    "EVENTS",
    "TqdmProgress",
    "mine_hard_negatives",
    # sentence-transformers' names (workbench.compat)
    "SentenceTransformer",
    "InputExample",
    "SentencesDataset",
    "LoggingHandler",
]
__version__ = "0.1.0"
