"""Corpus-scale encoding: memmap output, resume without recomputing, clear errors."""
from __future__ import annotations

import numpy as np
import pytest

from workbench.corpus import chunks_done, encode_corpus, estimate_memory

TEXTS = [f"a man is eating food {i}" if i % 2 else f"the dog plays {i}" for i in range(23)]


def test_matches_plain_encode(tiny_encoder, tmp_path):
    emb = encode_corpus(tiny_encoder, TEXTS, tmp_path, chunk_size=5, dtype="float32")
    np.testing.assert_allclose(emb, tiny_encoder.encode(TEXTS), atol=1e-5)
    again = np.load(tmp_path / "embeddings.npy", mmap_mode="r")
    assert again.shape == (23, 32) and again.dtype == np.float32


def test_reads_a_text_file_and_writes_float16(tiny_encoder, tmp_path):
    (tmp_path / "corpus.txt").write_text("\n".join(TEXTS) + "\n")
    emb = encode_corpus(tiny_encoder, tmp_path / "corpus.txt", tmp_path / "out", chunk_size=10)
    assert emb.dtype == np.float16
    np.testing.assert_allclose(emb.astype(np.float32), tiny_encoder.encode(TEXTS), atol=2e-3)


def test_resume_skips_finished_chunks(tiny_encoder, tmp_path):
    calls = []
    real_encode = tiny_encoder.encode

    def interrupted(texts, **kw):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(len(texts))
        return real_encode(texts, **kw)

    tiny_encoder.encode = interrupted
    with pytest.raises(KeyboardInterrupt):
        encode_corpus(tiny_encoder, iter(TEXTS), tmp_path, total=23, chunk_size=5, dtype="float32")
    assert chunks_done(tmp_path) == [0, 1]

    calls.clear()
    tiny_encoder.encode = lambda texts, **kw: (calls.append(len(texts)), real_encode(texts, **kw))[1]
    emb = encode_corpus(tiny_encoder, iter(TEXTS), tmp_path, total=23, chunk_size=5, dtype="float32")
    assert calls == [5, 5, 3]  # chunks 2, 3, 4 only
    np.testing.assert_allclose(emb, real_encode(TEXTS), atol=1e-5)


def test_other_settings_in_the_same_folder_are_refused(tiny_encoder, tmp_path):
    encode_corpus(tiny_encoder, TEXTS, tmp_path, chunk_size=5)
    with pytest.raises(ValueError, match="other settings"):
        encode_corpus(tiny_encoder, TEXTS, tmp_path, chunk_size=7)


def test_stream_needs_a_total(tiny_encoder, tmp_path):
    with pytest.raises(ValueError, match="pass total="):
        encode_corpus(tiny_encoder, iter(TEXTS), tmp_path)


def test_short_stream_is_reported(tiny_encoder, tmp_path):
    with pytest.raises(ValueError, match="ended after 23 sentences; total says 30"):
        encode_corpus(tiny_encoder, iter(TEXTS), tmp_path, total=30, chunk_size=10)


def test_memory_estimate_scales_with_output(tiny_encoder):
    small = estimate_memory(tiny_encoder, 1000)
    big = estimate_memory(tiny_encoder, 1_000_000)
    assert big.output_on_disk_mb == pytest.approx(small.output_on_disk_mb * 1000)
    assert big.peak_ram_mb == small.peak_ram_mb  # RAM does not grow with the corpus
