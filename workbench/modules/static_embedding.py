"""StaticEmbedding: the mean of per-token vectors (model2vec models), a very fast input module."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn

from ..io import read_json, read_tensor_file
from .base import CONFIG_NAME, WEIGHTS_NAME, Module, register
from .normalize import Normalize

TOKENIZER_NAME = "tokenizer.json"
#: model2vec's encode keeps this many tokens of each text.
MODEL2VEC_MAX_LENGTH = 512


def fold_model2vec(
    embeddings: torch.Tensor, mapping: torch.Tensor | None = None, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """One float row per token id: ``embeddings[mapping[id]] * weights[id]``.

    Vocabulary-quantised model2vec models share rows between tokens
    (``mapping``) and scale each token (``weights``).  int8 rows are cast to
    float without a scale; the scale is uniform, so it does not change
    normalised embeddings.
    """
    rows = embeddings.to(torch.float32)
    if mapping is not None:
        rows = rows[mapping.to(torch.long)]
    if weights is not None:
        if weights.shape != (rows.shape[0],):
            raise ValueError(
                f"model2vec weights have shape {tuple(weights.shape)}; expected ({rows.shape[0]},), one per token"
            )
        rows = rows * weights.to(torch.float32).unsqueeze(1)
    return rows.contiguous()


def _folder_file(folder: Path, name: str, what: str) -> Path:
    file = folder / name
    if not file.is_file():
        raise FileNotFoundError(f"missing file: {file} ({what})")
    return file


@register
class StaticEmbedding(Module):
    """Sentence embedding = mean of the token vectors (an ``nn.EmbeddingBag``); trainable.

    An input module: ``tokenize`` runs a Hugging Face ``tokenizers.Tokenizer``
    without special tokens and gives the flat ``input_ids`` with each text's
    start in ``offsets``.

    Parameters
    ----------
    tokenizer:
        A ``tokenizers.Tokenizer`` (its padding and truncation are switched off).
    embeddings:
        The (tokens, dimension) matrix; row i is token id i.
    embedding_dim:
        Without ``embeddings``: the width of a randomly initialised matrix.
    max_seq_length:
        Keep at most this many tokens of each text; ``None`` keeps all.

    model2vec folders load with :meth:`from_model2vec`.  Their config's
    ``normalize`` is not part of this module: the encoder gets a
    :class:`~workbench.modules.Normalize` after it, as :func:`model2vec_modules`
    does, so that the choice is visible in the saved modules list.

    Example
    -------
    >>> from tokenizers import Tokenizer, models, pre_tokenizers
    >>> from workbench.modules import StaticEmbedding
    >>> tok = Tokenizer(models.WordLevel({"[UNK]": 0, "red": 1, "car": 2}, unk_token="[UNK]"))
    >>> tok.pre_tokenizer = pre_tokenizers.Whitespace()
    >>> static = StaticEmbedding(tok, embeddings=[[0.0, 0.0], [1.0, 0.0], [0.0, 3.0]])
    >>> static(static.tokenize(["red car", "car"]))["sentence_embedding"].tolist()
    [[0.5, 1.5], [0.0, 3.0]]
    """

    st_name = "StaticEmbedding"
    config_keys = ("max_seq_length",)

    def __init__(
        self,
        tokenizer: Tokenizer,
        embeddings: torch.Tensor | np.ndarray | list | None = None,
        embedding_dim: int | None = None,
        max_seq_length: int | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(tokenizer, Tokenizer):
            raise TypeError(
                f"tokenizer must be a tokenizers.Tokenizer, got {type(tokenizer).__name__} "
                "(for a transformers fast tokenizer pass its .backend_tokenizer)"
            )
        vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
        if embeddings is not None:
            weight = torch.as_tensor(embeddings, dtype=torch.float32).detach()
            if weight.ndim != 2 or weight.shape[0] < vocab_size:
                raise ValueError(
                    f"embeddings must be a (tokens, dimension) matrix with at least {vocab_size} rows "
                    f"(the tokenizer's vocabulary), got shape {tuple(weight.shape)}"
                )
            # A copy: training must not write into the caller's array.
            self.embedding = nn.EmbeddingBag.from_pretrained(weight.clone(), freeze=False, mode="mean")
        elif embedding_dim is not None:
            self.embedding = nn.EmbeddingBag(vocab_size, int(embedding_dim), mode="mean")
        else:
            raise ValueError("give embeddings (a matrix) or embedding_dim (for random vectors)")
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length

    def get_sentence_embedding_dimension(self) -> int:
        return self.embedding.embedding_dim

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Flat ``input_ids`` of all texts and ``offsets``, the position where each text starts."""
        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        ids = [encoding.ids[: self.max_seq_length] for encoding in encodings]
        lengths = torch.tensor([len(row) for row in ids], dtype=torch.long)
        return {
            "input_ids": torch.tensor([i for row in ids for i in row], dtype=torch.long),
            "offsets": torch.cumsum(lengths, 0) - lengths,
        }

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        features["sentence_embedding"] = self.embedding(features["input_ids"], features["offsets"])
        return features

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> None:
        """Write ``config.json``, ``model.safetensors`` (``embedding.weight``) and ``tokenizer.json``."""
        super().save(path)
        self.tokenizer.save(str(Path(path) / TOKENIZER_NAME))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "StaticEmbedding":
        """Load a folder saved here or by sentence-transformers, or a model2vec folder (then unnormalised)."""
        path = Path(path)
        config = read_json(path / CONFIG_NAME) if (path / CONFIG_NAME).is_file() else {}
        state = read_tensor_file(_folder_file(path, WEIGHTS_NAME, "the token vectors"))
        if "embedding.weight" in state:
            embeddings = state["embedding.weight"]
        elif "embeddings" in state:
            embeddings = fold_model2vec(state["embeddings"], state.get("mapping"), state.get("weights"))
        else:
            raise ValueError(
                f"{path / WEIGHTS_NAME} has tensors {sorted(state)}; expected 'embedding.weight' "
                "(sentence-transformers) or 'embeddings' (model2vec)"
            )
        tokenizer = Tokenizer.from_file(str(_folder_file(path, TOKENIZER_NAME, "the tokenizer")))
        return cls(tokenizer, embeddings, max_seq_length=config.get("max_seq_length"))

    @classmethod
    def from_model2vec(
        cls, folder: str | os.PathLike, max_seq_length: int | None = MODEL2VEC_MAX_LENGTH
    ) -> "StaticEmbedding":
        """Load a model2vec folder (``config.json``, ``model.safetensors``, ``tokenizer.json``).

        Quantised models (int8 ``embeddings``, ``mapping`` and ``weights``) are
        folded into one float row per token.  ``max_seq_length`` defaults to
        model2vec's 512 tokens.  Use :func:`model2vec_modules` to also get the
        Normalize module the model's config asks for.

        Example
        -------
        >>> static = StaticEmbedding.from_model2vec("path/to/potion-base-8M")   # doctest: +SKIP
        """
        folder = Path(folder)
        _folder_file(folder, CONFIG_NAME, "the model2vec config")
        module = cls.load(folder)
        module.max_seq_length = max_seq_length
        return module


def model2vec_modules(folder: str | os.PathLike, max_seq_length: int | None = MODEL2VEC_MAX_LENGTH) -> list[Module]:
    """The modules of an encoder equal to a model2vec model: StaticEmbedding, plus Normalize when its config says so.

    Example
    -------
    >>> from workbench import SentenceEncoder
    >>> from workbench.modules.static_embedding import model2vec_modules
    >>> encoder = SentenceEncoder(modules=model2vec_modules("path/to/model2vec"))   # doctest: +SKIP
    """
    folder = Path(folder)
    config = read_json(_folder_file(folder, CONFIG_NAME, "the model2vec config"))
    static = StaticEmbedding.from_model2vec(folder, max_seq_length=max_seq_length)
    # model2vec's own default when the config is silent.
    return [static, Normalize()] if config.get("normalize", False) else [static]
