"""Embedding quantization (int8/uint8 with calibration ranges, binary codes) and binary search with rescoring."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from workbench.quantization import (
    binary_search,
    calibration_ranges,
    dequantize_embeddings,
    hamming_distances,
    quantize_embeddings,
)
from workbench.search import semantic_search


@pytest.fixture(scope="module")
def corpus() -> np.ndarray:
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(3000, 256)).astype(np.float32)
    return emb / np.linalg.norm(emb, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def queries(corpus) -> np.ndarray:
    # each query is a slightly moved copy of corpus row i: row i is its true best hit
    noise = np.random.default_rng(1).normal(size=(40, corpus.shape[1])).astype(np.float32)
    return corpus[:40] + 0.05 * noise


def ids(hits: list[list[dict]]) -> list[list[int]]:
    return [[hit["corpus_id"] for hit in row] for row in hits]


def test_uint8_and_int8_use_calibration_bounds():
    calibration = np.array([[-1.0, 0.0], [1.0, 4.0]], dtype=np.float32)
    ranges = calibration_ranges(calibration)
    np.testing.assert_array_equal(ranges, [[-1.0, 0.0], [1.0, 4.0]])
    values = np.array([[-1.0, 0.0], [0.0, 2.0], [1.0, 4.0], [5.0, -3.0]], dtype=np.float32)  # last row: out of range
    uint8 = quantize_embeddings(values, "uint8", calibration_embeddings=calibration)
    # 255 steps between the bounds, as in sentence-transformers (whose float32 division puts the maximum at 254 too)
    np.testing.assert_array_equal(uint8, [[0, 0], [127, 127], [254, 254], [255, 0]])
    np.testing.assert_array_equal(quantize_embeddings(values, "uint8", ranges=ranges), uint8)
    int8 = quantize_embeddings(values, "int8", ranges=ranges)
    assert int8.dtype == np.int8
    np.testing.assert_array_equal(int8.astype(int), uint8.astype(int) - 128)
    # without bounds, the embeddings' own are used
    np.testing.assert_array_equal(quantize_embeddings(values[:3], "uint8"), uint8[:3])


def test_dequantized_int8_is_within_half_a_bin(corpus):
    ranges = calibration_ranges(corpus)
    codes = quantize_embeddings(torch.from_numpy(corpus), "int8", ranges=ranges)  # torch input works too
    restored = dequantize_embeddings(codes, "int8", ranges)
    half_bin = (ranges[1] - ranges[0]) / 255 / 2
    assert (np.abs(restored - corpus) <= half_bin + 1e-6).all()
    with pytest.raises(ValueError, match="need the ranges"):
        dequantize_embeddings(codes, "int8")


def test_binary_codes_pack_sign_bits():
    emb = np.array([[0.5, -0.2, 0.1, 0, 0, 0, 0, 0.3, -1.0, 2.0, 0.0, 1.0]], dtype=np.float32)  # 12 dims
    ubinary = quantize_embeddings(emb, "ubinary")
    np.testing.assert_array_equal(ubinary, [[0b10100001, 0b01010000]])
    binary = quantize_embeddings(emb, "binary")
    np.testing.assert_array_equal(binary.astype(int), ubinary.astype(int) - 128)
    np.testing.assert_array_equal(dequantize_embeddings(binary, "binary", dim=12), np.where(emb > 0, 1.0, -1.0))


def test_codes_match_sentence_transformers(corpus):
    st = pytest.importorskip("sentence_transformers.quantization")
    for precision in ("binary", "ubinary"):
        np.testing.assert_array_equal(
            quantize_embeddings(corpus[:50], precision), st.quantize_embeddings(corpus[:50], precision)
        )
    ranges = calibration_ranges(corpus[:500])
    flat = corpus[:50].copy()
    flat[:, 3] = 0.25  # a dimension without range
    for precision in ("int8", "uint8"):
        np.testing.assert_array_equal(
            quantize_embeddings(corpus[:50], precision, ranges=ranges),
            st.quantize_embeddings(corpus[:50], precision, ranges=ranges),
        )
        np.testing.assert_array_equal(quantize_embeddings(flat, precision), st.quantize_embeddings(flat, precision))


def test_one_embedding_gives_no_bounds():
    with pytest.raises(ValueError, match="cannot take int8 bounds from a single embedding"):
        quantize_embeddings([[0.1, 0.2]], "int8")
    assert quantize_embeddings([[0.1, 0.2]], "int8", ranges=[[0.0, 0.0], [1.0, 1.0]]).tolist() == [[-103, -78]]


def test_hamming_distances_count_differing_bits(corpus):
    for dim in (256, 20):  # whole 64-bit words, and a ragged width
        codes = quantize_embeddings(corpus[:30, :dim], "ubinary")
        bits = corpus[:30, :dim] > 0
        expected = (bits[:, None, :] != bits[None, :, :]).sum(-1)
        np.testing.assert_array_equal(hamming_distances(codes[:7], codes), expected[:7])


def test_binary_search_finds_planted_neighbours_and_rescoring_helps(corpus, queries):
    codes = quantize_embeddings(corpus, "ubinary")
    exact = ids(semantic_search(queries, corpus, top_k=10, similarity_fn_name="dot"))
    plain = ids(binary_search(queries, codes, top_k=10, rescore_multiplier=0))
    rescored = ids(binary_search(queries, codes, top_k=10, rescore_multiplier=4, corpus_embeddings=corpus))
    assert [row[0] for row in rescored] == list(range(40))
    assert [row[0] for row in plain] == list(range(40))

    def overlap(found):
        return np.mean([len(set(a) & set(b)) for a, b in zip(found, exact)]) / 10

    assert overlap(rescored) > overlap(plain) + 0.1


def test_rescoring_over_the_whole_corpus_is_exact_search(corpus, queries):
    codes = quantize_embeddings(corpus, "binary")
    small = corpus[:200]
    exact = semantic_search(queries, small, top_k=5, similarity_fn_name="dot")
    found = binary_search(
        queries,
        codes[:200],
        top_k=5,
        rescore_multiplier=40,
        corpus_embeddings=small,
        precision="binary",
        corpus_chunk_size=33,
        query_chunk_size=7,
    )
    assert ids(found) == ids(exact)
    np.testing.assert_allclose(
        [[h["score"] for h in row] for row in found], [[h["score"] for h in row] for row in exact], rtol=1e-5
    )


def test_hamming_scores_and_chunking(corpus, queries, tmp_path):
    codes = quantize_embeddings(corpus, "ubinary")
    stored = np.lib.format.open_memmap(tmp_path / "codes.npy", mode="w+", dtype=np.uint8, shape=codes.shape)
    stored[:] = codes
    whole = binary_search(queries, codes, top_k=8, rescore_multiplier=0)
    chunked = binary_search(queries, stored, top_k=8, rescore_multiplier=0, corpus_chunk_size=500, query_chunk_size=3)
    assert whole == chunked
    distances = hamming_distances(np.packbits(queries > 0, axis=-1), codes)
    for q, row in enumerate(whole):
        scores = [hit["score"] for hit in row]
        assert scores == sorted(scores, reverse=True)
        assert scores == [1 - 2 * distances[q, hit["corpus_id"]] / 256 for hit in row]
    # rescoring with the ±1 codes alone (no float corpus) also returns sorted float scores
    codes_only = binary_search(queries, codes, top_k=8)
    assert [row[0]["corpus_id"] for row in codes_only] == list(range(40))


def test_errors_say_what_is_accepted(corpus):
    with pytest.raises(
        ValueError, match=r"precision must be one of \('float32', 'int8', 'uint8', 'binary', 'ubinary'\)"
    ):
        quantize_embeddings(corpus, "int4")
    with pytest.raises(ValueError, match=r"ranges must have shape \(2, 256\)"):
        quantize_embeddings(corpus, "int8", ranges=np.zeros((2, 3)))
    codes = quantize_embeddings(corpus, "ubinary")
    with pytest.raises(ValueError, match="queries have 64 dimensions, which pack into 8 bytes"):
        binary_search(corpus[:2, :64], codes)
    with pytest.raises(ValueError, match="needs binary or ubinary codes"):
        binary_search(corpus[:2], codes, precision="int8")
    with pytest.raises(ValueError, match="rescore_multiplier must be 0"):
        binary_search(corpus[:2], codes, rescore_multiplier=-1)


@pytest.mark.parametrize("precision", ["int8", "uint8", "binary", "ubinary"])
def test_non_finite_embeddings_are_not_quantized(precision):
    values = np.ones((4, 8), dtype=np.float32)
    values[2, 5] = np.nan
    with pytest.raises(ValueError, match="embeddings has NaN or infinite values in row 2"):
        quantize_embeddings(values, precision)
    with pytest.raises(ValueError, match="calibration embeddings has NaN or infinite values in row 2"):
        calibration_ranges(values)


def test_binary_search_ranks_non_finite_rescores_last_and_checks_top_k():
    corpus = np.array(
        [[1.0, 0.5, 0, 0, 0, 0, 0, 0], [1.0, 0.4, 0, 0, 0, 0, 0, 0], [1.0, 0.3, 0, 0, 0, 0, 0, 0]], dtype=np.float32
    )
    codes = quantize_embeddings(corpus, "ubinary")
    floats = corpus.copy()
    floats[1, 0] = np.inf  # its rescore is +inf, which a plain sort puts first
    hits = binary_search(corpus[:1], codes, top_k=3, corpus_embeddings=floats)[0]
    assert [h["corpus_id"] for h in hits] == [0, 2, 1]
    for top_k in (0, 2.5, None, True):
        with pytest.raises(ValueError, match=f"top_k must be a positive integer, got {top_k!r}"):
            binary_search(corpus[:1], codes, top_k=top_k)
