"""Approximate index (faiss) and the exact chunked fallback."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from workbench import index as index_module
from workbench.index import ExactIndex, build_index, load_index
from workbench.search import semantic_search


@pytest.fixture(scope="module")
def emb() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(5000, 32)).astype(np.float32)


@pytest.fixture(scope="module")
def queries(emb) -> np.ndarray:
    return emb[:50] + 0.1 * np.random.default_rng(1).normal(size=(50, 32)).astype(np.float32)


def recall(found: np.ndarray, expected: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found, expected)]))


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_exact_index_is_semantic_search(emb, queries, metric, tmp_path):
    stored = np.lib.format.open_memmap(tmp_path / "emb.npy", mode="w+", dtype=np.float16, shape=emb.shape)
    stored[:] = emb
    scores, ids = ExactIndex(stored, metric, chunk_size=777).search(queries, k=7)
    hits = semantic_search(queries, stored, top_k=7, similarity_fn_name=metric)
    assert ids.tolist() == [[h["corpus_id"] for h in row] for row in hits]
    np.testing.assert_allclose(scores, [[h["score"] for h in row] for row in hits], rtol=1e-6)
    assert ExactIndex(emb[:3], metric).search(torch.from_numpy(queries[0]), k=10)[1].shape == (1, 3)


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_faiss_flat_gives_the_exact_scores(emb, queries, metric):
    pytest.importorskip("faiss")
    scores, ids = build_index(emb, metric, factory="Flat").search(queries, k=5)
    exact_scores, exact_ids = build_index(emb, metric, kind="exact").search(queries, k=5)
    assert (ids == exact_ids).mean() > 0.99  # near-ties may swap
    np.testing.assert_allclose(scores, exact_scores, rtol=1e-4, atol=1e-4)


def test_hnsw_recall_and_ivf_knobs(emb, queries):
    pytest.importorskip("faiss")
    exact = build_index(emb, kind="exact").search(queries, k=10)[1]
    hnsw = build_index(emb)  # auto: faiss HNSW
    assert hnsw.factory == "HNSW32" and len(hnsw) == len(emb)
    assert recall(hnsw.search(queries, k=10)[1], exact) > 0.9
    ivf = build_index(emb, factory="IVF32,Flat", nprobe=1)
    coarse = recall(ivf.search(queries, k=10)[1], exact)
    ivf.set_search_parameters(nprobe=32)  # every list: exhaustive
    assert recall(ivf.search(queries, k=10)[1], exact) > max(coarse, 0.98)


def test_faiss_index_saves_and_loads(emb, queries, tmp_path):
    pytest.importorskip("faiss")
    index = build_index(emb[:1000], "dot", factory="Flat")
    index.save(tmp_path / "idx")
    again = load_index(tmp_path / "idx")
    assert again.similarity_fn_name == "dot" and len(again) == 1000
    np.testing.assert_array_equal(again.search(queries, 3)[1], index.search(queries, 3)[1])


def test_without_faiss_the_exact_search_is_used(emb, queries, monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss now fails
    assert not index_module.faiss_available()
    fallback = build_index(emb)
    assert isinstance(fallback, ExactIndex)
    assert fallback.search(queries, k=1)[1][:, 0].tolist() == list(range(50))
    with pytest.raises(ImportError, match="pip install faiss-cpu"):
        build_index(emb, kind="faiss")


def test_errors_say_what_is_accepted(emb):
    with pytest.raises(ValueError, match=r"kind must be one of \('auto', 'faiss', 'exact'\)"):
        build_index(emb, kind="annoy")
    with pytest.raises(ValueError, match=r"similarity_fn_name must be one of \('cosine', 'dot', 'euclidean'\)"):
        build_index(emb, "hamming", kind="exact")
    with pytest.raises(ValueError, match=r"embeddings must be \(n, dim\)"):
        build_index(emb[0], kind="exact")


@pytest.mark.parametrize("k", [0, 2.5, None, True])
@pytest.mark.parametrize("kind", ["exact", "faiss"])
def test_k_must_be_a_positive_integer(emb, kind, k):
    index = build_index(emb[:100], kind=kind, **({"factory": "Flat"} if kind == "faiss" else {}))
    with pytest.raises(ValueError, match=f"k must be a positive integer, got {k!r}"):
        index.search(emb[:2], k=k)


@pytest.mark.parametrize("kind", ["exact", "faiss"])
def test_no_queries_give_empty_results_of_the_right_shape(emb, kind):
    index = build_index(emb[:100], kind=kind, **({"factory": "Flat"} if kind == "faiss" else {}))
    scores, ids = index.search(np.empty((0, 32), dtype=np.float32), k=5)
    assert scores.shape == ids.shape == (0, 5) and ids.dtype == np.int64


def test_exact_index_of_an_empty_corpus_finds_nothing():
    scores, ids = ExactIndex(np.empty((0, 8), dtype=np.float32)).search(np.ones((3, 8)), k=4)
    assert scores.shape == ids.shape == (3, 0)


def test_faiss_refuses_an_empty_corpus_and_wrong_query_width(emb):
    with pytest.raises(ValueError, match=r"embeddings has no rows \(shape \(0, 32\)\)"):
        build_index(emb[:0], kind="faiss", factory="Flat")
    index = build_index(emb[:100], kind="faiss", factory="Flat")
    with pytest.raises(ValueError, match=r"queries has shape \(2, 16\) but the index has shape \(100, 32\)"):
        index.search(emb[:2, :16], k=3)


@pytest.mark.parametrize("factory", ["Flat", "HNSW32", "IVF4,Flat"])
def test_faiss_refuses_non_finite_rows_and_names_them(emb, factory):
    bad = emb[:300].copy()
    bad[[5, 250], 3] = np.nan
    with pytest.raises(ValueError, match="embeddings has NaN or infinite values in rows 5, 250;.*kind='exact'"):
        build_index(bad, kind="faiss", factory=factory, batch_size=100)
    index = build_index(emb[:300], kind="faiss", factory=factory)
    queries = emb[:3].copy()
    queries[1, 0] = np.inf
    with pytest.raises(ValueError, match="queries has NaN or infinite values in row 1"):
        index.search(queries, k=2)


def test_exact_index_ranks_non_finite_rows_last(emb):
    corpus = emb[:50].copy()
    corpus[0] = np.nan  # row 0 is the best match of query 0 when finite
    scores, ids = ExactIndex(corpus).search(emb[:5], k=50)
    assert (ids[:, -1] == 0).all() and np.isnan(scores[:, -1]).all()
    assert np.isfinite(scores[:, :-1]).all()
