"""Losses that train a :class:`~workbench.CrossEncoder` (the names follow sentence-transformers' cross-encoder losses).

Each takes examples of a query and candidate texts; the trainer's collator
tokenizes every candidate together with its query (see :mod:`.base`).

Example
-------
>>> from workbench.losses.cross import CROSS_LOSSES
>>> CROSS_LOSSES["BinaryCrossEntropyLoss"].columns
2
"""

from .base import CrossEncoderLoss
from .binary_cross_entropy import BinaryCrossEntropyLoss
from .cross_entropy import CrossEntropyLoss
from .list_net import ListNetLoss
from .margin_mse import MarginMSELoss
from .mse import MSELoss
from .multiple_negatives_ranking import MultipleNegativesRankingLoss

#: loss name -> class
CROSS_LOSSES: dict[str, type[CrossEncoderLoss]] = {
    cls.__name__: cls
    for cls in (
        BinaryCrossEntropyLoss,
        CrossEntropyLoss,
        MSELoss,
        MarginMSELoss,
        ListNetLoss,
        MultipleNegativesRankingLoss,
    )
}

__all__ = ["CrossEncoderLoss", "CROSS_LOSSES", *CROSS_LOSSES]
