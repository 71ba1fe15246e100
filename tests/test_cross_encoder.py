"""CrossEncoder: predict, rank, input checks, folders both ways with sentence-transformers, losses, training, evaluators."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr
from sklearn.metrics import f1_score

from workbench import CrossEncoder, Example
from workbench.evaluation import (
    CrossEncoderClassificationEvaluator,
    CrossEncoderCorrelationEvaluator,
    CrossEncoderRerankingEvaluator,
)
from workbench.hooks import Callback
from workbench.losses import CosineSimilarityLoss
from workbench.losses.cross import (
    BinaryCrossEntropyLoss,
    CrossEntropyLoss,
    ListNetLoss,
    MarginMSELoss,
    MSELoss,
    MultipleNegativesRankingLoss,
)
from workbench.training import fit
from workbench.training.checkpoint import list_checkpoints

from recorder import Recorder

PAIRS = [
    ("a man eats bread", "a man is eating food"),
    ("a cat", "the dog plays the piano on the street"),
    ("someone rides a horse", ""),
    ("good movie", "terrible film"),
]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture()
def new_ce(tiny_bert_dir):
    """A factory of identical fresh one-score cross-encoders (the head seeded)."""

    def make(num_labels: int = 1) -> CrossEncoder:
        torch.manual_seed(0)
        return CrossEncoder.from_encoder(tiny_bert_dir, num_labels=num_labels, max_length=32, device="cpu")

    return make


# ---------------------------------------------------------------------------- predict, rank, checks
def test_predict_batches_by_length_and_returns_input_order(new_ce):
    ce = new_ce()
    one_by_one = np.array([ce.predict(pair) for pair in PAIRS])
    assert isinstance(ce.predict(PAIRS[0]), np.floating) or ce.predict(PAIRS[0]).shape == ()
    batched = ce.predict(PAIRS, batch_size=3)
    assert batched.shape == (4,) and batched.dtype == np.float32
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    assert ((batched > 0) & (batched < 1)).all()  # sigmoid by default for one label
    logits = ce.predict(PAIRS, activation_fn=torch.nn.Identity())
    np.testing.assert_allclose(1 / (1 + np.exp(-logits)), batched, atol=1e-6)
    assert isinstance(ce.predict(PAIRS, convert_to_tensor=True), torch.Tensor)
    assert ce.predict([]).shape == (0,)
    assert ce.training  # predict leaves the training mode as it found it


def test_predict_emits_progress_through_the_hooks(new_ce):
    recorder = Recorder()
    new_ce().predict(PAIRS, batch_size=3, callbacks=[recorder])
    names = [name for name, _ in recorder.events]
    assert names == ["progress_begin", "progress_update", "progress_update", "progress_end"]
    assert recorder.events[0][1]["total"] == 4 and recorder.events[0][1]["task"] == "predict"
    assert sum(fields["n"] for name, fields in recorder.events if name == "progress_update") == 4


@pytest.mark.parametrize(
    "pairs, error, message",
    [
        ("a b", TypeError, "expected a pair of texts"),
        ([("a", "b"), ("c",)], TypeError, "pair 1 is tuple"),
        ([("a", "b"), ("c", 3)], TypeError, "pair 1: item 1 is int"),
        ([("a", "b"), "ab"], TypeError, "pair 1 is str"),
        (None, TypeError, "expected a pair of texts"),
    ],
)
def test_predict_refuses_bad_pairs_naming_the_first(new_ce, pairs, error, message):
    with pytest.raises(error, match=message):
        new_ce().predict(pairs)


def test_predict_refuses_bad_batch_size_and_activation(new_ce):
    ce = new_ce()
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        ce.predict(PAIRS, batch_size=0)
    with pytest.raises(TypeError, match="activation_fn must be callable"):
        ce.predict(PAIRS, activation_fn="sigmoid")
    with pytest.raises(TypeError, match="activation_fn must be a torch.nn module"):
        ce.activation_fn = torch.sigmoid


def test_rank_sorts_the_documents_by_score(new_ce):
    ce = new_ce()
    documents = [b for _, b in PAIRS]
    scores = ce.predict([("a man eats", d) for d in documents])
    ranked = ce.rank("a man eats", documents, return_documents=True)
    assert [r["corpus_id"] for r in ranked] == list(np.argsort(-scores, kind="stable"))
    assert [r["text"] for r in ranked] == [documents[r["corpus_id"]] for r in ranked]
    np.testing.assert_allclose([r["score"] for r in ranked], np.sort(scores)[::-1], atol=1e-6)
    top = ce.rank("a man eats", documents, top_k=2)
    assert len(top) == 2 and "text" not in top[0]
    with pytest.raises(ValueError, match="top_k must be a positive integer"):
        ce.rank("a man eats", documents, top_k=0)
    with pytest.raises(TypeError, match="item 1 is int"):
        ce.rank("a man eats", ["a", 1])


def test_class_scores_and_softmax(new_ce):
    ce = new_ce(num_labels=3)
    scores = ce.predict(PAIRS)
    assert scores.shape == (4, 3)
    np.testing.assert_allclose(ce.predict(PAIRS, apply_softmax=True).sum(axis=1), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="rank needs a model with one output"):
        ce.rank("a", ["b"])


# ---------------------------------------------------------------------------- folders
def test_save_and_load_round_trip_keeps_scores_settings_and_other_files(new_ce, tmp_path):
    ce = new_ce()
    ce.activation_fn = torch.nn.Identity()
    ce.max_length = 24
    (tmp_path / "notes.txt").write_text("mine")
    ce.save(tmp_path)
    loaded = CrossEncoder(tmp_path, device="cpu")
    assert isinstance(loaded.activation_fn, torch.nn.Identity) and loaded.max_length == 24 and loaded.num_labels == 1
    np.testing.assert_allclose(loaded.predict(PAIRS), ce.predict(PAIRS), atol=1e-6)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    for name in (
        "config.json",
        "modules.json",
        "config_sentence_transformers.json",
        "sentence_bert_config.json",
        "model.safetensors",
        "tokenizer.json",
    ):
        assert (tmp_path / name).is_file(), name


def test_older_layout_without_modules_json_loads_its_activation(new_ce, tmp_path):
    ce = new_ce()
    ce.activation_fn = torch.nn.Identity()
    ce.save(tmp_path)
    for name in ("modules.json", "config_sentence_transformers.json", "sentence_bert_config.json"):
        (tmp_path / name).unlink()  # what sentence-transformers 4 and 5 wrote: the section in config.json only
    assert isinstance(CrossEncoder(tmp_path, device="cpu").activation_fn, torch.nn.Identity)


def test_loading_refuses_other_folders_and_foreign_activations(tiny_bert_dir, tiny_encoder, new_ce, tmp_path):
    tiny_encoder.save(tmp_path / "bi")
    with pytest.raises(ValueError, match="it is a bi-encoder: CrossEncoder.from_encoder"):
        CrossEncoder(tmp_path / "bi")
    with pytest.raises(ValueError, match="has no classification head; CrossEncoder.from_encoder"):
        CrossEncoder(tiny_bert_dir)
    new_ce().save(tmp_path / "ce")
    settings = tmp_path / "ce" / "config_sentence_transformers.json"
    settings.write_text(settings.read_text().replace("torch.nn.modules.activation.Sigmoid", "os.system"))
    with pytest.raises(ValueError, match="'os.system' is not a torch.nn class"):
        CrossEncoder(tmp_path / "ce")
    assert (
        CrossEncoder(tmp_path / "ce", activation_fn=torch.nn.Tanh(), device="cpu").activation_fn.__class__
        is torch.nn.Tanh
    )


def test_from_encoder_keeps_the_encoder_weights_with_a_new_head(tiny_encoder):
    torch.manual_seed(0)
    ce = CrossEncoder.from_encoder(tiny_encoder, num_labels=2, device="cpu")
    encoder_state = tiny_encoder[0].auto_model.state_dict()
    for key, value in ce.model.base_model.state_dict().items():
        torch.testing.assert_close(value, encoder_state[key])
    assert ce.num_labels == 2 and isinstance(ce.activation_fn, torch.nn.Identity)
    with pytest.raises(ValueError, match="num_labels must be a positive integer"):
        CrossEncoder.from_encoder(tiny_encoder, num_labels=0)


def test_sentence_transformers_reads_and_writes_the_same_folders(new_ce, tmp_path):
    st = pytest.importorskip("sentence_transformers")
    ours = new_ce()
    ours.save(tmp_path / "ours")
    theirs = st.CrossEncoder(str(tmp_path / "ours"), device="cpu")
    np.testing.assert_allclose(theirs.predict(PAIRS), ours.predict(PAIRS), atol=1e-5)

    built = st.CrossEncoder(str(tmp_path / "ours"), device="cpu", activation_fn=torch.nn.Identity())
    built.save(str(tmp_path / "theirs"))
    loaded = CrossEncoder(tmp_path / "theirs", device="cpu")
    assert isinstance(loaded.activation_fn, torch.nn.Identity)
    np.testing.assert_allclose(loaded.predict(PAIRS), built.predict(PAIRS), atol=1e-5)


# ---------------------------------------------------------------------------- losses
def _loss_cases(ce1, ce3):
    return {
        "bce": (BinaryCrossEntropyLoss(ce1), [Example(list(p), float(i % 2)) for i, p in enumerate(PAIRS)]),
        "mse": (MSELoss(ce1), [Example(list(p), float(i)) for i, p in enumerate(PAIRS)]),
        "margin_mse": (MarginMSELoss(ce1), [Example([a, b, "a cat"], 2.0) for a, b in PAIRS]),
        "margin_mse_2": (MarginMSELoss(ce1), [Example([a, b, "a cat", "music"], [2.0, 1.0]) for a, b in PAIRS]),
        "list_net": (ListNetLoss(ce1), [Example([a, b, "a cat", "music"], [3.0, 0.0, 1.0]) for a, b in PAIRS]),
        "mnrl": (MultipleNegativesRankingLoss(ce1, num_negatives=2), [Example(list(p)) for p in PAIRS]),
        "mnrl_hard": (MultipleNegativesRankingLoss(ce1), [Example([a, b, "a cat"]) for a, b in PAIRS]),
        "cross_entropy": (CrossEntropyLoss(ce3), [Example(list(p), i % 3) for i, p in enumerate(PAIRS)]),
    }


@pytest.mark.parametrize(
    "case", ["bce", "mse", "margin_mse", "margin_mse_2", "list_net", "mnrl", "mnrl_hard", "cross_entropy"]
)
def test_a_gradient_step_lowers_each_loss(new_ce, case):
    from workbench.training import Collator

    loss, data = _loss_cases(new_ce(), new_ce(3))[case]
    model = loss.model
    model.eval()  # no dropout: the same batch gives the same loss before and after
    features, labels = Collator(model.tokenize, loss.label_kind, case, featurize=loss.featurize)(data)
    before = loss(features, labels)
    assert math.isfinite(float(before.detach()))
    before.backward()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    optimizer.step()
    with torch.no_grad():
        after = loss(features, labels)
    assert float(after) < float(before)


def test_losses_check_their_inputs_and_model(new_ce, tiny_encoder):
    ce, ce3 = new_ce(), new_ce(3)
    with pytest.raises(ValueError, match="labels range from 0 to 2"):
        BinaryCrossEntropyLoss(ce).check_batch(2, torch.tensor([0.0, 2.0]))
    with pytest.raises(ValueError, match="trains a classifier"):
        CrossEntropyLoss(ce)
    with pytest.raises(ValueError, match="num_labels=1"):
        BinaryCrossEntropyLoss(ce3)
    with pytest.raises(ValueError, match=r"shape \(batch, 2\)"):
        MarginMSELoss(ce).check_batch(4, torch.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="losses for it are in workbench.losses.cross"):
        CosineSimilarityLoss(ce)
    with pytest.raises(TypeError, match="trains a CrossEncoder"):
        BinaryCrossEntropyLoss(tiny_encoder)
    with pytest.raises(ValueError, match="num_negatives=0 and no hard negatives"):
        fit(ce, [([Example(["a", "b"])] * 4, MultipleNegativesRankingLoss(ce, num_negatives=0))], batch_size=4)


# ---------------------------------------------------------------------------- training
def _train_data() -> list[Example]:
    return [Example([a, b], float(i % 2)) for i, (a, b) in enumerate(PAIRS * 4)]


def test_fit_with_evaluator_checkpoint_and_resume_continues_exactly(new_ce, tmp_path):
    evaluator = CrossEncoderCorrelationEvaluator(PAIRS, [1.0, 0.0, 0.5, 0.2], name="toy")
    options = dict(epochs=2, batch_size=4, lr=5e-4, seed=3, checkpoint_steps=3, show_progress_bar=False)

    def run(model, folder: str, **more):
        objectives = [(_train_data(), BinaryCrossEntropyLoss(model))]
        return fit(model, objectives, evaluator, output_path=tmp_path / folder, **options, **more)

    reference_model = new_ce()
    reference = run(reference_model, "ref")
    assert list(reference["step"]) == list(range(1, 9)) and "toy_spearman" in reference
    best = CrossEncoder(tmp_path / "ref", device="cpu")  # the best model is a cross-encoder folder
    assert best.predict(PAIRS).shape == (4,)

    class Interrupt(Callback):
        def on_step_end(self, event):
            if event.step == 5:
                raise KeyboardInterrupt

    run(new_ce(), "run", callbacks=[Interrupt()])
    assert [p.name for p in list_checkpoints(tmp_path / "run" / "checkpoints")][-1] == "checkpoint-5"
    resumed_model = new_ce()
    resumed = run(resumed_model, "run", resume_from_checkpoint="latest")
    np.testing.assert_allclose(resumed["loss"].to_numpy(), reference["loss"].to_numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(resumed_model.predict(PAIRS), reference_model.predict(PAIRS), atol=1e-5)


# ---------------------------------------------------------------------------- evaluators
class Fixed:
    """A stand-in cross-encoder whose scores are looked up per pair."""

    def __init__(self, scores: dict, num_labels: int = 1) -> None:
        self.scores, self.num_labels = scores, num_labels

    def predict(self, pairs, **kwargs):
        return np.array([self.scores[tuple(p)] for p in pairs], dtype=np.float32)


def test_correlation_evaluator_matches_hand_computed_values():
    pairs = [("a", "b"), ("c", "d"), ("e", "f"), ("g", "h")]
    predicted = [0.9, 0.2, 0.4, 0.1]
    gold = [5.0, 1.0, 3.0, 2.0]
    metrics = CrossEncoderCorrelationEvaluator(pairs, gold, name="s")(Fixed(dict(zip(pairs, predicted))))
    assert metrics["s_spearman"] == pytest.approx(0.8)  # ranks 4,2,3,1 vs 4,1,3,2: 1 - 6*2/(4*15)
    assert metrics["s_pearson"] == pytest.approx(pearsonr(gold, predicted)[0])


def test_classification_evaluator_binary_and_multi_class():
    pairs = [("a", str(i)) for i in range(4)]
    model = Fixed(dict(zip(pairs, [0.9, 0.8, 0.3, 0.1])))
    metrics = CrossEncoderClassificationEvaluator(pairs, [1, 0, 1, 0], name="b")(model)
    # Cuts: >=0.9 -> 3/4 right; >=0.8 -> 2/4; >=0.3 -> 3/4; AP = (1/1 + 2/3) / 2
    assert metrics["b_accuracy"] == 0.75 and metrics["b_accuracy_threshold"] == pytest.approx(0.85)
    assert metrics["b_f1"] == pytest.approx(0.8) and metrics["b_recall"] == 1.0  # cut at 0.3: P 2/3, R 1
    assert metrics["b_ap"] == pytest.approx((1 + 2 / 3) / 2)

    logits = {p: row for p, row in zip(pairs, np.eye(3)[[0, 1, 2, 2]])}
    multi = Fixed(logits, num_labels=3)
    multi.predict = lambda ps, **kw: np.stack([logits[tuple(p)] for p in ps])
    labels = [0, 1, 2, 1]
    metrics = CrossEncoderClassificationEvaluator(pairs, labels, name="m")(multi)
    assert metrics["m_accuracy"] == 0.75
    assert metrics["m_f1_macro"] == pytest.approx(f1_score(labels, [0, 1, 2, 2], average="macro"))
    with pytest.raises(ValueError, match="a multi-class task needs one output per class"):
        CrossEncoderClassificationEvaluator(pairs, labels)(Fixed(dict(zip(pairs, [0.0] * 4))))


def test_reranking_evaluator_matches_hand_computed_values():
    samples = [
        {"query": "q1", "positive": ["p1"], "documents": ["x", "p1", "y"]},  # reranked: p1 first
        {"query": "q2", "positive": ["p2", "gone"], "documents": ["p2", "z"]},  # reranked: z, p2; 'gone' never found
    ]
    scores = {("q1", "x"): 0.1, ("q1", "p1"): 0.9, ("q1", "y"): 0.5, ("q2", "p2"): 0.2, ("q2", "z"): 0.7}
    metrics = CrossEncoderRerankingEvaluator(samples, name="r")(Fixed(scores))
    assert metrics["r_mrr@10"] == pytest.approx((1 + 1 / 2) / 2)
    ndcg_q2 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert metrics["r_ndcg@10"] == pytest.approx((1 + ndcg_q2) / 2)
    assert metrics["r_base_mrr@10"] == pytest.approx((1 / 2 + 1) / 2)
    assert metrics["r_map"] == pytest.approx((1 + (1 / 2) / 2) / 2)
    with pytest.raises(ValueError, match="either 'documents'"):
        CrossEncoderRerankingEvaluator([{"query": "q", "positive": ["p"]}])


# ---------------------------------------------------------------------------- real model
@pytest.mark.slow
def test_a_cross_encoder_from_minilm_learns_sts(mirror):
    """15 steps on 240 STSb training pairs lift the test Spearman from about 0 to about 0.42 (a random head)."""
    from workbench import load_dataset

    torch.set_num_threads(2)
    train = load_dataset("stsb", split="train", normalize=True)[:240]
    test = load_dataset("stsb", split="test", normalize=True)[:120]
    torch.manual_seed(0)
    ce = CrossEncoder.from_encoder("all-MiniLM-L6-v2", num_labels=1, max_length=48, device="cpu")
    evaluator = CrossEncoderCorrelationEvaluator.from_examples(test, name="sts-test")
    before = evaluator(ce)["sts-test_spearman"]
    history = ce.fit(
        [(train, BinaryCrossEntropyLoss(ce))],
        evaluator,
        epochs=1,
        batch_size=16,
        lr=1e-4,
        warmup_ratio=0.1,
        seed=0,
        show_progress_bar=False,
    )
    after = history["sts-test_spearman"].dropna().iloc[-1]
    assert after > 0.3 and after > before + 0.25
