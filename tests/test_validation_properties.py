"""Property-based tests (hypothesis): readers, encode's input checks, search and index arguments.

Each property states what must hold for *any* input of a kind, so that the
next odd input is found by the suite rather than by a user.  No example
database is kept (tests write only to their tmp_path).
"""

from __future__ import annotations

import gzip
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from workbench import SentenceEncoder
from workbench.data import DataFormatError, read_parallel_tsv, read_sts_benchmark
from workbench.index import ExactIndex, build_index, faiss_available
from workbench.modules import Pooling, Transformer
from workbench.search import paraphrase_mining_embeddings, semantic_search
from workbench.similarity import SIMILARITY_FUNCTIONS

PROPERTIES = settings(
    database=None, deadline=None, max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# Field text of a TAB-separated file: anything but the separators and line ends, valid Unicode only.
FIELD = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\t\n\r"), max_size=12)
STS_HEADER = "split\tgenre\tdataset\tyear\tsid\tscore\tsentence1\tsentence2"
# Anything that is not a whole number of at least 1, as users pass it by mistake.
NOT_POSITIVE_INT = st.one_of(
    st.integers(max_value=0),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.integers(min_value=1, max_value=50).map(float),
)


def _write(path, lines: list[str], crlf: bool, trailing_blank: int, gz: bool) -> None:
    end = "\r\n" if crlf else "\n"
    data = (end.join(lines) + end * (1 + trailing_blank)).encode()
    path.write_bytes(gzip.compress(data) if gz else data)


# --------------------------------------------------------------------------- readers


@PROPERTIES
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["train", "dev", "test"]), FIELD, FIELD, st.floats(min_value=0, max_value=5)),
        max_size=8,
    ),
    crlf=st.booleans(),
    trailing_blank=st.integers(0, 3),
    gz=st.booleans(),
)
def test_sts_benchmark_reads_back_what_was_written(tmp_path, rows, crlf, trailing_blank, gz):
    path = tmp_path / ("sts.tsv.gz" if gz else "sts.tsv")
    lines = [STS_HEADER] + [
        f"{split}\tg\td\t2012\t{i}\t{score!r}\t{a}\t{b}" for i, (split, a, b, score) in enumerate(rows)
    ]
    _write(path, lines, crlf, trailing_blank, gz)
    got = read_sts_benchmark(path)
    assert [(e.texts, e.label, e.guid) for e in got] == [
        ([a, b], score, f"{split}-{i + 2}") for i, (split, a, b, score) in enumerate(rows)
    ]
    assert [e.label for e in read_sts_benchmark(path, normalize=True)] == [score / 5 for *_, score in rows]


@PROPERTIES
@given(
    score=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\t\n\r"), max_size=8),
    ),
    good_rows=st.integers(0, 3),
)
def test_a_bad_sts_score_names_file_and_line(tmp_path, score, good_rows):
    path = tmp_path / "sts.tsv"
    lines = (
        [STS_HEADER]
        + [f"train\tg\td\ty\t{i}\t1.5\ta\tb" for i in range(good_rows)]
        + [f"train\tg\td\ty\t9\t{score}\tc\td"]
    )
    _write(path, lines, crlf=False, trailing_blank=0, gz=False)
    try:
        value = float(score)
    except ValueError:
        value = math.nan
    if math.isfinite(value) and 0 <= value <= 5:
        assert read_sts_benchmark(path)[-1].label == value
    else:
        with pytest.raises(DataFormatError, match=f"sts.tsv, line {good_rows + 2}: score "):
            read_sts_benchmark(path)


@PROPERTIES
@given(
    rows=st.lists(st.tuples(FIELD, FIELD), min_size=1, max_size=8),
    crlf=st.booleans(),
    trailing_blank=st.integers(0, 3),
    gap=st.integers(0, 8),
)
def test_parallel_tsv_blank_lines_only_at_the_end(tmp_path, rows, crlf, trailing_blank, gap):
    path = tmp_path / "par.tsv"
    lines = [f"{a}\t{b}" for a, b in rows]
    _write(path, lines, crlf, trailing_blank, gz=False)
    assert [e.texts for e in read_parallel_tsv(path)] == [[a, b] for a, b in rows]
    if gap < len(lines):  # a blank line with a row after it is refused, naming its line
        _write(path, lines[:gap] + [""] + lines[gap:], crlf, trailing_blank, gz=False)
        with pytest.raises(DataFormatError, match=f"par.tsv, line {gap + 1}: blank line before more rows"):
            read_parallel_tsv(path)


