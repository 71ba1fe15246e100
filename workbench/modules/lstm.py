"""LSTM: a recurrent layer over the token embeddings."""

from __future__ import annotations

from typing import Any

from torch import nn

from .base import Module, register
from .word_embeddings import NamedConfigFile


@register
class LSTM(NamedConfigFile, Module):
    """Run a (bidirectional) LSTM over ``token_embeddings``; padding is skipped with packed sequences.

    Parameters
    ----------
    word_embedding_dimension:
        Width of the incoming token embeddings.
    hidden_dim:
        Hidden size of each direction; the output width is ``2 * hidden_dim``
        when ``bidirectional``.
    num_layers:
        Stacked LSTM layers.
    dropout:
        Dropout between stacked layers (needs ``num_layers > 1`` to have an effect).
    bidirectional:
        Also read each text right to left.

    Texts must be right-padded (as every input module here does): a row's
    length is the sum of its attention mask.

    Example
    -------
    >>> import torch
    >>> from workbench.modules import LSTM
    >>> lstm = LSTM(8, hidden_dim=5)
    >>> out = lstm({"token_embeddings": torch.randn(2, 4, 8),
    ...             "attention_mask": torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])})
    >>> tuple(out["token_embeddings"].shape), lstm.get_word_embedding_dimension()
    ((2, 4, 10), 10)
    """

    st_name = "LSTM"
    config_file_name = "lstm_config.json"
    config_keys = ("word_embedding_dimension", "hidden_dim", "num_layers", "dropout", "bidirectional")

    def __init__(
        self,
        word_embedding_dimension: int,
        hidden_dim: int,
        num_layers: int = 1,
        dropout: float = 0.0,
        bidirectional: bool = True,
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.word_embedding_dimension = int(word_embedding_dimension)
        self.hidden_dim = int(hidden_dim)
        self.num_layers = int(num_layers)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.encoder = nn.LSTM(
            self.word_embedding_dimension,
            self.hidden_dim,
            num_layers=self.num_layers,
            dropout=self.dropout if self.num_layers > 1 else 0.0,  # torch warns about dropout on one layer
            bidirectional=self.bidirectional,
            batch_first=True,
        )

    def get_word_embedding_dimension(self) -> int:
        return self.hidden_dim * (2 if self.bidirectional else 1)

    @classmethod
    def config_from_file(cls, config: dict[str, Any]) -> dict[str, Any]:
        # sentence-transformers 5+ writes embedding_dimension; older releases and we write the legacy name.
        config = {"word_embedding_dimension": config.get("embedding_dimension"), **config}
        return super().config_from_file(config)

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        tokens = features["token_embeddings"]
        # An empty text still gets one (padding) step: packing rejects zero lengths.
        lengths = features["attention_mask"].sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(tokens, lengths, batch_first=True, enforce_sorted=False)
        output, _ = self.encoder(packed)
        features["token_embeddings"] = nn.utils.rnn.pad_packed_sequence(
            output, batch_first=True, total_length=tokens.shape[1]
        )[0]
        return features
