"""Pooling: token embeddings to one sentence embedding."""

from __future__ import annotations

from typing import Any

import torch

from .base import Module, refuse_unknown_fields, register

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
ST_MODE_NAMES = {
    "cls": "cls",
    "mean": "mean",
    "max": "max",
    "mean_sqrt_len_tokens": "mean_sqrt_len",
    "weightedmean": "weighted_mean",
    "lasttoken": "last_token",
}
OUR_TO_ST = {ours: theirs for theirs, ours in ST_MODE_NAMES.items()}
#: every field of a pooling config.json that this module honours (others are refused)
CONFIG_FIELDS = (
    "word_embedding_dimension",
    "embedding_dimension",
    "pooling_mode",
    "include_prompt",
    *LEGACY_KEYS.values(),
)


def _modes_from_legacy(flags: dict[str, Any]) -> list[str]:
    """The modes switched on by sentence-transformers' ``pooling_mode_*`` booleans (none: ``mean``, as it does)."""
    return [mode for mode, key in LEGACY_KEYS.items() if flags.get(key)] or ["mean"]


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
        several are concatenated in the order given.  sentence-transformers'
        ``pooling_mode`` names (``"weightedmean"``, ``"lasttoken"``, ...) are
        accepted too.
    include_prompt:
        ``False`` leaves the tokens of the prompt ``encode`` put before each
        text out of the pooling (instruction models such as INSTRUCTOR).
    pooling_mode, **legacy:
        sentence-transformers' spellings: ``pooling_mode=`` instead of
        ``modes``, or the booleans ``pooling_mode_mean_tokens=True``, ... of
        its older releases (the modes set to True; none: mean).

    Example
    -------
    >>> import torch
    >>> from workbench.modules import Pooling
    >>> pool = Pooling(4, modes=("mean", "max"))
    >>> out = pool({"token_embeddings": torch.ones(2, 3, 4), "attention_mask": torch.ones(2, 3)})
    >>> tuple(out["sentence_embedding"].shape)
    (2, 8)
    >>> Pooling(4, pooling_mode_cls_token=True, pooling_mode_mean_tokens=False).modes
    ('cls',)
    """

    st_name = "Pooling"
    config_keys = ("word_embedding_dimension", "modes", "include_prompt")

    def __init__(
        self,
        word_embedding_dimension: int,
        modes: str | tuple[str, ...] | list[str] = "mean",
        include_prompt: bool = True,
        *,
        pooling_mode: str | tuple[str, ...] | list[str] | None = None,
        **legacy: bool,
    ) -> None:
        super().__init__()
        unknown_args = sorted(set(legacy) - set(LEGACY_KEYS.values()))
        if unknown_args:
            raise TypeError(
                f"Pooling got unexpected argument(s) {unknown_args}; accepted: word_embedding_dimension, "
                f"modes, include_prompt, pooling_mode, {', '.join(LEGACY_KEYS.values())}"
            )
        if pooling_mode is not None:
            modes = pooling_mode
        elif legacy:
            modes = _modes_from_legacy(legacy)
        modes = (modes,) if isinstance(modes, str) else tuple(modes)
        modes = tuple(ST_MODE_NAMES.get(m, m) for m in modes)
        unknown = [m for m in modes if m not in MODES]
        if unknown or not modes:
            raise ValueError(f"unknown pooling mode(s) {unknown or modes!r}; choose from {MODES}")
        if not isinstance(include_prompt, bool):
            raise TypeError(f"include_prompt must be True or False, got {include_prompt!r}")
        self.word_embedding_dimension = int(word_embedding_dimension)
        self.modes = modes
        self.include_prompt = include_prompt

    def get_sentence_embedding_dimension(self) -> int:
        return self.word_embedding_dimension * len(self.modes)

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"word_embedding_dimension": self.word_embedding_dimension}
        if self.modes == tuple(m for m in MODES if m in self.modes):
            # The legacy boolean layout loads in every sentence-transformers release, but fixes the order.
            config.update({key: mode in self.modes for mode, key in LEGACY_KEYS.items()})
        else:
            config["pooling_mode"] = [OUR_TO_ST[m] for m in self.modes]
        config["include_prompt"] = self.include_prompt
        return config

    @classmethod
    def config_from_file(cls, config: dict[str, Any]) -> dict[str, Any]:
        refuse_unknown_fields(config, CONFIG_FIELDS, "pooling", "; the model would pool differently than intended")
        dim = config.get("word_embedding_dimension", config.get("embedding_dimension"))
        if dim is None:
            raise ValueError(f"pooling config has no word_embedding_dimension (or embedding_dimension): {config}")
        if "pooling_mode" in config:
            raw = config["pooling_mode"]
            modes = [raw] if isinstance(raw, str) else list(raw)
        else:
            modes = _modes_from_legacy(config)
        return {"word_embedding_dimension": dim, "modes": modes, "include_prompt": config.get("include_prompt", True)}

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        tokens = features["token_embeddings"]
        given = features["attention_mask"]
        mask = given
        prompt_length = features.get("prompt_length")
        if not self.include_prompt and prompt_length:
            mask = _without_prompt(given, int(prompt_length))
        # Half-precision tokens are summed in float32 (and the result given back in their dtype).
        acc = torch.float32 if tokens.dtype in (torch.float16, torch.bfloat16) else tokens.dtype
        weights = mask.unsqueeze(-1).to(acc)
        pooled = []
        for mode in self.modes:
            if mode == "cls":
                if "cls_token_embeddings" in features:
                    pooled.append(features["cls_token_embeddings"])
                else:  # the first counted token: after left padding, and after the prompt when it is left out
                    first = mask.to(torch.int32).argmax(1)
                    pooled.append(tokens[torch.arange(tokens.shape[0], device=tokens.device), first])
            elif mode == "max":
                pooled.append(tokens.masked_fill(weights == 0, float("-inf")).max(1).values)
            elif mode == "last_token":
                # The last counted token, for right and left padding; rows with none give zeros.
                found, from_end = mask.flip(1).max(1)
                length = mask.shape[1]
                last = torch.where(found == 0, length - 1, length - 1 - from_end)
                rows = torch.arange(tokens.shape[0], device=tokens.device)
                pooled.append(tokens[rows, last] * mask[rows, last].unsqueeze(-1).to(tokens.dtype))
            else:
                w = weights
                if mode == "weighted_mean":
                    # Position 1 is the first real token (after any left padding), prompt left out or not.
                    positions = torch.arange(1, mask.shape[1] + 1, device=mask.device, dtype=acc).view(1, -1, 1)
                    w = weights * (positions - given.to(torch.int32).argmax(1).view(-1, 1, 1).to(acc))
                summed = (tokens.to(acc) * w).sum(1)
                # WordWeights already scaled the tokens; divide by the sum of their weights.
                if "token_weights_sum" in features:
                    counts = features["token_weights_sum"].unsqueeze(-1).to(acc)
                else:
                    counts = w.sum(1)
                counts = counts.clamp(min=1e-9)
                pooled.append((summed / (counts.sqrt() if mode == "mean_sqrt_len" else counts)).to(tokens.dtype))
        features["sentence_embedding"] = torch.cat(pooled, dim=1)
        return features


def _without_prompt(mask: torch.Tensor, prompt_length: int) -> torch.Tensor:
    """A copy of ``mask`` with the first ``prompt_length`` real tokens of each row (the prompt) set to 0."""
    start = mask.to(torch.int32).argmax(1, keepdim=True)  # after any left padding
    positions = torch.arange(mask.shape[1], device=mask.device).unsqueeze(0)
    return mask.masked_fill(positions < start + prompt_length, 0)
