"""Normalize: scale sentence embeddings to unit length."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch.nn.functional as F

from .base import CONFIG_NAME, Module, non_default, refuse_unknown_fields, register


@register
class Normalize(Module):
    """L2-normalise ``sentence_embedding`` so that dot product equals cosine.

    Parameters
    ----------
    module_input_name, module_output_name:
        The feature normalised (``sentence_embedding``; ``token_embeddings``
        for multi-vector models) and where the result goes (default: the
        same key).  A missing input feature is left alone, as
        sentence-transformers does.

    Example
    -------
    >>> import torch
    >>> from workbench.modules import Normalize
    >>> Normalize()({"sentence_embedding": torch.tensor([[3.0, 4.0]])})["sentence_embedding"]
    tensor([[0.6000, 0.8000]])
    """

    st_name = "Normalize"
    config_keys = ("module_input_name", "module_output_name")

    def __init__(self, module_input_name: str = "sentence_embedding", module_output_name: str | None = None) -> None:
        super().__init__()
        self.module_input_name = module_input_name
        self.module_output_name = module_output_name or module_input_name

    def get_config(self) -> dict[str, Any]:
        # Only settings that differ from the defaults: older sentence-transformers releases read no config.
        return non_default(
            self, {"module_input_name": "sentence_embedding", "module_output_name": self.module_input_name}
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Normalize":
        """Read the folder's ``config.json``; folders without one (older releases) hold the defaults."""
        return super().load(path) if (Path(path) / CONFIG_NAME).exists() else cls()

    @classmethod
    def config_from_file(cls, config: dict[str, Any]) -> dict[str, Any]:
        refuse_unknown_fields(config, cls.config_keys, "Normalize")
        return dict(config)

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        x = features.get(self.module_input_name)
        if x is not None:
            features[self.module_output_name] = F.normalize(x, p=2, dim=-1)
        return features
