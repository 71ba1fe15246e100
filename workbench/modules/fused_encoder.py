"""A fast path for BERT-style encoders: packed tokens, oneDNN matrix products.

Two things make Hugging Face's forward slower than it needs to be on a CPU:

* padded positions are computed like real tokens;
* ``F.linear`` goes through the BLAS library, which on some CPUs (AMD's among
  them) runs far below the speed of oneDNN's kernels for the same product.

This path keeps only the real tokens of a batch as one (tokens, hidden)
matrix for every linear layer, computes attention per sentence with a
key-padding mask, and runs the linear layers through oneDNN
(``mkldnn._linear_pointwise``) where available.  It computes the same
function as the Hugging Face layers (post-norm, exact GELU, absolute
positions, dropout where the model is in training mode).

Inference (no gradients) fuses GELU into the matrix product and reuses packed
weights.  Training runs the products through :class:`OneDNNLinear`, whose
backward pass computes both gradient products with oneDNN too.

The path is on by default; ``WORKBENCH_FUSED=0`` in the environment turns it
off (every Transformer then runs Hugging Face's forward), e.g. to compare the two.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..runner import Derived

SUPPORTED_MODEL_TYPES = ("bert", "roberta", "xlm-roberta", "camembert", "electra")

Linear = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, bool], torch.Tensor]


#: The environment variable that switches the packed-token path: ``0`` off, ``1`` (or unset) on.
FUSED_ENV = "WORKBENCH_FUSED"


def fused_enabled() -> bool:
    """Whether the packed-token path may run: ``WORKBENCH_FUSED`` is unset or ``1`` (read on every forward).

    Example
    -------
    >>> os.environ["WORKBENCH_FUSED"] = "0"; fused_enabled()
    False
    >>> del os.environ["WORKBENCH_FUSED"]; fused_enabled()
    True
    """
    value = os.environ.get(FUSED_ENV, "1").strip()
    if value not in ("0", "1"):
        raise ValueError(f"{FUSED_ENV} must be 0 (Hugging Face's forward) or 1 (the packed-token path), got {value!r}")
    return value == "1"


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


def onednn_available(device: torch.device, dtype: torch.dtype = torch.float32) -> bool:
    """Whether oneDNN's linear kernel runs on ``device`` for ``dtype`` (CPU builds of PyTorch with mkldnn).

    Example
    -------
    >>> onednn_available(torch.device("meta"))
    False
    """
    return (
        device.type == "cpu"
        and torch.backends.mkldnn.is_available()
        and hasattr(torch.ops.mkldnn, "_linear_pointwise")
        and _onednn_runs(dtype)
    )


@functools.cache
def _onednn_runs(dtype: torch.dtype) -> bool:
    """Try a tiny product once per type: oneDNN has bfloat16 kernels only on CPUs with AVX-512 or AMX."""
    try:
        _onednn_product(torch.ones(2, 8, dtype=dtype), torch.ones(4, 8, dtype=dtype), torch.zeros(4, dtype=dtype))
    except RuntimeError:
        return False
    return True


def _onednn_product(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, gelu: bool = False
) -> torch.Tensor:
    """``x @ weight.T + bias`` (then GELU) with oneDNN; all operands contiguous."""
    if gelu:
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "gelu", [], "none")
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


class OneDNNLinear(torch.autograd.Function):
    """``F.linear`` for 2-D inputs with oneDNN in the forward and the backward pass.

    The backward products are written as linear layers too, so that they
    run through oneDNN as well: ``grad_x = grad_y @ W`` is a linear layer
    with weight ``W.T``, and ``grad_W = grad_y.T @ x`` one with input
    ``grad_y.T`` and weight ``x.T`` (transposed copies are cheap next to
    the products).

    Example
    -------
    >>> x, layer = torch.randn(5, 4), nn.Linear(4, 3)
    >>> y = OneDNNLinear.apply(x, layer.weight, layer.bias)
    >>> torch.allclose(y, layer(x), atol=1e-6), y.requires_grad
    (True, True)
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        return _onednn_product(x, weight, bias)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        grad = grad.contiguous()
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = _onednn_product(grad, weight.t().contiguous())
        if ctx.needs_input_grad[1]:
            grad_w = _onednn_product(grad.t().contiguous(), x.t().contiguous())
        if ctx.needs_input_grad[2]:
            grad_b = grad.sum(0)
        return grad_x, grad_w, grad_b


