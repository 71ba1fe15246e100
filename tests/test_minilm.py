"""The real all-MiniLM-L6-v2 from the zoo: published STSb score and parity with sentence-transformers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from workbench.data import load_dataset

pytestmark = pytest.mark.slow


def test_stsb_test_spearman_matches_published(minilm, mirror):
    test = load_dataset("stsb", split="test")
    a = minilm.encode([e.texts[0] for e in test], normalize_embeddings=True)
    b = minilm.encode([e.texts[1] for e in test], normalize_embeddings=True)
    rho = spearmanr((a * b).sum(1), [e.label for e in test]).statistic
    assert abs(rho - 0.8203) <= 0.001, rho


def test_same_embeddings_as_sentence_transformers(minilm, mirror):
    st = pytest.importorskip("sentence_transformers")
    sentences = [e.texts[0] for e in load_dataset("stsb", split="dev")][:300]
    theirs = st.SentenceTransformer(str(minilm.source_folder), device="cpu").encode(sentences, batch_size=32)
    ours = minilm.encode(sentences, batch_size=32)
    cos = (theirs * ours).sum(1) / np.linalg.norm(theirs, axis=1) / np.linalg.norm(ours, axis=1)
    assert cos.min() >= 0.9999, cos.min()


def test_saved_copy_round_trips(minilm, tmp_path):
    from workbench import SentenceEncoder

    minilm.save(tmp_path / "copy")
    again = SentenceEncoder(tmp_path / "copy", device="cpu")
    sentences = ["A man is playing a guitar.", "Ein Mann spielt Gitarre.", ""]
    np.testing.assert_allclose(again.encode(sentences), minilm.encode(sentences), atol=1e-6)
