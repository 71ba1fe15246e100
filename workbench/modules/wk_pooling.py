"""WKPooling: SBERT-WK sentence embeddings from all hidden layers (Wang & Kuo, 2020)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .base import Module, register
from .weighted_layer_pooling import hidden_layers


@register
class WKPooling(Module):
    """SBERT-WK pooling: fuse each token's layers, then weigh tokens by how much they vary across layers.

    From "SBERT-WK: A Sentence Embedding Method by Dissecting BERT-based Word
    Models" (Wang & Kuo, IEEE/ACM TASLP 2020, arXiv:2002.06652).  No training:

    1. For each token and each layer k (from ``layer_start`` on), a QR
       decomposition of the layer's vector together with its neighbouring
       layers (``context_window_size`` on each side, fewer at the ends) gives
       its *novelty* (the share of the vector orthogonal to its neighbours) and
       its *alignment* (the inverse of its agreement with them).  Their
       normalised sum weighs the layers into one vector per token.
    2. A token's importance is the variance of the cosine similarities between
       its consecutive layers; the sentence embedding is the importance-weighted
       sum of the fused tokens.  As in the paper, the last token of each text
       (``[SEP]`` / ``</s>``) is left out.

    The QR decompositions run on the CPU (many tiny ones are slow on GPUs);
    the result goes back to the input's device.  Texts must be right-padded.

    Parameters
    ----------
    word_embedding_dimension:
        Width of the hidden states (and of the sentence embedding).
    layer_start:
        First entry of ``all_layer_embeddings`` to use (0 is the embedding output);
        at least three entries must remain.
    context_window_size:
        Neighbouring layers on each side that a layer is compared with.

    Example
    -------
    >>> from workbench import SentenceEncoder
    >>> from workbench.modules import Transformer, WKPooling
    >>> bert = Transformer("path/to/bert", output_hidden_states=True)                # doctest: +SKIP
    >>> encoder = SentenceEncoder(modules=[bert, WKPooling(bert.get_word_embedding_dimension())])  # doctest: +SKIP
    >>> encoder.encode(["A man is playing a guitar."]).shape                          # doctest: +SKIP
    (1, 768)
    """

    config_keys = ("word_embedding_dimension", "layer_start", "context_window_size")

    def __init__(self, word_embedding_dimension: int, layer_start: int = 4, context_window_size: int = 2) -> None:
        super().__init__()
        if layer_start < 0 or context_window_size < 1:
            raise ValueError(
                f"layer_start must be >= 0 and context_window_size >= 1, got {layer_start} and {context_window_size}"
            )
        self.word_embedding_dimension = int(word_embedding_dimension)
        self.layer_start = int(layer_start)
        self.context_window_size = int(context_window_size)

    def get_sentence_embedding_dimension(self) -> int:
        return self.word_embedding_dimension

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        layers = hidden_layers(features, type(self).__name__)
        if len(layers) - self.layer_start < 3:
            raise ValueError(
                f"WKPooling needs at least 3 hidden states from layer_start={self.layer_start} on; "
                f"the model gives {len(layers)} (lower layer_start)"
            )
        device, dtype = layers[0].device, layers[0].dtype
        hidden = torch.stack(layers[self.layer_start :], dim=2).to("cpu", torch.float32)  # (batch, tokens, layers, dim)
        n_tokens = (features["attention_mask"].sum(1).cpu() - 1).clamp(min=1)
        valid = (torch.arange(hidden.shape[1]).unsqueeze(0) < n_tokens.unsqueeze(1)).unsqueeze(-1)
        # torch.where rather than a product: padding rows may hold NaN (0/0 in the QR ratios).
        tokens = torch.where(valid, self._fuse_layers(hidden), 0.0)
        importance = torch.where(valid, self._token_importance(hidden).unsqueeze(-1), 0.0)
        importance = importance / importance.sum(1, keepdim=True).clamp(min=torch.finfo(torch.float32).tiny)
        features["sentence_embedding"] = (importance * tokens).sum(1).to(device, dtype)
        return features

    def _fuse_layers(self, hidden: torch.Tensor) -> torch.Tensor:
        """(batch, tokens, layers, dim) -> (batch, tokens, dim): novelty- and alignment-weighted layer average."""
        n_layers = hidden.shape[2]
        novelty, alignment = [], []
        for k in range(n_layers):
            neighbours = [
                j
                for j in range(max(0, k - self.context_window_size), min(n_layers, k + self.context_window_size + 1))
                if j != k
            ]
            window = hidden[:, :, neighbours + [k], :].transpose(-1, -2)  # layer k is the last column
            # mode="r" skips Q but has no gradient.
            _, r = torch.linalg.qr(window, mode="reduced" if window.requires_grad else "r")
            own = r[..., :, -1]  # layer k in the orthonormal basis of its window
            novelty.append(own[..., -1].abs() / own.norm(dim=-1))
            basis = r[..., :-1, :-1]  # the neighbours in the same basis
            mean_direction = (basis / basis.norm(dim=-2, keepdim=True)).mean(-1)
            projected = own[..., :-1]
            cosine = (mean_direction * projected).sum(-1) / projected.norm(dim=-1)
            alignment.append(1.0 / (cosine * 2 * (len(neighbours) + 1)))
        novelty_w = torch.stack(novelty, -1)
        alignment_w = torch.stack(alignment, -1)
        alpha = novelty_w / novelty_w.sum(-1, keepdim=True) + alignment_w / alignment_w.sum(-1, keepdim=True)
        alpha = alpha / alpha.sum(-1, keepdim=True)
        return (alpha.unsqueeze(-1) * hidden).sum(2)

    @staticmethod
    def _token_importance(hidden: torch.Tensor) -> torch.Tensor:
        """(batch, tokens, layers, dim) -> (batch, tokens): variance of consecutive-layer cosine similarities."""
        unit = F.normalize(hidden, dim=-1)
        neighbour_similarity = (unit[:, :, 1:] * unit[:, :, :-1]).sum(-1)
        return neighbour_similarity.var(dim=-1, unbiased=False)
