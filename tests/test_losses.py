"""Training losses: every loss learns on a tiny batch and rejects batches it cannot use.

Batches are built with ``model.tokenize`` from words of the tiny vocabulary
(tests/conftest.py); the model is the random 2-layer BERT of ``tiny_encoder``.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from workbench.losses import (
    LOSSES,
    AnglELoss,
    BatchAllTripletLoss,
    BatchHardSoftMarginTripletLoss,
    BatchHardTripletLoss,
    BatchSemiHardTripletLoss,
    CachedMultipleNegativesRankingLoss,
    ContrastiveLoss,
    CoSENTLoss,
    CachedGISTEmbedLoss,
    CosineSimilarityLoss,
    GISTEmbedLoss,
    MarginMSELoss,
    MatryoshkaLoss,
    MSELoss,
    MultipleNegativesRankingLoss,
    OnlineContrastiveLoss,
    SoftmaxLoss,
    TripletLoss,
)

ANCHORS = [
    "a man is eating food",
    "a woman plays the piano",
    "a man is riding a horse",
    "a dog is playing",
    "a great movie",
    "the cat sits on the street",
]
POSITIVES = [
    "someone is eating bread",
    "somebody plays piano",
    "a man rides a horse",
    "the dog plays",
    "a good film",
    "a cat is sitting",
]
NEGATIVES = POSITIVES[1:] + POSITIVES[:1]
# Pairs for the labelled pair losses: the first three match, the last three do not.
SECONDS = POSITIVES[:3] + NEGATIVES[3:]
MATCH = [1, 1, 1, 0, 0, 0]
# One column, three texts per label, for the batch triplet losses.
GROUPED = [
    "a man is eating food",
    "a woman eats bread",
    "someone is eating pasta",
    "a man plays guitar",
    "a woman plays the piano",
    "the child is playing music",
    "a man rides a horse",
    "a woman is riding a horse",
    "someone drives a car",
]
GROUPS = [0, 0, 0, 1, 1, 1, 2, 2, 2]

# name -> (build the loss from the model, text columns, labels)
CASES = {
    "SoftmaxLoss": (lambda m: SoftmaxLoss(m, num_labels=3), [ANCHORS, SECONDS], torch.tensor([0, 1, 2, 2, 1, 0])),
    "CosineSimilarityLoss": (CosineSimilarityLoss, [ANCHORS, SECONDS], torch.tensor(MATCH, dtype=torch.float)),
    "TripletLoss": (TripletLoss, [ANCHORS, POSITIVES, NEGATIVES], None),
    "BatchHardTripletLoss": (BatchHardTripletLoss, [GROUPED], torch.tensor(GROUPS)),
    "BatchSemiHardTripletLoss": (BatchSemiHardTripletLoss, [GROUPED], torch.tensor(GROUPS)),
    "BatchAllTripletLoss": (BatchAllTripletLoss, [GROUPED], torch.tensor(GROUPS)),
    "BatchHardSoftMarginTripletLoss": (BatchHardSoftMarginTripletLoss, [GROUPED], torch.tensor(GROUPS)),
    "MultipleNegativesRankingLoss": (MultipleNegativesRankingLoss, [ANCHORS, POSITIVES, NEGATIVES], None),
    "CachedMultipleNegativesRankingLoss": (
        lambda m: CachedMultipleNegativesRankingLoss(m, mini_batch_size=4),
        [ANCHORS, POSITIVES, NEGATIVES],
        None,
    ),
    "MSELoss": (MSELoss, [ANCHORS, POSITIVES], torch.randn(6, 32, generator=torch.Generator().manual_seed(0))),
    "ContrastiveLoss": (ContrastiveLoss, [ANCHORS, SECONDS], torch.tensor(MATCH)),
    "OnlineContrastiveLoss": (OnlineContrastiveLoss, [ANCHORS, SECONDS], torch.tensor(MATCH)),
    "CoSENTLoss": (CoSENTLoss, [ANCHORS, SECONDS], torch.tensor([4.5, 4.0, 3.5, 1.0, 0.5, 0.0])),
    "AnglELoss": (AnglELoss, [ANCHORS, SECONDS], torch.tensor([4.5, 4.0, 3.5, 1.0, 0.5, 0.0])),
    "MatryoshkaLoss": (
        lambda m: MatryoshkaLoss(MultipleNegativesRankingLoss(m), (8, 16, 32)),
        [ANCHORS, POSITIVES],
        None,
    ),
    "GISTEmbedLoss": (
        lambda m: GISTEmbedLoss(m, copy.deepcopy(m), temperature=0.05),
        [ANCHORS, POSITIVES, NEGATIVES],
        None,
    ),
    "CachedGISTEmbedLoss": (
        lambda m: CachedGISTEmbedLoss(m, copy.deepcopy(m), temperature=0.05, mini_batch_size=4),
        [ANCHORS, POSITIVES, NEGATIVES],
        None,
    ),
    "MarginMSELoss": (MarginMSELoss, [ANCHORS, POSITIVES, NEGATIVES], torch.tensor([3.0, 2.0, 3.0, 1.0, 2.0, 3.0])),
}


def tokenize(model, columns, loss=None):
    """The loss's inputs: its own ``featurize`` when it has one (GIST adds the guide's tokens), else per column."""
    featurize = getattr(loss, "featurize", None)
    return featurize(columns) if featurize is not None else [model.tokenize(texts) for texts in columns]


def test_every_loss_is_exported_and_tested():
    assert set(CASES) == set(LOSSES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_few_steps_reduce_the_loss(tiny_encoder, name):
    build, columns, labels = CASES[name]
    torch.manual_seed(0)
    loss = build(tiny_encoder)
    features = tokenize(tiny_encoder, columns, loss)
    tiny_encoder.eval()  # no dropout: the loss is then a function of the weights alone
    optimizer = torch.optim.AdamW(loss.parameters(), lr=3e-3)
    values = []
    for _ in range(5):
        optimizer.zero_grad()
        value = loss(features, labels)
        value.backward()
        optimizer.step()
        values.append(value.item())
    with torch.no_grad():
        final = loss(features, labels).item()
    assert math.isfinite(values[0]) and final < values[0], (values, final)


# name -> (build, columns, labels, expected message); the column count is the number of text lists
BAD_BATCHES = [
    ("SoftmaxLoss", lambda m: SoftmaxLoss(m, 3), 2, torch.tensor([0.0, 1.0]), "integer class ids"),
    ("SoftmaxLoss", lambda m: SoftmaxLoss(m, 3), 2, torch.tensor([0, 3]), "labels range from 0 to 3"),
    ("CosineSimilarityLoss", CosineSimilarityLoss, 2, torch.tensor([0.0, 5.0]), "range from 0 to 5"),
    ("CosineSimilarityLoss", CosineSimilarityLoss, 2, None, "got no labels"),
    ("TripletLoss", TripletLoss, 2, None, "got 2 text column"),
    ("TripletLoss", TripletLoss, 3, torch.tensor([1, 0]), "takes none"),
    ("BatchHardTripletLoss", BatchHardTripletLoss, 2, torch.tensor([0, 0]), "got 2 text column"),
    ("BatchSemiHardTripletLoss", BatchSemiHardTripletLoss, 1, None, "got no labels"),
    ("BatchAllTripletLoss", BatchAllTripletLoss, 1, torch.tensor([0.0, 1.0]), "integer class ids"),
    ("BatchHardSoftMarginTripletLoss", BatchHardSoftMarginTripletLoss, 1, torch.tensor([[0, 1]]), "1 dimension"),
    ("MultipleNegativesRankingLoss", MultipleNegativesRankingLoss, 1, None, "got 1 text column"),
    ("CachedMultipleNegativesRankingLoss", CachedMultipleNegativesRankingLoss, 2, torch.tensor([1, 1]), "takes none"),
    ("MSELoss", MSELoss, 1, torch.zeros(2), "must have 2 dimension"),
    ("MSELoss", MSELoss, 0, torch.zeros(2, 32), "got 0 text column"),
    ("ContrastiveLoss", ContrastiveLoss, 2, torch.tensor([0, 2]), "must be 0 or 1"),
    ("OnlineContrastiveLoss", OnlineContrastiveLoss, 2, torch.tensor([0.0, 1.0]), "integer class ids"),
    ("CoSENTLoss", CoSENTLoss, 2, torch.tensor([0, 1]), r"floating point \(use labels.float\(\)\)"),
    ("AnglELoss", AnglELoss, 2, torch.tensor([0.5, float("nan")]), "NaN"),
    (
        "MatryoshkaLoss",
        lambda m: MatryoshkaLoss(CoSENTLoss(m), (8, 16)),
        3,
        torch.tensor([0.5, 1.0]),
        "got 3 text column",
    ),
    ("MarginMSELoss", MarginMSELoss, 4, torch.tensor([0.5, 1.0]), r"shape \(batch, 2\)"),
    ("GISTEmbedLoss", lambda m: GISTEmbedLoss(m, copy.deepcopy(m)), 2, torch.tensor([1.0, 0.0]), "takes none"),
]


@pytest.mark.parametrize("name, build, n_columns, labels, message", BAD_BATCHES, ids=[b[0] for b in BAD_BATCHES])
def test_a_wrong_batch_is_rejected(tiny_encoder, name, build, n_columns, labels, message):
    loss = build(tiny_encoder)
    features = tokenize(tiny_encoder, [["a dog", "a cat"]] * n_columns)
    with pytest.raises(ValueError, match=message) as error:
        loss(features, labels)
    assert loss.expects in str(error.value)  # every error says what the loss accepts


def test_shape_mismatches_found_after_embedding_are_rejected(tiny_encoder):
    pair = tokenize(tiny_encoder, [["a dog", "a cat"], ["the dog", "the cat"]])
    with pytest.raises(ValueError, match="got 3 labels for 2 examples"):
        CoSENTLoss(tiny_encoder)(pair, torch.tensor([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="labels are 16 wide but the model's embeddings 32"):
        MSELoss(tiny_encoder)(pair, torch.zeros(2, 16))
    uneven = tokenize(tiny_encoder, [["a dog", "a cat"], ["the dog"]])
    with pytest.raises(ValueError, match=r"different numbers of rows \[2, 1\]"):
        MultipleNegativesRankingLoss(tiny_encoder)(uneven, None)
    with pytest.raises(ValueError, match=r"matryoshka_dims \[64\] exceed the model's embedding width 32"):
        MatryoshkaLoss(CoSENTLoss(tiny_encoder), (16, 64))(pair, torch.tensor([0.1, 0.2]))
    with pytest.raises(ValueError, match="features must be a list"):
        MultipleNegativesRankingLoss(tiny_encoder)(pair[0], None)


def test_bad_settings_are_rejected(tiny_encoder):
    with pytest.raises(ValueError, match="unknown distance_metric 'cos'"):
        TripletLoss(tiny_encoder, distance_metric="cos")
    with pytest.raises(ValueError, match="num_labels must be an integer of at least 2"):
        SoftmaxLoss(tiny_encoder, num_labels=1)
    with pytest.raises(ValueError, match="mini_batch_size must be a positive integer"):
        CachedMultipleNegativesRankingLoss(tiny_encoder, mini_batch_size=0)
    with pytest.raises(ValueError, match="got 1 matryoshka_weights for 2"):
        MatryoshkaLoss(CoSENTLoss(tiny_encoder), (8, 16), (1.0,))
    with pytest.raises(ValueError, match="SoftmaxLoss cannot be computed on truncated embeddings"):
        MatryoshkaLoss(SoftmaxLoss(tiny_encoder, 3), (8, 16))


def test_softmax_classifier_belongs_to_the_loss(tiny_encoder):
    loss = SoftmaxLoss(tiny_encoder, num_labels=3, concat_product=True)
    loss_params = {id(p) for p in loss.parameters()}
    model_params = {id(p) for p in tiny_encoder.parameters()}
    classifier = {id(p) for p in loss.classifier.parameters()}
    assert classifier <= loss_params and not classifier & model_params
    assert model_params <= loss_params
    assert loss.classifier.in_features == 4 * 32  # u, v, |u - v|, u * v


# ---------------------------------------------------------------- values on hand-made embeddings
POINTS = torch.tensor([[0.0], [3.0], [1.5], [4.0]])  # labels 0, 0, 1, 1; margin 2 (worked out by hand)


@pytest.mark.parametrize(
    "cls, expected",
    [
        (BatchHardTripletLoss, 3.5),  # gaps + margin: 3.5, 4, 3, 3.5
        (BatchAllTripletLoss, 2.75),  # eight violating triplets summing to 22
        (BatchSemiHardTripletLoss, 2.0),  # 1, 3.5 and 3 (no negative beyond: farthest used), 0.5
    ],
)
def test_batch_triplet_values(tiny_encoder, cls, expected):
    loss = cls(tiny_encoder, margin=2.0)
    assert loss.compute([POINTS], torch.tensor([0, 0, 1, 1])).item() == pytest.approx(expected)


def test_batch_hard_soft_margin_value(tiny_encoder):
    value = BatchHardSoftMarginTripletLoss(tiny_encoder).compute([POINTS], torch.tensor([0, 0, 1, 1]))
    assert value.item() == pytest.approx(F.softplus(torch.tensor([1.5, 2.0, 1.0, 1.5])).mean().item())


def test_batch_triplet_losses_ignore_anchors_without_positives(tiny_encoder):
    for cls in (BatchHardTripletLoss, BatchSemiHardTripletLoss, BatchAllTripletLoss, BatchHardSoftMarginTripletLoss):
        value = cls(tiny_encoder).compute([POINTS.clone().requires_grad_()], torch.tensor([0, 1, 2, 3]))
        assert value.item() == 0.0 and value.requires_grad, cls.__name__


def test_pair_loss_values(tiny_encoder):
    a, p, n = (
        torch.tensor([[0.0, 0.0], [0.0, 0.0]]),
        torch.tensor([[3.0, 4.0], [1.0, 0.0]]),
        torch.tensor([[6.0, 8.0], [0.0, 3.0]]),
    )
    assert TripletLoss(tiny_encoder, margin=6.0).compute([a, p, n], None).item() == pytest.approx(2.5)  # (1 + 4) / 2
    u, v = torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    # similar but orthogonal: 0.5 * 1**2; dissimilar but identical: 0.5 * 0.5**2
    assert ContrastiveLoss(tiny_encoder).compute([u, v], torch.tensor([1, 0])).item() == pytest.approx(0.3125)
    assert OnlineContrastiveLoss(tiny_encoder).compute([u, v], torch.tensor([1, 0])).item() == pytest.approx(1.25)
    # the orthogonal pair is labelled more similar: one violated ordering with s_j - s_i = 1
    cosent = CoSENTLoss(tiny_encoder, scale=1.0).compute([u, v], torch.tensor([0.9, 0.2]))
    assert cosent.item() == pytest.approx(math.log1p(math.e))
    assert CosineSimilarityLoss(tiny_encoder).compute([u, v], torch.tensor([0.0, 1.0])).item() == 0.0


def test_mnrl_value_and_symmetric_direction(tiny_encoder):
    anchors = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    positives = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    one_way = MultipleNegativesRankingLoss(tiny_encoder, scale=1.0).compute([anchors, positives], None)
    s = 1 / math.sqrt(2)  # cosine of the second anchor or the first anchor with [1, 1]
    forward = (-math.log(math.e / (math.e + math.exp(s))) - math.log(math.exp(s) / (1 + math.exp(s)))) / 2
    assert one_way.item() == pytest.approx(forward)
    both = MultipleNegativesRankingLoss(tiny_encoder, scale=1.0, symmetric=True).compute([anchors, positives], None)
    backward = (-math.log(math.e / (math.e + 1)) + math.log(2)) / 2  # [1, 1] is equally near both anchors
    assert both.item() == pytest.approx((forward + backward) / 2)


# ---------------------------------------------------------------- GradCache
def loss_and_gradients(loss, features, labels=None):
    loss.model.zero_grad()
    value = loss(features, labels)
    value.backward()
    return value.item(), {n: p.grad.clone() for n, p in loss.model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("symmetric", [False, True])
def test_cached_mnrl_equals_mnrl(tiny_encoder, symmetric):
    tiny_encoder.eval()
    features = tokenize(tiny_encoder, [ANCHORS, POSITIVES, NEGATIVES])
    plain_value, plain_grads = loss_and_gradients(
        MultipleNegativesRankingLoss(tiny_encoder, symmetric=symmetric), features
    )
    cached = CachedMultipleNegativesRankingLoss(
        tiny_encoder, symmetric=symmetric, mini_batch_size=4
    )  # chunks of 4 and 2
    cached_value, cached_grads = loss_and_gradients(cached, features)
    assert cached_value == pytest.approx(plain_value, rel=1e-5)
    assert plain_grads.keys() == cached_grads.keys() and len(plain_grads) > 10
    assert sum(g.abs().sum() for g in plain_grads.values()) > 0
    for name, grad in plain_grads.items():
        torch.testing.assert_close(cached_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)
    with torch.no_grad():  # evaluation: mini-batches without the checkpointing
        assert cached(features, None).item() == pytest.approx(plain_value, rel=1e-5)


def test_cached_mnrl_replays_dropout_in_its_second_pass(tiny_encoder):
    tiny_encoder.train()
    features = tokenize(tiny_encoder, [ANCHORS, POSITIVES])
    cached = CachedMultipleNegativesRankingLoss(tiny_encoder, mini_batch_size=4)
    torch.manual_seed(1)
    cached_value, cached_grads = loss_and_gradients(cached, features)
    # The same mini-batches in the same order, activations kept: dropout draws the same masks.
    tiny_encoder.zero_grad()
    torch.manual_seed(1)
    embeddings = [
        torch.cat([tiny_encoder({k: v[i : i + 4] for k, v in f.items()})["sentence_embedding"] for i in (0, 4)])
        for f in features
    ]
    reference = cached.compute(embeddings, None)
    reference.backward()
    assert cached_value == pytest.approx(reference.item(), rel=1e-5)
    for name, param in tiny_encoder.named_parameters():
        if param.grad is not None:
            torch.testing.assert_close(cached_grads[name], param.grad, rtol=1e-4, atol=1e-6, msg=name)
    tiny_encoder.eval()  # and the replay was needed: without dropout the loss differs
    assert cached(features, None).item() != pytest.approx(cached_value, rel=1e-5)


def saved_bytes(run):
    """Bytes autograd keeps for backward while ``run`` runs, and its result."""
    total = 0

    def pack(tensor):
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        return run(), total


def test_cached_mnrl_keeps_no_activations_for_a_batch_of_1024(tiny_encoder):
    subjects = ["a man", "a woman", "the child", "a dog", "the cat", "someone", "somebody", "men"]
    verbs = ["eats", "plays", "rides", "drives", "is eating", "is playing", "sits on", "was riding"]
    objects = [
        "food",
        "bread",
        "pasta",
        "guitar",
        "piano",
        "a horse",
        "a car",
        "the street",
        "music",
        "a movie",
        "the film",
        "a good film",
        "a bad movie",
        "the dog",
        "the cat",
        "a terrible film",
    ]
    texts = [f"{s} {v} {o}" for s in subjects for v in verbs for o in objects]
    features = tokenize(tiny_encoder, [texts, texts[1:] + texts[:1]])
    cached = CachedMultipleNegativesRankingLoss(tiny_encoder, mini_batch_size=128)
    embeddings, cached_bytes = saved_bytes(lambda: cached.embed(features))
    one_chunk = [{k: v[:128] for k, v in f.items()} for f in features[:1]]
    _, chunk_bytes = saved_bytes(lambda: MultipleNegativesRankingLoss(tiny_encoder).embed(one_chunk))
    # The uncached loss keeps 16 mini-batches' worth of activations; the cached one almost nothing.
    assert [e.shape for e in embeddings] == [(1024, 32)] * 2
    assert cached_bytes < chunk_bytes / 100
    cached.compute(embeddings, None).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in tiny_encoder[0].auto_model.encoder.parameters())


# ---------------------------------------------------------------- Matryoshka
class CountCalls:
    def __init__(self, module):
        self.calls = 0
        module.register_forward_pre_hook(lambda *_: setattr(self, "calls", self.calls + 1))


def test_matryoshka_is_the_weighted_sum_over_truncated_embeddings(tiny_encoder):
    tiny_encoder.eval()
    features = tokenize(tiny_encoder, [ANCHORS, SECONDS])
    labels = torch.tensor([4.5, 4.0, 3.5, 1.0, 0.5, 0.0])
    inner = CoSENTLoss(tiny_encoder)
    loss = MatryoshkaLoss(inner, (8, 16, 32), (1.0, 0.5, 2.0))
    counter = CountCalls(tiny_encoder)
    value = loss(features, labels)
    assert counter.calls == 2  # once per column, not once per width
    with torch.no_grad():
        full = [tiny_encoder(dict(f))["sentence_embedding"] for f in features]
        expected = sum(w * inner.compute([e[:, :d] for e in full], labels) for d, w in ((8, 1.0), (16, 0.5), (32, 2.0)))
        untruncated = 3.5 * inner.compute(full, labels)
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    assert value.item() != pytest.approx(untruncated.item(), rel=1e-3)


def test_matryoshka_truncates_the_teacher_embeddings_of_mse(tiny_encoder):
    tiny_encoder.eval()
    features = tokenize(tiny_encoder, [ANCHORS, POSITIVES])
    teacher = torch.randn(6, 32, generator=torch.Generator().manual_seed(1))
    value = MatryoshkaLoss(MSELoss(tiny_encoder), (8, 16, 32), (1.0, 0.5, 2.0))(features, teacher)
    with torch.no_grad():
        full = [tiny_encoder(dict(f))["sentence_embedding"] for f in features]
    expected = sum(
        w * sum(((e[:, :d] - teacher[:, :d]) ** 2).mean() for e in full) / 2
        for d, w in ((8, 1.0), (16, 0.5), (32, 2.0))
    )
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)


def test_matryoshka_over_cached_mnrl_equals_over_mnrl(tiny_encoder):
    tiny_encoder.eval()
    features = tokenize(tiny_encoder, [ANCHORS, POSITIVES])
    dims = (8, 16, 32)
    plain_value, plain_grads = loss_and_gradients(
        MatryoshkaLoss(MultipleNegativesRankingLoss(tiny_encoder), dims), features
    )
    cached = MatryoshkaLoss(CachedMultipleNegativesRankingLoss(tiny_encoder, mini_batch_size=2), dims)
    counter = CountCalls(tiny_encoder)
    cached_value, cached_grads = loss_and_gradients(cached, features)
    assert counter.calls == 2 * 3 * 2  # 2 columns x 3 mini-batches, run again once on backward
    assert cached_value == pytest.approx(plain_value, rel=1e-5)
    for name, grad in plain_grads.items():
        torch.testing.assert_close(cached_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)
