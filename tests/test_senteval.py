"""SentEval on the data mirror with fake encoders: one that leaks the label, one that knows nothing."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from workbench.data.readers import SENTEVAL_TASKS
from workbench.evaluation import SentEvalEvaluator
from workbench.evaluation.senteval import stratified_subsample

DIM = 16
FAST = {"max_per_task": 200, "c_grid": (0.1, 1.0), "inner_folds": 3}


def noise(sentence: str) -> np.ndarray:
    """A random vector fixed by the sentence."""
    return np.random.default_rng(zlib.crc32(sentence.encode())).standard_normal(DIM)


class RandomEncoder:
    def encode(self, sentences, **kwargs):
        return np.stack([noise(s) for s in sentences])


class LeakyEncoder:
    """Knows every sentence's label in one task: single sentences get their class in the first
    dimensions, the second sentence of a paraphrase pair gets the same vector as the first.
    (One task at a time: MR, SST2 and SUBJ share sentences with different labels.)"""

    def __init__(self, task) -> None:
        self.vectors: dict[str, np.ndarray] = {}
        for examples in task.splits.values():
            for example in examples:
                if len(example.texts) == 1:
                    vector = 0.1 * noise(example.texts[0])
                    vector[example.label] += 5.0
                    self.vectors[example.texts[0]] = vector
                else:
                    first, second = example.texts
                    self.vectors.setdefault(first, noise(first))
                    self.vectors[second] = self.vectors[first] if example.label == 1 else noise(second)

    def encode(self, sentences, **kwargs):
        return np.stack([self.vectors[s] for s in sentences])


@pytest.fixture(scope="module")
def senteval_dir(mirror):
    return mirror / "senteval"


EXPECTED_PROTOCOL = {
    "MR": ("kfold", 10, {"all": 200}),
    "CR": ("kfold", 10, {"all": 200}),
    "SUBJ": ("kfold", 10, {"all": 200}),
    "MPQA": ("kfold", 10, {"all": 200}),
    "SST2": ("train/dev/test", 0, {"train": 200, "dev": 200, "test": 200}),
    "TREC": ("train/test", 0, {"train": 200, "test": 200}),
    "MRPC": ("train/test", 0, {"train": 200, "test": 200}),
}


@pytest.mark.parametrize("task", SENTEVAL_TASKS)
def test_leaky_encoder_scores_about_100_with_the_right_protocol(senteval_dir, task):
    ev = SentEvalEvaluator(tasks=[task], folder=senteval_dir, name="se", **FAST)
    metrics = ev(LeakyEncoder(ev.tasks[task]))
    assert metrics[f"se_{task}_accuracy"] >= 95
    assert metrics["se_average_accuracy"] == metrics[f"se_{task}_accuracy"]
    assert ev.primary_metric == "se_average_accuracy"
    result = ev.details[task]
    assert (result.protocol, result.folds, result.sizes) == EXPECTED_PROTOCOL[task]
    # C is chosen again inside every outer fold of the cross-validated tasks
    assert len(result.chosen_c) == max(result.folds, 1)
    if task == "MRPC":
        assert metrics["se_MRPC_f1"] >= 95 and len(metrics) == 3
    else:
        assert result.f1 is None and len(metrics) == 2


def test_random_encoder_is_near_chance(senteval_dir):
    ev = SentEvalEvaluator(tasks=["mr", "sst"], folder=senteval_dir, **FAST)
    metrics = ev(RandomEncoder())
    assert 30 <= metrics["senteval_MR_accuracy"] <= 70
    assert 30 <= metrics["senteval_SST2_accuracy"] <= 70
    assert list(ev.details) == ["MR", "SST2"]


def test_default_settings_on_a_small_sample(senteval_dir):
    ev = SentEvalEvaluator(tasks=["MRPC"], folder=senteval_dir, max_per_task=60)
    metrics = ev(RandomEncoder())
    assert ev.c_grid == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0]
    assert ev.details["MRPC"].chosen_c[0] in ev.c_grid
    assert 0 <= metrics["senteval_MRPC_accuracy"] <= 100 and 0 <= metrics["senteval_MRPC_f1"] <= 100


def test_subsample_is_stratified_and_seeded(senteval_dir):
    a = SentEvalEvaluator(tasks=["CR"], folder=senteval_dir, max_per_task=100, seed=3)
    b = SentEvalEvaluator(tasks=["CR"], folder=senteval_dir, max_per_task=100, seed=3)
    c = SentEvalEvaluator(tasks=["CR"], folder=senteval_dir, max_per_task=100, seed=4)
    texts = [[e.texts[0] for e in ev.tasks["CR"].splits["all"]] for ev in (a, b, c)]
    assert texts[0] == texts[1] != texts[2]
    positives = sum(e.label for e in a.tasks["CR"].splits["all"])
    assert abs(positives - 100 * 2407 / 3775) <= 1  # CR: 2,407 positive of 3,775


def test_stratified_subsample():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 20)
    idx = stratified_subsample(labels, 10, seed=0)
    assert list(np.bincount(labels[idx])) == [5, 3, 2]
    assert list(idx) == sorted(set(idx))
    assert list(stratified_subsample(labels, 500, seed=0)) == list(range(100))


def test_bad_task_and_parameters(senteval_dir):
    with pytest.raises(ValueError, match="'STS'.*'MR', 'CR', 'SUBJ', 'MPQA', 'SST2', 'TREC', 'MRPC'"):
        SentEvalEvaluator(tasks=["STS"], folder=senteval_dir)
    with pytest.raises(TypeError, match=r"\['MR'\]"):
        SentEvalEvaluator(tasks="MR", folder=senteval_dir)
    with pytest.raises(ValueError, match="max_per_task must be at least"):
        SentEvalEvaluator(tasks=["MR"], folder=senteval_dir, max_per_task=5)
    with pytest.raises(FileNotFoundError, match="rt-polarity"):
        SentEvalEvaluator(tasks=["MR"], folder=senteval_dir / "nowhere")