# --------------------------------------------------------------------------- encode


@pytest.fixture(scope="module")
def encoder(tiny_bert_dir) -> SentenceEncoder:
    transformer = Transformer(tiny_bert_dir, max_seq_length=16)
    return SentenceEncoder(modules=[transformer, Pooling(32)], device="cpu")


@settings(PROPERTIES, max_examples=25)
@given(
    texts=st.lists(
        st.text(st.one_of(st.characters(exclude_categories=()), st.characters(categories=("Cs",))), max_size=10),
        max_size=5,
    )
)
def test_encode_any_text_list_or_name_the_bad_item(encoder, texts):
    bad = [i for i, text in enumerate(texts) if any(0xD800 <= ord(c) <= 0xDFFF for c in text)]
    if bad:
        with pytest.raises(ValueError, match=f"item {bad[0]} holds .* a lone surrogate"):
            encoder.encode(texts)
    else:
        emb = encoder.encode(texts, batch_size=2)
        assert emb.shape == (len(texts), 32) and np.isfinite(emb).all()


@settings(PROPERTIES, max_examples=40)
@given(batch_size=NOT_POSITIVE_INT)
def test_encode_refuses_any_batch_size_but_a_positive_int(encoder, batch_size):
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        encoder.encode(["a dog"], batch_size=batch_size)


@settings(PROPERTIES, max_examples=40)
@given(truncate_dim=st.one_of(NOT_POSITIVE_INT, st.integers(1, 40)))
def test_encode_truncate_dim_is_a_positive_int_or_refused(encoder, truncate_dim):
    if truncate_dim is None:  # no truncation
        assert encoder.encode(["a dog"], truncate_dim=None).shape == (1, 32)
    elif isinstance(truncate_dim, int) and not isinstance(truncate_dim, bool) and truncate_dim >= 1:
        assert encoder.encode(["a dog"], truncate_dim=truncate_dim).shape == (1, min(truncate_dim, 32))
    else:
        with pytest.raises(ValueError, match="truncate_dim must be a positive integer"):
            encoder.encode(["a dog"], truncate_dim=truncate_dim)


@settings(PROPERTIES, max_examples=20)
@given(
    texts=st.lists(st.sampled_from(["a dog", "the cat", "a man eats"]), min_size=1, max_size=4, unique=True),
    container=st.sampled_from([dict.fromkeys, set, frozenset, lambda t: {}.fromkeys(t).keys()]),
)
def test_encode_refuses_unordered_or_keyed_containers(encoder, texts, container):
    with pytest.raises(TypeError, match="expected a string or a list of strings, got a"):
        encoder.encode(container(texts))


# --------------------------------------------------------------------------- search and indexes


