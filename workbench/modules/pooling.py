"""Pooling: token embeddings to one sentence embedding."""
from __future__ import annotations

from typing import Any

import torch

from .base import Module, register

#: in the order sentence-transformers concatenates them for a legacy (boolean) config
MODES = ("cls", "max", "mean", "mean_sqrt_len", "weighted_mean", "last_token")
#: our mode name -> the boolean key sentence-transformers writes in 1_Pooling/config.json
LEGACY_KEYS = {
    "cls": "pooling_mode_cls_token",
    "max": "pooling_mode_max_tokens",
    "mean": "pooling_mode_mean_tokens",
    "mean_sqrt_len": "pooling_mode_mean_sqrt_len_tokens",
    "weighted_mean": "pooling_mode_weightedmean_tokens",
    "last_token": "pooling_mode_lasttoken",
}
#: newer sentence-transformers releases write ``pooling_mode`` with these names
ST_MODE_NAMES = {"cls": "cls", "mean": "mean", "max": "max", "mean_sqrt_len_tokens": "mean_sqrt_len",
                 "weightedmean": "weighted_mean", "lasttoken": "last_token"}
OUR_TO_ST = {ours: theirs for theirs, ours in ST_MODE_NAMES.items()}


@register
class Pooling(Module):
    """Pool token embeddings into a sentence embedding.

    Parameters
    ----------
    word_embedding_dimension:
        Width of the token embeddings.
    modes:
        One or several of ``cls``, ``mean``, ``max``, ``mean_sqrt_len``,
        ``weighted_mean`` (later positions weigh more) and ``last_token``;
        several are concatenated in the order given.

    Example
    -------
    >>> import torch
    >>> from workbench.modules import Pooling
    >>> pool = Pooling(4, modes=("mean", "max"))
    >>> out = pool({"token_embeddings": torch.ones(2, 3, 4), "attention_mask": torch.ones(2, 3)})
    >>> tuple(out["sentence_embedding"].shape)
    (2, 8)
    """

    st_name = "Pooling"
    config_keys = ("word_embedding_dimension", "modes")

    def __init__(self, word_embedding_dimension: int, modes: str | tuple[str, ...] | list[str] = "mean") -> None:
        super().__init__()
        modes = (modes,) if isinstance(modes, str) else tuple(modes)
        unknown = [m for m in modes if m not in MODES]
        if unknown or not modes:
            raise ValueError(f"unknown pooling mode(s) {unknown or modes!r}; choose from {MODES}")
        self.word_embedding_dimension = int(word_embedding_dimension)
        self.modes = modes

    def get_sentence_embedding_dimension(self) -> int:
        return self.word_embedding_dimension * len(self.modes)

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"word_embedding_dimension": self.word_embedding_dimension}
        if self.modes == tuple(m for m in MODES if m in self.modes):
            # The legacy boolean layout loads in every sentence-transformers release, but fixes the order.
            config.update({key: mode in self.modes for mode, key in LEGACY_KEYS.items()})
        else:
            config["pooling_mode"] = [OUR_TO_ST[m] for m in self.modes]
        config["include_prompt"] = True
        return config

    @classmethod
    def config_from_file(cls, config: dict[str, Any]) -> dict[str, Any]:
        dim = config.get("word_embedding_dimension", config.get("embedding_dimension"))
        if dim is None:
            raise ValueError(f"pooling config has no word_embedding_dimension: {config}")
        if "pooling_mode" in config:
            raw = config["pooling_mode"]
            modes = [ST_MODE_NAMES.get(m, m) for m in ([raw] if isinstance(raw, str) else raw)]
        else:
            modes = [mode for mode, key in LEGACY_KEYS.items() if config.get(key)]
        return {"word_embedding_dimension": dim, "modes": modes}

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        tokens = features["token_embeddings"]
        mask = features["attention_mask"].to(tokens.dtype).unsqueeze(-1)
        pooled = []
        for mode in self.modes:
            if mode == "cls":
                pooled.append(features.get("cls_token_embeddings", tokens[:, 0]))
            elif mode == "max":
                pooled.append(tokens.masked_fill(mask == 0, torch.finfo(tokens.dtype).min).max(1).values)
            elif mode == "last_token":
                # Works for right and left padding: position of the last non-pad token.
                positions = torch.arange(mask.shape[1], device=mask.device).unsqueeze(0)
                last = (positions * mask.squeeze(-1)).argmax(1)
                pooled.append(tokens[torch.arange(tokens.shape[0], device=tokens.device), last])
            else:
                weights = mask
                if mode == "weighted_mean":
                    weights = mask * torch.arange(1, mask.shape[1] + 1, device=mask.device, dtype=tokens.dtype).view(1, -1, 1)
                summed = (tokens * weights).sum(1)
                # WordWeights already scaled the tokens; divide by the sum of their weights.
                if "token_weights_sum" in features and mode != "weighted_mean":
                    counts = features["token_weights_sum"].unsqueeze(-1).to(tokens.dtype).clamp(min=1e-9)
                else:
                    counts = weights.sum(1).clamp(min=1e-9)
                pooled.append(summed / (counts.sqrt() if mode == "mean_sqrt_len" else counts))
        features["sentence_embedding"] = torch.cat(pooled, dim=1)
        return features
