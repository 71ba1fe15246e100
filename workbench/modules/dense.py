"""Dense: a feed-forward layer on the sentence embedding."""
from __future__ import annotations

from typing import Any

from torch import nn

from .base import Module, register

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU, "sigmoid": nn.Sigmoid,
    "identity": nn.Identity, "silu": nn.SiLU, "leaky_relu": nn.LeakyReLU,
}


def _activation_from_name(name: str) -> str:
    """Accept our short names and the ``torch.nn.modules.activation.Tanh`` strings sentence-transformers writes."""
    short = name.rsplit(".", 1)[-1].lower().replace("leakyrelu", "leaky_relu")
    if short not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}")
    return short


@register
class Dense(Module):
    """``activation(W x + b)`` on ``sentence_embedding``.

    Parameters
    ----------
    in_features, out_features:
        Input and output widths.
    bias:
        Whether the layer has a bias.
    activation:
        One of ``tanh`` (default, as in sentence-transformers), ``relu``,
        ``gelu``, ``sigmoid``, ``silu``, ``leaky_relu`` or ``identity``.

    Example
    -------
    >>> import torch
    >>> from workbench.modules import Dense
    >>> Dense(4, 2)({"sentence_embedding": torch.ones(3, 4)})["sentence_embedding"].shape
    torch.Size([3, 2])
    """

    st_name = "Dense"
    config_keys = ("in_features", "out_features", "bias", "activation")

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "tanh") -> None:
        super().__init__()
        self.in_features, self.out_features, self.bias = int(in_features), int(out_features), bool(bias)
        self.activation = _activation_from_name(activation)
        self.linear = nn.Linear(self.in_features, self.out_features, bias=self.bias)
        self.activation_function = ACTIVATIONS[self.activation]()

    def get_sentence_embedding_dimension(self) -> int:
        return self.out_features

    def get_config(self) -> dict[str, Any]:
        cls = ACTIVATIONS[self.activation]
        return {"in_features": self.in_features, "out_features": self.out_features, "bias": self.bias,
                "activation_function": f"{cls.__module__}.{cls.__name__}"}

    @classmethod
    def config_from_file(cls, config: dict[str, Any]) -> dict[str, Any]:
        return {"in_features": config["in_features"], "out_features": config["out_features"],
                "bias": config.get("bias", True),
                "activation": config.get("activation_function", config.get("activation", "tanh"))}

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        features["sentence_embedding"] = self.activation_function(self.linear(features["sentence_embedding"]))
        return features
