"""WeightedLayerPooling: a learnt weighted average of a Transformer's hidden layers."""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from .base import Module, register


def hidden_layers(features: dict[str, Any], owner: str) -> tuple[torch.Tensor, ...]:
    """``all_layer_embeddings`` of ``features``, or an error that says how to get them."""
    layers = features.get("all_layer_embeddings")
    if layers is None:
        raise KeyError(f"{owner} needs all_layer_embeddings; build the Transformer with output_hidden_states=True")
    return tuple(layers)


@register
class WeightedLayerPooling(Module):
    """Token embeddings as a weighted average of hidden layers ``layer_start`` … last; the weights are learnt.

    Parameters
    ----------
    word_embedding_dimension:
        Width of the hidden states.
    num_hidden_layers:
        Layers of the Transformer; ``all_layer_embeddings`` holds one more
        (the embedding output comes first).
    layer_start:
        First entry of ``all_layer_embeddings`` to use (0 is the embedding output).
    layer_weights:
        Initial weights, one per used layer; default all 1 (a plain average).

    Example
    -------
    >>> import torch
    >>> from workbench.modules import WeightedLayerPooling
    >>> pool = WeightedLayerPooling(4, num_hidden_layers=2, layer_start=1, layer_weights=[1.0, 3.0])
    >>> layers = [torch.zeros(1, 2, 4), torch.zeros(1, 2, 4), torch.ones(1, 2, 4)]
    >>> pool({"all_layer_embeddings": layers})["token_embeddings"][0, 0].tolist()
    [0.75, 0.75, 0.75, 0.75]
    """

    st_name = "WeightedLayerPooling"
    config_keys = ("word_embedding_dimension", "num_hidden_layers", "layer_start")

    def __init__(
        self,
        word_embedding_dimension: int,
        num_hidden_layers: int = 12,
        layer_start: int = 4,
        layer_weights: Sequence[float] | torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        if not 0 <= layer_start <= num_hidden_layers:
            raise ValueError(
                f"layer_start must be between 0 and num_hidden_layers={num_hidden_layers}, got {layer_start}"
            )
        self.word_embedding_dimension = int(word_embedding_dimension)
        self.num_hidden_layers = int(num_hidden_layers)
        self.layer_start = int(layer_start)
        used = self.num_hidden_layers + 1 - self.layer_start
        weights = torch.ones(used) if layer_weights is None else torch.as_tensor(layer_weights, dtype=torch.float32)
        if weights.shape != (used,):
            raise ValueError(
                f"layer_weights must hold {used} values (layers {layer_start}..{num_hidden_layers}), "
                f"got shape {tuple(weights.shape)}"
            )
        self.layer_weights = nn.Parameter(weights.clone())

    def get_word_embedding_dimension(self) -> int:
        return self.word_embedding_dimension

    @classmethod
    def config_from_file(cls, config: dict[str, Any]) -> dict[str, Any]:
        # sentence-transformers 5+ writes embedding_dimension; older releases and we write the legacy name.
        config = {"word_embedding_dimension": config.get("embedding_dimension"), **config}
        return super().config_from_file(config)

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        layers = hidden_layers(features, type(self).__name__)
        if len(layers) != self.num_hidden_layers + 1:
            raise ValueError(
                f"got {len(layers)} hidden states but num_hidden_layers={self.num_hidden_layers} "
                f"needs {self.num_hidden_layers + 1} (the embedding output plus one per layer)"
            )
        stacked = torch.stack(layers[self.layer_start :])
        weights = self.layer_weights.to(stacked.dtype).view(-1, 1, 1, 1)
        features["token_embeddings"] = (weights * stacked).sum(0) / weights.sum()
        return features
