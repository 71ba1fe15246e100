"""Building blocks of an encoder; each one is a folder in a saved model."""
from .base import MODULES, ST_TYPES, Module, register
from .dense import Dense
from .normalize import Normalize
from .pooling import Pooling
from .transformer import Transformer

__all__ = ["MODULES", "ST_TYPES", "Module", "register", "Transformer", "Pooling", "Dense", "Normalize"]
