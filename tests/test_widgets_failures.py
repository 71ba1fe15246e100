"""The failure views, driven through their Python state API (no browser): RetrievalExplorer and DuplicateFinder."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.evaluation import InformationRetrievalEvaluator
from workbench.evaluation.base import LookupEncoder

widgets = pytest.importorskip("widgets")
import ipywidgets as w  # noqa: E402
import traitlets  # noqa: E402

from widgets import DuplicateFinder, RetrievalExplorer  # noqa: E402
from widgets import duplicate_finder  # noqa: E402

# --------------------------------------------------------------------------- RetrievalExplorer
# Cosine rankings: qa ranks x1 x2 x3 x4, qb ranks x3 x2 x4 x1, qc ranks x2 x3 x1 x4.
VECTORS = {
    "qa": [1.0, 0.0],
    "qb": [0.0, 1.0],
    "qc": [1.0, 1.0],
    "text of x1": [1.0, 0.1],
    "text of x2": [1.0, 0.5],
    "text of x3": [0.2, 1.0],
    "text of x4": [-1.0, 0.2],
}
CORPUS = {doc: f"text of {doc}" for doc in ("x1", "x2", "x3", "x4")}
QUERIES = {"qa": "qa", "qb": "qb", "qc": "qc"}
# qa finds its document first, qb last (rank 4), qc at ranks 2 and 4.
RELEVANT = {"qa": {"x1"}, "qb": {"x1"}, "qc": {"x3", "x4"}}
NDCG = {"qa": 1.0, "qb": 1 / math.log2(5), "qc": (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))}


def evaluated(**cutoffs) -> InformationRetrievalEvaluator:
    ir = InformationRetrievalEvaluator(QUERIES, CORPUS, RELEVANT, name="toy", score_functions=["cosine"], **cutoffs)
    ir(LookupEncoder(VECTORS))
    return ir


def test_retrieval_explorer_lists_the_worst_queries_first_with_their_hits_and_misses():
    ir = evaluated()
    metrics = ir(LookupEncoder(VECTORS))
    explorer = RetrievalExplorer(ir.per_query(), CORPUS, n_hits=2)

    worst = explorer.worst(3)
    assert worst["query_id"].tolist() == ["qb", "qc", "qa"]
    assert worst["ndcg@10"].tolist() == pytest.approx([NDCG["qb"], NDCG["qc"], NDCG["qa"]])
    assert worst["first_relevant_rank"].tolist() == [4, 2, 1]
    assert worst["found"].tolist() == [0, 1, 1] and worst["relevant"].tolist() == [1, 2, 1]
    assert explorer.queries["ndcg@10"].mean() == pytest.approx(metrics["toy_cosine_ndcg@10"])
    assert "3 queries · mean ndcg@10" in explorer.info.value

    # The worst query is chosen at the start: its top 2 hold nothing relevant; x1 came 4th.
    assert explorer.query_id == "qb"
    hits = explorer.hits()
    assert hits[["rank", "relevant", "doc_id", "text"]].values.tolist() == [
        [1, "", "x3", "text of x3"],
        [2, "", "x2", "text of x2"],
    ]
    assert hits["score"].tolist() == pytest.approx([1 / math.sqrt(1.04), 0.5 / math.sqrt(1.25)])
    missed = explorer.missed()
    assert missed[["rank", "grade", "doc_id"]].values.tolist() == [[4, 1.0, "x1"]]
    assert missed["score"].tolist() == pytest.approx([0.1 / math.sqrt(1.01)])
    assert "text of x1" in explorer.detail.value and "first relevant document at rank 4" in explorer.detail.value
    assert [value for _, value in explorer.query_list.options] == ["qb", "qc", "qa"]
    assert explorer.query_list.value == "qb"
    assert list(explorer.figure.data[0].x) == pytest.approx([NDCG[q] for q in ("qa", "qb", "qc")])
    assert explorer.figure.layout.shapes[0].x0 == pytest.approx(NDCG["qb"])

    # Choosing in code moves the list and the marker; choosing in the list sets the traitlet.
    explorer.query_id = "qc"
    assert explorer.query_list.value == "qc" and explorer.figure.layout.shapes[0].x0 == pytest.approx(NDCG["qc"])
    assert explorer.hits()["relevant"].tolist() == ["", "✓"] and explorer.missed()["doc_id"].tolist() == ["x4"]
    explorer.query_list.value = "qa"
    assert explorer.query_id == "qa"
    assert "none: every relevant document was retrieved" in explorer.detail.value

    # Another order keeps the chosen query.
    explorer.sort_by.value = "query_id"
    assert [value for _, value in explorer.query_list.options] == ["qa", "qb", "qc"]
    assert explorer.query_id == "qa" and explorer.query_list.value == "qa"
    explorer.sort_by.value = "rank"
    assert explorer.sorted("rank")["query_id"].tolist() == ["qb", "qc", "qa"]
    assert explorer.query_id == "qa"

    # Other views link to the chosen query.
    box = w.Text()
    traitlets.link((explorer, "query_id"), (box, "value"))
    assert box.value == "qa"
    box.value = "qb"
    assert explorer.query_id == "qb" and "x1" in explorer.missed()["doc_id"].tolist()
    assert "wb-retrieval-explorer" in explorer.widget._dom_classes
    assert "wb-retrieval-histogram" in explorer.figure._dom_classes


def test_retrieval_explorer_marks_documents_below_the_evaluators_depth():
    # Every cut-off 3: the evaluator keeps 3 hits per query, so qb's only relevant document has no rank.
    ir = evaluated(ndcg_at_k=[3], mrr_at_k=[3], accuracy_at_k=[1], precision_recall_at_k=[3], map_at_k=[3])
    explorer = RetrievalExplorer(ir.per_query(), metric="ndcg@3")
    assert explorer.worst(1)["query_id"].tolist() == ["qb"] and explorer.worst(1)["ndcg@3"].tolist() == [0.0]
    assert explorer.sorted("rank")["query_id"].tolist() == ["qb", "qc", "qa"]  # none found, then rank 2, rank 1
    missed = explorer.missed("qb")
    assert missed["rank"].isna().tolist() == [True] and missed["score"].tolist() == pytest.approx([0.0995], abs=1e-4)
    assert missed["text"].tolist() == [""]  # no corpus given: ids only
    assert "no relevant document in the top 3" in explorer.detail.value
    assert "1 with no relevant document in their top 3" in explorer.info.value
    # The other queries' ties: qc (ndcg 0.3869) before qa (1.0).
    assert explorer.worst(3)["ndcg@3"].tolist() == pytest.approx([0.0, (1 / math.log2(3)) / (1 + 1 / math.log2(3)), 1])


def test_retrieval_explorer_refuses_bad_input_naming_it():
    results = evaluated().per_query()
    with pytest.raises(ValueError, match="results is empty"):
        RetrievalExplorer([])
    with pytest.raises(TypeError, match="results must be a list of QueryResult"):
        RetrievalExplorer(evaluated())
    with pytest.raises(TypeError, match=r"results\[1\] has type dict"):
        RetrievalExplorer([results[0], {"query_id": "q"}])
    with pytest.raises(ValueError, match=r"metric 'ndcg@5' is not a per-query metric.*'ndcg@10'"):
        RetrievalExplorer(results, metric="ndcg@5")
    with pytest.raises(ValueError, match="n_hits must be a whole number"):
        RetrievalExplorer(results, n_hits=0)
    with pytest.raises(ValueError, match="query id twice"):
        RetrievalExplorer([results[0], results[0]])
    explorer = RetrievalExplorer(results)
    with pytest.raises(traitlets.TraitError, match="query_id 'nope' is not among the 3 evaluated queries"):
        explorer.query_id = "nope"
    assert explorer.query_id == "qb"
    with pytest.raises(ValueError, match="query_id 'nope'"):
        explorer.hits("nope")
    with pytest.raises(ValueError, match="unknown order 'score'"):
        explorer.sorted("score")


# --------------------------------------------------------------------------- DuplicateFinder
# Unit vectors at these angles (degrees): cos 4° = 0.9976 links 0-1, cos 6° = 0.9945 1-2, cos 3° = 0.9986 3-4,
# cos 10° = 0.9848 links 0-2; text 5 is 35° from text 2 (0.819) and 45° from text 3 (0.707).
ANGLES = [0.0, 4.0, 10.0, 90.0, 93.0, 45.0]
TEXTS = [f"text {i}" for i in range(len(ANGLES))]


def unit(degrees: list[float]) -> np.ndarray:
    radians = np.radians(degrees)
    return np.column_stack([np.cos(radians), np.sin(radians)])


def test_duplicate_finder_groups_at_the_threshold_and_mines_once(monkeypatch):
    calls = []

    def counting(*args, **kwargs):
        calls.append(kwargs)
        return mine(*args, **kwargs)

    mine = duplicate_finder.paraphrase_mining_embeddings
    monkeypatch.setattr(duplicate_finder, "paraphrase_mining_embeddings", counting)
    finder = DuplicateFinder(unit(ANGLES), TEXTS, threshold=0.99)
    assert len(finder.pairs) == 15 and finder.pairs["score"].is_monotonic_decreasing  # every pair of 6 texts
    assert finder.groups == [[0, 1, 2], [3, 4]]
    members = finder.members
    assert members[["group", "size", "index"]].values.tolist() == [
        [1, 3, 0],
        [1, 3, 1],
        [1, 3, 2],
        [2, 2, 3],
        [2, 2, 4],
    ]
    cos = np.cos(np.radians([4.0, 4.0, 6.0, 3.0, 3.0]))
    assert members["score"].tolist() == pytest.approx(cos, abs=1e-6)
    assert "3 score at least 0.99 · 2 groups holding 5 texts" in finder.info.value
    assert finder.table.value.count("<tr") == 1 + 5  # the header and one row per text

    finder.slider.value = 0.8  # text 5 joins the first group through text 2
    assert finder.threshold == 0.8 and finder.groups == [[0, 1, 2, 5], [3, 4]]
    assert finder.members.iloc[3][["index", "score"]].tolist() == pytest.approx([5, math.cos(math.radians(35))])
    finder.threshold = 0.7  # and through text 3 everything is one group
    assert finder.slider.value == 0.7 and finder.groups == [[0, 1, 2, 3, 4, 5]]
    finder.threshold = 0.9999
    assert finder.groups == [] and finder.members.empty and "lower the threshold" in finder.table.value
    assert len(calls) == 1  # the slider only filters what was mined

    other = w.FloatSlider(min=0.5, max=1.0)
    traitlets.link((finder, "threshold"), (other, "value"))
    other.value = 0.99
    assert finder.groups == [[0, 1, 2], [3, 4]]


def test_duplicate_finder_shows_the_largest_groups_and_says_what_max_pairs_cut():
    finder = DuplicateFinder(unit(ANGLES), TEXTS, threshold=0.99, max_groups=1, max_members=2)
    assert len(finder.groups) == 2 and "the 1 largest shown" in finder.info.value
    assert finder.table.value.count("<tr") == 1 + 2  # group 1 only, its two best-linked texts
    cut = DuplicateFinder(unit(ANGLES), TEXTS, threshold=0.6, max_pairs=2)
    assert cut.groups == [[0, 1], [3, 4]]  # (3, 4) and (0, 1), the best two
    assert "only the best 2 pairs were kept (max_pairs): none under 0.998" in cut.info.value


def test_duplicate_finder_with_a_model_and_with_one_text():
    vectors = dict(zip(TEXTS, unit(ANGLES).tolist()))
    finder = DuplicateFinder(LookupEncoder(vectors), TEXTS, threshold=0.99)
    assert finder.groups == [[0, 1, 2], [3, 4]]
    alone = DuplicateFinder(np.ones((1, 3)), ["only one"])
    assert len(alone.pairs) == 0 and alone.groups == [] and "no pair scores" in alone.table.value
    assert "wb-duplicate-finder" in alone.widget._dom_classes and "wb-duplicate-groups" in alone.table._dom_classes


def test_duplicate_finder_refuses_bad_input_naming_it():
    emb = unit(ANGLES)
    with pytest.raises(ValueError, match="texts is empty"):
        DuplicateFinder(np.ones((0, 2)), [])
    with pytest.raises(TypeError, match="texts must be a list of strings"):
        DuplicateFinder(emb, "text")
    with pytest.raises(TypeError, match=r"texts\[1\] has type int"):
        DuplicateFinder(emb[:2], ["a", 1])
    with pytest.raises(ValueError, match=r"embeddings_or_model must be \(6, dim\).*got shape \(5, 2\)"):
        DuplicateFinder(emb[:5], TEXTS)
    bad = emb.copy()
    bad[4, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite values in 1 rows.*row 4"):
        DuplicateFinder(bad, TEXTS)
    for threshold in (1.5, 0.2, float("nan")):
        with pytest.raises(traitlets.TraitError, match=r"threshold must be a number in \[0.5, 1\]"):
            DuplicateFinder(emb, TEXTS, threshold=threshold)
    with pytest.raises(ValueError, match="min_threshold must be a number below 1"):
        DuplicateFinder(emb, TEXTS, min_threshold=1.0)
    with pytest.raises(ValueError, match="top_k must be a whole number"):
        DuplicateFinder(emb, TEXTS, top_k=0)
    finder = DuplicateFinder(emb, TEXTS)
    with pytest.raises(traitlets.TraitError, match="threshold"):
        finder.threshold = "high"
    assert finder.threshold == 0.9 and finder.slider.value == 0.9
