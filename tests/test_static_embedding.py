"""StaticEmbedding: model2vec folders, the EmbeddingBag mean, training and round trips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer, models, pre_tokenizers

from workbench import SentenceEncoder
from workbench.modules import Normalize, StaticEmbedding
from workbench.modules.static_embedding import fold_model2vec, model2vec_modules

VOCAB = {"[UNK]": 0, "red": 1, "car": 2, "blue": 3, "sky": 4, "the": 5}
TEXTS = ["the red car", "", "blue sky blue", "a red zebra"]


def quantised_tensors() -> dict[str, torch.Tensor]:
    """Vocabulary-quantised model2vec tensors: 3 shared int8 rows, a row per token id, a weight per token id."""
    return {
        "embeddings": torch.tensor([[10, 0, -5, 1], [0, 20, 3, -1], [-7, 7, 0, 2]], dtype=torch.int8),
        "mapping": torch.tensor([0, 1, 2, 1, 0, 2], dtype=torch.int64),
        "weights": torch.tensor([0.1, 1.0, 0.5, 2.0, 1.5, 0.25], dtype=torch.float32),
    }


def token_rows() -> torch.Tensor:
    t = quantised_tensors()
    return t["embeddings"].float()[t["mapping"]] * t["weights"].unsqueeze(1)


def make_model2vec(folder: Path, normalize: bool = True, tensors: dict[str, torch.Tensor] | None = None) -> Path:
    """A tiny model2vec folder: a whitespace WordLevel tokenizer over VOCAB and quantised tensors."""
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(models.WordLevel(VOCAB, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(folder / "tokenizer.json"))
    save_file(tensors if tensors is not None else quantised_tensors(), str(folder / "model.safetensors"))
    (folder / "config.json").write_text(
        json.dumps({"normalize": normalize, "embedding_dtype": "int8", "vocabulary_quantization": 3})
    )
    return folder


@pytest.fixture()
def m2v(tmp_path) -> Path:
    return make_model2vec(tmp_path / "m2v")


def expected_means(texts: list[str]) -> torch.Tensor:
    rows = token_rows()
    out = []
    for text in texts:
        ids = [VOCAB.get(word, 0) for word in text.split()]
        out.append(rows[ids].mean(0) if ids else torch.zeros(rows.shape[1]))
    return torch.stack(out)


def test_from_model2vec_folds_mapping_and_weights(m2v):
    static = StaticEmbedding.from_model2vec(m2v)
    torch.testing.assert_close(static.embedding.weight.detach(), token_rows())
    assert static.embedding.weight.dtype == torch.float32 and static.embedding.weight.requires_grad
    assert static.max_seq_length == 512 and static.get_sentence_embedding_dimension() == 4


def test_fold_without_mapping_or_weights_only_casts():
    rows = torch.tensor([[1, 2], [3, 4]], dtype=torch.int8)
    torch.testing.assert_close(fold_model2vec(rows), rows.float())
    with pytest.raises(ValueError, match="one per token"):
        fold_model2vec(rows, weights=torch.ones(3))


def test_tokenize_gives_flat_ids_and_offsets_without_special_tokens(m2v):
    features = StaticEmbedding.from_model2vec(m2v).tokenize(TEXTS)
    assert features["input_ids"].tolist() == [5, 1, 2, 3, 4, 3, 0, 1, 0]
    assert features["offsets"].tolist() == [0, 3, 3, 6]


def test_forward_is_the_mean_of_token_rows(m2v):
    static = StaticEmbedding.from_model2vec(m2v)
    out = static(static.tokenize(TEXTS))["sentence_embedding"]
    torch.testing.assert_close(out, expected_means(TEXTS))


def test_max_seq_length_keeps_the_first_tokens(m2v):
    static = StaticEmbedding.from_model2vec(m2v, max_seq_length=1)
    torch.testing.assert_close(
        static(static.tokenize(TEXTS))["sentence_embedding"], expected_means(["the", "", "blue", "a"])
    )


def test_model2vec_modules_add_normalize_as_the_config_says(tmp_path):
    with_norm = model2vec_modules(make_model2vec(tmp_path / "a", normalize=True))
    assert [type(m) for m in with_norm] == [StaticEmbedding, Normalize]
    assert [type(m) for m in model2vec_modules(make_model2vec(tmp_path / "b", normalize=False))] == [StaticEmbedding]
    embeddings = SentenceEncoder(modules=with_norm, device="cpu").encode(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(embeddings[[0, 2, 3]], axis=1), 1.0, atol=1e-6)
    expected = expected_means(TEXTS)[0]
    np.testing.assert_allclose(embeddings[0], (expected / expected.norm()).numpy(), atol=1e-6)


def test_round_trip_in_sentence_transformers_layout(m2v, tmp_path):
    static = StaticEmbedding.from_model2vec(m2v, max_seq_length=64)
    static.save(tmp_path / "saved")
    files = sorted(p.name for p in (tmp_path / "saved").iterdir())
    assert files == ["config.json", "model.safetensors", "tokenizer.json"]
    assert set(load_file(str(tmp_path / "saved" / "model.safetensors"))) == {"embedding.weight"}
    loaded = StaticEmbedding.load(tmp_path / "saved")
    assert loaded.get_config() == static.get_config() == {"max_seq_length": 64}
    torch.testing.assert_close(
        loaded(loaded.tokenize(TEXTS))["sentence_embedding"], static(static.tokenize(TEXTS))["sentence_embedding"]
    )


def test_encoder_save_and_reload(m2v, tmp_path):
    encoder = SentenceEncoder(modules=model2vec_modules(m2v), device="cpu")
    embeddings = encoder.encode(TEXTS, batch_size=3)
    encoder.save(tmp_path / "model")
    loaded = SentenceEncoder(tmp_path / "model", device="cpu")
    assert [type(m) for m in loaded] == [StaticEmbedding, Normalize]
    np.testing.assert_allclose(loaded.encode(TEXTS, batch_size=3), embeddings, atol=1e-6)


def test_embeddings_are_trainable(m2v):
    static = StaticEmbedding.from_model2vec(m2v)
    static(static.tokenize(["red car"]))["sentence_embedding"].sum().backward()
    grad = static.embedding.weight.grad
    assert grad[[1, 2]].abs().sum() > 0 and grad[[0, 3, 4, 5]].abs().sum() == 0


def test_random_vectors_from_a_tokenizer(m2v):
    static = StaticEmbedding(Tokenizer.from_file(str(m2v / "tokenizer.json")), embedding_dim=7)
    assert static.embedding.weight.shape == (len(VOCAB), 7)


def test_bad_inputs_name_what_is_wrong(m2v, tmp_path):
    tokenizer = Tokenizer.from_file(str(m2v / "tokenizer.json"))
    with pytest.raises(ValueError, match="embedding_dim"):
        StaticEmbedding(tokenizer)
    with pytest.raises(ValueError, match="at least 6 rows"):
        StaticEmbedding(tokenizer, embeddings=np.zeros((2, 4)))
    with pytest.raises(TypeError, match="tokenizers.Tokenizer"):
        StaticEmbedding("not a tokenizer", embedding_dim=4)
    (m2v / "tokenizer.json").unlink()
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        StaticEmbedding.from_model2vec(m2v)
    bare = make_model2vec(tmp_path / "bare")
    (bare / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        StaticEmbedding.from_model2vec(bare)
    odd = make_model2vec(tmp_path / "odd", tensors={"vectors": torch.zeros(6, 4)})
    with pytest.raises(ValueError, match=r"\['vectors'\]; expected 'embedding.weight'"):
        StaticEmbedding.from_model2vec(odd)


def test_sentence_transformers_loads_ours_and_we_load_theirs(m2v, tmp_path):
    st = pytest.importorskip("sentence_transformers")
    ours = SentenceEncoder(modules=model2vec_modules(m2v), device="cpu")
    expected = ours.encode(TEXTS)
    ours.save(tmp_path / "ours")
    theirs = st.SentenceTransformer(str(tmp_path / "ours"), device="cpu")
    theirs.save(str(tmp_path / "theirs"))
    for embeddings in (theirs.encode(TEXTS), SentenceEncoder(tmp_path / "theirs", device="cpu").encode(TEXTS)):
        np.testing.assert_allclose(embeddings, expected, atol=1e-6)


# ---------------------------------------------------------------------------- the real zoo model
@pytest.fixture(scope="module")
def static_package(zoo_package) -> Path:
    """The package that ships the zoo's multilingual model2vec model: its raw folder and a reference encoder."""
    return zoo_package("static-multilingual")


