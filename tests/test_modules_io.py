"""Save/load round trips of the core modules and of whole encoders; folder errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from workbench import SentenceEncoder
from workbench.modules import Dense, Normalize, Pooling, Transformer

SENTENCES = ["a man is eating food .", "the dog plays", ""]


@pytest.fixture()
def stacked(tiny_bert_dir):
    t = Transformer(tiny_bert_dir, max_seq_length=24)
    torch.manual_seed(1)
    return SentenceEncoder(
        modules=[t, Pooling(32, ("max", "mean")), Dense(64, 8, activation="gelu"), Normalize()],
        device="cpu",
        prompts={"query": "query: "},
    )


def test_encoder_round_trip(stacked, tmp_path):
    stacked.save(tmp_path / "model")
    loaded = SentenceEncoder(tmp_path / "model", device="cpu")
    np.testing.assert_allclose(loaded.encode(SENTENCES), stacked.encode(SENTENCES), atol=1e-6)
    assert [type(m).__name__ for m in loaded] == ["Transformer", "Pooling", "Dense", "Normalize"]
    assert loaded.max_seq_length == 24
    assert loaded.prompts == {"query": "query: "}


def test_saved_layout_is_sentence_transformers(stacked, tmp_path):
    stacked.save(tmp_path / "m")
    modules = json.loads((tmp_path / "m" / "modules.json").read_text())
    assert [m["path"] for m in modules] == ["", "1_Pooling", "2_Dense", "3_Normalize"]
    assert modules[1]["type"] == "sentence_transformers.models.Pooling"
    pooling = json.loads((tmp_path / "m" / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] and pooling["pooling_mode_max_tokens"]
    assert not pooling["pooling_mode_cls_token"]
    dense = json.loads((tmp_path / "m" / "2_Dense" / "config.json").read_text())
    assert dense["activation_function"] == "torch.nn.modules.activation.GELU"
    assert (tmp_path / "m" / "2_Dense" / "model.safetensors").exists()
    assert json.loads((tmp_path / "m" / "sentence_bert_config.json").read_text())["max_seq_length"] == 24


@pytest.mark.parametrize(
    "module",
    [
        Pooling(8, ("cls", "last_token", "weighted_mean", "mean_sqrt_len")),
        Dense(8, 4, bias=False, activation="identity"),
        Normalize(),
    ],
)
def test_module_round_trip(module, tmp_path):
    features = {
        "token_embeddings": torch.randn(2, 5, 8),
        "attention_mask": torch.tensor([[1] * 5, [1, 1, 1, 0, 0]]),
        "sentence_embedding": torch.randn(2, 8),
    }
    module.save(tmp_path)
    loaded = type(module).load(tmp_path)
    assert loaded.get_config() == module.get_config()
    a = module(dict(features))["sentence_embedding"]
    b = loaded(dict(features))["sentence_embedding"]
    torch.testing.assert_close(a, b)


def test_pooling_reads_newer_sentence_transformers_config(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"embedding_dimension": 8, "pooling_mode": ["cls", "lasttoken"]}))
    assert Pooling.load(tmp_path).modes == ("cls", "last_token")


def test_pooling_modes_compute_what_they_say():
    tokens = torch.arange(2 * 3 * 2, dtype=torch.float32).view(2, 3, 2)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    out = {}
    for mode in ("cls", "mean", "max", "last_token"):
        out[mode] = Pooling(2, mode)({"token_embeddings": tokens, "attention_mask": mask})["sentence_embedding"]
    torch.testing.assert_close(out["cls"], tokens[:, 0])
    torch.testing.assert_close(out["mean"][0], tokens[0, :2].mean(0))
    torch.testing.assert_close(out["max"][0], tokens[0, 1])
    torch.testing.assert_close(out["last_token"], torch.stack([tokens[0, 1], tokens[1, 2]]))


def test_unknown_pooling_mode_lists_the_valid_ones():
    with pytest.raises(ValueError, match="choose from"):
        Pooling(8, "median")


def test_missing_file_is_named(stacked, tmp_path):
    stacked.save(tmp_path / "m")
    (tmp_path / "m" / "1_Pooling" / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="1_Pooling/config.json|has no config.json"):
        SentenceEncoder(tmp_path / "m", device="cpu")


def test_missing_weights_are_named(stacked, tmp_path):
    stacked.save(tmp_path / "m")
    (tmp_path / "m" / "2_Dense" / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        SentenceEncoder(tmp_path / "m", device="cpu")


def test_unknown_module_type_lists_supported(stacked, tmp_path):
    stacked.save(tmp_path / "m")
    path = tmp_path / "m" / "modules.json"
    entries = json.loads(path.read_text())
    entries[1]["type"] = "sentence_transformers.models.Mystery"
    path.write_text(json.dumps(entries))
    with pytest.raises(ValueError, match="Mystery.*supported"):
        SentenceEncoder(tmp_path / "m", device="cpu")


def test_plain_hugging_face_folder_gets_mean_pooling(tiny_bert_dir):
    enc = SentenceEncoder(tiny_bert_dir, device="cpu")
    assert [type(m).__name__ for m in enc] == ["Transformer", "Pooling"]
    assert enc[1].modes == ("mean",)


def test_failed_save_leaves_previous_model_intact(stacked, tmp_path, monkeypatch):
    target = tmp_path / "m"
    stacked.save(target)
    before = sorted(p.relative_to(target) for p in target.rglob("*"))

    def broken(self, path):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Dense, "save", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        stacked.save(target)
    assert sorted(p.relative_to(target) for p in target.rglob("*")) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".m.tmp")]
    SentenceEncoder(target, device="cpu")  # still loads


def test_pooling_keeps_a_non_canonical_order(tmp_path):
    Pooling(8, ("mean", "cls")).save(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["pooling_mode"] == ["mean", "cls"]
    assert Pooling.load(tmp_path).modes == ("mean", "cls")
