"""Building blocks of an encoder; each one is a folder in a saved model."""

from .base import MODULES, ST_TYPES, Module, register
from .dense import Dense
from .normalize import Normalize
from .pooling import Pooling
from .transformer import Transformer
from .bow import BoW
from .cnn import CNN
from .lstm import LSTM
from .static_embedding import StaticEmbedding
from .weighted_layer_pooling import WeightedLayerPooling
from .wk_pooling import WKPooling
from .word_embeddings import WordEmbeddings
from .word_weights import WordWeights

__all__ = [
    "MODULES",
    "ST_TYPES",
    "Module",
    "register",
    "Transformer",
    "Pooling",
    "Dense",
    "Normalize",
    "WordEmbeddings",
    "WordWeights",
    "LSTM",
    "CNN",
    "BoW",
    "WeightedLayerPooling",
    "WKPooling",
    "StaticEmbedding",
]
