"""semantic_search and paraphrase mining against brute force over the full score matrix."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from workbench.hooks import Hooks
from workbench.search import connected_groups, paraphrase_mining, paraphrase_mining_embeddings, semantic_search
from workbench.similarity import SIMILARITY_FUNCTIONS, dot_score

RNG = np.random.default_rng(0)
# float64 random data: no near-ties, so the brute-force order is unambiguous
QUERIES = RNG.normal(size=(23, 8))
CORPUS = RNG.normal(size=(101, 8))


def brute_force_search(queries, corpus, top_k, name):
    scores = SIMILARITY_FUNCTIONS[name](queries, corpus).numpy()
    ids = np.argsort(-scores, axis=1, kind="stable")[:, :top_k]
    return ids, np.take_along_axis(scores, ids, axis=1)


def assert_matches_brute_force(hits, queries, corpus, top_k, name="cosine"):
    ids, scores = brute_force_search(queries, corpus, top_k, name)
    assert [[h["corpus_id"] for h in row] for row in hits] == ids.tolist()
    np.testing.assert_allclose([[h["score"] for h in row] for row in hits], scores, rtol=1e-12)


@pytest.mark.parametrize("name", list(SIMILARITY_FUNCTIONS))
@pytest.mark.parametrize("query_chunk, corpus_chunk", [(1, 1), (4, 7), (5, 10), (100, 50_000)])
def test_semantic_search_matches_brute_force(name, query_chunk, corpus_chunk):
    hits = semantic_search(
        QUERIES,
        CORPUS,
        top_k=10,
        similarity_fn_name=name,
        query_chunk_size=query_chunk,
        corpus_chunk_size=corpus_chunk,
    )
    assert_matches_brute_force(hits, QUERIES, CORPUS, 10, name)


def test_semantic_search_on_memmap_corpus(tmp_path):
    path = tmp_path / "corpus.npy"
    np.save(path, CORPUS)
    corpus = np.load(path, mmap_mode="r")
    hits = semantic_search(torch.from_numpy(QUERIES), corpus, top_k=5, corpus_chunk_size=17)
    assert_matches_brute_force(hits, QUERIES, CORPUS, 5)


def test_semantic_search_result_format_and_small_corpus():
    hits = semantic_search(QUERIES[0].tolist(), CORPUS[:3], top_k=10)
    assert len(hits) == 1 and len(hits[0]) == 3
    assert all(type(h["corpus_id"]) is int and type(h["score"]) is float for h in hits[0])
    assert [h["score"] for h in hits[0]] == sorted((h["score"] for h in hits[0]), reverse=True)
    assert semantic_search(QUERIES[:2], np.empty((0, 8)), top_k=3) == [[], []]


def test_low_precision_inputs():
    hits = semantic_search(torch.from_numpy(QUERIES).half(), torch.from_numpy(CORPUS).bfloat16(), top_k=3)
    assert all(row[0]["score"] >= row[1]["score"] >= row[2]["score"] for row in hits)
    assert len(paraphrase_mining_embeddings(torch.from_numpy(CORPUS).bfloat16(), top_k=1)) > 0


def test_semantic_search_with_callable_score():
    hits = semantic_search(QUERIES, CORPUS, top_k=4, similarity_fn_name=dot_score, corpus_chunk_size=9)
    assert_matches_brute_force(hits, QUERIES, CORPUS, 4, "dot")


def test_semantic_search_reports_progress():
    events = []
    recorder = SimpleNamespace(**{f"on_progress_{e}": events.append for e in ("begin", "update", "end")})
    semantic_search(QUERIES, CORPUS, corpus_chunk_size=30, hooks=Hooks([recorder]))
    assert [e.name for e in events] == ["progress_begin"] + ["progress_update"] * 4 + ["progress_end"]
    assert events[0].total == len(CORPUS) == sum(e.n for e in events[1:-1])


def test_semantic_search_errors():
    with pytest.raises(
        ValueError, match=r"query_embeddings has shape \(23, 8\).*corpus_embeddings has shape \(101, 5\)"
    ):
        semantic_search(QUERIES, CORPUS[:, :5])
    with pytest.raises(ValueError, match="cosine, dot, euclidean, manhattan"):
        semantic_search(QUERIES, CORPUS, similarity_fn_name="cos")
    with pytest.raises(ValueError, match="query_chunk_size"):
        semantic_search(QUERIES, CORPUS, query_chunk_size=0)


@pytest.mark.parametrize("top_k", [0, -3, 2.5, None, True, "5"])
def test_top_k_must_be_a_positive_integer(top_k):
    with pytest.raises(ValueError, match=f"top_k must be a positive integer, got {top_k!r}"):
        semantic_search(QUERIES, CORPUS, top_k=top_k)
    with pytest.raises(ValueError, match=f"top_k must be a positive integer, got {top_k!r}"):
        paraphrase_mining_embeddings(CORPUS, top_k=top_k)


def test_numpy_integer_top_k_is_accepted():
    assert len(semantic_search(QUERIES[:1], CORPUS, top_k=np.int64(3))[0]) == 3


@pytest.mark.parametrize("name", list(SIMILARITY_FUNCTIONS))
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_corpus_rows_rank_after_finite_ones(name, bad):
    corpus = CORPUS[:20].copy()
    corpus[[3, 11], 2] = bad
    finite = [i for i in range(20) if i not in (3, 11)]
    # small chunks: the merge of running top-k lists must keep the order too
    for corpus_chunk in (4, 50_000):
        hits = semantic_search(QUERIES, corpus, top_k=20, similarity_fn_name=name, corpus_chunk_size=corpus_chunk)
        for row in hits:
            assert sorted(h["corpus_id"] for h in row[:18]) == finite
            assert {h["corpus_id"] for h in row[18:]} == {3, 11}
            assert np.isfinite([h["score"] for h in row[:18]]).all()
        best = semantic_search(QUERIES, corpus, top_k=3, similarity_fn_name=name, corpus_chunk_size=corpus_chunk)
        ids, _ = brute_force_search(QUERIES, corpus[finite], 3, name)
        assert [[h["corpus_id"] for h in row] for row in best] == np.asarray(finite)[ids].tolist()


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_paraphrase_mining_ranks_non_finite_pairs_last(bad):
    emb = CORPUS[:30].copy()
    emb[:, 0] = np.abs(emb[:, 0])
    emb[7] = 0.0
    emb[7, 0] = bad  # dot scores with row 7: all NaN, or all +inf (which a plain sort puts first)
    got = paraphrase_mining_embeddings(emb, top_k=30, similarity_fn_name="dot")
    scores = np.array([s for s, _, _ in got])
    n_finite = int(np.isfinite(scores).sum())
    assert n_finite == 29 * 28 // 2  # every pair without row 7
    assert np.isfinite(scores[:n_finite]).all() and not np.isfinite(scores[n_finite:]).any()
    assert all(7 in (i, j) for _, i, j in got[n_finite:])


def brute_force_pairs(embeddings, top_k, max_pairs, name):
    scores = SIMILARITY_FUNCTIONS[name](embeddings, embeddings).numpy()
    np.fill_diagonal(scores, -np.inf)
    pairs = {}
    for i, row in enumerate(scores):
        for j in np.argsort(-row, kind="stable")[:top_k]:
            pairs[min(i, j), max(i, j)] = row[j]
    ranked = sorted(pairs.items(), key=lambda item: -item[1])[:max_pairs]
    return [(score, i, j) for (i, j), score in ranked]


def assert_same_pairs(got, expected):
    assert [(i, j) for _, i, j in got] == [(i, j) for _, i, j in expected]
    np.testing.assert_allclose([s for s, _, _ in got], [s for s, _, _ in expected], rtol=1e-12)


@pytest.mark.parametrize("name", ["cosine", "dot", "euclidean"])
@pytest.mark.parametrize(
    "top_k, max_pairs, chunk, corpus_chunk", [(3, 10_000, 7, 11), (5, 40, 1, 1000), (200, 50, 64, 64)]
)
def test_paraphrase_mining_matches_brute_force(name, top_k, max_pairs, chunk, corpus_chunk):
    got = paraphrase_mining_embeddings(
        CORPUS,
        top_k=top_k,
        max_pairs=max_pairs,
        chunk_size=chunk,
        corpus_chunk_size=corpus_chunk,
        similarity_fn_name=name,
    )
    assert all(i < j for _, i, j in got)
    assert len({(i, j) for _, i, j in got}) == len(got)
    assert_same_pairs(got, brute_force_pairs(CORPUS, top_k, max_pairs, name))


def test_paraphrase_mining_with_exact_duplicates():
    emb = np.repeat(CORPUS[:10], 3, axis=0)  # each vector three times: self ties with two twins
    got = paraphrase_mining_embeddings(emb, top_k=2)
    twins = {(i, j) for i in range(30) for j in range(i + 1, 30) if i // 3 == j // 3}
    assert {(i, j) for _, i, j in got} == twins
    np.testing.assert_allclose([s for s, _, _ in got], 1.0)


def test_paraphrase_mining_tiny_inputs():
    assert paraphrase_mining_embeddings(np.empty((0, 4))) == []
    assert paraphrase_mining_embeddings(np.ones((1, 4))) == []


def test_paraphrase_mining_reports_progress():
    ends = []
    paraphrase_mining_embeddings(CORPUS, chunk_size=50, hooks=Hooks([SimpleNamespace(on_progress_end=ends.append)]))
    assert [e.task for e in ends] == ["paraphrase_mining"]


def test_paraphrase_mining_encodes_then_mines():
    calls = []

    class FakeEncoder:
        def encode(self, sentences, batch_size, convert_to_tensor):
            calls.append((list(sentences), batch_size, convert_to_tensor))
            return torch.from_numpy(CORPUS[: len(sentences)])

    sentences = [f"sentence {i}" for i in range(20)]
    got = paraphrase_mining(FakeEncoder(), sentences, batch_size=8, top_k=2, max_pairs=5)
    assert calls == [(sentences, 8, True)]
    assert_same_pairs(got, brute_force_pairs(CORPUS[:20], 2, 5, "cosine"))


# ---------------------------------------------------------------- reranking a first ranking
def test_rerank_hits_orders_by_the_new_scores_and_reports_both_ranks(caplog):
    from workbench.search import rerank_hits

    hits = [{"corpus_id": 10 + i, "score": 1 - i / 10} for i in range(5)]
    reranked = rerank_hits(hits, [0.2, float("nan"), 0.9, 0.2, 0.5])
    assert [h["corpus_id"] for h in reranked] == [12, 14, 10, 13, 11]  # ties keep the first order, NaN last
    assert [h["first_rank"] for h in reranked] == [3, 5, 1, 4, 2]
    assert [h["movement"] for h in reranked] == [2, 3, -2, 0, -3]
    assert [h["first_score"] for h in reranked] == pytest.approx([0.8, 0.6, 1.0, 0.7, 0.9])
    assert reranked[0]["score"] == pytest.approx(0.9) and math.isnan(reranked[-1]["score"])
    assert "1 of the 5 new scores are not finite (first: hit 1, corpus_id 11)" in caplog.text
    with pytest.raises(ValueError, match="one new score per hit"):
        rerank_hits(hits, [0.1])


def test_rerank_scores_each_hit_with_the_cross_encoder():
    from workbench.search import rerank

    class Judge:  # scores a pair by the length of its second text
        def predict(self, pairs, batch_size=32, show_progress_bar=None):
            return np.array([len(b) for _, b in pairs], dtype=np.float32)

    corpus = ["a", "bbbb", "cc", "ddd"]
    hits = [{"corpus_id": 0, "score": 0.9}, {"corpus_id": 2, "score": 0.8}, {"corpus_id": 3, "score": 0.1}]
    top = rerank(Judge(), "q", hits, corpus, top_k=2)
    assert [(h["corpus_id"], h["score"], h["first_rank"]) for h in top] == [(3, 3.0, 3), (2, 2.0, 2)]
    assert rerank(Judge(), "q", [], corpus) == []
    with pytest.raises(ValueError, match="top_k"):
        rerank(Judge(), "q", hits, corpus, top_k=0)

    class TwoLabels:
        def predict(self, pairs, **kwargs):
            return np.zeros((len(pairs), 2))

    with pytest.raises(ValueError, match="one score per pair"):
        rerank(TwoLabels(), "q", hits, corpus)


def test_connected_groups_link_duplicates_of_duplicates():
    # 0-1-2 through 1; 9-4 alone; 7 and 8 through 5; a repeated pair and a pair given backwards count once
    pairs = [(9, 4), (0, 1), (2, 1), (5, 7), (8, 5), (1, 0)]
    assert connected_groups(pairs) == [[0, 1, 2], [5, 7, 8], [4, 9]]
    assert connected_groups(iter([(3, 6)])) == [[3, 6]]
    assert connected_groups([]) == []
