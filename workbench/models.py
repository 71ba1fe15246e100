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

# Every module class (and the registry beside them: MODULES, Module, register) under its own name.
from .modules import *  # noqa: F403
