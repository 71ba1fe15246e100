"""Normalize: scale sentence embeddings to unit length."""
from __future__ import annotations

from typing import Any

import torch.nn.functional as F

from .base import Module, register


@register
class Normalize(Module):
    """L2-normalise ``sentence_embedding`` so that dot product equals cosine.

    Example
    -------
    >>> import torch
    >>> from workbench.modules import Normalize
    >>> Normalize()({"sentence_embedding": torch.tensor([[3.0, 4.0]])})["sentence_embedding"]
    tensor([[0.6000, 0.8000]])
    """

    st_name = "Normalize"

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        features["sentence_embedding"] = F.normalize(features["sentence_embedding"], p=2, dim=1)
        return features
