"""Evaluators on tiny hand-made data whose metrics are known or recomputed independently."""

from __future__ import annotations

import csv
import math
from itertools import combinations

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, average_precision_score, f1_score

from workbench.data.records import Example
from workbench.evaluation import (
    BinaryClassificationEvaluator,
    EmbeddingSimilarityEvaluator,
    Evaluator,
    InformationRetrievalEvaluator,
    LabelAccuracyEvaluator,
    MSEEvaluator,
    ParaphraseMiningEvaluator,
    SequentialEvaluator,
    TranslationEvaluator,
    TripletEvaluator,
    retrieval_metrics,
)
from workbench.evaluation.binary_classification import best_accuracy, best_f1

from recorder import Recorder


class FixedEncoder:
    """Returns a fixed vector per sentence and records every encode call."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = {s: np.asarray(v, dtype=np.float32) for s, v in vectors.items()}
        self.calls: list[tuple[list[str], dict]] = []

    def encode(self, sentences, **kwargs):
        self.calls.append((list(sentences), kwargs))
        return np.stack([self.vectors[s] for s in sentences])


def random_encoder(sentences, dim=8, seed=0) -> FixedEncoder:
    rng = np.random.default_rng(seed)
    return FixedEncoder({s: rng.standard_normal(dim) for s in dict.fromkeys(sentences)})


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


# --------------------------------------------------------------------------- base


def test_csv_header_written_once_and_rows_appended(tmp_path):
    model = FixedEncoder({"a": [1, 0], "b": [0, 1], "c": [1, 1]})
    ev = EmbeddingSimilarityEvaluator(["a", "a"], ["b", "c"], [0.0, 1.0], name="sts dev/x")
    first = ev(model, output_path=tmp_path, epoch=0, steps=10)
    ev(model, output_path=tmp_path, epoch=1, steps=20)
    rows = read_csv(tmp_path / "sts_dev_x_results.csv")
    assert rows[0][:3] == ["epoch", "steps", "pearson_cosine"]
    assert [r[:2] for r in rows[1:]] == [["0", "10"], ["1", "20"]]
    assert len(rows) == 3
    assert float(rows[1][rows[0].index("spearman_cosine")]) == pytest.approx(first["sts dev/x_spearman_cosine"])


def test_csv_with_other_columns_is_refused(tmp_path):
    (tmp_path / "sts_results.csv").write_text("epoch,steps,something_else\n0,1,2\n")
    ev = EmbeddingSimilarityEvaluator(["a", "a"], ["b", "c"], [0.0, 1.0])
    with pytest.raises(ValueError, match="something_else"):
        ev(FixedEncoder({"a": [1, 0], "b": [0, 1], "c": [1, 1]}), output_path=tmp_path)


def test_empty_name_is_refused():
    with pytest.raises(ValueError, match="non-empty"):
        TranslationEvaluator(["a"], ["b"], name="")


def test_subclass_without_its_main_metric_fails_loudly():
    class Broken(Evaluator):
        def compute(self, model):
            return {"other": 1.0}

    with pytest.raises(KeyError, match="'wanted'"):
        Broken("x", "wanted")(None)


# --------------------------------------------------------------------------- similarity


def test_similarity_matches_scipy_on_every_similarity():
    rng = np.random.default_rng(1)
    s1 = [f"s{i}" for i in range(12)]
    s2 = [f"t{i}" for i in range(12)]
    model = random_encoder(s1 + s2, dim=6, seed=3)
    gold = rng.uniform(0, 5, 12)
    metrics = EmbeddingSimilarityEvaluator(s1, s2, gold, name="sts-dev")(model)

    a = np.stack([model.vectors[s] for s in s1]).astype(np.float64)
    b = np.stack([model.vectors[s] for s in s2]).astype(np.float64)
    by_hand = {
        "cosine": (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1),
        "dot": (a * b).sum(1),
        "euclidean": -np.linalg.norm(a - b, axis=1),
        "manhattan": -np.abs(a - b).sum(1),
    }
    for sim, values in by_hand.items():
        assert metrics[f"sts-dev_pearson_{sim}"] == pytest.approx(pearsonr(gold, values)[0], abs=1e-5)
        assert metrics[f"sts-dev_spearman_{sim}"] == pytest.approx(spearmanr(gold, values)[0], abs=1e-6)
    assert len(metrics) == 8


def test_similarity_encodes_each_sentence_once_with_the_batch_size():
    model = FixedEncoder({"a": [1, 0], "b": [0, 1], "c": [1, 1]})
    EmbeddingSimilarityEvaluator(["a", "b", "a"], ["b", "c", "c"], [1.0, 2.0, 3.0], batch_size=7)(model)
    assert len(model.calls) == 1
    sentences, kwargs = model.calls[0]
    assert sorted(sentences) == ["a", "b", "c"]
    assert kwargs == {"batch_size": 7, "convert_to_numpy": True, "show_progress_bar": False}


def test_similarity_primary_metric_follows_main_similarity():
    ev = EmbeddingSimilarityEvaluator(["a", "b"], ["c", "d"], [1, 2], main_similarity="manhattan", name="x")
    assert ev.primary_metric == "x_spearman_manhattan"
    assert ev.greater_is_better
    with pytest.raises(ValueError, match="cosine, dot, euclidean, manhattan"):
        EmbeddingSimilarityEvaluator(["a", "b"], ["c", "d"], [1, 2], main_similarity="jaccard")


def test_mismatched_lengths_name_both_lengths():
    with pytest.raises(ValueError, match="sentences1 has 3, sentences2 has 3, scores has 2"):
        EmbeddingSimilarityEvaluator(["a", "b", "c"], ["d", "e", "f"], [1.0, 2.0])
    with pytest.raises(ValueError, match="source_sentences has 2, target_sentences has 1"):
        TranslationEvaluator(["a", "b"], ["c"])


def test_similarity_from_examples_and_wrong_width():
    ev = EmbeddingSimilarityEvaluator.from_examples([Example(["a", "b"], 0.5), Example(["c", "d"], 0.1)], name="e")
    assert (ev.sentences1, ev.sentences2, list(ev.scores)) == (["a", "c"], ["b", "d"], [0.5, 0.1])
    with pytest.raises(ValueError, match="example 1 has 3 texts, expected 2"):
        EmbeddingSimilarityEvaluator.from_examples([Example(["a", "b"], 0.5), Example(["a", "b", "c"], 1.0)])


def test_similarity_runs_on_a_real_tiny_encoder(tiny_encoder):
    ev = EmbeddingSimilarityEvaluator(
        ["a man is eating food .", "a dog plays", "the cat sits"],
        ["a man eats bread .", "a woman rides a horse", "a cat is sitting"],
        [4.5, 0.5, 4.0],
        batch_size=2,
    )
    metrics = ev(tiny_encoder)
    assert all(math.isfinite(v) and -1 <= v <= 1 for v in metrics.values())


# --------------------------------------------------------------------------- binary classification


def brute_force(scores, labels):
    """Best accuracy and F1 over every threshold 'positive iff score >= t' (t = each score, or above all)."""
    candidates = list(np.unique(scores)) + [np.inf]
    accuracy = max(accuracy_score(labels, scores >= t) for t in candidates)
    f1 = max(f1_score(labels, scores >= t, zero_division=0) for t in candidates)
    return accuracy, f1


@pytest.mark.parametrize("seed", range(8))
def test_best_thresholds_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    scores = np.round(rng.normal(size=40), 1)  # rounding makes ties
    labels = (scores + rng.normal(scale=1.0, size=40) > 0).astype(int)
    accuracy, accuracy_threshold = best_accuracy(scores, labels)
    f1, precision, recall, f1_threshold = best_f1(scores, labels)
    expected_accuracy, expected_f1 = brute_force(scores, labels)
    assert accuracy == pytest.approx(expected_accuracy)
    assert f1 == pytest.approx(expected_f1)
    # the reported thresholds reproduce the reported numbers
    assert accuracy_score(labels, scores >= accuracy_threshold) == pytest.approx(accuracy)
    predicted = scores >= f1_threshold
    assert f1_score(labels, predicted) == pytest.approx(f1)
    assert (predicted & (labels == 1)).sum() / predicted.sum() == pytest.approx(precision)
    assert (predicted & (labels == 1)).sum() / labels.sum() == pytest.approx(recall)


def test_all_negative_prediction_can_win_accuracy():
    assert best_accuracy([0.9, 0.8, 0.7], [0, 0, 1]) == (pytest.approx(2 / 3), float("inf"))


def test_binary_evaluator_metrics_per_similarity():
    rng = np.random.default_rng(0)
    s1, s2 = [f"a{i}" for i in range(30)], [f"b{i}" for i in range(30)]
    model = random_encoder(s1 + s2, dim=4, seed=5)
    labels = rng.integers(0, 2, 30)
    metrics = BinaryClassificationEvaluator(s1, s2, labels, name="quora")(model)
    a = np.stack([model.vectors[s] for s in s1]).astype(np.float64)
    b = np.stack([model.vectors[s] for s in s2]).astype(np.float64)
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    manhattan = -np.abs(a - b).sum(1)
    for sim, scores in (("cosine", cosine), ("manhattan", manhattan)):
        accuracy, f1 = brute_force(scores, labels)
        assert metrics[f"quora_{sim}_accuracy"] == pytest.approx(accuracy)
        assert metrics[f"quora_{sim}_f1"] == pytest.approx(f1)
        assert metrics[f"quora_{sim}_ap"] == pytest.approx(average_precision_score(labels, scores), abs=1e-6)
    assert metrics["quora_manhattan_f1_threshold"] <= 0  # a negated distance
    assert len(metrics) == 4 * 7


def test_binary_primary_metric_and_bad_labels():
    ev = BinaryClassificationEvaluator.from_examples([Example(["a", "b"], 1), Example(["c", "d"], 0)], name="pairs")
    assert ev.primary_metric == "pairs_cosine_ap"
    with pytest.raises(ValueError, match="0 or 1.*2"):
        BinaryClassificationEvaluator(["a", "b"], ["c", "d"], [1, 2])


# --------------------------------------------------------------------------- triplets


def test_triplet_accuracy_differs_by_distance():
    # positive: same direction but far away; negative: other direction but near
    model = FixedEncoder({"anchor": [1, 0], "pos": [10, 1], "neg": [0.5, 0.5], "pos2": [1, 0.1], "neg2": [-1, 0]})
    ev = TripletEvaluator(["anchor", "anchor"], ["pos", "pos2"], ["neg", "neg2"], name="t")
    assert ev(model) == {
        "t_cosine_accuracy": 1.0,
        "t_dot_accuracy": 1.0,
        "t_euclidean_accuracy": 0.5,
        "t_manhattan_accuracy": 0.5,
    }
    assert ev.primary_metric == "t_cosine_accuracy"
    ties = TripletEvaluator(["anchor"], ["pos2"], ["pos2"])(model)
    assert ties["triplet_cosine_accuracy"] == 0.0


def test_triplet_from_examples():
    ev = TripletEvaluator.from_examples([Example(["a", "p", "n"])], main_similarity="euclidean")
    assert (ev.anchors, ev.positives, ev.negatives, ev.primary_metric) == (
        ["a"],
        ["p"],
        ["n"],
        "triplet_euclidean_accuracy",
    )


# --------------------------------------------------------------------------- retrieval

IR_VECTORS = {
    "q one": [1, 0],
    "q two": [0, 1],
    "q three": [1, 1],
    "doc one": [1, 0.1],
    "doc two": [1, 0.5],
    "doc three": [1, 1],
    "doc four": [0, 1],
}
IR_CORPUS = {"d1": "doc one", "d2": "doc two", "d3": "doc three", "d4": "doc four"}
IR_QUERIES = {"q1": "q one", "q2": "q two", "q3": "q three"}
# q1 ranks d1 d2 d3 d4 (cosine); q2 ranks d4 d3 d2 d1; q3 has no relevant document.
IR_RELEVANT = {"q1": {"d2", "d4"}, "q2": {"d3": 2, "d1": 1}, "q3": set()}


def test_ir_metrics_match_hand_calculation():
    ev = InformationRetrievalEvaluator(IR_QUERIES, IR_CORPUS, IR_RELEVANT, name="toy", score_functions=["cosine"])
    m = ev(FixedEncoder(IR_VECTORS))
    log2 = math.log2
    # q1: hits at ranks 2 and 4 (binary); q2: d3 (grade 2) at rank 2, d1 (grade 1) at rank 4
    ndcg_q1 = (1 / log2(3) + 1 / log2(5)) / (1 + 1 / log2(3))
    ndcg_q2 = (2 / log2(3) + 1 / log2(5)) / (2 + 1 / log2(3))
    assert m["toy_cosine_ndcg@10"] == pytest.approx((ndcg_q1 + ndcg_q2) / 2)
    assert m["toy_cosine_mrr@10"] == pytest.approx(0.5)
    assert m["toy_cosine_map@100"] == pytest.approx(((1 / 2 + 2 / 4) / 2 + (1 / 2 + 2 / 4) / 2) / 2)
    assert (m["toy_cosine_recall@1"], m["toy_cosine_recall@3"], m["toy_cosine_recall@5"]) == (0.0, 0.5, 1.0)
    assert m["toy_cosine_precision@3"] == pytest.approx(1 / 3)
    assert m["toy_cosine_precision@10"] == pytest.approx(2 / 10)  # trec_eval divides by k, not by the hits
    assert (m["toy_cosine_accuracy@1"], m["toy_cosine_accuracy@3"]) == (0.0, 1.0)
    assert ev.primary_metric == "toy_cosine_ndcg@10"
    assert ev.query_ids == ["q1", "q2"]  # q3 has nothing relevant: skipped, as BEIR does


@pytest.mark.parametrize("chunk", [50_000, 1])
def test_ir_per_query_results_match_hand_calculation(chunk):
    # Depth 3 (every cut-off 3): q1 retrieves d1 d2 d3 and misses d4; q2 retrieves d4 d3 d2 and misses d1.
    cutoffs = {"ndcg_at_k": [3], "mrr_at_k": [3], "accuracy_at_k": [1], "precision_recall_at_k": [3], "map_at_k": [3]}
    ev = InformationRetrievalEvaluator(
        IR_QUERIES, IR_CORPUS, IR_RELEVANT, score_functions=["cosine", "dot"], corpus_chunk_size=chunk, **cutoffs
    )
    with pytest.raises(RuntimeError, match="call the evaluator on a model"):
        ev.per_query()
    reported = ev(FixedEncoder(IR_VECTORS))
    q1, q2 = ev.per_query()
    log2 = math.log2
    assert (q1.query_id, q1.query, q2.query_id) == ("q1", "q one", "q2")
    assert q1.metrics["ndcg@3"] == pytest.approx((1 / log2(3)) / (1 + 1 / log2(3)))
    assert q2.metrics["ndcg@3"] == pytest.approx((2 / log2(3)) / (2 + 1 / log2(3)))
    assert (q1.metrics["mrr@3"], q1.metrics["recall@3"], q2.metrics["accuracy@1"]) == (0.5, 0.5, 0.0)
    # the per-query numbers average to what the evaluator reported
    assert (q1.metrics["ndcg@3"] + q2.metrics["ndcg@3"]) / 2 == pytest.approx(reported["ir_cosine_ndcg@3"])
    assert [(d.doc_id, d.rank, d.grade) for d in q1.hits] == [("d1", 1, 0.0), ("d2", 2, 1.0), ("d3", 3, 0.0)]
    assert [d.score for d in q1.hits] == pytest.approx([1 / math.sqrt(1.01), 1 / math.sqrt(1.25), 1 / math.sqrt(2)])
    assert (q1.first_relevant_rank, q2.first_relevant_rank) == (2, 2)
    # a missed document keeps its score: cos(q two, doc one) = 0.1 / |doc one|
    assert [(d.doc_id, d.rank, d.grade) for d in q2.relevant] == [("d3", 2, 2.0), ("d1", None, 1.0)]
    assert q2.relevant[1].score == pytest.approx(0.1 / math.sqrt(1.01), abs=1e-6)
    assert [d.doc_id for d in q1.missed(3)] == ["d4"] and q1.missed(3)[0].score == pytest.approx(0.0, abs=1e-6)
    assert [d.doc_id for d in q1.missed(1)] == ["d2", "d4"]
    # by dot product q2's missed d1 scores 0.1 exactly
    assert ev.per_query("dot")[1].relevant[1].score == pytest.approx(0.1, abs=1e-6)
    with pytest.raises(ValueError, match="unknown similarity 'euclidean'; valid: cosine, dot"):
        ev.per_query("euclidean")


def test_ir_per_query_with_a_relevant_document_missing_from_the_corpus():
    ev = InformationRetrievalEvaluator({"q1": "q one"}, IR_CORPUS, {"q1": {"d1", "gone"}}, score_functions=["cosine"])
    ev(FixedEncoder(IR_VECTORS))
    (result,) = ev.per_query()
    assert [(d.doc_id, d.rank, d.score) for d in result.relevant][1] == ("gone", None, None)
    assert result.relevant[0].rank == 1 and result.first_relevant_rank == 1


def test_ir_chunked_corpus_gives_the_same_ranking():
    whole = InformationRetrievalEvaluator(IR_QUERIES, IR_CORPUS, IR_RELEVANT, score_functions=["cosine", "dot"])
    chunked = InformationRetrievalEvaluator(
        IR_QUERIES, IR_CORPUS, IR_RELEVANT, score_functions=["cosine", "dot"], corpus_chunk_size=1
    )
    model = FixedEncoder(IR_VECTORS)
    assert chunked(model) == pytest.approx(whole(model))
    assert sum(1 for sentences, _ in model.calls if sentences[0].startswith("doc")) == 1 + 4


def test_ir_relevant_doc_missing_from_corpus_lowers_ideal_dcg(caplog):
    ev = InformationRetrievalEvaluator(
        {"q1": "q one"}, IR_CORPUS, {"q1": {"d1", "gone"}}, ndcg_at_k=[3], score_functions=["cosine"]
    )
    assert "not in the corpus" in caplog.text
    m = ev(FixedEncoder(IR_VECTORS))
    assert m["ir_cosine_ndcg@3"] == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert m["ir_cosine_recall@10"] == 0.5


def test_ir_progress_events_and_prompts():
    class Prompted(FixedEncoder):
        def encode(self, sentences, prompt=None, **kwargs):
            return super().encode([s.removeprefix(prompt or "") for s in sentences], prompt=prompt, **kwargs)

    model, recorder = Prompted(IR_VECTORS), Recorder()
    ev = InformationRetrievalEvaluator(
        IR_QUERIES, IR_CORPUS, IR_RELEVANT, corpus_chunk_size=3, query_prompt="query: ", callbacks=[recorder]
    )
    ev(model)
    assert recorder.progress() == [("begin", 4), ("update", 3), ("update", 1), ("end", None)]
    assert [kwargs.get("prompt") for _, kwargs in model.calls] == ["query: ", None, None]


def test_ir_bad_inputs():
    with pytest.raises(ValueError, match="none of the 3 queries"):
        InformationRetrievalEvaluator(IR_QUERIES, IR_CORPUS, {"other": {"d1"}})
    with pytest.raises(ValueError, match="main_similarity.*cosine"):
        InformationRetrievalEvaluator(
            IR_QUERIES, IR_CORPUS, IR_RELEVANT, score_functions=["cosine"], main_similarity="dot"
        )
    with pytest.raises(ValueError, match="mrr_at_k must hold positive integers"):
        InformationRetrievalEvaluator(IR_QUERIES, IR_CORPUS, IR_RELEVANT, mrr_at_k=[0])


def test_retrieval_metrics_perfect_and_empty_rankings():
    perfect = retrieval_metrics([["a", "b"]], [{"a": 3, "b": 1}], ndcg_at_k=[2], map_at_k=[2])
    assert perfect["ndcg@2"] == perfect["map@2"] == perfect["mrr@10"] == 1.0
    # graded: the better document second is worse than first
    swapped = retrieval_metrics([["b", "a"]], [{"a": 3, "b": 1}], ndcg_at_k=[2])
    assert swapped["ndcg@2"] == pytest.approx((1 + 3 / math.log2(3)) / (3 + 1 / math.log2(3)))
    nothing = retrieval_metrics([[]], [{"a"}])
    assert set(nothing.values()) == {0.0}


def test_ir_from_examples_merges_repeated_queries():
    ev = InformationRetrievalEvaluator.from_examples(
        [Example(["q one", "doc one"]), Example(["q two", "doc four"]), Example(["q one", "doc two"])],
        extra_corpus=["doc three"],
        score_functions=["cosine"],
        name="ex",
    )
    assert ev.query_texts == ["q one", "q two"]
    assert sorted(ev.corpus_texts) == ["doc four", "doc one", "doc three", "doc two"]
    m = ev(FixedEncoder(IR_VECTORS))
    assert m["ex_cosine_recall@3"] == pytest.approx((1.0 + 1.0) / 2)
    assert m["ex_cosine_precision@1"] == 1.0


# --------------------------------------------------------------------------- paraphrase mining


def test_paraphrase_mining_matches_brute_force_ranking():
    vectors = {"a": [1, 0], "a2": [0.99, 0.1], "b": [0, 1], "b2": [0.1, 0.99], "c": [0.7, 0.72]}
    model = FixedEncoder(vectors)
    names = list(vectors)
    gold = {("a", "a2"), ("b", "b2"), ("a", "b")}
    ev = ParaphraseMiningEvaluator({n: n for n in names}, list(gold), top_k=4, name="pm")
    m = ev(model)

    emb = np.array([vectors[n] for n in names], dtype=np.float64)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    pairs = sorted(combinations(range(len(names)), 2), key=lambda p: -emb[p[0]] @ emb[p[1]])
    hits = [(names[i], names[j]) in gold for i, j in pairs]
    ap = sum(sum(hits[: r + 1]) / (r + 1) for r, h in enumerate(hits) if h) / len(gold)
    f1s = [2 * sum(hits[: r + 1]) / (r + 1 + len(gold)) for r in range(len(hits))]
    assert m["pm_average_precision"] == pytest.approx(ap)
    assert m["pm_f1"] == pytest.approx(max(f1s))
    assert (m["pm_precision"], m["pm_recall"]) == (pytest.approx(1.0), pytest.approx(2 / 3))
    assert ev.primary_metric == "pm_average_precision"


def test_paraphrase_mining_transitive_closure_and_unknown_ids():
    ev = ParaphraseMiningEvaluator(["x", "y", "z", "w"], [(0, 1), (2, 1)], add_transitive_closure=True)
    assert ev.gold == {(0, 1), (0, 2), (1, 2)}
    with pytest.raises(ValueError, match=r"unknown: \['nope'\]"):
        ParaphraseMiningEvaluator({"a": "x", "b": "y"}, [("a", "nope")])


def test_paraphrase_mining_from_examples():
    ev = ParaphraseMiningEvaluator.from_examples(
        [Example(["a", "a2"], 1), Example(["a", "b"], 0), Example(["b", "b2"], 1)], top_k=3
    )
    model = FixedEncoder({"a": [1, 0], "a2": [0.99, 0.1], "b": [0, 1], "b2": [0.1, 0.99]})
    assert ev(model)["paraphrase-mining_average_precision"] == pytest.approx(1.0)


# --------------------------------------------------------------------------- MSE


def test_mse_is_negated_and_scaled():
    teacher = np.array([[1.0, 2.0], [0.0, 0.0]])
    student = FixedEncoder({"eins": [1.0, 0.0], "zwei": [0.0, 1.0]})
    ev = MSEEvaluator(["one", "two"], ["eins", "zwei"], teacher_embeddings=teacher, name="de")
    expected = -100 * ((teacher - np.array([[1, 0], [0, 1]])) ** 2).mean()
    assert ev(student) == {"de_negative_mse": pytest.approx(expected)}
    assert ev.primary_metric == "de_negative_mse" and ev.greater_is_better


def test_mse_teacher_model_and_bad_inputs():
    teacher = FixedEncoder({"one": [1, 0], "two": [0, 1]})
    ev = MSEEvaluator.from_examples([Example(["one", "eins"]), Example(["two", "zwei"])], teacher_model=teacher)
    assert ev(FixedEncoder({"eins": [1, 0], "zwei": [0, 1]}))["mse_negative_mse"] == 0.0
    with pytest.raises(ValueError, match="student embeddings have shape \\(2, 3\\)"):
        ev(FixedEncoder({"eins": [1, 0, 0], "zwei": [0, 1, 0]}))
    with pytest.raises(ValueError, match="either teacher_model or teacher_embeddings"):
        MSEEvaluator(["one"])
    with pytest.raises(ValueError, match=r"shape \(3, 2\).*\(2, dim\)"):
        MSEEvaluator(["one", "two"], teacher_embeddings=np.zeros((3, 2)))


# --------------------------------------------------------------------------- translation


def test_translation_accuracy_both_directions():
    model = FixedEncoder({"cat": [1, 0], "Katze": [0.9, 0.1], "dog": [0, 1], "Hund": [0.8, 0.2]})
    ev = TranslationEvaluator(["cat", "dog"], ["Katze", "Hund"], primary="min_accuracy", name="de")
    assert ev(model) == {
        "de_src2trg_accuracy": 1.0,
        "de_trg2src_accuracy": 0.5,
        "de_mean_accuracy": 0.75,
        "de_min_accuracy": 0.5,
    }
    assert ev.primary_metric == "de_min_accuracy"
    with pytest.raises(ValueError, match="mean_accuracy, min_accuracy"):
        TranslationEvaluator(["a"], ["b"], primary="max")


# --------------------------------------------------------------------------- label accuracy


class PairHead(torch.nn.Module):
    """SoftmaxLoss-like: a linear head over (u, v, |u - v|) exposed as logits(u, v)."""

    def __init__(self) -> None:
        super().__init__()
        self.classifier = torch.nn.Linear(6, 2)
        with torch.no_grad():
            self.classifier.weight.zero_()
            self.classifier.bias.zero_()
            self.classifier.weight[1, 4:] = -1.0  # class 1 ("same") scores higher when |u - v| is small
            self.classifier.bias[1] = 0.5

    def logits(self, u, v):
        return self.classifier(torch.cat([u, v, (u - v).abs()], dim=1))


def test_label_accuracy_with_a_softmax_loss_like_head():
    model = FixedEncoder({"a": [1, 0], "a2": [1, 0.1], "b": [0, 1], "c": [3, 3]})
    head = PairHead()
    examples = [Example(["a", "a2"], 1), Example(["a", "b"], 0), Example(["b", "c"], 0), Example(["a", "c"], 1)]
    ev = LabelAccuracyEvaluator.from_examples(examples, classifier=head, name="nli")
    assert ev(model) == {"nli_accuracy": 0.75}
    assert head.training  # put back in training mode afterwards


def test_label_accuracy_with_a_plain_callable_and_bad_labels():
    model = FixedEncoder({"good": [2, 0], "bad": [0, 1], "meh": [1, 1.5]})
    ev = LabelAccuracyEvaluator(["good", "bad", "meh"], [0, 1, 0], classifier=lambda u: u)
    assert ev(model)["label_accuracy"] == pytest.approx(2 / 3)
    with pytest.raises(TypeError, match="class indices"):
        LabelAccuracyEvaluator(["good"], ["positive"], classifier=lambda u: u)
    with pytest.raises(ValueError, match=r"same number of texts; found \[1, 2\]"):
        LabelAccuracyEvaluator(["good", ("bad", "meh")], [0, 1], classifier=lambda u: u)


# --------------------------------------------------------------------------- sequential


def two_translation_evaluators():
    model = FixedEncoder({"a": [1, 0], "b": [0, 1], "c": [1, 0.2]})
    right = TranslationEvaluator(["a", "b"], ["a", "b"], name="right")
    wrong = TranslationEvaluator(["a", "b"], ["b", "c"], name="wrong")
    return model, right, wrong


def test_sequential_merges_and_takes_the_chosen_primary(tmp_path):
    model, right, wrong = two_translation_evaluators()
    seq = SequentialEvaluator([right, wrong], main="right")
    metrics = seq(model, output_path=tmp_path, epoch=2, steps=5)
    assert metrics == {**right(model), **wrong(model)}
    assert seq.primary_metric == "right_mean_accuracy"
    assert (tmp_path / "right_results.csv").is_file() and (tmp_path / "wrong_results.csv").is_file()
    assert not (tmp_path / "sequential_results.csv").exists()
    assert SequentialEvaluator([right, wrong]).primary_metric == "wrong_mean_accuracy"


def test_sequential_combined_score(tmp_path):
    model, right, wrong = two_translation_evaluators()
    seq = SequentialEvaluator([right, wrong], main_score_function=min, name="both")
    metrics = seq(model, output_path=tmp_path)
    assert seq.primary_metric == "both_combined_score"
    assert metrics["both_combined_score"] == min(metrics["right_mean_accuracy"], metrics["wrong_mean_accuracy"])
    assert read_csv(tmp_path / "both_results.csv")[0] == ["epoch", "steps", "combined_score"]


def test_sequential_bad_inputs():
    _, right, wrong = two_translation_evaluators()
    with pytest.raises(ValueError, match=r"repeated: \['right'\]"):
        SequentialEvaluator([right, right])
    with pytest.raises(ValueError, match="names: \\['right', 'wrong'\\]"):
        SequentialEvaluator([right, wrong], main="missing")
    with pytest.raises(ValueError, match="out of range for 2"):
        SequentialEvaluator([right, wrong], main=2)


# --------------------------------------------------------------------------- shared pieces


def test_correlations_match_the_formulas_and_say_when_undefined():
    from workbench.evaluation.embedding_similarity import correlations

    # Pearson of (1, 2, 3) and (1, 3, 2): covariance 0.5 over variances 1 and 1; Spearman is the same on ranks.
    assert correlations([1.0, 2.0, 3.0], [1.0, 3.0, 2.0]) == {"pearson": pytest.approx(0.5), "spearman": 0.5}
    # Ranks only for Spearman: a monotone but curved relation is 1 there, below 1 for Pearson.
    curved = correlations([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 4.0, 100.0])
    assert curved["spearman"] == 1.0 and curved["pearson"] == pytest.approx(
        np.corrcoef([1, 2, 3, 4], [1, 2, 4, 100])[0, 1]
    )
    for gold, predicted, why in (
        ([1.0], [0.5], "1 pair"),
        ([1.0, 2.0], [0.3, 0.3], "all equal"),
        ([1.0, 2.0, 3.0], [0.1, np.nan, 0.3], "NaN or infinite"),
    ):
        with pytest.warns(RuntimeWarning, match=why):
            undefined = correlations(gold, predicted)
        assert math.isnan(undefined["pearson"]) and math.isnan(undefined["spearman"])
    with pytest.raises(ValueError, match="one number per pair"):
        correlations([1.0, 2.0], [1.0, 2.0, 3.0])


def test_an_encoder_that_returns_too_few_rows_is_named():
    class OneRow:
        def encode(self, sentences, **kwargs):
            return np.zeros((1, 4))

    evaluator = EmbeddingSimilarityEvaluator(["a", "b"], ["c", "d"], [1.0, 0.0])
    with pytest.raises(
        ValueError,
        match=r"OneRow\.encode returned an array of shape \(1, 4\) for 4 sentences; "
        r"expected one row per sentence",
    ):
        evaluator(OneRow())
