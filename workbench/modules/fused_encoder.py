"""An inference fast path for BERT-style encoders: packed tokens, oneDNN matrix products.

Two things make Hugging Face's forward slower than it needs to be for
inference on a CPU:

* padded positions are computed like real tokens;
* ``F.linear`` goes through the BLAS library, which on some CPUs (AMD's among
  them) runs far below the speed of oneDNN's kernels for the same product.

This path keeps only the real tokens of a batch as one (tokens, hidden)
matrix for every linear layer, computes attention per sentence with a
key-padding mask, and runs the linear layers through oneDNN
(``mkldnn._linear_pointwise``, with GELU fused) where available.  It computes
the same function as the Hugging Face layers (post-norm, exact GELU, absolute
positions) and is used only for inference (no grad, eval mode); training and
other architectures use the Hugging Face forward.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

SUPPORTED_MODEL_TYPES = ("bert", "roberta", "xlm-roberta", "camembert", "electra")


def supports_fused(model: nn.Module) -> bool:
    """Whether ``model`` (a Hugging Face AutoModel) can run through :class:`FusedEncoder`."""
    config = model.config
    return (
        getattr(config, "model_type", None) in SUPPORTED_MODEL_TYPES
        and getattr(config, "hidden_act", None) == "gelu"
        and getattr(config, "position_embedding_type", "absolute") in (None, "absolute")
        and not getattr(config, "is_decoder", False)
        and hasattr(model, "embeddings")
        and hasattr(getattr(model, "encoder", None), "layer")
    )


def _linear_for(device: torch.device) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor, bool], torch.Tensor]:
    """``linear(x, weight, bias, gelu)``: oneDNN on CPU when PyTorch has it, else ``F.linear``."""
    if device.type == "cpu" and torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise"):
        pointwise = torch.ops.mkldnn._linear_pointwise

        def onednn(x, weight, bias, gelu):
            return pointwise(x, weight, bias, "gelu", [], "none") if gelu else pointwise(x, weight, bias, "none", [], "")
        return onednn

    def plain(x, weight, bias, gelu):
        y = F.linear(x, weight, bias)
        return F.gelu(y) if gelu else y
    return plain


class FusedEncoder:
    """Runs a Hugging Face BERT-style model's layers on packed tokens.

    The packed query/key/value weights are rebuilt whenever a parameter of the
    model changes (training steps, ``load_state_dict``, dtype or device moves).
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self._key: tuple | None = None
        self._layers: list[tuple[torch.Tensor, ...]] = []

    def _packed(self) -> list[tuple[torch.Tensor, ...]]:
        key = tuple((p.data_ptr(), p._version) for p in self.model.encoder.parameters())
        if key != self._key:
            layers = []
            for layer in self.model.encoder.layer:
                att, out = layer.attention, layer.output
                layers.append(tuple(t.detach() for t in (
                    torch.cat([att.self.query.weight, att.self.key.weight, att.self.value.weight]),
                    torch.cat([att.self.query.bias, att.self.key.bias, att.self.value.bias]),
                    att.output.dense.weight, att.output.dense.bias,
                    att.output.LayerNorm.weight, att.output.LayerNorm.bias,
                    layer.intermediate.dense.weight, layer.intermediate.dense.bias,
                    out.dense.weight, out.dense.bias,
                    out.LayerNorm.weight, out.LayerNorm.bias,
                )))
            self._layers, self._key = layers, key
        return self._layers

    def __call__(self, features: dict[str, Any]) -> torch.Tensor:
        """``last_hidden_state`` (zeros at padded positions) for a tokenised batch."""
        config = self.model.config
        ids, mask = features["input_ids"], features["attention_mask"].bool()
        hidden = self.model.embeddings(input_ids=ids, token_type_ids=features.get("token_type_ids"))
        batch, length, dim = hidden.shape
        heads = config.num_attention_heads
        eps = config.layer_norm_eps
        linear = _linear_for(hidden.device)
        # Real tokens only, as one matrix; attention needs them back in (batch, length) form.
        x = hidden[mask]
        key_mask = mask.view(batch, 1, 1, length)
        padded = hidden.new_zeros(batch, length, 3 * dim)
        for (qkv_w, qkv_b, o_w, o_b, n1_w, n1_b, f1_w, f1_b, f2_w, f2_b, n2_w, n2_b) in self._packed():
            padded[mask] = linear(x, qkv_w, qkv_b, False)
            q, k, v = padded.view(batch, length, 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask)
            context = context.transpose(1, 2).reshape(batch, length, dim)[mask]
            x = F.layer_norm(linear(context, o_w, o_b, False) + x, (dim,), n1_w, n1_b, eps)
            x = F.layer_norm(linear(linear(x, f1_w, f1_b, True), f2_w, f2_b, False) + x, (dim,), n2_w, n2_b, eps)
        out = hidden.new_zeros(batch, length, dim)
        out[mask] = x
        return out
