"""WordEmbeddings: static word vectors (GloVe, word2vec, fastText text files) as the first module."""

from __future__ import annotations

import gzip
import logging
import os
from pathlib import Path
from typing import Any, ClassVar, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from ..io import read_json
from .base import CONFIG_NAME, Module, read_weights, register
from .tokenizers import WordTokenizer

logger = logging.getLogger(__name__)

#: Row 0 of every WordEmbeddings matrix: a zero vector that padding positions look up.
PADDING_TOKEN = "PADDING_TOKEN"
PADDING_IDX = 0
#: What sentence-transformers records as the tokenizer class of our vocabulary files.
ST_TOKENIZER_CLASS = "sentence_transformers.models.tokenizer.WhitespaceTokenizer.WhitespaceTokenizer"


class NamedConfigFile:
    """Mixin: keep the config under the file name sentence-transformers uses for the module.

    sentence-transformers stores some modules' settings in ``lstm_config.json``,
    ``cnn_config.json``, … instead of ``config.json``; writing and reading that
    name keeps saved folders loadable by both libraries.
    """

    config_file_name: ClassVar[str]

    def save(self, path: str | os.PathLike) -> None:
        super().save(path)  # type: ignore[misc]
        os.replace(Path(path) / CONFIG_NAME, Path(path) / self.config_file_name)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Module:
        path = Path(path)
        module = cls(**cls.config_from_file(read_json(path / cls.config_file_name)))  # type: ignore[attr-defined]
        module.load_weights(path)  # type: ignore[attr-defined]  # the mixin is only used with Module
        return module