@pytest.fixture(scope="module")
def real_encoder(static_package) -> SentenceEncoder:
    return SentenceEncoder(modules=model2vec_modules(static_package / "static_model" / "model"), device="cpu")


@pytest.mark.slow
def test_real_model2vec_model(real_encoder):
    static = real_encoder[0]
    assert static.embedding.weight.shape == (276326, 64)
    texts = ["A man is playing a guitar.", "Un homme joue de la guitare.", "Stock prices fell."]
    embeddings = real_encoder.encode(texts)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    same, other = embeddings[0] @ embeddings[1], embeddings[0] @ embeddings[2]
    assert same > other  # the French paraphrase is closer than the unrelated sentence


@pytest.mark.slow
def test_real_model_matches_its_reference_encoder(real_encoder, static_package, monkeypatch):
    import importlib

    monkeypatch.syspath_prepend(str(static_package))
    reference = importlib.import_module("static_model")  # the package's own (compiled) encoder
    texts = [
        "Hello world, this is a test.",
        "日本語のテキスト",
        "",
        "😀 ☃ zzzqqq",
        " ".join(["apple", "river", "Paris", "économie", "running"] * 150),
    ]  # > 512 tokens: truncated
    expected = np.array(reference.get_embeddings(texts))
    np.testing.assert_allclose(real_encoder.encode(texts), expected, atol=1e-5)
