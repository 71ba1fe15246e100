"""WordWeights: scale each word vector by a per-word weight such as its idf."""

from __future__ import annotations

import logging
from typing import Any, Sequence

import torch
from torch import nn

from .base import Module, register

logger = logging.getLogger(__name__)


def vocab_weights(vocab: Sequence[str], word_weights: dict[str, float], unknown_word_weight: float) -> torch.Tensor:
    """One weight per vocabulary word: its own, else its lower-cased form's, else ``unknown_word_weight``."""
    weights = []
    missing = 0
    for word in vocab:
        weight = word_weights.get(word, word_weights.get(word.lower()))
        if weight is None:
            missing += 1
            weight = unknown_word_weight
        weights.append(float(weight))
    if missing:
        logger.info(
            "%d of %d words have no weight; they get unknown_word_weight=%s", missing, len(vocab), unknown_word_weight
        )
    return torch.tensor(weights, dtype=torch.float32)


@register
class WordWeights(Module):
    """Multiply each token embedding by its word's weight and record the weight sums.

    Put it right after :class:`~workbench.modules.WordEmbeddings` (same
    vocabulary); the following mean :class:`~workbench.modules.Pooling` then
    divides by the summed weights (``token_weights_sum``), giving a weighted average.

    Parameters
    ----------
    vocab:
        The vocabulary of the WordEmbeddings module, in id order.
    word_weights:
        Word -> weight (e.g. idf); it may hold more or fewer words than ``vocab``.
    unknown_word_weight:
        The weight of vocabulary words missing from ``word_weights``.

    Example
    -------
    >>> import torch
    >>> from workbench.modules import WordWeights
    >>> weigh = WordWeights(["PADDING_TOKEN", "the", "cat"], {"the": 0.1, "cat": 2.0})
    >>> out = weigh({"input_ids": torch.tensor([[1, 2]]), "attention_mask": torch.ones(1, 2),
    ...              "token_embeddings": torch.ones(1, 2, 3)})
    >>> out["token_embeddings"][0, :, 0].tolist(), out["token_weights_sum"].tolist()
    ([0.10000000149011612, 2.0], [2.0999999046325684])
    """

    st_name = "WordWeights"
    config_keys = ("vocab", "word_weights", "unknown_word_weight")

    def __init__(self, vocab: Sequence[str], word_weights: dict[str, float], unknown_word_weight: float = 1.0) -> None:
        super().__init__()
        self.vocab = list(vocab)
        self.word_weights = dict(word_weights)
        self.unknown_word_weight = float(unknown_word_weight)
        weights = vocab_weights(self.vocab, self.word_weights, self.unknown_word_weight)
        self.emb_layer = nn.Embedding.from_pretrained(weights.unsqueeze(1), freeze=False)

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        tokens = features["token_embeddings"]
        weights = self.emb_layer(features["input_ids"]).squeeze(-1) * features["attention_mask"].to(tokens.dtype)
        features["token_embeddings"] = tokens * weights.unsqueeze(-1)
        features["token_weights_sum"] = weights.sum(1)
        return features
