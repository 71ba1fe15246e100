"""sentence-workbench: sentence embeddings you can train, evaluate and explore.

The core library; importable without Jupyter.
"""
from .data import Example, load_dataset
from .cross_encoder import CrossEncoder
from .encoder import SentenceEncoder
from .hard_negatives import mine_hard_negatives
from .hooks import Callback, Hooks, TqdmProgress

__all__ = ["SentenceEncoder", "CrossEncoder", "Example", "load_dataset", "Callback", "Hooks", "TqdmProgress", "mine_hard_negatives"]
__version__ = "0.1.0"