@st.composite
def corpora(draw, min_rows: int = 0):
    """A float64 corpus (rows, dim) with some rows made NaN or infinite, and queries of the same width."""
    n = draw(st.integers(min_rows, 25))
    dim = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    corpus = rng.normal(size=(n, dim))
    bad = draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=n, unique=True)) if n else []
    for row in bad:
        corpus[row, draw(st.integers(0, dim - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    queries = rng.normal(size=(draw(st.integers(0, 4)), dim))
    return corpus, queries


def _assert_ranked(hits, corpus, queries, k, name, rtol=1e-9):
    """Each query's hits: min(k, n) of them, finite scores first and best first, the best finite ones."""
    scores = SIMILARITY_FUNCTIONS[name](queries, corpus).numpy() if len(queries) else np.empty((0, len(corpus)))
    assert len(hits) == len(queries)
    for row, expected in zip(hits, scores):
        got = np.array([h["score"] for h in row], dtype=float)
        assert len(row) == min(k, len(corpus))
        assert len({h["corpus_id"] for h in row}) == len(row)
        finite = np.isfinite(got)
        n_finite = int(finite.sum())
        assert finite[:n_finite].all() and not finite[n_finite:].any(), "a non-finite score ranked above a finite one"
        assert (np.diff(got[:n_finite]) <= 1e-12).all()
        best = np.sort(expected[np.isfinite(expected)])[::-1][: len(row)]
        np.testing.assert_allclose(got[:n_finite], best[:n_finite], rtol=rtol, atol=rtol * 1e-3)
        assert n_finite == min(len(row), len(best))


@PROPERTIES
@given(
    data=corpora(),
    k=st.integers(1, 30),
    name=st.sampled_from(list(SIMILARITY_FUNCTIONS)),
    query_chunk=st.integers(1, 5),
    corpus_chunk=st.integers(1, 30),
)
def test_semantic_search_ranks_finite_scores_first(data, k, name, query_chunk, corpus_chunk):
    corpus, queries = data
    hits = semantic_search(
        queries, corpus, top_k=k, similarity_fn_name=name, query_chunk_size=query_chunk, corpus_chunk_size=corpus_chunk
    )
    _assert_ranked(hits, corpus, queries, k, name)


@PROPERTIES
@given(
    data=corpora(),
    k=st.integers(1, 30),
    metric=st.sampled_from(["cosine", "dot", "euclidean"]),
    chunk=st.integers(1, 30),
)
def test_exact_index_shapes_and_order(data, k, metric, chunk):
    corpus, queries = data
    scores, ids = ExactIndex(corpus, metric, chunk_size=chunk).search(queries, k=k)
    assert scores.shape == ids.shape == (len(queries), min(k, len(corpus)))
    hits = [[{"corpus_id": int(i), "score": float(s)} for s, i in zip(srow, irow)] for srow, irow in zip(scores, ids)]
    _assert_ranked(hits, corpus, queries, k, metric, rtol=1e-5)  # the index returns float32 scores


@PROPERTIES
@given(data=corpora(min_rows=2), top_k=st.integers(1, 30))
def test_paraphrase_mining_puts_non_finite_pairs_last(data, top_k):
    corpus, _ = data
    pairs = paraphrase_mining_embeddings(
        corpus, top_k=top_k, similarity_fn_name="dot", chunk_size=3, corpus_chunk_size=4
    )
    scores = np.array([s for s, _, _ in pairs], dtype=float)
    n_finite = int(np.isfinite(scores).sum())
    assert np.isfinite(scores[:n_finite]).all() and not np.isfinite(scores[n_finite:]).any()
    assert all(i < j for _, i, j in pairs) and len({(i, j) for _, i, j in pairs}) == len(pairs)


@PROPERTIES
@given(k=NOT_POSITIVE_INT, which=st.sampled_from(["semantic_search", "exact", "faiss"]))
def test_k_is_refused_unless_a_positive_int(k, which):
    corpus = np.eye(4, dtype=np.float32)
    if which == "semantic_search":
        with pytest.raises(ValueError, match="top_k must be a positive integer"):
            semantic_search(corpus[:1], corpus, top_k=k)
        return
    if which == "faiss" and not faiss_available():
        return
    index = build_index(corpus, kind=which, **({"factory": "Flat"} if which == "faiss" else {}))
    with pytest.raises(ValueError, match="k must be a positive integer"):
        index.search(corpus[:1], k=k)


@pytest.mark.skipif(not faiss_available(), reason="faiss is not installed (pip install faiss-cpu)")
@PROPERTIES
@given(data=corpora(min_rows=1), k=st.integers(1, 30), metric=st.sampled_from(["cosine", "dot", "euclidean"]))
def test_faiss_flat_matches_exact_search_or_names_the_bad_rows(data, k, metric):
    corpus, queries = data
    corpus = corpus.astype(np.float32)
    bad = [i for i, row in enumerate(corpus) if not np.isfinite(row).all()]
    if bad:
        named = (
            f"row {bad[0]};"
            if len(bad) == 1
            else f"rows {bad[0]}, "
            if len(bad) <= 10
            else f"{len(bad)} rows \\(first 10: {bad[0]}, "
        )
        with pytest.raises(ValueError, match="embeddings has NaN or infinite values in " + named):
            build_index(corpus, metric, kind="faiss", factory="Flat")
        return
    assume(len(queries) > 0)
    scores, ids = build_index(corpus, metric, kind="faiss", factory="Flat").search(queries, k=k)
    exact_scores, _ = ExactIndex(corpus, metric).search(queries, k=k)
    assert ids.shape == (len(queries), min(k, len(corpus))) and (ids >= 0).all()
    np.testing.assert_allclose(scores, exact_scores, rtol=1e-4, atol=1e-4)


def test_tensor_inputs_keep_the_properties():
    """The same ranking holds for torch inputs (the widgets pass tensors)."""
    corpus = torch.tensor([[1.0, 0.0], [float("nan"), 0.0], [0.0, 1.0]])
    hits = semantic_search(torch.tensor([1.0, 0.2]), corpus, top_k=3)[0]
    assert [h["corpus_id"] for h in hits] == [0, 2, 1]
