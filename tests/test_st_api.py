"""The current sentence-transformers API means the same here: output precision, prompts, saved settings, configs."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from workbench import SentenceEncoder
from workbench.corpus import encode_corpus
from workbench.modules import Dense, Normalize, Pooling, Transformer
from workbench.quantization import quantize_embeddings

TEXTS = ["a man is eating food .", "a dog plays the piano", "a woman rides a horse", "good movie"]


def test_precision_is_the_output_type(tiny_encoder):
    floats = tiny_encoder.encode(TEXTS)
    for precision, dtype, width in (
        ("int8", np.int8, 32),
        ("uint8", np.uint8, 32),
        ("binary", np.int8, 4),
        ("ubinary", np.uint8, 4),
    ):
        codes = tiny_encoder.encode(TEXTS, precision=precision)
        assert codes.dtype == dtype and codes.shape == (len(TEXTS), width)
        np.testing.assert_array_equal(codes, quantize_embeddings(floats, precision))  # bounds from this call
    single = tiny_encoder.encode(TEXTS[0], precision="ubinary")
    assert single.shape == (4,) and single.dtype == np.uint8
    assert tiny_encoder.encode([], precision="int8").shape == (0, 32)
    with pytest.raises(ValueError, match="one text gives no range"):
        tiny_encoder.encode(TEXTS[:1], precision="int8")


def test_compute_dtype_has_its_own_name_and_the_old_spelling_warns(tiny_encoder):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new name never warns
        bf16 = tiny_encoder.encode(TEXTS, compute_dtype="bfloat16")
    with pytest.warns(FutureWarning, match="use compute_dtype='bfloat16'"):
        old = tiny_encoder.encode(TEXTS, precision="bfloat16")
    assert old.dtype == np.float32
    np.testing.assert_array_equal(old, bf16)
    with pytest.raises(ValueError, match=r"precision must be one of .* \(the output type\).*compute_dtype"):
        tiny_encoder.encode(TEXTS, precision="float16")


def test_encode_corpus_old_precision_argument_warns(tiny_encoder, tmp_path):
    with pytest.warns(FutureWarning, match=r"encode_corpus\(precision=...\) is deprecated"):
        old = encode_corpus(tiny_encoder, TEXTS, tmp_path / "a", dtype="float32", precision="bfloat16")
    new = encode_corpus(tiny_encoder, TEXTS, tmp_path / "b", dtype="float32", compute_dtype="bfloat16")
    np.testing.assert_array_equal(np.asarray(old), np.asarray(new))
    with pytest.raises(ValueError, match="compute_dtype"):  # a resume with another compute dtype is refused
        encode_corpus(tiny_encoder, TEXTS, tmp_path / "b", dtype="float32")


def test_query_and_document_prompts(tiny_encoder):
    tiny_encoder.prompts = {"query": "query: ", "other": "other: "}
    tiny_encoder.default_prompt_name = "other"
    np.testing.assert_allclose(
        tiny_encoder.encode_query(TEXTS), tiny_encoder.encode(TEXTS, prompt="query: "), atol=1e-6
    )
    # no document prompt: no prompt at all, not the default one (as in sentence-transformers)
    np.testing.assert_allclose(tiny_encoder.encode_document(TEXTS), tiny_encoder.encode(TEXTS, prompt=""), atol=1e-6)
    np.testing.assert_allclose(
        tiny_encoder.encode_document(TEXTS, prompt_name="query"), tiny_encoder.encode_query(TEXTS), atol=1e-6
    )


def test_settings_are_saved_and_arguments_win(tiny_encoder, tmp_path):
    tiny_encoder.prompts = {"query": "q: "}
    tiny_encoder.default_prompt_name = "query"
    tiny_encoder.similarity_fn_name = "manhattan"
    tiny_encoder.truncate_dim = 8
    tiny_encoder.save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config_sentence_transformers.json").read_text())
    assert config["truncate_dim"] == 8 and config["similarity_fn_name"] == "manhattan"
    loaded = SentenceEncoder(tmp_path / "m", device="cpu")
    assert (loaded.prompts, loaded.default_prompt_name, loaded.similarity_fn_name, loaded.truncate_dim) == (
        {"query": "q: "},
        "query",
        "manhattan",
        8,
    )
    assert loaded.encode(TEXTS).shape == (4, 8)
    given = SentenceEncoder(tmp_path / "m", device="cpu", similarity_fn_name="cosine", truncate_dim=4)
    assert (given.similarity_fn_name, given.truncate_dim) == ("cosine", 4)
    emb = loaded.encode(TEXTS)
    np.testing.assert_allclose(
        loaded.similarity_pairwise(emb, emb[::-1].copy()),
        np.diag(loaded.similarity(emb, emb[::-1].copy()).numpy()),
        atol=1e-6,
    )


def _edit(file, **fields):
    data = json.loads(file.read_text())
    data.update(fields)
    file.write_text(json.dumps(data))


@pytest.mark.parametrize(
    "where, fields, message",
    [
        (
            "config_sentence_transformers.json",
            {"pooling_kwargs": {}},
            r"field\(s\) \['pooling_kwargs'\] are not supported",
        ),
        (
            "config_sentence_transformers.json",
            {"model_type": "SparseEncoder"},
            "model_type 'SparseEncoder' is not supported",
        ),
        ("config_sentence_transformers.json", {"requirements": {"torch": ">=99"}}, r"requires torch>=99 \(installed"),
        (
            "1_Pooling/config.json",
            {"pooling_mode_mean_sqrt_len_tokens": True, "exclude_padding": True},
            r"pooling config field\(s\) \['exclude_padding'\] are not supported",
        ),
        ("2_Dense/config.json", {"dropout": 0.1}, r"Dense config field\(s\) \['dropout'\] are not supported"),
        ("3_Normalize/config.json", {"p": 1}, r"Normalize config field\(s\) \['p'\] are not supported"),
        (
            "sentence_bert_config.json",
            {"transformer_task": "text-generation"},
            "transformer_task='text-generation' is not supported; supported: 'feature-extraction'",
        ),
        ("sentence_bert_config.json", {"query_expansion": {"length": 32}}, "query_expansion=.* is not supported"),
        ("sentence_bert_config.json", {"padding_side": "left"}, "field 'padding_side' is not supported"),
    ],
)
def test_config_fields_that_cannot_be_honoured_are_refused(tiny_bert_dir, tmp_path, where, fields, message):
    model = SentenceEncoder(modules=[Transformer(tiny_bert_dir), Pooling(32), Dense(32, 8), Normalize()], device="cpu")
    model.save(tmp_path / "m")
    file = tmp_path / "m" / where
    if not file.exists():
        file.write_text("{}")
    _edit(file, **fields)
    with pytest.raises((ValueError, ImportError), match=message):
        SentenceEncoder(tmp_path / "m", device="cpu")


def test_every_config_field_sentence_transformers_writes_is_read(tiny_bert_dir, tmp_path):
    model = SentenceEncoder(
        modules=[
            Transformer(tiny_bert_dir),
            Pooling(32, "cls", include_prompt=False),
            Dense(32, 8, module_output_name="projected"),
            Normalize("projected"),
        ],
        device="cpu",
    )
    model.save(tmp_path / "m")
    _edit(
        tmp_path / "m" / "sentence_bert_config.json",
        transformer_task="feature-extraction",
        modality_config={"text": {"method": "forward", "method_output_name": "last_hidden_state"}},
        module_output_name="token_embeddings",
        unpad_inputs=False,
    )
    _edit(tmp_path / "m" / "config_sentence_transformers.json", requirements={"torch": ">=1.0"})
    loaded = SentenceEncoder(tmp_path / "m", device="cpu")
    assert loaded[1].include_prompt is False and loaded[2].module_output_name == "projected"
    features = loaded.tokenize(TEXTS)
    out = loaded(features)
    assert out["sentence_embedding"].shape == (4, 32)  # Dense wrote elsewhere, as configured
    torch.testing.assert_close(out["projected"].norm(dim=-1), torch.ones(4))
