"""BoW: a bag-of-words (optionally tf-idf) vector as the sentence embedding."""

from __future__ import annotations

from typing import Any, Sequence

import torch

from .base import Module, register
from .tokenizers import WordTokenizer
from .word_weights import vocab_weights


@register
class BoW(Module):
    """One dimension per vocabulary word: term counts (or presence) times the word's weight.

    An input module: :meth:`tokenize` builds the bag of each text as a dense
    (texts, vocabulary) tensor and ``forward`` weighs it into ``sentence_embedding``.
    With idf values as ``word_weights`` this is a tf-idf vector.

    Parameters
    ----------
    vocab:
        The words (repeats are dropped); matched as written, then lower-cased.
    word_weights:
        Word -> weight (e.g. idf); ``None`` weighs every word 1.
    unknown_word_weight:
        The weight of vocabulary words missing from ``word_weights``.
    cumulative_term_frequency:
        Count repeated words (``True``) or only note their presence.

    Example
    -------
    >>> from workbench import SentenceEncoder
    >>> from workbench.modules import BoW
    >>> bow = BoW(["cat", "dog", "sat"], word_weights={"cat": 2.0})
    >>> SentenceEncoder(modules=[bow], device="cpu").encode(["The cat sat with the cat."]).tolist()
    [[4.0, 0.0, 1.0]]
    """

    st_name = "BoW"
    config_keys = ("vocab", "word_weights", "unknown_word_weight", "cumulative_term_frequency")

    def __init__(
        self,
        vocab: Sequence[str],
        word_weights: dict[str, float] | None = None,
        unknown_word_weight: float = 1.0,
        cumulative_term_frequency: bool = True,
    ) -> None:
        super().__init__()
        self.vocab = list(dict.fromkeys(vocab))
        self.word_weights = dict(word_weights or {})
        self.unknown_word_weight = float(unknown_word_weight)
        self.cumulative_term_frequency = bool(cumulative_term_frequency)
        self.tokenizer = WordTokenizer(self.vocab, do_lower_case=False)
        # Derived from the config, so not saved as a tensor (sentence-transformers saves none either).
        self.register_buffer(
            "weights", vocab_weights(self.vocab, self.word_weights, self.unknown_word_weight), persistent=False
        )

    def get_sentence_embedding_dimension(self) -> int:
        return len(self.vocab)

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """``bag_of_words``: (texts, vocabulary) term counts, or 0/1 presence when not cumulative."""
        bags = torch.zeros((len(texts), len(self.vocab)), dtype=torch.float32)
        for row, text in enumerate(texts):
            ids = torch.tensor(self.tokenizer.tokenize(text), dtype=torch.long)
            bags[row].index_add_(0, ids, torch.ones(len(ids)))
        if not self.cumulative_term_frequency:
            bags.clamp_(max=1.0)
        return {"bag_of_words": bags}

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        features["sentence_embedding"] = features["bag_of_words"] * self.weights
        return features
