"""sentence-workbench: sentence embeddings you can train, evaluate and explore.

The core library; importable without Jupyter.
"""
from .data import Example, load_dataset
from .cross_encoder import CrossEncoder
from .encoder import SentenceEncoder
from .hooks import Callback, Hooks, TqdmProgress

__all__ = ["SentenceEncoder", "CrossEncoder", "Example", "load_dataset", "Callback", "Hooks", "TqdmProgress"]
__version__ = "0.1.0"
