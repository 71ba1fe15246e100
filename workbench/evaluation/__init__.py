"""Evaluators: score a model on held-out data during or after training.

Every evaluator is called as ``evaluator(model, output_path=None, epoch=-1,
steps=-1)`` and returns a flat dict of metrics whose keys start with its
``name``; ``primary_metric`` names the key a trainer should watch.

Example
-------
>>> from workbench.evaluation import EmbeddingSimilarityEvaluator
>>> sts = EmbeddingSimilarityEvaluator(["a", "b"], ["c", "d"], [1.0, 0.0], name="sts-dev")
>>> sts.primary_metric
'sts-dev_spearman_cosine'
"""

from .base import Evaluator
from .binary_classification import BinaryClassificationEvaluator
from .cross_encoder_classification import CrossEncoderClassificationEvaluator
from .cross_encoder_correlation import CrossEncoderCorrelationEvaluator
from .cross_encoder_reranking import CrossEncoderRerankingEvaluator
from .embedding_similarity import EmbeddingSimilarityEvaluator
from .information_retrieval import InformationRetrievalEvaluator, QueryResult, RankedDocument, retrieval_metrics
from .label_accuracy import LabelAccuracyEvaluator
from .mse import MSEEvaluator
from .paraphrase_mining import ParaphraseMiningEvaluator
from .senteval import SentEvalEvaluator
from .sequential import SequentialEvaluator
from .translation import TranslationEvaluator
from .triplet import TripletEvaluator

__all__ = [
    "Evaluator",
    "BinaryClassificationEvaluator",
    "CrossEncoderClassificationEvaluator",
    "CrossEncoderCorrelationEvaluator",
    "CrossEncoderRerankingEvaluator",
    "EmbeddingSimilarityEvaluator",
    "InformationRetrievalEvaluator",
    "LabelAccuracyEvaluator",
    "MSEEvaluator",
    "ParaphraseMiningEvaluator",
    "QueryResult",
    "RankedDocument",
    "SentEvalEvaluator",
    "SequentialEvaluator",
    "TranslationEvaluator",
    "TripletEvaluator",
    "retrieval_metrics",
]
