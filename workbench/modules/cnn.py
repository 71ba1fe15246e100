"""CNN: convolutions of several widths over the token embeddings."""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from .base import Module, register
from .word_embeddings import NamedConfigFile


@register
class CNN(NamedConfigFile, Module):
    """1-D convolutions with several kernel sizes over ``token_embeddings``; outputs are concatenated.

    Each convolution pads so that the output has as many positions as the
    input; padding positions are zeroed first so that a text's vectors do not
    depend on how much padding its batch has.

    Parameters
    ----------
    in_word_embedding_dimension:
        Width of the incoming token embeddings.
    out_channels:
        Output channels of each convolution; the output width is
        ``out_channels * len(kernel_sizes)``.
    kernel_sizes:
        Window widths, in tokens (odd sizes centre the window on the token).

    Example
    -------
    >>> import torch
    >>> from workbench.modules import CNN
    >>> cnn = CNN(8, out_channels=4, kernel_sizes=(1, 3, 5))
    >>> out = cnn({"token_embeddings": torch.randn(2, 6, 8), "attention_mask": torch.ones(2, 6)})
    >>> tuple(out["token_embeddings"].shape)
    (2, 6, 12)
    """

    st_name = "CNN"
    config_file_name = "cnn_config.json"
    config_keys = ("in_word_embedding_dimension", "out_channels", "kernel_sizes")

    def __init__(
        self, in_word_embedding_dimension: int, out_channels: int = 256, kernel_sizes: Sequence[int] = (1, 3, 5)
    ) -> None:
        super().__init__()
        if not kernel_sizes or any(int(k) < 1 for k in kernel_sizes):
            raise ValueError(f"kernel_sizes must be one or more positive integers, got {kernel_sizes!r}")
        self.in_word_embedding_dimension = int(in_word_embedding_dimension)
        self.out_channels = int(out_channels)
        self.kernel_sizes = [int(k) for k in kernel_sizes]
        self.convs = nn.ModuleList(
            nn.Conv1d(self.in_word_embedding_dimension, self.out_channels, kernel_size=k, padding="same")
            for k in self.kernel_sizes
        )

    def get_word_embedding_dimension(self) -> int:
        return self.out_channels * len(self.kernel_sizes)

    def get_config(self) -> dict[str, Any]:
        # sentence-transformers requires stride_sizes; a stride other than 1 would shorten the output.
        return {**super().get_config(), "stride_sizes": [1] * len(self.kernel_sizes)}

    @classmethod
    def config_from_file(cls, config: dict[str, Any]) -> dict[str, Any]:
        strides = config.get("stride_sizes") or []
        if any(s != 1 for s in strides):
            raise ValueError(f"CNN stride_sizes {strides} are not supported; only stride 1 keeps one vector per token")
        config = {"in_word_embedding_dimension": config.get("in_embedding_dimension"), **config}
        return super().config_from_file(config)

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        tokens = features["token_embeddings"]
        mask = features["attention_mask"].to(tokens.dtype).unsqueeze(-1)
        channels_first = (tokens * mask).transpose(1, 2)
        out = torch.cat([conv(channels_first) for conv in self.convs], dim=1)
        features["token_embeddings"] = out.transpose(1, 2)
        return features
