"""Training losses: each takes one tokenized batch per text column (and labels) and returns a scalar.

Every loss states in its docstring the columns and labels it expects and
rejects other batches with a ``ValueError`` that says what it got.
:data:`LOSSES` maps each loss's name to its class.

Example
-------
>>> from workbench.losses import LOSSES
>>> LOSSES["MultipleNegativesRankingLoss"].columns
(2, None)
"""

from .angle import AnglELoss
from .base import Loss
from .batch_all_triplet import BatchAllTripletLoss
from .batch_hard_soft_margin_triplet import BatchHardSoftMarginTripletLoss
from .batch_hard_triplet import BatchHardTripletLoss
from .batch_semi_hard_triplet import BatchSemiHardTripletLoss
from .cached_gist_embed import CachedGISTEmbedLoss
from .cached_multiple_negatives_ranking import CachedMultipleNegativesRankingLoss
from .contrastive import ContrastiveLoss
from .cosent import CoSENTLoss
from .cosine_similarity import CosineSimilarityLoss
from .gist_embed import GISTEmbedLoss
from .margin_mse import MarginMSELoss
from .matryoshka import MatryoshkaLoss
from .mse import MSELoss
from .multiple_negatives_ranking import MultipleNegativesRankingLoss
from .online_contrastive import OnlineContrastiveLoss
from .softmax import SoftmaxLoss
from .triplet import TripletLoss

#: loss name -> class
LOSSES: dict[str, type[Loss]] = {
    cls.__name__: cls
    for cls in (
        SoftmaxLoss,
        CosineSimilarityLoss,
        TripletLoss,
        BatchHardTripletLoss,
        BatchSemiHardTripletLoss,
        BatchAllTripletLoss,
        BatchHardSoftMarginTripletLoss,
        MultipleNegativesRankingLoss,
        CachedMultipleNegativesRankingLoss,
        MSELoss,
        ContrastiveLoss,
        OnlineContrastiveLoss,
        CoSENTLoss,
        AnglELoss,
        MatryoshkaLoss,
        GISTEmbedLoss,
        CachedGISTEmbedLoss,
        MarginMSELoss,
    )
}

__all__ = ["Loss", "LOSSES", *LOSSES]
