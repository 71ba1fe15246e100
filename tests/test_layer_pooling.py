"""Poolings over all hidden layers: WeightedLayerPooling and WKPooling (SBERT-WK)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from workbench import SentenceEncoder
from workbench.modules import Pooling, Transformer, WeightedLayerPooling, WKPooling

SENTENCES = ["a man is eating food .", "the dog plays the guitar", "somebody sits on a horse and rides it slowly"]


@pytest.fixture()
def bert(tiny_bert_dir):
    """The tiny 2-layer BERT returning its 3 hidden states."""
    return Transformer(tiny_bert_dir, max_seq_length=32, output_hidden_states=True)


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min())


def random_layers(n_layers: int = 4, batch: int = 3, tokens: int = 6, dim: int = 8) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(batch, tokens, dim, generator=generator) for _ in range(n_layers)]


def reload_with_hidden_states(encoder: SentenceEncoder, folder) -> SentenceEncoder:
    encoder.save(folder)
    loaded = SentenceEncoder(folder, device="cpu")
    assert loaded[0].output_hidden_states  # kept in the saved config.json
    return loaded


# ---------------------------------------------------------------------------- WeightedLayerPooling
def test_weighted_layer_pooling_averages_the_chosen_layers():
    layers = random_layers()
    pool = WeightedLayerPooling(8, num_hidden_layers=3, layer_start=1, layer_weights=[1.0, 2.0, 5.0])
    out = pool({"all_layer_embeddings": layers})["token_embeddings"]
    torch.testing.assert_close(out, (layers[1] + 2 * layers[2] + 5 * layers[3]) / 8)
    assert pool.get_word_embedding_dimension() == 8


def test_weighted_layer_pooling_weights_are_learnt():
    pool = WeightedLayerPooling(8, num_hidden_layers=3, layer_start=2)
    assert pool.layer_weights.tolist() == [1.0, 1.0]
    pool({"all_layer_embeddings": random_layers()})["token_embeddings"].pow(2).sum().backward()
    assert pool.layer_weights.grad is not None and pool.layer_weights.grad.abs().sum() > 0


def test_weighted_layer_pooling_round_trip(tmp_path):
    pool = WeightedLayerPooling(8, num_hidden_layers=3, layer_start=1, layer_weights=[0.5, 1.0, 2.0])
    pool.save(tmp_path)
    loaded = WeightedLayerPooling.load(tmp_path)
    assert loaded.get_config() == pool.get_config()
    torch.testing.assert_close(loaded.layer_weights, pool.layer_weights)


def test_weighted_layer_pooling_reads_newer_sentence_transformers_keys(tmp_path):
    WeightedLayerPooling(8, 3, 1).save(tmp_path)
    config = {"embedding_dimension": 8, "num_hidden_layers": 3, "layer_start": 1}
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert WeightedLayerPooling.load(tmp_path).word_embedding_dimension == 8


def test_weighted_layer_pooling_bad_inputs():
    with pytest.raises(ValueError, match="layer_start"):
        WeightedLayerPooling(8, num_hidden_layers=2, layer_start=3)
    with pytest.raises(ValueError, match="must hold 2 values"):
        WeightedLayerPooling(8, num_hidden_layers=2, layer_start=1, layer_weights=[1.0])
    pool = WeightedLayerPooling(8, num_hidden_layers=5)
    with pytest.raises(KeyError, match="output_hidden_states=True"):
        pool({"token_embeddings": torch.zeros(1, 2, 8)})
    with pytest.raises(ValueError, match="got 4 hidden states but num_hidden_layers=5 needs 6"):
        pool({"all_layer_embeddings": random_layers()})


def test_weighted_layer_pooling_in_an_encoder(bert, tmp_path):
    encoder = SentenceEncoder(
        modules=[bert, WeightedLayerPooling(32, num_hidden_layers=2, layer_start=1), Pooling(32)], device="cpu"
    )
    embeddings = encoder.encode(SENTENCES)
    assert embeddings.shape == (3, 32)
    loaded = reload_with_hidden_states(encoder, tmp_path / "model")
    np.testing.assert_allclose(loaded.encode(SENTENCES), embeddings, atol=1e-5)


def test_sentence_transformers_weighted_layer_pooling_loads_here(tmp_path):
    pytest.importorskip("sentence_transformers")
    from sentence_transformers.sentence_transformer import modules as models

    theirs = models.WeightedLayerPooling(8, num_hidden_layers=3, layer_start=1)
    with torch.no_grad():
        theirs.layer_weights.copy_(torch.tensor([0.2, 0.3, 0.5]))
    theirs.save(str(tmp_path))
    ours = WeightedLayerPooling.load(tmp_path)
    layers = random_layers()
    torch.testing.assert_close(
        ours({"all_layer_embeddings": layers})["token_embeddings"],
        theirs({"all_layer_embeddings": layers})["token_embeddings"],
    )


# ---------------------------------------------------------------------------- WKPooling
def sbert_wk_reference(layers: list[np.ndarray], n_valid: int, window: int) -> np.ndarray:
    """One sentence, token by token, following the paper; layers: (tokens, dim) each."""
    hidden = np.stack(layers, axis=1)[:n_valid].astype(np.float64)  # (tokens, layers, dim)
    n_layers = hidden.shape[1]
    fused, importance = [], []
    for token in hidden:
        novelty, alignment = np.zeros(n_layers), np.zeros(n_layers)
        for k in range(n_layers):
            context = [j for j in range(k - window, k + window + 1) if 0 <= j < n_layers and j != k]
            _, r = np.linalg.qr(np.stack([token[j] for j in context] + [token[k]], axis=1))
            novelty[k] = abs(r[-1, -1]) / np.linalg.norm(r[:, -1])
            unit_columns = r[:-1, :-1] / np.linalg.norm(r[:-1, :-1], axis=0)
            cosine = unit_columns.mean(axis=1) @ r[:-1, -1] / np.linalg.norm(r[:-1, -1])
            alignment[k] = 1 / (cosine * 2 * (len(context) + 1))
        alpha = novelty / novelty.sum() + alignment / alignment.sum()
        fused.append(token.T @ (alpha / alpha.sum()))
        unit = token / np.linalg.norm(token, axis=1, keepdims=True)
        importance.append(np.var([unit[i] @ unit[i + 1] for i in range(n_layers - 1)]))
    importance = np.array(importance) / np.sum(importance)
    return np.array(fused).T @ importance


@pytest.mark.parametrize("layer_start, window", [(0, 2), (1, 1)])
def test_wk_pooling_matches_a_token_by_token_reference(layer_start, window):
    layers = random_layers(n_layers=5)
    mask = torch.tensor([[1] * 6, [1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 0]])
    out = WKPooling(8, layer_start=layer_start, context_window_size=window)(
        {"all_layer_embeddings": layers, "attention_mask": mask}
    )["sentence_embedding"]
    for row in range(3):
        n_valid = int(mask[row].sum()) - 1  # the last token ([SEP]) is left out
        expected = sbert_wk_reference([layer[row].numpy() for layer in layers[layer_start:]], n_valid, window)
        np.testing.assert_allclose(out[row].numpy(), expected, rtol=1e-4, atol=1e-5)


def test_wk_pooling_keeps_dtype_and_ignores_padding():
    layers = [layer.double() for layer in random_layers()]
    mask = torch.tensor([[1] * 6, [1, 1, 1, 0, 0, 0], [1] * 6])
    out = WKPooling(8, layer_start=0)({"all_layer_embeddings": layers, "attention_mask": mask})["sentence_embedding"]
    assert out.dtype == torch.float64 and out.shape == (3, 8)
    short = WKPooling(8, layer_start=0)(
        {"all_layer_embeddings": [layer[1:2, :3] for layer in layers], "attention_mask": torch.ones(1, 3)}
    )["sentence_embedding"]
    torch.testing.assert_close(short[0], out[1], rtol=1e-5, atol=1e-6)


def test_wk_pooling_bad_inputs():
    pool = WKPooling(8, layer_start=2)
    with pytest.raises(KeyError, match="output_hidden_states=True"):
        pool({"token_embeddings": torch.zeros(1, 2, 8), "attention_mask": torch.ones(1, 2)})
    with pytest.raises(ValueError, match="at least 3 hidden states from layer_start=2"):
        pool({"all_layer_embeddings": random_layers(n_layers=4), "attention_mask": torch.ones(3, 6)})
    with pytest.raises(ValueError, match="context_window_size"):
        WKPooling(8, context_window_size=0)


def test_wk_pooling_in_an_encoder(bert, tmp_path):
    encoder = SentenceEncoder(modules=[bert, WKPooling(32, layer_start=0)], device="cpu")
    assert encoder.get_sentence_embedding_dimension() == 32
    embeddings = encoder.encode(SENTENCES, batch_size=2)
    assert embeddings.shape == (3, 32) and np.isfinite(embeddings).all()
    one_by_one = np.stack([encoder.encode(s) for s in SENTENCES])
    # The QR weighting amplifies float noise from padding on a random model: compare directions.
    assert min_cosine(one_by_one, embeddings) > 0.999
    loaded = reload_with_hidden_states(encoder, tmp_path / "model")
    assert isinstance(loaded[1], WKPooling) and loaded[1].get_config() == encoder[1].get_config()
    modules = json.loads((tmp_path / "model" / "modules.json").read_text())
    assert modules[1]["type"] == "workbench.modules.WKPooling"
    assert min_cosine(loaded.encode(SENTENCES, batch_size=2), embeddings) > 0.999
