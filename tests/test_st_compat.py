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
    theirs = st.SentenceTransformer(modules=[
        word, models.Pooling(32, pooling_mode="max"),
        models.Dense(32, 12, activation_function=torch.nn.ReLU()), models.Normalize(),
    ], device="cpu")
    theirs.save(str(tmp_path / "st"))
    ours = SentenceEncoder(tmp_path / "st", device="cpu")
    assert [type(m).__name__ for m in ours] == ["Transformer", "Pooling", "Dense", "Normalize"]
    assert ours[2].activation == "relu" and ours.max_seq_length == 20
    np.testing.assert_allclose(ours.encode(SENTENCES), theirs.encode(SENTENCES), atol=1e-5)
