"""WordTokenizer: words and punctuation to vocabulary ids, for the word-level modules."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterable

from ..io import read_json, write_json

#: The file sentence-transformers' WhitespaceTokenizer reads and writes; we use the same
#: name and keys so that either library can load the other's vocabulary.
TOKENIZER_CONFIG_NAME = "whitespacetokenizer_config.json"

# A word may hold inner hyphens, apostrophes and dots ("e-mail", "don't", "3.5");
# any other non-space character is a token of its own.
_TOKEN = re.compile(r"\w+(?:[-'.]\w+)*|[^\w\s]")
# Pieces of a compound missing from the vocabulary; clitics split the way GloVe's
# (Penn Treebank) tokenisation does: "don't" -> "do" "n't", "dog's" -> "dog" "'s".
_PIECE = re.compile(r"\w+?(?=n't\b)|n't\b|'\w+|\w+|[^\w\s]", re.IGNORECASE)


class WordTokenizer:
    """Split text into words and punctuation and map them to vocabulary ids.

    A token is looked up as written, then lower-cased; a compound such as
    ``"e-mail"`` that is not in the vocabulary is looked up piece by piece
    (``"e"``, ``"-"``, ``"mail"``; ``"don't"`` as ``"do"``, ``"n't"``).  Stop
    words are dropped.

    Parameters
    ----------
    vocab:
        The words; a word's id is its position (the first one wins for repeats).
    stop_words:
        Tokens to drop (compared as written and lower-cased).
    do_lower_case:
        Lower-case the text before splitting it.
    unknown_token:
        A vocabulary word that unknown tokens map to; ``None`` drops them.

    Example
    -------
    >>> from workbench.modules.tokenizers import WordTokenizer
    >>> tok = WordTokenizer(["PADDING_TOKEN", "hello", "world", "!"], stop_words=["the"])
    >>> tok.split("Hello, the World!")
    ['hello', ',', 'the', 'world', '!']
    >>> tok.tokenize("Hello, the World!")
    [1, 2, 3]
    """

    def __init__(
        self,
        vocab: Iterable[str],
        stop_words: Iterable[str] = (),
        do_lower_case: bool = True,
        unknown_token: str | None = None,
    ) -> None:
        self.vocab = list(vocab)
        # Filled back to front so that the first of repeated words keeps its id.
        self.word2idx: dict[str, int] = dict(zip(reversed(self.vocab), range(len(self.vocab) - 1, -1, -1)))
        self.stop_words = set(stop_words)
        self.do_lower_case = bool(do_lower_case)
        if unknown_token is not None and unknown_token not in self.word2idx:
            raise ValueError(
                f"unknown_token {unknown_token!r} is not in the vocabulary; give a vocabulary word or None"
            )
        self.unknown_token = unknown_token

    def __len__(self) -> int:
        return len(self.vocab)

    def split(self, text: str) -> list[str]:
        """The tokens of ``text`` (words and punctuation marks), before the vocabulary lookup."""
        return _TOKEN.findall(text.lower() if self.do_lower_case else text)

    def tokenize(self, text: str) -> list[int]:
        """The vocabulary ids of ``text``: no stop words, and unknown tokens only as ``unknown_token``."""
        unknown = [self.word2idx[self.unknown_token]] if self.unknown_token is not None else []
        ids: list[int] = []
        for token in self.split(text):
            found = self._lookup(token)
            if found is None and not token.isalnum():  # a compound: try its pieces
                pieces = [self._lookup(piece) for piece in _PIECE.findall(token)]
                if any(piece is not None for piece in pieces):
                    found = [idx for piece in pieces if piece for idx in piece]
            ids.extend(unknown if found is None else found)
        return ids

    def _lookup(self, token: str) -> list[int] | None:
        """``[]`` for a stop word, ``[id]`` for a known token, ``None`` for an unknown one."""
        if token in self.stop_words or token.lower() in self.stop_words:
            return []
        idx = self.word2idx.get(token)
        if idx is None:
            idx = self.word2idx.get(token.lower())
        return None if idx is None else [idx]

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "vocab": self.vocab,
            "stop_words": sorted(self.stop_words),
            "do_lower_case": self.do_lower_case,
        }
        # Written only when set: sentence-transformers rejects keys it does not know.
        if self.unknown_token is not None:
            config["unknown_token"] = self.unknown_token
        return config

    def save(self, path: str | os.PathLike) -> None:
        """Write the vocabulary and settings to ``<path>/whitespacetokenizer_config.json``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        write_json(path / TOKENIZER_CONFIG_NAME, self.get_config())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "WordTokenizer":
        """Read a tokenizer saved by :meth:`save` or by sentence-transformers' WhitespaceTokenizer."""
        file = Path(path) / TOKENIZER_CONFIG_NAME
        if not file.is_file():
            raise FileNotFoundError(
                f"missing file: {file} (the word vocabulary; only whitespace-tokenizer vocabularies are supported)"
            )
        config = read_json(file)
        return cls(**{k: config[k] for k in ("vocab", "stop_words", "do_lower_case", "unknown_token") if k in config})