def _inference_linear(device: torch.device, dtype: torch.dtype) -> Linear:
    """``linear(x, weight, bias, gelu)`` without autograd: oneDNN with GELU fused, else ``F.linear``."""
    if onednn_available(device, dtype):
        return _onednn_product

    def plain(x, weight, bias, gelu):
        y = F.linear(x, weight, bias)
        return F.gelu(y) if gelu else y

    return plain


def _training_linear(device: torch.device, dtype: torch.dtype) -> Linear:
    """``linear(x, weight, bias, gelu)`` with autograd: :class:`OneDNNLinear`, else ``F.linear``.

    Under autocast ``F.linear`` it is: autocast chooses its operand types, and
    oneDNN's kernel needs input and weight of one type.
    """
    fast = onednn_available(device, dtype) and not torch.is_autocast_enabled(device.type)
    product = OneDNNLinear.apply if fast else F.linear

    def linear(x, weight, bias, gelu):
        y = product(x, weight, bias)
        return F.gelu(y) if gelu else y

    return linear


def _layer_tensors(layer: nn.Module) -> tuple[torch.Tensor, ...]:
    """One encoder layer's weights in the order :meth:`FusedEncoder.__call__` uses, query/key/value joined."""
    att, out = layer.attention, layer.output
    return (
        torch.cat([att.self.query.weight, att.self.key.weight, att.self.value.weight]),
        torch.cat([att.self.query.bias, att.self.key.bias, att.self.value.bias]),
        att.output.dense.weight,
        att.output.dense.bias,
        att.output.LayerNorm.weight,
        att.output.LayerNorm.bias,
        layer.intermediate.dense.weight,
        layer.intermediate.dense.bias,
        out.dense.weight,
        out.dense.bias,
        out.LayerNorm.weight,
        out.LayerNorm.bias,
    )


class FusedEncoder:
    """Runs a Hugging Face BERT-style model's layers on packed tokens.

    Without gradients the packed query/key/value weights are cached (a
    :class:`workbench.runner.Derived`: rebuilt after optimizer steps,
    ``load_state_dict``, dtype or device moves); with gradients they are
    joined anew each call, so that autograd reaches the parameters.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self._layers: Derived[list[tuple[torch.Tensor, ...]]] = Derived()

    def _packed(self) -> list[tuple[torch.Tensor, ...]]:
        def build() -> list[tuple[torch.Tensor, ...]]:
            with torch.no_grad():
                return [_layer_tensors(layer) for layer in self.model.encoder.layer]

        return self._layers.get(self.model.encoder.parameters(), build)

    def __call__(self, features: dict[str, Any]) -> torch.Tensor:
        """``last_hidden_state`` (zeros at padded positions) for a tokenised batch."""
        config = self.model.config
        ids, mask = features["input_ids"], features["attention_mask"].bool()
        hidden = self.model.embeddings(input_ids=ids, token_type_ids=features.get("token_type_ids"))
        batch, length, dim = hidden.shape
        heads = config.num_attention_heads
        eps = config.layer_norm_eps
        if torch.is_grad_enabled():
            layers = [_layer_tensors(layer) for layer in self.model.encoder.layer]
            linear = _training_linear(hidden.device, hidden.dtype)
        else:
            layers, linear = self._packed(), _inference_linear(hidden.device, hidden.dtype)
        training = self.model.training
        p_hidden = config.hidden_dropout_prob if training else 0.0
        p_attention = config.attention_probs_dropout_prob if training else 0.0
        # Real tokens only, as one matrix; attention needs them back in (batch, length) form.
        x = hidden[mask]
        key_mask = mask.view(batch, 1, 1, length)
        for qkv_w, qkv_b, o_w, o_b, n1_w, n1_b, f1_w, f1_b, f2_w, f2_b, n2_w, n2_b in layers:
            qkv = linear(x, qkv_w, qkv_b, False)
            padded = qkv.new_zeros(batch, length, 3 * dim)  # under autocast qkv may be narrower than x
            padded[mask] = qkv
            q, k, v = padded.view(batch, length, 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask, dropout_p=p_attention)
            context = context.transpose(1, 2).reshape(batch, length, dim)[mask]
            attended = F.dropout(linear(context, o_w, o_b, False), p_hidden, training)
            x = F.layer_norm(attended + x, (dim,), n1_w, n1_b, eps)
            fed = F.dropout(linear(linear(x, f1_w, f1_b, True), f2_w, f2_b, False), p_hidden, training)
            x = F.layer_norm(fed + x, (dim,), n2_w, n2_b, eps)
        out = x.new_zeros(batch, length, dim)
        out[mask] = x
        return out
