"""The training examples run end to end on tiny settings, print their result line and save loadable models."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from workbench import SentenceEncoder
from workbench.data import load_dataset
from workbench.evaluation import EmbeddingSimilarityEvaluator
from workbench.modules import Pooling, Transformer

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = ("train_sts.py", "train_nli.py", "train_glove.py", "train_multitask.py")
TINY = ["--max-train", "64", "--epochs", "1", "--max-eval", "60", "--threads", "1", "--quiet"]
RESULT_KEYS = {"dev_spearman", "test_spearman", "seconds"}


@pytest.fixture(scope="module")
def tiny_model(tiny_bert_dir, tmp_path_factory) -> Path:
    """A saved encoder folder: the tiny random BERT with mean pooling."""
    transformer = Transformer(tiny_bert_dir, max_seq_length=32)
    folder = tmp_path_factory.mktemp("tiny-encoder") / "model"
    SentenceEncoder(modules=[transformer, Pooling(32)], device="cpu").save(folder)
    return folder


def run_example(script: str, *args: str) -> dict:
    """Run ``examples/<script>`` in a fresh Python; return its last output line, parsed."""
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def dev_spearman(model, n: int) -> float:
    dev = load_dataset("stsb", split="dev", normalize=True)[:n]
    evaluator = EmbeddingSimilarityEvaluator.from_examples(dev, name="sts-dev")
    return evaluator(model)[evaluator.primary_metric]


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_describes_the_flags(script, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [script, "--help"])
    monkeypatch.syspath_prepend(str(EXAMPLES))
    with pytest.raises(SystemExit) as stop:
        runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    assert stop.value.code == 0
    shown = capsys.readouterr().out
    assert "--output" in shown and "--epochs" in shown and "--max-train" in shown


def test_sts_saves_the_best_model_for_both_libraries(mirror, tiny_model, tmp_path):
    out = tmp_path / "sts"
    result = run_example("train_sts.py", "--output", str(out), "--model", str(tiny_model), "--loss", "cosent", *TINY)
    assert RESULT_KEYS | {"start_test_spearman", "loss", "epochs"} <= result.keys()
    assert result["loss"] == "cosent" and result["steps"] == 4  # 64 pairs in batches of 16
    best = SentenceEncoder(out, device="cpu")
    # The folder holds the model the result line describes.
    assert dev_spearman(best, 60) == pytest.approx(result["dev_spearman"], abs=1e-4)

    st = pytest.importorskip("sentence_transformers")  # the reference library, from the bench extra
    texts = ["a man is eating food", "the dog plays"]
    theirs = st.SentenceTransformer(str(out), device="cpu").encode(texts)
    np.testing.assert_allclose(theirs, best.encode(texts), atol=1e-5)


def test_nli_mnrl_trains_on_triplets(mirror, tiny_model, tmp_path):
    out = tmp_path / "nli"
    result = run_example(
        "train_nli.py", "--output", str(out), "--model", str(tiny_model), "--loss", "mnrl", "--batch-size", "8", *TINY
    )
    assert RESULT_KEYS <= result.keys()
    assert 0 < result["train_examples"] < 64  # triplets: premises with an entailment and a contradiction
    assert SentenceEncoder(out, device="cpu").encode(["a test"]).shape == (1, 32)


def test_multitask_uses_both_objectives(mirror, tiny_model, tmp_path):
    out = tmp_path / "multitask"
    result = run_example("train_multitask.py", "--output", str(out), "--model", str(tiny_model), *TINY)
    assert RESULT_KEYS <= result.keys()
    assert result["train_examples"] == {"nli": 64, "sts": 64}
    history = (out / "history.csv").read_text().splitlines()
    assert "loss_nli" in history[0] and "loss_sts" in history[0]


@pytest.mark.slow
def test_glove_avg_with_idf_beats_average_glove(mirror, tmp_path):
    out = tmp_path / "glove"
    result = run_example(
        "train_glove.py",
        "--output",
        str(out),
        "--arch",
        "avg",
        "--max-train",
        "2000",
        "--epochs",
        "1",
        "--max-eval",
        "300",
        "--threads",
        "1",
        "--quiet",
    )
    assert RESULT_KEYS | {"baseline_test_spearman"} <= result.keys() and result["idf"] is True
    assert result["test_spearman"] > result["baseline_test_spearman"]
    names = [type(m).__name__ for m in SentenceEncoder(out, device="cpu")]
    assert names == ["WordEmbeddings", "WordWeights", "Pooling", "Dense"]