@register
class WordEmbeddings(NamedConfigFile, Module):
    """Look up a static vector for each word: the input module of GloVe-style encoders.

    Row 0 of the matrix is the padding vector (zeros); ``tokenize`` pads with id 0.
    Follow it with :class:`~workbench.modules.Pooling` (mean pooling gives the
    classic average-of-word-vectors sentence embedding), or with LSTM/CNN first.

    Parameters
    ----------
    tokenizer:
        The :class:`~workbench.modules.tokenizers.WordTokenizer` whose vocabulary
        indexes the rows of ``embeddings``.
    embeddings:
        The (vocabulary size, dimension) matrix, padding row first.
    update_embeddings:
        Train the vectors (``False`` freezes them).
    max_seq_length:
        Keep at most this many words of each text.

    Use :meth:`from_text_file`, :meth:`from_arrays` or :meth:`from_glove_npy`
    to build one from vectors without a padding row.

    Saved folders have sentence-transformers' layout and load there too; its
    WhitespaceTokenizer strips punctuation where ours splits it off, so texts
    with punctuation may get different word ids there.

    Example
    -------
    >>> import numpy as np
    >>> from workbench import SentenceEncoder
    >>> from workbench.modules import Pooling, WordEmbeddings
    >>> words = WordEmbeddings.from_arrays(np.eye(3, dtype=np.float32), ["cat", "dog", "sat"])
    >>> features = words.tokenize(["The cat sat", "dog"])
    >>> features["input_ids"].tolist(), features["sentence_lengths"].tolist()
    ([[1, 3], [2, 0]], [2, 1])
    >>> encoder = SentenceEncoder(modules=[words, Pooling(3)], device="cpu")
    >>> encoder.encode(["cat sat"]).tolist()
    [[0.5, 0.0, 0.5]]
    """

    st_name = "WordEmbeddings"
    config_file_name = "wordembedding_config.json"
    config_keys = ("update_embeddings", "max_seq_length")

    def __init__(
        self,
        tokenizer: WordTokenizer,
        embeddings: torch.Tensor | np.ndarray,
        update_embeddings: bool = False,
        max_seq_length: int = 1_000_000,
    ) -> None:
        super().__init__()
        embeddings = torch.as_tensor(embeddings, dtype=torch.float32)
        if embeddings.ndim != 2:
            raise ValueError(f"embeddings must be a (words, dimension) matrix, got shape {tuple(embeddings.shape)}")
        if embeddings.shape[0] != len(tokenizer):
            raise ValueError(
                f"embeddings has {embeddings.shape[0]} rows but the vocabulary has {len(tokenizer)} words; "
                "they must match (row 0 is the padding vector)"
            )
        if max_seq_length < 1:
            raise ValueError(f"max_seq_length must be at least 1, got {max_seq_length}")
        self.tokenizer = tokenizer
        self.emb_layer = nn.Embedding.from_pretrained(embeddings, freeze=True, padding_idx=PADDING_IDX)
        self.update_embeddings = update_embeddings
        self.max_seq_length = int(max_seq_length)

    @property
    def update_embeddings(self) -> bool:
        """Whether training updates the vectors; set it to freeze or unfreeze them."""
        return self.emb_layer.weight.requires_grad

    @update_embeddings.setter
    def update_embeddings(self, value: bool) -> None:
        self.emb_layer.weight.requires_grad_(bool(value))

    def get_word_embedding_dimension(self) -> int:
        return self.emb_layer.embedding_dim

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Word ids padded with 0, the attention mask and the number of words of each text."""
        ids = [self.tokenizer.tokenize(text)[: self.max_seq_length] for text in texts]
        lengths = torch.tensor([len(row) for row in ids], dtype=torch.long)
        width = max(1, int(lengths.max())) if ids else 1  # a batch of empty texts still has one (padding) column
        input_ids = torch.full((len(ids), width), PADDING_IDX, dtype=torch.long)
        for row, word_ids in enumerate(ids):
            input_ids[row, : len(word_ids)] = torch.tensor(word_ids, dtype=torch.long)
        attention_mask = (torch.arange(width).unsqueeze(0) < lengths.unsqueeze(1)).long()
        return {"input_ids": input_ids, "attention_mask": attention_mask, "sentence_lengths": lengths}

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        input_ids = features["input_ids"]
        features["token_embeddings"] = self.emb_layer(input_ids)
        if "attention_mask" not in features:
            features["attention_mask"] = input_ids.ne(PADDING_IDX).long()
        return features

    # ------------------------------------------------------------------ files
    def get_config(self) -> dict[str, Any]:
        return {"tokenizer_class": ST_TOKENIZER_CLASS, **super().get_config()}

    def save(self, path: str | os.PathLike) -> None:
        """Write ``wordembedding_config.json``, ``model.safetensors`` and the vocabulary file."""
        super().save(path)
        self.tokenizer.save(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "WordEmbeddings":
        """Load a folder written by :meth:`save` or by sentence-transformers' WordEmbeddings."""
        path = Path(path)
        config = cls.config_from_file(read_json(path / cls.config_file_name))
        weights = read_weights(path, cls.__name__)["emb_layer.weight"]
        return cls(WordTokenizer.load(path), weights, **config)

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_arrays(
        cls,
        vectors: np.ndarray | torch.Tensor,
        vocab: Sequence[str],
        update_embeddings: bool = False,
        max_seq_length: int = 1_000_000,
        do_lower_case: bool = True,
        stop_words: Iterable[str] = (),
        unknown_token: str | None = None,
    ) -> "WordEmbeddings":
        """Build from a (words, dimension) matrix and its words; a zero padding row is put first.

        Parameters
        ----------
        vectors:
            One row per word of ``vocab``.
        vocab:
            The words, in row order.
        update_embeddings, max_seq_length:
            As in the constructor.
        do_lower_case, stop_words, unknown_token:
            Settings of the :class:`~workbench.modules.tokenizers.WordTokenizer`;
            ``do_lower_case=True`` suits lower-cased vocabularies such as GloVe 6B.

        Example
        -------
        >>> import numpy as np
        >>> words = WordEmbeddings.from_arrays(np.ones((2, 4), dtype=np.float32), ["yes", "no"])
        >>> words.tokenizer.vocab, words.emb_layer.weight.shape
        (['PADDING_TOKEN', 'yes', 'no'], torch.Size([3, 4]))
        """
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be a (words, dimension) matrix, got shape {vectors.shape}")
        if len(vocab) != vectors.shape[0]:
            raise ValueError(f"vocab has {len(vocab)} words but vectors has {vectors.shape[0]} rows; they must match")
        matrix = np.concatenate([np.zeros((1, vectors.shape[1]), dtype=np.float32), vectors])
        tokenizer = WordTokenizer(
            [PADDING_TOKEN, *vocab], stop_words=stop_words, do_lower_case=do_lower_case, unknown_token=unknown_token
        )
        return cls(
            tokenizer, torch.from_numpy(matrix), update_embeddings=update_embeddings, max_seq_length=max_seq_length
        )

    @classmethod
    def from_glove_npy(cls, npy_path: str | os.PathLike, words: Sequence[str], **kwargs: Any) -> "WordEmbeddings":
        """Build from a ``.npy`` matrix (e.g. GloVe 6B 50d, (400000, 50)) and its words in row order.

        ``kwargs`` are those of :meth:`from_arrays`.

        Example
        -------
        >>> import pandas as pd                                                        # doctest: +SKIP
        >>> words = pd.read_parquet("glove_6B_index.parquet")["index"].tolist()        # doctest: +SKIP
        >>> glove = WordEmbeddings.from_glove_npy("glove_6B_50d_emb.npy", words)       # doctest: +SKIP
        """
        npy_path = Path(npy_path)
        if not npy_path.is_file():
            raise FileNotFoundError(f"missing file: {npy_path} (the word-vector matrix, a .npy file)")
        return cls.from_arrays(np.load(npy_path), words, **kwargs)

    @classmethod
    def from_text_file(
        cls,
        path: str | os.PathLike,
        separator: str = " ",
        max_vocab_size: int | None = None,
        **kwargs: Any,
    ) -> "WordEmbeddings":
        """Read a GloVe / word2vec / fastText text file: one ``word v1 v2 …`` line per word.

        A word2vec header line (``<count> <dimension>``) is skipped; ``.gz`` files
        are read compressed.  Lines with another number of values than the first
        line are skipped with a warning (e.g. the few words with spaces in GloVe 840B).

        Parameters
        ----------
        path:
            The text file (``.txt``, ``.vec`` or ``.gz``).
        separator:
            What separates the word and the values.
        max_vocab_size:
            Read only the first words (files are usually sorted by frequency).
        kwargs:
            Those of :meth:`from_arrays`.

        Example
        -------
        >>> import tempfile, pathlib
        >>> file = pathlib.Path(tempfile.mkdtemp()) / "vectors.txt"
        >>> _ = file.write_text("cat 1 0\\ndog 0 1\\n")
        >>> WordEmbeddings.from_text_file(file).encode_words(["dog"]).tolist()
        [[0.0, 1.0]]
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"missing file: {path} (a word-vector text file)")
        words, rows, skipped = [], [], []
        dim = None
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, 1):
                word, _, values = line.rstrip().partition(separator)
                if not values:
                    continue
                if dim is None:
                    if line_no == 1 and _is_word2vec_header(word, values):
                        continue
                    dim = values.count(separator) + 1
                # Counting separators is cheap; the numbers are parsed in one call below.
                if values.count(separator) + 1 != dim:
                    skipped.append(line_no)
                    continue
                words.append(word)
                rows.append(values)
                if max_vocab_size is not None and len(words) >= max_vocab_size:
                    break
        if not words:
            raise ValueError(f"{path} has no word vectors (expected lines like 'word 0.1 0.2 …')")
        if skipped:
            logger.warning(
                "%s: skipped %d line(s) whose number of values is not %d (first: line %d)",
                path,
                len(skipped),
                dim,
                skipped[0],
            )
        try:
            vectors = np.loadtxt(rows, dtype=np.float32, delimiter=separator, comments=None, ndmin=2)
        except ValueError as err:
            raise ValueError(
                f"{path} has values that are not numbers ({err}); expected lines like 'word 0.1 0.2 …'"
            ) from None
        return cls.from_arrays(vectors, words, **kwargs)

    def encode_words(self, words: Sequence[str]) -> torch.Tensor:
        """The vector of each word (the padding vector for unknown ones)."""
        ids = [self.tokenizer.word2idx.get(w, self.tokenizer.word2idx.get(w.lower(), PADDING_IDX)) for w in words]
        return self.emb_layer.weight[torch.tensor(ids, dtype=torch.long)].detach()


def _is_word2vec_header(first: str, rest: str) -> bool:
    return first.isdigit() and rest.strip().isdigit()
