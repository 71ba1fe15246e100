"""SentenceEncoder.encode behaviour and bad input, on a tiny random BERT."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from workbench import SentenceEncoder
from workbench.modules import Dense, Normalize, Pooling, Transformer

from recorder import Recorder

SENTENCES = ["a man is eating food .", "the dog plays", "", "a woman is playing the guitar on the street"]


def test_shapes_and_types(tiny_encoder):
    one = tiny_encoder.encode("a man is eating")
    many = tiny_encoder.encode(SENTENCES)
    assert one.shape == (32,) and isinstance(one, np.ndarray)
    assert many.shape == (4, 32) and many.dtype == np.float32
    as_tensor = tiny_encoder.encode(SENTENCES, convert_to_tensor=True)
    assert isinstance(as_tensor, torch.Tensor) and as_tensor.shape == (4, 32)


def test_results_come_back_in_input_order(tiny_encoder):
    batched = tiny_encoder.encode(SENTENCES, batch_size=2)
    one_by_one = np.stack([tiny_encoder.encode(s) for s in SENTENCES])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)


def test_empty_list_gives_zero_rows_of_the_right_width(tiny_encoder):
    assert tiny_encoder.encode([]).shape == (0, 32)


def test_empty_string_is_encoded(tiny_encoder):
    emb = tiny_encoder.encode([""])
    assert emb.shape == (1, 32) and np.isfinite(emb).all()


@pytest.mark.parametrize("bad, index", [(["ok", None], 1), (["ok", "fine", 3], 2)])
def test_non_string_items_name_their_index(tiny_encoder, bad, index):
    with pytest.raises(TypeError, match=f"item {index} is"):
        tiny_encoder.encode(bad)


def test_non_list_input_is_rejected(tiny_encoder):
    with pytest.raises(TypeError, match="expected a string or a list of strings"):
        tiny_encoder.encode(42)


def test_long_texts_are_truncated_with_one_warning(tiny_encoder, caplog):
    long = "a man is eating food " * 40
    with caplog.at_level(logging.WARNING, logger="workbench.modules.transformer"):
        tiny_encoder.encode([long, long])
        tiny_encoder.encode([long])
    warnings = [r for r in caplog.records if "truncated" in r.getMessage()]
    assert len(warnings) == 1
    assert "max_seq_length=32" in warnings[0].getMessage()


def test_normalize_prompt_and_truncate_dim(tiny_encoder):
    normed = tiny_encoder.encode(SENTENCES, normalize_embeddings=True)
    np.testing.assert_allclose(np.linalg.norm(normed, axis=1), 1.0, atol=1e-5)
    cut = tiny_encoder.encode(SENTENCES, truncate_dim=8)
    np.testing.assert_allclose(cut, tiny_encoder.encode(SENTENCES)[:, :8], atol=1e-6)
    prompted = tiny_encoder.encode(["dog"], prompt="the ")
    np.testing.assert_allclose(prompted, tiny_encoder.encode(["the dog"]), atol=1e-6)


def test_named_prompts(tiny_bert_dir):
    t = Transformer(tiny_bert_dir)
    enc = SentenceEncoder(modules=[t, Pooling(32)], prompts={"query": "the "}, device="cpu")
    np.testing.assert_allclose(enc.encode(["dog"], prompt_name="query"), enc.encode(["the dog"]), atol=1e-6)
    with pytest.raises(ValueError, match="unknown prompt_name 'passage'"):
        enc.encode(["dog"], prompt_name="passage")


def test_token_embeddings_drop_padding(tiny_encoder):
    tokens = tiny_encoder.encode(["a man", "a man is eating food"], output_value="token_embeddings")
    assert tokens[0].shape[0] < tokens[1].shape[0]
    assert tokens[0].shape[1] == 32


def test_bfloat16_is_close_to_float32(tiny_encoder):
    fp32 = tiny_encoder.encode(SENTENCES, normalize_embeddings=True)
    bf16 = tiny_encoder.encode(SENTENCES, compute_dtype="bfloat16", normalize_embeddings=True)
    assert bf16.dtype == np.float32
    assert (fp32 * bf16).sum(1).min() > 0.99


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"precision": "float8"}, "precision must be one of"),
        ({"compute_dtype": "float16"}, "compute_dtype must be one of"),
        ({"precision": "int8", "output_value": "token_embeddings"}, "token_embeddings are returned as float32 only"),
        ({"output_value": "tokens"}, "output_value must be one of"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"batch_size": True}, r"batch_size must be a positive integer, got True \(bool\)"),
        ({"batch_size": 2.0}, r"batch_size must be a positive integer, got 2.0 \(float\)"),
        ({"truncate_dim": -3}, "truncate_dim must be a positive integer, got -3"),
        ({"truncate_dim": 2.5}, r"truncate_dim must be a positive integer, got 2.5 \(float\)"),
        ({"truncate_dim": 0}, "truncate_dim must be a positive integer, got 0"),
    ],
)
def test_bad_arguments(tiny_encoder, kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny_encoder.encode(["x"], **kwargs)


@pytest.mark.parametrize("name", ["cosine", "dot", "euclidean", "manhattan"])
def test_similarity_functions(tiny_bert_dir, name):
    t = Transformer(tiny_bert_dir)
    enc = SentenceEncoder(modules=[t, Pooling(32)], similarity_fn_name=name, device="cpu")
    emb = enc.encode(SENTENCES)
    sim = enc.similarity(emb, emb)
    assert sim.shape == (4, 4)
    if name == "cosine":
        np.testing.assert_allclose(torch.diagonal(sim).numpy(), 1.0, atol=1e-5)


def test_progress_events_reach_callbacks(tiny_encoder):
    recorder = Recorder()
    tiny_encoder.encode(SENTENCES, batch_size=3, callbacks=[recorder])
    assert recorder.progress() == [("begin", 4), ("update", 3), ("update", 1), ("end", None)]


def test_module_stack_encodes_with_expected_width(tiny_bert_dir):
    t = Transformer(tiny_bert_dir)
    enc = SentenceEncoder(modules=[t, Pooling(32, ("cls", "mean", "max")), Dense(96, 16), Normalize()], device="cpu")
    assert enc.get_sentence_embedding_dimension() == 16
    assert enc.encode(SENTENCES).shape == (4, 16)


def test_needs_exactly_one_of_name_or_modules(tiny_encoder):
    with pytest.raises(ValueError, match="either model_name_or_path or modules"):
        SentenceEncoder()


def test_bfloat16_copy_follows_weight_changes(tiny_encoder):
    before = tiny_encoder.encode(["a dog"], compute_dtype="bfloat16")
    with torch.no_grad():
        tiny_encoder[0].auto_model.embeddings.word_embeddings.weight.mul_(3.0)
    tiny_encoder.weights_changed()  # an edit by hand says so (optimizer steps and load_state_dict need not)
    after = tiny_encoder.encode(["a dog"], compute_dtype="bfloat16")
    fp32_after = tiny_encoder.encode(["a dog"])
    assert not np.allclose(before, after, atol=1e-3)
    assert np.dot(after[0], fp32_after[0]) / np.linalg.norm(after) / np.linalg.norm(fp32_after) > 0.99


def test_truncate_dim_of_the_encoder_is_checked(tiny_bert_dir):
    t = Transformer(tiny_bert_dir)
    with pytest.raises(ValueError, match="truncate_dim must be a positive integer, got -4"):
        SentenceEncoder(modules=[t, Pooling(32)], truncate_dim=-4, device="cpu")


@pytest.mark.parametrize(
    "value, message",
    [
        (1000, "max_seq_length must be at most 128 for this bert model"),
        (-1, "max_seq_length must be a positive integer, got -1"),
        (0, "max_seq_length must be a positive integer, got 0"),
        (12.5, r"max_seq_length must be a positive integer, got 12.5 \(float\)"),
    ],
)
def test_max_seq_length_is_checked_when_set(tiny_encoder, tiny_bert_dir, value, message):
    with pytest.raises(ValueError, match=message):
        tiny_encoder.max_seq_length = value
    assert tiny_encoder.max_seq_length == 32  # unchanged
    with pytest.raises(ValueError, match=message):
        Transformer(tiny_bert_dir, max_seq_length=value)
    tiny_encoder.max_seq_length = 128  # the model's limit is accepted and encodes long texts
    assert tiny_encoder.encode(["a man is eating food " * 40]).shape == (1, 32)


def test_roberta_positions_start_after_the_padding_index(tmp_path):
    from transformers import BertTokenizerFast, RobertaConfig, RobertaModel

    RobertaModel(
        RobertaConfig(
            vocab_size=40,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=34,
        )
    ).save_pretrained(tmp_path)
    BertTokenizerFast(
        vocab={t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"])}, model_max_length=10_000
    ).save_pretrained(tmp_path)
    t = Transformer(tmp_path)
    assert t.max_positions() == t.max_seq_length == 32  # 34 positions, numbered from padding_idx + 1 = 2
    with pytest.raises(ValueError, match="at most 32 for this roberta model"):
        t.max_seq_length = 33


def test_mappings_and_sets_are_refused(tiny_encoder):
    with pytest.raises(TypeError, match="got a dict, whose keys would be encoded"):
        tiny_encoder.encode({"first": "a man is eating", "second": "the dog plays"})
    with pytest.raises(TypeError, match="got a set, which has no order"):
        tiny_encoder.encode({"a man is eating", "the dog plays"})
    # an ordered view of the values is fine
    assert tiny_encoder.encode({"first": "a man", "second": "a dog"}.values()).shape == (2, 32)


def test_lone_surrogate_names_the_item(tiny_encoder):
    with pytest.raises(ValueError, match=r"item 2 holds '\\udcff' at position 3, a lone surrogate"):
        tiny_encoder.encode(["ok", "über", "bad\udcff"])


def test_empty_input_builds_no_onnx_model(tiny_encoder, monkeypatch):
    from workbench.backends import onnx as onnx_backend

    def no_export(*args, **kwargs):
        raise AssertionError("an ONNX model was exported for an empty input")

    monkeypatch.setattr(onnx_backend, "export_onnx", no_export)
    out = tiny_encoder.encode([], compute_dtype="int8")
    assert isinstance(out, np.ndarray) and out.shape == (0, 32) and out.dtype == np.float32
    tiny_encoder.backend = "onnx"
    assert tiny_encoder.encode([]).shape == (0, 32)
    with pytest.raises(ValueError, match="the onnx backend runs float32 and int8"):
        tiny_encoder.encode([], compute_dtype="bfloat16")


def _poison(encoder, word: str) -> None:
    """Make every text holding ``word`` encode to NaN (its token embedding becomes NaN)."""
    token = encoder.tokenizer.convert_tokens_to_ids(word)
    with torch.no_grad():
        encoder[0].auto_model.embeddings.word_embeddings.weight[token] = float("nan")


def test_non_finite_embeddings_are_reported_and_rank_last(tiny_encoder, caplog):
    from workbench.search import semantic_search

    _poison(tiny_encoder, "dog")
    corpus = ["a man is eating food", "the dog plays", "a woman plays the piano", "a dog rides a horse"]
    with caplog.at_level(logging.WARNING, logger="workbench.encoder"):
        emb = tiny_encoder.encode(corpus)
        tokens = tiny_encoder.encode(corpus, output_value="token_embeddings")
    messages = [r.getMessage() for r in caplog.records if "not finite" in r.getMessage()]
    assert len(messages) == 2 and all("2 of 4 embeddings are not finite" in m and "rows 1, 3" in m for m in messages)
    assert len(tokens) == 4 and np.isnan(emb[[1, 3]]).all() and np.isfinite(emb[[0, 2]]).all()
    hits = semantic_search(tiny_encoder.encode(["a man is eating food"]), emb, top_k=4)[0]
    assert [h["corpus_id"] for h in hits[:2]] == [0, 2]
    assert {h["corpus_id"] for h in hits[2:]} == {1, 3}


def test_finite_embeddings_log_nothing(tiny_encoder, caplog):
    with caplog.at_level(logging.WARNING, logger="workbench.encoder"):
        tiny_encoder.encode(SENTENCES)
    assert not [r for r in caplog.records if "not finite" in r.getMessage()]
