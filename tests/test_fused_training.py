"""Training through the packed-token path: the same gradients as the Hugging Face forward, dropout included."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from workbench.losses import CosineSimilarityLoss
from workbench.modules.fused_encoder import FusedEncoder, OneDNNLinear, onednn_available


@pytest.fixture()
def bert(tiny_bert_dir):
    from transformers import AutoModel

    return AutoModel.from_pretrained(tiny_bert_dir).eval()


def _batch(lengths=(9, 4, 9, 1, 6)) -> dict[str, torch.Tensor]:
    """Random token ids, right-padded to the longest of ``lengths`` (a one-token sentence included)."""
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 60, (len(lengths), max(lengths)), generator=generator)
    mask = (torch.arange(max(lengths)) < torch.tensor(lengths)[:, None]).long()
    return {"input_ids": ids * mask, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}


def _gradients(model: nn.Module, run) -> dict[str, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    run().backward()
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def _assert_same_gradients(reference: dict[str, torch.Tensor], fused: dict[str, torch.Tensor]) -> None:
    assert reference.keys() == fused.keys()
    # Relative to the largest gradient: some are zero in theory (key biases) and pure rounding noise.
    scale = max(g.abs().max() for g in reference.values())
    for name, grad in reference.items():
        torch.testing.assert_close(fused[name], grad, atol=2e-5 * scale, rtol=1e-3, msg=name)


@pytest.mark.skipif(not onednn_available(torch.device("cpu")), reason="PyTorch built without oneDNN")
def test_onednn_linear_gradients_match_f_linear():
    torch.manual_seed(0)
    layer = nn.Linear(7, 5)
    x = torch.randn(6, 7, requires_grad=True)
    weights = torch.randn(6, 5)
    (OneDNNLinear.apply(x, layer.weight, layer.bias) * weights).sum().backward()
    ours = [t.grad.clone() for t in (x, layer.weight, layer.bias)]
    for t in (x, layer.weight, layer.bias):
        t.grad = None
    (layer(x) * weights).sum().backward()
    for mine, reference in zip(ours, (x.grad, layer.weight.grad, layer.bias.grad)):
        torch.testing.assert_close(mine, reference, atol=1e-5, rtol=1e-4)


def test_gradients_match_hugging_face(bert):
    features = _batch()
    real = features["attention_mask"].bool()
    weights = torch.randn(*real.shape, bert.config.hidden_size)
    reference = _gradients(bert, lambda: (bert(**features).last_hidden_state[real] * weights[real]).sum())
    fused = _gradients(bert, lambda: (FusedEncoder(bert)(features)[real] * weights[real]).sum())
    _assert_same_gradients(reference, fused)


def test_dropout_applies_in_training_mode_only(bert):
    features = _batch()
    real = features["attention_mask"].bool()
    fused = FusedEncoder(bert)
    with torch.no_grad():
        evaluated = [fused(features)[real] for _ in range(2)]
        bert.train()
        trained = [fused(features)[real] for _ in range(2)]
    torch.testing.assert_close(evaluated[0], evaluated[1])
    assert not torch.allclose(trained[0], trained[1])
    assert (fused(features)[~real] == 0).all()


def test_training_step_through_the_encoder_uses_the_packed_path(tiny_encoder, monkeypatch):
    tiny_encoder.eval()  # no dropout: both paths must then give the same gradients
    loss = CosineSimilarityLoss(tiny_encoder)
    features = [
        tiny_encoder.tokenize(["a man is eating food", "the dog"]),
        tiny_encoder.tokenize(["someone eats", "a cat sits on the street"]),
    ]
    labels = torch.tensor([0.9, 0.1])
    calls = []
    packed = FusedEncoder.__call__
    monkeypatch.setattr(FusedEncoder, "__call__", lambda self, f: calls.append(1) or packed(self, f))
    fused = _gradients(tiny_encoder, lambda: loss([dict(f) for f in features], labels))
    assert calls, "the Transformer module did not take the packed path"
    monkeypatch.setenv("WORKBENCH_FUSED", "0")  # the Hugging Face forward
    calls.clear()
    reference = _gradients(tiny_encoder, lambda: loss([dict(f) for f in features], labels))
    assert not calls, "WORKBENCH_FUSED=0 did not switch the packed path off"
    _assert_same_gradients(reference, fused)


def test_evaluation_after_training_steps_sees_the_new_weights(tiny_encoder, monkeypatch):
    from workbench.data import Example
    from workbench.training import fit

    texts = ["a man is eating food", "the dog sits on the street"]
    before = tiny_encoder.encode(texts)  # fills the packed-weight cache of the inference path
    data = [Example(["a man eats", "someone eats food"], 0.9), Example(["a cat sits", "the car drives"], 0.1)] * 4
    fit(tiny_encoder, [(data, CosineSimilarityLoss(tiny_encoder))], batch_size=4, lr=1e-2, seed=0)
    after = tiny_encoder.encode(texts)
    monkeypatch.setenv("WORKBENCH_FUSED", "0")  # the Hugging Face forward: no cache
    reference = tiny_encoder.encode(texts)
    assert not np.allclose(before, reference, atol=1e-3)
    np.testing.assert_allclose(after, reference, atol=1e-5)


@pytest.mark.parametrize("compute_dtype", ["float32", "bfloat16"])
def test_a_plain_optimizer_step_refreshes_the_cached_weights(tiny_encoder, monkeypatch, compute_dtype):
    """A hand-written loop (no trainer, no manual version bump): the packed weights and the bfloat16 copy follow."""
    texts = ["a man is eating food", "the dog sits on the street"]
    tiny_encoder.encode(texts, compute_dtype=compute_dtype)  # fills the caches
    optimizer = torch.optim.AdamW(tiny_encoder.parameters(), lr=0.05, fused=True)
    loss = CosineSimilarityLoss(tiny_encoder)
    features = [tiny_encoder.tokenize(["a man eats"]), tiny_encoder.tokenize(["the car drives"])]
    tiny_encoder.train()
    loss(features, torch.tensor([0.9])).backward()
    optimizer.step()  # the fused kernel: the weights change in place
    after = tiny_encoder.encode(texts, compute_dtype=compute_dtype)
    monkeypatch.setenv("WORKBENCH_FUSED", "0")
    tiny_encoder.weights_changed()  # a fresh bfloat16 copy too: the reference shares no cache
    reference = tiny_encoder.encode(texts, compute_dtype=compute_dtype)
    np.testing.assert_allclose(after, reference, atol=1e-5 if compute_dtype == "float32" else 2e-2)


def test_load_state_dict_and_weights_changed_refresh_the_packed_weights(tiny_encoder, monkeypatch):
    texts = ["a man is eating food", "the dog sits on the street"]
    before = tiny_encoder.encode(texts)
    state = {k: v.clone() for k, v in tiny_encoder.state_dict().items()}
    with torch.no_grad():
        for p in tiny_encoder.parameters():
            p.mul_(0.5)  # in place, behind the caches' back
    tiny_encoder.weights_changed()
    halved = tiny_encoder.encode(texts)
    tiny_encoder.load_state_dict(state)  # in place again: the load hook drops the caches
    restored = tiny_encoder.encode(texts)
    monkeypatch.setenv("WORKBENCH_FUSED", "0")
    with torch.no_grad():
        for p in tiny_encoder.parameters():
            p.mul_(0.5)
    reference_halved = tiny_encoder.encode(texts)
    assert not np.allclose(before, halved, atol=1e-3)
    np.testing.assert_allclose(halved, reference_halved, atol=1e-5)
    np.testing.assert_allclose(restored, before, atol=1e-6)


def test_the_fused_switch_refuses_other_values(tiny_encoder, monkeypatch):
    monkeypatch.setenv("WORKBENCH_FUSED", "no")
    with pytest.raises(ValueError, match="WORKBENCH_FUSED must be 0"):
        tiny_encoder.encode(["a text"])
