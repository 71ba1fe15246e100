"""mine_hard_negatives on a toy corpus with known similarities; GISTEmbedLoss, its cached variant, MarginMSELoss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from workbench import Example, SentenceEncoder, mine_hard_negatives
from workbench.evaluation.base import LookupEncoder
from workbench.hooks import Callback
from workbench.losses import CachedGISTEmbedLoss, GISTEmbedLoss, MarginMSELoss, MultipleNegativesRankingLoss
from workbench.modules import Pooling, Transformer
from workbench.training import Collator

# Unit vectors at these angles (degrees) from the query "q": cosine similarity falls with the angle.
ANGLES = {"q": 0, "pos": 10, "n1": 20, "n2": 30, "n3": 40, "n4": 50, "n5": 60, "other-q": 90, "other-pos": 95}
MODEL = LookupEncoder({t: [math.cos(math.radians(a)), math.sin(math.radians(a))] for t, a in ANGLES.items()})
CORPUS = ["pos", "n1", "n2", "n3", "n4", "n5", "other-pos"]


def cos(a: str, b: str = "q") -> float:
    return math.cos(math.radians(ANGLES[a] - ANGLES[b]))


def negatives(**options) -> list[list[str]]:
    return [e.texts[2:] for e in mine_hard_negatives([("q", "pos")], MODEL, corpus=CORPUS, **options)]


def test_the_closest_non_positives_are_mined_as_triplets():
    mined = mine_hard_negatives([("q", "pos"), ("other-q", "other-pos")], MODEL, corpus=CORPUS, num_negatives=2)
    assert [e.texts for e in mined[:2]] == [["q", "pos", "n1"], ["q", "pos", "n2"]]
    assert all("other-pos" != e.texts[2] for e in mined if e.texts[0] == "other-q")  # its own positive is excluded


def test_range_skips_the_closest_and_limits_the_depth():
    assert negatives(num_negatives=2, range_min=1) == [["n2"], ["n3"]]
    assert negatives(num_negatives=5, range_min=1, range_max=3) == [["n2"], ["n3"]]


def test_margins_and_score_limits_drop_candidates_near_the_positive():
    positive = cos("pos")
    # Each limit is set just above one candidate's score, so the closer ones go and that one is the hardest left.
    assert negatives(num_negatives=1, absolute_margin=positive - cos("n2") - 1e-6) == [["n2"]]
    assert negatives(num_negatives=1, relative_margin=1 - cos("n3") / positive - 1e-6) == [["n3"]]
    assert negatives(num_negatives=1, max_score=cos("n4") + 1e-6) == [["n4"]]
    assert negatives(num_negatives=9, min_score=cos("n2") - 1e-6) == [["n1"], ["n2"]]


def test_n_tuples_need_every_negative_and_labeled_pairs_mark_the_positive():
    assert negatives(num_negatives=3, output_format="n-tuple") == [["n1", "n2", "n3"]]
    assert negatives(num_negatives=3, output_format="n-tuple", range_min=4) == []  # only n5, other-pos remain
    pairs = mine_hard_negatives([("q", "pos")], MODEL, corpus=CORPUS, num_negatives=1, output_format="labeled-pair")
    assert [(e.texts, e.label) for e in pairs] == [(["q", "pos"], 1.0), (["q", "n1"], 0.0)]


def test_random_sampling_is_seeded_and_stays_in_range():
    first = negatives(num_negatives=2, sampling_strategy="random", range_max=5, seed=1)
    assert first == negatives(num_negatives=2, sampling_strategy="random", range_max=5, seed=1)
    assert {n for (n,) in first} <= {"n1", "n2", "n3", "n4", "n5"} and len({n for (n,) in first}) == 2
    draws = {
        tuple(sorted(n for (n,) in negatives(num_negatives=2, sampling_strategy="random", range_max=5, seed=s)))
        for s in range(8)
    }
    assert len(draws) > 1


def test_a_cross_encoder_rescores_the_candidates():
    class Judge:
        num_labels = 1

        def predict(self, pairs, **kwargs):  # thinks n3 is the hardest and n1 a positive
            return np.array([{"pos": 0.9, "n1": 0.95, "n3": 0.8}.get(doc, 0.1) for _, doc in pairs])

    assert negatives(num_negatives=1, cross_encoder=Judge()) == [["n1"]]
    assert negatives(num_negatives=1, cross_encoder=Judge(), absolute_margin=0.05) == [["n3"]]


def test_progress_and_input_checks():
    class Tasks(Callback):
        def __init__(self):
            self.tasks = []

        def on_progress_begin(self, event):
            self.tasks.append(event.task)

    tasks = Tasks()
    mine_hard_negatives([("q", "pos")], MODEL, corpus=CORPUS, callbacks=[tasks])
    assert tasks.tasks == ["semantic_search", "mine_hard_negatives"]  # LookupEncoder.encode emits nothing itself
    with pytest.raises(ValueError, match="num_negatives must be an integer >= 1"):
        mine_hard_negatives([("q", "pos")], MODEL, num_negatives=0)
    with pytest.raises(ValueError, match="range_max must be an integer > range_min"):
        mine_hard_negatives([("q", "pos")], MODEL, range_min=3, range_max=3)
    with pytest.raises(ValueError, match="unknown output_format"):
        mine_hard_negatives([("q", "pos")], MODEL, output_format="pairs")
    with pytest.raises(TypeError, match="dataset row 1: item 1 is int"):
        mine_hard_negatives([("q", "pos"), ("q", 3)], MODEL)
    with pytest.raises(ValueError, match="absolute_margin must be a finite number"):
        mine_hard_negatives([("q", "pos")], MODEL, absolute_margin=float("nan"))


# ---------------------------------------------------------------------------- GIST and MarginMSE
@pytest.fixture()
def make_encoder(tiny_bert_dir):
    def make(seed: int = 0) -> SentenceEncoder:
        torch.manual_seed(seed)
        transformer = Transformer(tiny_bert_dir, max_seq_length=16)
        transformer.auto_model.apply(transformer.auto_model._init_weights)  # another random model per seed
        return SentenceEncoder(modules=[transformer, Pooling(32)], device="cpu").eval()

    return make


def batch(loss, examples):
    return Collator(loss.model.tokenize, loss.label_kind, "test", featurize=getattr(loss, "featurize", None))(examples)


TRIPLES = [
    Example(["a man eats bread", "a man is eating food", "a cat"]),
    Example(["a dog plays", "the dog is playing", "music"]),
    Example(["a woman rides a horse", "someone is riding", "the car"]),
]


@pytest.mark.parametrize(
    "make_loss",
    [
        lambda m, g: GISTEmbedLoss(m, g),
        lambda m, g: CachedGISTEmbedLoss(m, g, mini_batch_size=2),
        lambda m, g: MarginMSELoss(m),
    ],
)
def test_a_gradient_step_lowers_the_loss(make_encoder, make_loss):
    model = make_encoder(0)
    loss = make_loss(model, make_encoder(1))
    data = TRIPLES if loss.label_kind is None else [Example(e.texts, 3.0) for e in TRIPLES]
    features, labels = batch(loss, data)
    before = loss(features, labels)
    before.backward()
    torch.optim.SGD(model.parameters(), lr=1e-3).step()  # small: temperature 0.01 makes steep gradients
    with torch.no_grad():
        assert float(loss(features, labels)) < float(before)


def test_the_guide_removes_in_batch_false_negatives(make_encoder):
    model = make_encoder(0)
    duplicates = [Example(["a man eats", "a man is eating"])] * 2
    gist = GISTEmbedLoss(model, make_encoder(1), margin=0.1)
    # Every other candidate duplicates the positive, so the guide drops them all: nothing left to push away.
    assert float(gist(*batch(gist, duplicates)).detach()) == 0.0
    mnrl = MultipleNegativesRankingLoss(model)
    assert float(mnrl(*batch(mnrl, duplicates)).detach()) == pytest.approx(math.log(2), abs=1e-4)


def test_cached_gist_gives_the_same_loss_and_gradients(make_encoder):
    guide = make_encoder(1)
    values, grads = [], []
    for loss_class, options in ((GISTEmbedLoss, {}), (CachedGISTEmbedLoss, {"mini_batch_size": 1})):
        model = make_encoder(0)
        loss = loss_class(model, guide, **options)
        value = loss(*batch(loss, TRIPLES))
        value.backward()
        values.append(float(value))
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    assert values[0] == pytest.approx(values[1], rel=1e-5)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-6)


def test_gist_and_margin_mse_check_their_inputs(make_encoder):
    model = make_encoder(0)
    with pytest.raises(ValueError, match="guide must be another model"):
        GISTEmbedLoss(model, model)
    with pytest.raises(ValueError, match="unknown margin_strategy"):
        GISTEmbedLoss(model, make_encoder(1), margin_strategy="soft")
    with pytest.raises(ValueError, match=r"shape \(batch, 2\)"):
        MarginMSELoss(model).check_batch(4, torch.tensor([1.0]))
