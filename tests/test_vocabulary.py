"""One name per concept: the old names still work, warn naming the new one, and give the same result.

sentence-transformers' own spellings (``util.semantic_search(score_function=)``, a loss's
``similarity_fct``, the IR evaluator's ``main_score_function``) work without a warning.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from workbench import quantization, util
from workbench.evaluation import InformationRetrievalEvaluator
from workbench.evaluation.base import LookupEncoder
from workbench.index import ExactIndex, build_index, load_index
from workbench.losses import ContrastiveLoss, CoSENTLoss, MarginMSELoss, MultipleNegativesRankingLoss, TripletLoss
from workbench.search import paraphrase_mining_embeddings, semantic_search
from workbench.similarity import similarity_matrix

RNG = np.random.default_rng(0)
CORPUS = RNG.normal(size=(40, 8)).astype(np.float32)
QUERIES = RNG.normal(size=(5, 8)).astype(np.float32)


def _old_name_warns(call, old: str, new: str):
    """Run ``call``; it must warn once about ``old``, naming ``new``; return its result."""
    with pytest.warns(FutureWarning, match=rf"\({old}=\.\.\.\) is deprecated: use {new}=") as caught:
        result = call()
    assert len([w for w in caught if issubclass(w.category, FutureWarning)]) == 1
    return result


def _silent(call):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return call()


@pytest.mark.parametrize("name", ["dot", "euclidean"])
def test_search_takes_similarity_fn_name_and_score_function_still_works(name):
    new = _silent(lambda: semantic_search(QUERIES, CORPUS, top_k=4, similarity_fn_name=name))
    old = _old_name_warns(
        lambda: semantic_search(QUERIES, CORPUS, top_k=4, score_function=name), "score_function", "similarity_fn_name"
    )
    assert old == new
    assert new != semantic_search(QUERIES, CORPUS, top_k=4)  # the name was honoured: cosine ranks otherwise
    pairs = _silent(lambda: paraphrase_mining_embeddings(CORPUS, top_k=2, similarity_fn_name=name))
    assert (
        _old_name_warns(
            lambda: paraphrase_mining_embeddings(CORPUS, top_k=2, score_function=name),
            "score_function",
            "similarity_fn_name",
        )
        == pairs
    )


def test_sentence_transformers_spelling_in_util_does_not_warn():
    hits = _silent(lambda: util.semantic_search(QUERIES, CORPUS, top_k=3, score_function=util.dot_score))
    assert hits == semantic_search(QUERIES, CORPUS, top_k=3, similarity_fn_name="dot")


def test_both_names_at_once_are_refused():
    with pytest.raises(TypeError, match="both similarity_fn_name and its deprecated name score_function"):
        semantic_search(QUERIES, CORPUS, similarity_fn_name="dot", score_function="cosine")


def test_index_and_similarity_matrix_metric_is_deprecated(tmp_path):
    new = ExactIndex(CORPUS, "dot").search(QUERIES, k=3)
    old = _old_name_warns(lambda: ExactIndex(CORPUS, metric="dot").search(QUERIES, k=3), "metric", "similarity_fn_name")
    np.testing.assert_array_equal(old[1], new[1])
    built = _old_name_warns(lambda: build_index(CORPUS, metric="dot", kind="exact"), "metric", "similarity_fn_name")
    assert built.similarity_fn_name == "dot"
    np.testing.assert_array_equal(
        _old_name_warns(lambda: similarity_matrix(CORPUS[:4], metric="manhattan"), "metric", "similarity_fn_name"),
        similarity_matrix(CORPUS[:4], "manhattan"),
    )


def test_a_faiss_index_saved_under_the_old_key_loads(tmp_path):
    pytest.importorskip("faiss")
    index = build_index(CORPUS, "euclidean", kind="faiss", factory="Flat")
    index.save(tmp_path / "idx")
    record = tmp_path / "idx" / "index.json"
    assert json.loads(record.read_text()) == {"similarity_fn_name": "euclidean", "factory": "Flat"}
    record.write_text(json.dumps({"metric": "euclidean", "factory": "Flat"}))  # as earlier versions wrote it
    again = load_index(tmp_path / "idx")
    assert again.similarity_fn_name == "euclidean"
    np.testing.assert_array_equal(again.search(QUERIES, 3)[1], index.search(QUERIES, 3)[1])


def test_loss_similarity_names(tiny_encoder):
    features = [
        tiny_encoder.tokenize(["a man eats", "a dog runs", "the sun"]),
        tiny_encoder.tokenize(["someone eats", "a cat runs", "the moon"]),
    ]

    def value(loss):
        return loss([dict(f) for f in features], None).item()

    new = value(_silent(lambda: MultipleNegativesRankingLoss(tiny_encoder, scale=1.0, similarity_fn_name="dot")))
    st = value(_silent(lambda: MultipleNegativesRankingLoss(tiny_encoder, scale=1.0, similarity_fct=util.dot_score)))
    old = value(
        _old_name_warns(
            lambda: MultipleNegativesRankingLoss(tiny_encoder, scale=1.0, similarity="dot"),
            "similarity",
            "similarity_fn_name",
        )
    )
    assert new == st == old
    assert new != value(MultipleNegativesRankingLoss(tiny_encoder, scale=1.0))  # cosine gives another value
    assert (
        _old_name_warns(
            lambda: CoSENTLoss(tiny_encoder, similarity="dot"), "similarity", "similarity_fn_name"
        ).similarity_fct
        is CoSENTLoss(tiny_encoder, similarity_fn_name="dot").similarity_fct
    )
    assert (
        _silent(lambda: MarginMSELoss(tiny_encoder, similarity_fct="cosine")).similarity_fct
        is MarginMSELoss(tiny_encoder, "cosine").similarity_fct
    )
    with pytest.raises(TypeError, match="similarity_fn_name and similarity_fct"):
        MultipleNegativesRankingLoss(tiny_encoder, similarity_fn_name="dot", similarity_fct="cosine")


def test_distance_is_now_distance_metric(tiny_encoder):
    assert (
        _old_name_warns(
            lambda: ContrastiveLoss(tiny_encoder, distance="euclidean"), "distance", "distance_metric"
        ).distance_metric
        == "euclidean"
    )
    assert (
        _old_name_warns(
            lambda: TripletLoss(tiny_encoder, distance="manhattan"), "distance", "distance_metric"
        ).distance_metric
        == "manhattan"
    )
    assert _silent(lambda: ContrastiveLoss(tiny_encoder)).distance_metric == "cosine"  # each loss keeps its default
    assert _silent(lambda: TripletLoss(tiny_encoder)).distance_metric == "euclidean"


def test_ir_evaluator_main_similarity_and_st_spelling():
    model = LookupEncoder({"q": [1.0, 0.0], "near": [0.9, 0.1], "far": [-3.0, 1.0]})
    args = ({"q1": "q"}, {"d1": "far", "d2": "near"}, {"q1": {"d1"}})
    new = InformationRetrievalEvaluator(*args, main_similarity="dot", name="toy")
    st = _silent(lambda: InformationRetrievalEvaluator(*args, main_score_function="dot", name="toy"))
    assert new.primary_metric == st.primary_metric == "toy_dot_ndcg@10"
    assert new(model) == st(model)
    with pytest.raises(TypeError, match="main_similarity or main_score_function"):
        InformationRetrievalEvaluator(*args, main_similarity="dot", main_score_function="cosine")


def test_precision_constants_have_one_meaning_each():
    from workbench.encoder import COMPUTE_DTYPES
    from workbench.training.trainer import MIXED_PRECISIONS

    assert quantization.OUTPUT_PRECISIONS == ("float32", "int8", "uint8", "binary", "ubinary")
    assert _old_name_warns_attr() == quantization.OUTPUT_PRECISIONS
    assert "bfloat16" in COMPUTE_DTYPES and "float16" in MIXED_PRECISIONS
    with pytest.raises(ValueError, match=r"precision must be one of .*\(the output type\), got 'bfloat16'"):
        quantization.quantize_embeddings(torch.ones(2, 4).numpy(), "bfloat16")


def _old_name_warns_attr():
    with pytest.warns(FutureWarning, match="PRECISIONS is deprecated: use OUTPUT_PRECISIONS"):
        return quantization.PRECISIONS
