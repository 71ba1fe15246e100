"""sentence-workbench: sentence embeddings you can train, evaluate and explore.

The core library; importable without Jupyter.
"""
from .encoder import SentenceEncoder
from .hooks import Callback, Hooks, TqdmProgress

__all__ = ["SentenceEncoder", "Callback", "Hooks", "TqdmProgress"]
__version__ = "0.1.0"
