"""sentence-transformers' ``models``: the workbench's modules under the names its tutorials use.

``models.Transformer``, ``models.Pooling`` (with ``pooling_mode=`` or the
``pooling_mode_*_tokens`` flags), ``models.Dense``, ``models.Normalize``,
``models.WordEmbeddings``, ... are the classes of :mod:`workbench.modules`.

Example
-------
>>> from workbench import models
>>> models.Pooling(8, pooling_mode_mean_tokens=True).modes
('mean',)
"""

from .modules import (
    BoW,
    CNN,
    LSTM,
    Dense,
    Normalize,
    Pooling,
    StaticEmbedding,
    Transformer,
    WeightedLayerPooling,
    WKPooling,
    WordEmbeddings,
    WordWeights,
)

__all__ = [
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
