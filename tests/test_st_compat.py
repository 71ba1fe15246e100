"""Folders move both ways between this library and sentence-transformers.

Skipped only when sentence-transformers (the optional ``bench`` extra) is absent.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench import SentenceEncoder
from workbench.modules import Dense, Normalize, Pooling, Transformer

st = pytest.importorskip("sentence_transformers")

SENTENCES = ["a man is eating food .", "the dog plays the piano", "", "a woman rides a horse"]


def test_saved_here_loads_in_sentence_transformers(tiny_bert_dir, tmp_path):
    t = Transformer(tiny_bert_dir, max_seq_length=24)
    torch.manual_seed(0)
    ours = SentenceEncoder(modules=[t, Pooling(32, ("mean", "cls")), Dense(64, 16), Normalize()], device="cpu")
    ours.save(tmp_path / "m")
    theirs = st.SentenceTransformer(str(tmp_path / "m"), device="cpu")
    assert theirs.max_seq_length == 24
    np.testing.assert_allclose(theirs.encode(SENTENCES), ours.encode(SENTENCES), atol=1e-5)


def test_sentence_transformers_folder_with_dense_and_normalize_loads_here(tiny_bert_dir, tmp_path):
    models = st.models
    word = models.Transformer(str(tiny_bert_dir), max_seq_length=20)
    torch.manual_seed(0)
    theirs = st.SentenceTransformer(
        modules=[
            word,
            models.Pooling(32, pooling_mode="max"),
            models.Dense(32, 12, activation_function=torch.nn.ReLU()),
            models.Normalize(),
        ],
        device="cpu",
    )
    theirs.save(str(tmp_path / "st"))
    ours = SentenceEncoder(tmp_path / "st", device="cpu")
    assert [type(m).__name__ for m in ours] == ["Transformer", "Pooling", "Dense", "Normalize"]
    assert ours[2].activation == "relu" and ours.max_seq_length == 20
    np.testing.assert_allclose(ours.encode(SENTENCES), theirs.encode(SENTENCES), atol=1e-5)


# ----------------------------------------------------------------------------- parity over saved folders
PROMPTS = {"query": "query: ", "document": "passage: ", "classify": "classify this text please: "}
# Long texts: with max_seq_length 12 most of them are cut, prompt included.
TEXTS = SENTENCES + [
    "someone is riding a horse on the street with a dog and a cat and a child",
    "a woman plays the guitar",
    "good movie",
]
ST_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken", ("mean", "max"))


def _st_folder(tiny_bert_dir, folder, pooling_mode, include_prompt):
    """A folder written by sentence-transformers: prompts, truncation, a pooling mode, Dense, Normalize."""
    from sentence_transformers import models

    word = models.Transformer(str(tiny_bert_dir), max_seq_length=12)
    torch.manual_seed(0)
    width = 32 * (len(pooling_mode) if isinstance(pooling_mode, tuple) else 1)
    theirs = st.SentenceTransformer(
        modules=[
            word,
            models.Pooling(32, pooling_mode=pooling_mode, include_prompt=include_prompt),
            models.Dense(width, 16),
            models.Normalize(),
        ],
        prompts=PROMPTS,
        default_prompt_name="classify",
        similarity_fn_name="dot",
        device="cpu",
    )
    theirs.save(str(folder))
    return st.SentenceTransformer(str(folder), device="cpu")


def _assert_same_embeddings(ours, theirs):
    for encode in ("encode", "encode_query", "encode_document"):
        np.testing.assert_allclose(
            getattr(ours, encode)(TEXTS), getattr(theirs, encode)(TEXTS), atol=1e-5, err_msg=encode
        )
    for kwargs in ({"prompt": "a prompt of its own: "}, {"prompt_name": "query"}, {"truncate_dim": 7}, {"prompt": ""}):
        np.testing.assert_allclose(
            ours.encode(TEXTS, **kwargs), theirs.encode(TEXTS, **kwargs), atol=1e-5, err_msg=str(kwargs)
        )
    emb = ours.encode(TEXTS)
    np.testing.assert_allclose(ours.similarity(emb, emb), theirs.similarity(emb, emb), atol=1e-5)
    np.testing.assert_allclose(
        ours.similarity_pairwise(emb, emb[::-1].copy()), theirs.similarity_pairwise(emb, emb[::-1].copy()), atol=1e-5
    )


@pytest.mark.parametrize("pooling_mode", ST_MODES, ids=str)
@pytest.mark.parametrize("include_prompt", [False, True])
def test_sentence_transformers_folders_encode_the_same_here(tiny_bert_dir, tmp_path, pooling_mode, include_prompt):
    theirs = _st_folder(tiny_bert_dir, tmp_path / "st", pooling_mode, include_prompt)
    ours = SentenceEncoder(tmp_path / "st", device="cpu")
    assert ours[1].include_prompt is include_prompt and ours.max_seq_length == 12
    assert (ours.default_prompt_name, ours.similarity_fn_name) == ("classify", "dot")
    assert {k: v for k, v in ours.prompts.items() if v} == PROMPTS
    _assert_same_embeddings(ours, theirs)
    # and back: what this library saves encodes the same in sentence-transformers
    ours.truncate_dim = 10
    ours.save(tmp_path / "ours")
    again = st.SentenceTransformer(str(tmp_path / "ours"), device="cpu")
    assert again.truncate_dim == 10 and again.default_prompt_name == "classify"
    _assert_same_embeddings(ours, again)


def test_built_here_with_every_option_encodes_the_same_there(tiny_bert_dir, tmp_path):
    torch.manual_seed(1)
    ours = SentenceEncoder(
        modules=[
            Transformer(tiny_bert_dir, max_seq_length=10),
            Pooling(32, ("weighted_mean", "cls"), include_prompt=False),
            Dense(64, 24, activation="gelu", use_residual=True),
            Normalize(),
        ],
        prompts=PROMPTS,
        default_prompt_name="query",
        similarity_fn_name="euclidean",
        truncate_dim=20,
        device="cpu",
    )
    ours.save(tmp_path / "m")
    theirs = st.SentenceTransformer(str(tmp_path / "m"), device="cpu")
    assert theirs.truncate_dim == 20 and theirs.similarity_fn_name == "euclidean"
    _assert_same_embeddings(ours, theirs)
    np.testing.assert_allclose(
        SentenceEncoder(tmp_path / "m", device="cpu").encode(TEXTS), ours.encode(TEXTS), atol=1e-6
    )


def test_output_precisions_match_sentence_transformers(tiny_bert_dir, tmp_path):
    theirs = _st_folder(tiny_bert_dir, tmp_path / "st", "mean", True)
    ours = SentenceEncoder(tmp_path / "st", device="cpu")
    np.testing.assert_allclose(ours.encode(TEXTS, precision="float32"), theirs.encode(TEXTS), atol=1e-5)
    floats = ours.encode(TEXTS)
    for precision in ("int8", "uint8", "binary", "ubinary"):
        mine, other = ours.encode(TEXTS, precision=precision), theirs.encode(TEXTS, precision=precision)
        assert mine.dtype == other.dtype and mine.shape == other.shape, precision
        # the codes of this call's float embeddings, with bounds from all of them (sentence-transformers' levels,
        # compared code for code in test_quantization: here a dimension whose values differ by 1e-7 only would
        # turn float noise into codes 0 and 255)
        np.testing.assert_array_equal(mine, st.quantize_embeddings(floats, precision), err_msg=precision)
        if "binary" in precision:
            np.testing.assert_array_equal(mine, other)
    tensor = ours.encode(TEXTS, precision="ubinary", convert_to_tensor=True)
    assert tensor.dtype == torch.uint8 and tensor.shape == (len(TEXTS), 2)
