"""The notebook widgets, driven through their Python state API (no browser)."""

from __future__ import annotations

import json
import shutil
import sys
import types

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from workbench.data.records import Example
from workbench.evaluation import EmbeddingSimilarityEvaluator, InformationRetrievalEvaluator
from workbench.evaluation.base import LookupEncoder
from workbench.hooks import Callback, Hooks
from workbench.io import write_json
from workbench.losses import CosineSimilarityLoss
from workbench.reproducibility import reproducibility_record, write_results
from workbench.runs import MARKER, runs_table
from workbench.training import Trainer

from toy_data import SIMILAR, scored_pairs, toy_sts_evaluator

widgets = pytest.importorskip("widgets")
from widgets import (  # noqa: E402
    ClusterExplorer,
    DuplicateFinder,
    ModelPicker,
    ProgressBar,
    ReproducibilityCard,
    RetrievalExplorer,
    RunsTable,
    SearchBox,
    STSExplorer,
    TrainingMonitor,
)

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def test_every_view_displays_as_its_widget(tiny_encoder):
    views = [
        TrainingMonitor(),
        ProgressBar(),
        ModelPicker(),
        SearchBox(LookupEncoder({"a": [1.0, 0.0]}), ["a"]),
        STSExplorer({"m": [0.1, 0.9]}, ["a", "b"], ["c", "d"], [0.0, 1.0]),
        ClusterExplorer(np.eye(4), ["a", "b", "c", "d"], k=2, projection="pca"),
        RetrievalExplorer(toy_query_results()),
        DuplicateFinder(np.eye(2), ["a", "b"]),
        RunsTable(grid_table()),
        ReproducibilityCard(reproducibility_record(registry=False)),
    ]
    for view in views:
        bundle = view._repr_mimebundle_()
        assert bundle[WIDGET_MIME]["model_id"] == view.widget.model_id


def test_every_plot_reaches_the_browser_with_its_first_drawing(monkeypatch):
    """A figure's traces, layout and CSS class are in the state its browser model is created with.

    anywidget drops updates to a model whose module (plotly's: 5 MB) took the browser over 2 s to load: a map
    whose traces came as updates stayed empty on a loaded machine (issue 10, section 5).
    """
    import comm

    opened = []  # the state each widget's comm opens with

    def record(**kwargs):
        opened.append(kwargs["data"]["state"])
        return create_comm(**kwargs)

    create_comm = comm.create_comm
    monkeypatch.setattr(comm, "create_comm", record)
    emb, texts, _ = blobs(per_topic=5)
    views = {
        "map": ClusterExplorer(emb, texts, k=3, projection="pca"),
        "monitor": TrainingMonitor(),
        "sts": STSExplorer({"m": [0.1, 0.9]}, ["a", "b"], ["c", "d"], [0.0, 1.0]),
        "retrieval": RetrievalExplorer(toy_query_results()),
    }
    at_open = {state["_widget_layout"]["height"]: state for state in opened if "_widget_layout" in state}
    heights = {"map": 560, "monitor": 360, "sts": 380, "retrieval": 260}
    for name, view in views.items():
        state = at_open[heights[name]]
        assert len(state["_widget_data"]) == len(view.figure.data) > 0, name
    assert list(at_open[560]["_dom_classes"]) == ["wb-cluster-plot"]
    assert len(at_open[560]["_widget_layout"]["annotations"]) == 3  # one keyword label per cluster
    # The STS scatter opens with its points and each model's correlation, not an empty frame titled by name.
    sts = at_open[380]
    points = sts["_widget_data"][0]
    assert "x" in points and "y" in points and "customdata" in points  # plotly sends the arrays as binary buffers
    assert [a["text"] for a in sts["_widget_layout"]["annotations"]] == ["m: Spearman 1.0000"]
    # The retrieval histogram opens with its bars and the chosen query's marker.
    retrieval = at_open[260]
    assert "x" in retrieval["_widget_data"][0] and len(retrieval["_widget_layout"]["shapes"]) == 1
    assert list(retrieval["_dom_classes"]) == ["wb-retrieval-histogram"]


def toy_query_results():
    """The per-query results of a two-query retrieval evaluation (q1 finds its document first, q2 second)."""
    model = LookupEncoder({"q": [1.0, 0.0], "r": [0.0, 1.0], "near": [0.9, 0.1], "far": [0.0, 1.0]})
    ir = InformationRetrievalEvaluator(
        {"q1": "q", "q2": "r"}, {"d1": "far", "d2": "near"}, {"q1": {"d2"}, "q2": {"d2"}}
    )
    ir(model)
    return ir.per_query()


# --------------------------------------------------------------------------- TrainingMonitor
class PressStop(Callback):
    """Presses the monitor's Stop button at the end of step ``step``, as a user would mid-run."""

    def __init__(self, monitor: TrainingMonitor, step: int) -> None:
        self.monitor, self.step = monitor, step

    def on_step_end(self, event) -> None:
        if event.step == self.step:
            self.monitor.stop_button.click()


def test_monitor_follows_a_real_fit_and_its_stop_button_ends_it(tiny_encoder, tmp_path):
    data = scored_pairs(4)
    evaluator = toy_sts_evaluator()
    monitor = TrainingMonitor(redraw_every_s=0.0)
    trainer = Trainer(
        tiny_encoder,
        [(data, CosineSimilarityLoss(tiny_encoder))],
        evaluator,
        epochs=2,
        batch_size=4,
        evaluation_steps=2,
        seed=0,
        checkpoint_path=tmp_path / "ckpt",
        checkpoint_steps=2,
        callbacks=[monitor, PressStop(monitor, 3)],
    )
    history = trainer.fit()

    assert trainer.total_steps == 16 and trainer.global_step == 3
    assert trainer.stop_reason == "stopped from the notebook"
    assert monitor.history["step"].tolist() == [1, 2, 3] == history["step"].tolist()
    assert monitor.history["loss"].tolist() == pytest.approx(history["loss"].tolist())
    # Step 2 by the schedule; step 3, the weights training stopped with, at the end.
    assert monitor.metrics_table["step"].tolist() == [2, 3]
    assert monitor.metrics_table.columns[:3].tolist() == ["step", "epoch", "toy_spearman_cosine"]
    assert monitor.metrics_table["toy_spearman_cosine"].tolist() == pytest.approx(
        history["toy_spearman_cosine"].iloc[1:].tolist()
    )
    best_step = trainer.best_step
    assert monitor.best == {
        "step": best_step,
        "metric": "toy_spearman_cosine",
        "value": pytest.approx(trainer.best_metric),
        "path": str(tmp_path / "ckpt" / f"checkpoint-{best_step}"),
    }
    # The widgets show the same: progress, curves, metric table, outcome and why.
    assert (monitor.progress.value, monitor.progress.max) == (3, 16)
    lr, metric, best, loss = monitor.figure.data
    assert list(loss.x) == [1, 2, 3] and list(loss.y) == pytest.approx(history["loss"].tolist())
    assert list(metric.x) == [2, 3] and metric.name == "toy_spearman_cosine" and list(best.x) == [best_step]
    assert "<td>3</td>" in monitor.table.value
    assert "stopped early: stopped from the notebook" in monitor.status.value
    assert monitor.stop_button.disabled and monitor.stop_button.description == "Stop"


def test_monitor_names_the_folder_the_best_model_was_saved_to(tiny_encoder, tmp_path):
    evaluator = toy_sts_evaluator()
    monitor = TrainingMonitor(redraw_every_s=0.0)
    tiny_encoder.fit(
        [(scored_pairs(2), CosineSimilarityLoss(tiny_encoder))],
        evaluator,
        epochs=1,
        batch_size=4,
        evaluation_steps=2,
        seed=0,
        output_path=tmp_path / "best",
        callbacks=[monitor],
        show_progress_bar=False,
    )

    assert monitor.best["path"] == str(tmp_path / "best")
    assert (tmp_path / "best" / "modules.json").is_file()
    assert f"saved in {tmp_path / 'best'}" in monitor.best_label.value
    assert "wb-monitor" in monitor.widget._dom_classes and "wb-stop" in monitor.stop_button._dom_classes


def test_stop_is_heard_on_the_subshell_its_click_arrives_on():
    """The installed ipykernel is in the tested range, and its comm routing still asks the hook the monitor answers."""
    import inspect

    import ipykernel
    from ipykernel.kernelbase import Kernel

    from widgets.training_monitor import IPYKERNEL_TESTED

    version = tuple(int(part) for part in ipykernel.__version__.split(".")[:2])
    low, high = IPYKERNEL_TESTED
    assert low <= version < high, f"ipykernel {ipykernel.__version__} is outside the tested range {IPYKERNEL_TESTED}"
    routing = inspect.getsource(Kernel.shell_channel_thread_main)
    if version >= (7, 4):  # the re-routing the monitor answers; before 7.4 messages stay where they arrive
        assert 'getattr(comm, "_reply_subshell_for", None)' in routing
        assert 'route(content.get("data"), subshell_id)' in routing
    else:
        assert "_reply_subshell_for" not in routing
    monitor = TrainingMonitor()
    assert monitor.stop_button.comm._reply_subshell_for({"content": {"id": "x"}}, "subshell-1") == "subshell-1"


def test_stop_outside_training_only_says_so():
    monitor = TrainingMonitor()
    monitor.stop_button.click()
    assert "not running" in monitor.status.value


class FakeTrainer:
    """Stands in for the trainer in synthetic event streams."""

    objective_names = ["a", "b"]
    stop_reason = None

    def request_stop(self, reason: str, checkpoint: bool = True) -> None:
        self.stop_reason = reason


def emit_run(monitor: TrainingMonitor, steps: int, trainer: FakeTrainer | None = None) -> FakeTrainer:
    trainer = trainer or FakeTrainer()
    hooks = Hooks([monitor])
    hooks.emit("train_begin", trainer=trainer, total_steps=steps)
    for step in range(1, steps + 1):
        if step == steps // 2:
            hooks.emit(
                "evaluation",
                trainer=trainer,
                step=step,
                epoch=0,
                metrics={"dev": step / steps},
                primary=step / steps,
                is_best=True,
                primary_metric="dev",
                greater_is_better=True,
            )
        hooks.emit(
            "step_end",
            trainer=trainer,
            step=step,
            total_steps=steps,
            epoch=0,
            losses={"a": 1.0 / step, "b": 2.0 / step},
            lr=1e-5,
            samples_per_s=100.0,
            grad_norm=1.0,
        )
    hooks.emit("train_end", trainer=trainer, history=None, stopped_early=False, interrupted=False)
    return trainer


def test_monitor_redraws_are_throttled():
    slow = TrainingMonitor(redraw_every_s=3600)
    emit_run(slow, 1000)
    # train_begin, the first step, the evaluation and train_end; the other 999 steps are only recorded.
    assert slow.redraws == 4
    assert len(slow.history) == 1000 and list(slow.history.columns[:5]) == ["step", "epoch", "loss", "loss_a", "loss_b"]
    assert len(slow.figure.data[3].x) == 1000 and slow.figure.data[4].y[-1] == pytest.approx(2.0 / 1000)
    assert "finished" in slow.status.value and slow.best["step"] == 500

    eager = TrainingMonitor(redraw_every_s=0)
    emit_run(eager, 50)
    assert eager.redraws == 1 + 50 + 1 + 1


def test_monitor_thins_long_curves_and_starts_over_for_a_new_trainer():
    monitor = TrainingMonitor(redraw_every_s=3600, max_plot_points=100)
    trainer = emit_run(monitor, 1000)
    x = list(monitor.figure.data[3].x)
    assert len(x) <= 100 and x[0] == 1 and x[-1] == 1000

    emit_run(monitor, 10, trainer)  # the same run going on: curves continue
    assert len(monitor.history) == 1010
    emit_run(monitor, 10)  # a new trainer: a new run
    assert len(monitor.history) == 10 and monitor.best["step"] == 5
    assert len(monitor.figure.data) == 5 and list(monitor.figure.data[3].x) == list(range(1, 11))
    assert list(monitor.figure.data[1].x) == [5]


# --------------------------------------------------------------------------- ProgressBar
def test_progress_bar_follows_encode(tiny_encoder):
    bar = ProgressBar(redraw_every_s=3600)
    texts = [pair[0] for pair in SIMILAR] * 5
    tiny_encoder.encode(texts, batch_size=4, callbacks=[bar])
    state = bar.tasks["encode"]
    assert (state.n, state.total, state.done) == (20, 20, True)
    assert bar.bars["encode"].value == 20 and bar.bars["encode"].bar_style == "success"
    assert "Encoding: 20/20 sentences" in bar._labels["encode"].value

    tiny_encoder.encode(texts[:3], callbacks=[bar])  # a task that begins again reuses its bar
    assert len(bar.widget.children) == 1 and bar.tasks["encode"].n == 3 and bar.bars["encode"].max == 3


def test_progress_bar_without_total_and_without_leave():
    bar = ProgressBar(leave=False)
    hooks = Hooks([bar])
    hooks.emit("progress_begin", task="download", total=None, unit="B")
    hooks.emit("progress_update", task="download", n=512, speed=1.5)
    assert len(bar.widget.children) == 1 and "download: 512 B" in bar._labels["download"].value
    assert "speed=1.5" in bar._labels["download"].value
    hooks.emit("progress_end", task="download")
    assert bar.widget.children == () and bar.bars["download"].value == 1


# --------------------------------------------------------------------------- SearchBox
class CountingEncoder(LookupEncoder):
    """A lookup encoder that counts the texts it encodes."""

    encoded = 0

    def encode(self, sentences, **kwargs):
        self.encoded += len(sentences)
        return super().encode(sentences, **kwargs)


CORPUS = {
    "cats purr": [1.0, 0.0, 0.0],
    "dogs bark": [0.0, 1.0, 0.0],
    "fish swim": [0.0, 0.0, 1.0],
    "kittens purr": [0.9, 0.1, 0.0],
    "quiet cat": [1.0, 0.0, 0.3],
}


def test_search_box_ranks_encodes_the_corpus_once_and_keeps_columns():
    model = CountingEncoder(CORPUS)
    frame = pd.DataFrame({"id": range(5), "sentence": list(CORPUS)})
    box = SearchBox(model, frame, top_k=2, text_column="sentence")
    assert model.encoded == 0  # nothing is encoded before the first search

    box.query.value = "cats purr"
    assert box.results["text"].tolist() == ["cats purr", "kittens purr"]
    assert box.results.columns.tolist() == ["rank", "score", "text", "id"]
    assert box.results["id"].tolist() == [0, 3] and box.results["rank"].tolist() == [1, 2]
    assert box.results["score"].iloc[0] == pytest.approx(1.0)
    assert box.last_latency_ms > 0 and "in " in box.status.value and "kittens purr" in box.table.value

    box.query.value = "dogs bark"
    box.run_button.click()
    assert box.results["text"].iloc[0] == "dogs bark"
    assert model.encoded == 5 + 3  # the corpus once, then one text per search
    assert box.search("fish swim", top_k=10)["text"].tolist()[0] == "fish swim"
    assert len(box.results) == 5 and box.query.value == "fish swim"  # the box shows what was searched
    assert model.encoded == 5 + 3 + 1  # ... without searching it again


def test_search_box_with_given_embeddings_and_plain_lists():
    model = CountingEncoder(CORPUS)
    texts = list(CORPUS)
    box = SearchBox(model, pd.Series(texts), corpus_embeddings=np.array(list(CORPUS.values())), top_k=1)
    assert box.search("fish swim")["text"].tolist() == ["fish swim"] and model.encoded == 1
    assert box.search("   ").empty and box.table.value == ""
    assert SearchBox(model, texts).search("quiet cat")["text"].iloc[0] == "quiet cat"


def test_search_box_rejects_bad_corpora():
    model = LookupEncoder(CORPUS)
    with pytest.raises(ValueError, match="text_column= one of"):
        SearchBox(model, pd.DataFrame({"sentence": ["a"]}))
    with pytest.raises(ValueError, match="clash"):
        SearchBox(model, pd.DataFrame({"text": ["a"], "score": [1]}))
    with pytest.raises(ValueError, match="one embedding per corpus text"):
        SearchBox(model, ["a", "b"], corpus_embeddings=np.zeros((3, 2)))
    with pytest.raises(TypeError, match="item 1"):
        SearchBox(model, ["a", 2])
    with pytest.raises(ValueError, match="empty"):
        SearchBox(model, [])


def test_search_box_with_a_real_encoder(tiny_encoder):
    texts = [pair[1] for pair in SIMILAR]
    box = SearchBox(tiny_encoder, texts, top_k=4)
    assert box.search(texts[2])["text"].iloc[0] == texts[2]


class LookupCrossEncoder:
    """A cross-encoder whose score of (query, text) is looked up by text; counts the pairs it scores."""

    def __init__(self, scores):
        self.scores, self.scored = scores, 0

    def predict(self, pairs, batch_size=32, show_progress_bar=None):
        self.scored += len(pairs)
        return np.array([self.scores[text] for _, text in pairs], dtype=np.float32)


CROSS = {"cats purr": 0.5, "kittens purr": 0.2, "quiet cat": 0.9, "dogs bark": 0.1, "fish swim": 0.7}


def test_search_box_reranks_side_by_side_with_moves_and_both_scores():
    cross = LookupCrossEncoder(CROSS)
    frame = pd.DataFrame({"id": range(5), "text": list(CORPUS)})
    box = SearchBox(LookupEncoder(CORPUS), frame, top_k=3, cross_encoder=cross, rerank_depth=5)
    results = box.search("kittens purr")
    assert cross.scored == 5  # the bi-encoder's best rerank_depth hits, each scored once
    # Cosine to [0.9, 0.1, 0]: itself 1, cats purr 0.9939, quiet cat 0.9522, dogs bark 0.1104, fish swim 0.
    cosines = {"cats purr": 0.9 / np.sqrt(0.82), "quiet cat": 0.9 / np.sqrt(0.82 * 1.09), "fish swim": 0.0}
    assert box.bi_results["text"].tolist() == ["kittens purr", "cats purr", "quiet cat"]
    assert box.bi_results["score"].tolist() == pytest.approx(
        [1.0, cosines["cats purr"], cosines["quiet cat"]], abs=1e-6
    )
    assert results.columns.tolist() == ["rank", "movement", "cross_score", "bi_rank", "bi_score", "text", "id"]
    assert results["text"].tolist() == ["quiet cat", "fish swim", "cats purr"]
    assert results["rank"].tolist() == [1, 2, 3] and results["bi_rank"].tolist() == [3, 5, 2]
    assert results["movement"].tolist() == [2, 3, -1] and results["id"].tolist() == [4, 2, 0]
    assert results["cross_score"].tolist() == pytest.approx([0.9, 0.7, 0.5])
    assert results["bi_score"].tolist() == pytest.approx([cosines[t] for t in results["text"]], abs=1e-6)
    # Both rankings are on screen, the moves as arrows.
    assert "kittens purr" in box.bi_table.value and "kittens purr" not in box.table.value
    assert "▲ 2" in box.table.value and "▲ 3" in box.table.value and "▼ 1" in box.table.value
    assert box.last_rerank_ms > 0 and box.last_latency_ms >= box.last_rerank_ms and "reranked" in box.status.value
    side_by_side = box.widget.children[2]
    assert "wb-search-side-by-side" in side_by_side._dom_classes and len(side_by_side.children) == 2

    assert box.search("  ").empty and box.bi_results.empty and box.bi_table.value == box.table.value == ""
    box.search("fish swim", top_k=1)  # a top_k larger than rerank_depth would rerank top_k hits
    assert box.results["text"].tolist() == ["quiet cat"] and box.results["bi_rank"].tolist() == [2]


def test_search_box_rerank_failures_are_shown_not_raised():
    with pytest.raises(TypeError, match="predict"):
        SearchBox(LookupEncoder(CORPUS), list(CORPUS), cross_encoder=object())
    with pytest.raises(ValueError, match="clash"):
        SearchBox(
            LookupEncoder(CORPUS), pd.DataFrame({"text": ["a"], "movement": [1]}), cross_encoder=LookupCrossEncoder({})
        )
    box = SearchBox(LookupEncoder(CORPUS), list(CORPUS), top_k=2, cross_encoder=LookupCrossEncoder({}))
    box.query.value = "cats purr"  # the cross-encoder has no score for these texts
    assert box.results.empty and box.bi_table.value == "" and "cannot search" in box.status.value


def test_search_box_with_a_real_cross_encoder(tiny_encoder, tiny_bert_dir):
    import torch

    from workbench import CrossEncoder

    torch.manual_seed(0)
    cross = CrossEncoder.from_encoder(tiny_bert_dir, num_labels=1, max_length=32, device="cpu")
    texts = [pair[1] for pair in SIMILAR]
    box = SearchBox(tiny_encoder, texts, top_k=4, cross_encoder=cross, rerank_depth=4)
    results = box.search(SIMILAR[0][0])
    expected = cross.predict([(SIMILAR[0][0], text) for text in results["text"]])
    assert results["cross_score"].tolist() == pytest.approx(expected.tolist(), abs=1e-6)
    assert results["cross_score"].is_monotonic_decreasing and sorted(results["bi_rank"]) == [1, 2, 3, 4]
    assert (results["movement"] == results["bi_rank"] - results["rank"]).all()


class NoRowsEncoder:
    """A broken model: whatever it is given, its encode returns no rows."""

    def encode(self, sentences, **kwargs):
        return np.zeros((0, 3))


def test_search_box_says_when_the_model_returns_no_rows():
    box = SearchBox(NoRowsEncoder(), list(CORPUS), corpus_embeddings=np.array(list(CORPUS.values())))
    with pytest.raises(ValueError, match=r"model\.encode returned an array of shape \(0, 3\) for 1 texts"):
        box.search("cats purr")
    box.search("")  # an empty query encodes nothing
    # Typed in the box or clicked: nobody to raise to, so the status line says it and no old rows stay.
    box.results, box.table.value = box.results.iloc[:0], "<table>old rows</table>"
    box.query.value = "dogs bark"
    assert "cannot search" in box.status.value and "shape (0, 3) for 1 texts" in box.status.value
    assert box.table.value == "" and box.results.empty
    box.status.value = ""
    box.run_button.click()
    assert "cannot search" in box.status.value

    unencoded = SearchBox(NoRowsEncoder(), list(CORPUS))
    with pytest.raises(ValueError, match=r"shape \(0, 3\) for 5 texts"):
        unencoded.search("cats purr")  # the corpus itself


def test_search_box_top_k_is_honoured_or_refused():
    box = SearchBox(LookupEncoder(CORPUS), list(CORPUS), top_k=2)
    for bad in (0, -1, 2.5, True, "3", None):
        with pytest.raises(ValueError, match="top_k must be a whole number >= 1"):
            (
                SearchBox(LookupEncoder(CORPUS), list(CORPUS), top_k=bad)
                if bad is None
                else box.search("cats purr", top_k=bad)
            )
    assert len(box.search("cats purr", top_k=1)) == 1 and len(box.search("cats purr", top_k=np.int64(3))) == 3
    assert len(box.search("cats purr")) == 2  # None: the box's own top_k


# --------------------------------------------------------------------------- STSExplorer
def sts_set():
    s1 = ["a", "b", "c", "d", "e", "f"]
    s2 = ["a2", "b2", "c2", "d2", "e2", "f2"]
    gold = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    genres = ["news", "news", "news", "forum", "forum", "forum"]
    return s1, s2, gold, genres


def test_sts_explorer_results_summary_and_worst_pairs():
    s1, s2, gold, genres = sts_set()
    # "perfect" follows the gold order; "swapped" puts the lowest pair on top.
    angles = {"a": 0.0, "b": 0.2, "c": 0.4, "d": 0.6, "e": 0.8, "f": 1.0}
    vectors = {t: [1.0, 0.0] for t in s1} | {f"{t}2": [np.cos(1.5 - a), np.sin(1.5 - a)] for t, a in angles.items()}
    swapped = [0.95, 0.2, 0.3, 0.4, 0.5, 0.6]
    explorer = STSExplorer({"perfect": LookupEncoder(vectors), "swapped": swapped}, s1, s2, gold, genres=genres)

    assert explorer.results.columns.tolist() == [
        "sentence1",
        "sentence2",
        "genre",
        "gold",
        "pred_perfect",
        "pred_swapped",
    ]
    assert explorer.results["pred_perfect"].tolist() == pytest.approx(np.cos(1.5 - np.array(list(angles.values()))))
    summary = explorer.summary.set_index("model")
    assert summary.loc["perfect", "spearman"] == pytest.approx(1.0)
    assert summary.loc["swapped", "spearman"] == pytest.approx(spearmanr(gold, swapped)[0])
    assert explorer.worst(1, model="swapped")["sentence1"].tolist() == ["a"]
    assert explorer.worst(2, model="perfect")["rank_gap"].tolist() == [0.0, 0.0]

    explorer.worst_model.value = "swapped"
    assert "<td>a</td>" in explorer.worst_table.value.split("</tr>")[1]  # the first data row
    assert [len(trace.x) for trace in explorer.figure.data] == [6, 6]
    assert "Spearman 1.0000" in explorer.figure.layout.annotations[0].text
    assert "wb-sts-explorer" in explorer.widget._dom_classes


def test_sts_explorer_filters_by_genre_and_score():
    s1, s2, gold, genres = sts_set()
    explorer = STSExplorer({"m": [0.1, 0.3, 0.2, 0.5, 0.4, 0.9]}, s1, s2, gold, genres=genres)
    assert list(explorer.genre.options) == ["all", "forum", "news"]

    explorer.set_filter(genre="news")
    assert explorer.filtered["sentence1"].tolist() == ["a", "b", "c"]
    assert explorer.summary["pairs"].tolist() == [3] and len(explorer.figure.data[0].x) == 3
    assert explorer.summary["spearman"].iloc[0] == pytest.approx(0.5)

    explorer.set_filter(genre="all", score_range=(1.5, 4.5))
    assert explorer.filtered["gold"].tolist() == [2.0, 3.0, 4.0]
    explorer.score_range.value = (4.5, 5.0)  # one pair: no correlation
    assert np.isnan(explorer.summary["spearman"].iloc[0])
    with pytest.raises(ValueError, match="unknown genre"):
        explorer.set_filter(genre="poetry")


def test_sts_explorer_refuses_a_score_range_without_gold_scores():
    s1, s2, gold, genres = sts_set()
    explorer = STSExplorer({"m": [0.1, 0.3, 0.2, 0.5, 0.4, 0.9]}, s1, s2, gold, genres=genres)
    # The slider would clamp (6, 7) to (5, 5) and show the pair scored 5 instead of none.
    with pytest.raises(ValueError, match=r"holds no gold score: the gold scores lie in \[0, 5\]"):
        explorer.set_filter(genre="news", score_range=(6.0, 7.0))
    for bad, why in [
        ((3.0, 1.0), "low <= high"),
        ((float("nan"), 2.0), "low <= high"),
        ((1.0,), "two numbers"),
        (("low", 2.0), "two numbers"),
    ]:
        with pytest.raises(ValueError, match=why):
            explorer.set_filter(score_range=bad)
    assert explorer.filtered["gold"].tolist() == gold and explorer.genre.value == "all"  # nothing changed

    # Reaching past the gold scores: the same pairs pass, and the slider shows the range cut to them.
    explorer.set_filter(score_range=(-1.0, 2.5))
    assert explorer.filtered["gold"].tolist() == [0.0, 1.0, 2.0] and explorer.score_range.value == (0.0, 2.5)
    explorer.set_filter(score_range=(5.0, 9.0))
    assert explorer.filtered["gold"].tolist() == [5.0]


def test_sts_explorer_says_which_model_returned_no_rows():
    s1, s2, gold, _ = sts_set()
    with pytest.raises(
        ValueError,
        match=r"models\['broken'\]: NoRowsEncoder\.encode returned an array of shape \(0, 3\) "
        r"for 12 sentences",
    ):
        STSExplorer({"fine": [0.1, 0.3, 0.2, 0.5, 0.4, 0.9], "broken": NoRowsEncoder()}, s1, s2, gold)


def test_sts_explorer_reports_exactly_what_the_evaluator_computes(tiny_encoder):
    # Cosines 0.5 and 0.5 + 1e-9 are one number in float32 but two in the model's float64: the view must not
    # tie them where the evaluator (and so a training run) ranks them apart.
    angle = {"b": np.arccos(0.5), "c": np.arccos(0.5 + 1e-9), "d": np.arccos(0.9), "e": 0.0}
    vectors = {"a": [1.0, 0.0]} | {t: [np.cos(x), np.sin(x)] for t, x in angle.items()}
    s1, s2, gold = ["a"] * 4, ["b", "c", "d", "e"], [1.0, 2.0, 3.0, 4.0]
    for model, sentences1, sentences2, scores in (
        (LookupEncoder(vectors), s1, s2, gold),
        (
            tiny_encoder,
            [e.texts[0] for e in scored_pairs()],
            [e.texts[1] for e in scored_pairs()],
            [e.label for e in scored_pairs()],
        ),
    ):
        evaluator = EmbeddingSimilarityEvaluator(sentences1, sentences2, scores, name="sts")
        metrics = evaluator(model)
        summary = STSExplorer({"m": model}, sentences1, sentences2, scores).summary.iloc[0]
        assert (summary["pearson"], summary["spearman"]) == (
            metrics["sts_pearson_cosine"],
            metrics["sts_spearman_cosine"],
        )
    assert np.isfinite(metrics["sts_spearman_cosine"])  # the tiny model's numbers are defined, not NaN == NaN
    exact = STSExplorer({"m": LookupEncoder(vectors)}, s1, s2, gold)
    assert exact.summary["spearman"].iloc[0] == 1.0 and exact.results["pred_m"].is_monotonic_increasing


def test_sts_explorer_from_examples_with_a_real_encoder(tiny_encoder):
    examples = scored_pairs()
    explorer = STSExplorer.from_examples({"tiny": tiny_encoder}, examples)
    emb = tiny_encoder.encode([e.texts[0] for e in examples] + [e.texts[1] for e in examples])
    a, b = emb[: len(examples)], emb[len(examples) :]
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert explorer.results["pred_tiny"].to_numpy() == pytest.approx(cosine, abs=1e-5)
    assert set(explorer.results["genre"]) == {"all"}
    with pytest.raises(ValueError, match="scored pair"):
        STSExplorer.from_examples({"tiny": tiny_encoder}, [Example(["only one"], 1.0)])
    with pytest.raises(ValueError, match="same length"):
        STSExplorer({"m": [0.1, 0.2]}, ["a", "b"], ["c"], [0.0, 1.0])
    with pytest.raises(ValueError, match="2 predicted scores"):
        STSExplorer({"m": [0.1]}, ["a", "b"], ["c", "d"], [0.0, 1.0])


# --------------------------------------------------------------------------- ClusterExplorer
TOPICS = {"fruit": "apple banana cherry", "space": "rocket planet orbit", "music": "guitar piano drum"}


def blobs(per_topic: int = 20, dim: int = 8, seed: int = 0):
    """Three well separated groups of embeddings with texts that name their topic."""
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[: len(TOPICS)] * 5
    emb, texts, labels = [], [], []
    for centre, (topic, words) in zip(centres, TOPICS.items()):
        emb.append(centre + rng.normal(scale=0.3, size=(per_topic, dim)))
        texts += [f"{words} item{i}" for i in range(per_topic)]
        labels += [topic] * per_topic
    return np.concatenate(emb), texts, labels


def test_cluster_explorer_kmeans_keywords_scores_and_slider():
    emb, texts, labels = blobs()
    explorer = ClusterExplorer(emb, texts, labels=labels, k=3, projection="pca")
    assert explorer.labels.shape == (60,) and len(set(explorer.labels)) == 3
    assert explorer.scores["nmi"] == pytest.approx(1.0) and explorer.scores["ari"] == pytest.approx(1.0)
    assert explorer.silhouette > 0.8
    assert sorted(sorted(words) for words in explorer.keywords.values()) == sorted(
        sorted(words.split()) for words in TOPICS.values()
    )
    assert explorer.coords.shape == (60, 2) and not explorer.sampled
    assert len(explorer.figure.data) == 3 and sum(len(t.x) for t in explorer.figure.data) == 60
    assert {t.name.split(": ")[1] for t in explorer.figure.data} == {
        ", ".join(sorted(w.split())) for w in TOPICS.values()
    }
    assert len(explorer.figure.layout.annotations) == 3
    assert "NMI 1.000" in explorer.info.value and "wb-cluster-plot" in explorer.figure._dom_classes

    explorer.k_slider.value = 6
    assert len(set(explorer.labels)) == 6 and len(explorer.figure.data) == 6
    assert explorer.scores["nmi"] < 1.0
    explorer.threshold_slider.value = 0.5  # belongs to community detection: no effect on k-means
    assert len(set(explorer.labels)) == 6


def test_cluster_explorer_community_detection_leaves_outliers_unclustered():
    emb, texts, _ = blobs()
    emb = np.concatenate([emb, np.eye(8)[7:8] * 5])  # one point far from every group
    texts = texts + ["lonely outlier"]
    explorer = ClusterExplorer(emb, texts, method="community", threshold=0.9, min_community_size=5, projection="pca")
    assert explorer.k_slider.disabled and not explorer.threshold_slider.disabled
    assert sorted(np.bincount(explorer.labels[explorer.labels >= 0])) == [20, 20, 20]
    assert explorer.labels[-1] == -1 and explorer.scores["unclustered"] == pytest.approx(1 / 61)
    assert -1 not in explorer.keywords and explorer.figure.data[-1].name == "unclustered"

    explorer.threshold_slider.value = 0.99  # stricter: groups split up and more points stay out
    assert explorer.scores["unclustered"] > 0.2 and explorer.scores["clusters"] > 3
    assert min(np.bincount(explorer.labels[explorer.labels >= 0])) >= 5
    explorer.method.value = "kmeans"
    assert len(set(explorer.labels)) == 8

    nothing = ClusterExplorer(emb, texts, method="community", threshold=0.9, min_community_size=30, projection="pca")
    assert (nothing.labels == -1).all() and nothing.silhouette is None and nothing.keywords == {}
    assert [t.name for t in nothing.figure.data] == ["unclustered"] and len(nothing.figure.layout.annotations) == 0


def test_cluster_explorer_selection_from_code_and_from_the_figure():
    emb, texts, labels = blobs()
    explorer = ClusterExplorer(emb, texts, labels=labels, k=3, projection="pca")
    picked = explorer.select([5, 25, 45])
    assert picked["index"].tolist() == [5, 25, 45] and picked["class"].tolist() == ["fruit", "space", "music"]
    assert picked["text"].iloc[1] == texts[25] and {"x", "y", "cluster", "name"} <= set(picked.columns)
    assert sum(len(t.selectedpoints) for t in explorer.figure.data) == 3

    # What the browser sends after a lasso around two points of the first trace.
    first = explorer._trace_members[0]
    explorer.figure._js2py_pointsCallback = {
        "event_type": "plotly_selected",
        "points": {"trace_indexes": [0, 0], "point_indexes": [0, 1], "xs": [0.0, 0.0], "ys": [0.0, 0.0]},
        "selector": {"type": "lasso", "selector_state": {"xs": [0, 1, 1], "ys": [0, 1, 0]}},
    }
    assert explorer.selection["index"].tolist() == sorted(first[:2].tolist())
    assert "2 selected" in explorer.selection_table.value
    explorer.figure._js2py_pointsCallback = {
        "event_type": "plotly_deselect",
        "points": {"trace_indexes": [], "point_indexes": [], "xs": [], "ys": []},
    }
    assert explorer.selection.empty


def test_cluster_explorer_samples_above_the_cap_and_switches_to_3d(tiny_encoder):
    emb, texts, labels = blobs(per_topic=40)
    explorer = ClusterExplorer(emb, texts, labels=labels, k=3, max_points=50, seed=1, projection="pca")
    assert explorer.sampled and len(explorer.indices) == 50 and "random sample (seed 1) of 120" in explorer.info.value
    again = ClusterExplorer(emb, texts, k=3, max_points=50, seed=1, projection="pca")
    assert again.indices.tolist() == explorer.indices.tolist()
    hidden = sorted(set(range(120)) - set(explorer.indices.tolist()))[0]
    with pytest.raises(ValueError, match="not on the map"):
        explorer.select([hidden])

    explorer.components.value = 3
    assert explorer.coords.shape == (50, 3) and explorer.figure.data[0].type == "scatter3d"
    assert len(explorer.figure.layout.annotations) == 0

    model_explorer = ClusterExplorer(tiny_encoder, [t for t, _ in SIMILAR] * 2, k=2, projection="pca")
    assert model_explorer.embeddings.shape == (8, 32)


def test_cluster_explorer_projection_uses_umap_or_says_it_fell_back(monkeypatch):
    emb, texts, _ = blobs(per_topic=5)
    calls = {}

    class FakeUMAP:
        def __init__(self, **kwargs):
            calls.update(kwargs)

        def fit_transform(self, points):
            return points[:, : calls["n_components"]] * 2

    monkeypatch.setitem(sys.modules, "umap", types.SimpleNamespace(UMAP=FakeUMAP))
    explorer = ClusterExplorer(emb, texts, k=3, n_components=3)
    assert calls["n_components"] == 3 and calls["metric"] == "cosine" and calls["random_state"] == 0
    assert calls["n_neighbors"] == 14 and explorer.coords.shape == (15, 3) and explorer.projection_note == ""

    monkeypatch.setitem(sys.modules, "umap", None)  # an import of umap now fails
    fallback = ClusterExplorer(emb, texts, k=3)
    assert "PCA" in fallback.projection_note and "PCA" in fallback.info.value and fallback.coords.shape == (15, 2)


def test_cluster_explorer_umap_maps_its_minimum_of_three_points():
    # The real umap-learn: its spectral start fails on fewer than n_components + 2 points.
    emb, texts, _ = blobs(per_topic=1)
    for points, n_components in ((3, 2), (3, 3), (4, 3)):
        more = np.concatenate([emb, np.eye(8)[5:6]])[:points]
        explorer = ClusterExplorer(more, (texts + ["one more"])[:points], k=2, n_components=n_components)
        assert explorer.projection_note == ""  # UMAP drew it, not a PCA fallback
        assert explorer.coords.shape == (points, n_components) and np.isfinite(explorer.coords).all()
        assert sum(len(trace.x) for trace in explorer.figure.data) == points


def test_cluster_explorer_says_when_the_model_returns_no_rows():
    with pytest.raises(ValueError, match=r"embeddings_or_model\.encode returned an array of shape \(0, 3\)"):
        ClusterExplorer(NoRowsEncoder(), ["a", "b", "c"], k=2, projection="pca")


def test_cluster_explorer_rejects_bad_input():
    emb, texts, _ = blobs(per_topic=2)
    with pytest.raises(ValueError, match="unknown method"):
        ClusterExplorer(emb, texts, method="dbscan")
    with pytest.raises(ValueError, match="one row per text"):
        ClusterExplorer(emb[:3], texts)
    with pytest.raises(ValueError, match="one true class per text"):
        ClusterExplorer(emb, texts, labels=[1, 2])


# --------------------------------------------------------------------------- ModelPicker
def test_model_picker_loads_a_folder_lazily_and_reports_changes(tiny_encoder, tmp_path):
    folder = tmp_path / "tiny"
    tiny_encoder.save(folder)
    picker = ModelPicker(default="all-MiniLM-L6-v2")
    assert "all-MiniLM-L6-v2" in picker.dropdown.options and picker.source == "all-MiniLM-L6-v2"
    assert "multilingual-e5-small" in picker.dropdown.options  # the dropdown lists the whole zoo
    seen = []
    picker.on_change(seen.append)

    picker.folder.value = str(folder)
    assert seen == [str(folder)] and "loads when first used" in picker.status.value
    model = picker.model
    assert model.encode("a cat").shape == (32,) and picker.model is model
    assert "32-d embeddings, " in picker.status.value and "prompts" not in picker.status.value

    tiny_encoder.prompts = {"query": "query: ", "passage": "passage: "}  # as e5's folder saves them
    tiny_encoder.save(tmp_path / "with-prompts")
    picker.folder.value = str(tmp_path / "with-prompts")
    picker.model
    assert "32-d embeddings, prompts passage, query (prompt_name=, encode_query), " in picker.status.value

    picker.folder.value = str(tmp_path / "missing")
    assert "no folder" in picker.status.value
    with pytest.raises(FileNotFoundError, match="does not exist"):
        picker.model
    picker.load_button.click()
    assert "cannot load" in picker.status.value
    assert seen[-1] == str(tmp_path / "missing")

    from_folder = ModelPicker(default=str(folder))
    assert from_folder.source == str(folder) and from_folder.model.encode("a dog").shape == (32,)
    with pytest.raises(ValueError, match="neither one of"):
        ModelPicker(default="no-such-model")


def test_model_picker_load_button_shows_any_failure_in_its_status(tiny_encoder, tmp_path):
    tiny_encoder.save(tmp_path / "good")
    entries = json.loads((tmp_path / "good" / "modules.json").read_text())
    weights = sorted((tmp_path / "good").rglob("model.safetensors"))[0]
    broken = {
        # A truncated download: safetensors raises its own error type.
        "truncated": lambda folder: (folder / weights.relative_to(tmp_path / "good")).write_bytes(
            weights.read_bytes()[:64]
        ),
        # An entry without "path": a bare KeyError.
        "no-path": lambda folder: (folder / "modules.json").write_text(
            json.dumps([{k: v for k, v in entry.items() if k != "path"} for entry in entries])
        ),
    }
    for name, damage in broken.items():
        folder = tmp_path / name
        shutil.copytree(tmp_path / "good", folder)
        damage(folder)
        picker = ModelPicker(default=str(folder))
        picker.load_button.click()  # a click has nobody to raise to: the status line says it ...
        assert picker.status.value.startswith(f"cannot load {folder}: "), (name, picker.status.value)
        picker.status.value = ""
        with pytest.raises(Exception) as raised:
            picker.model  # ... code that asks for the model gets the error, and the status line says it too
        assert picker.status.value.startswith(f"cannot load {folder}: {type(raised.value).__name__}: ")


# --------------------------------------------------------------------------- RunsTable


def grid_table() -> pd.DataFrame:
    """The table of a 2x2 grid (lr x epochs) run by workbench.runs, one run failed, as run_grid returns it."""
    rows = []
    for i, (lr, epochs) in enumerate([(2e-5, 1), (2e-5, 2), (5e-5, 1), (5e-5, 2)]):
        row = {"run": f"run-00{i}", "status": "ok", "error": None, "notebook": f"/runs/run-00{i}/notebook.ipynb"}
        row["parameters"] = {"lr": lr, "epochs": epochs}
        if i == 3:
            row.update(status="failed", error="RuntimeError: loss is nan")
        else:
            score = 0.80 + 1000 * lr + 0.01 * epochs
            row["results"] = {"spearman": score, "steps": 10 * epochs, "curve": [0.1, score], "trained": True}
            row["reproducibility"] = {"seed": 42}
        rows.append(row)
    return runs_table(rows)


def test_runs_table_plots_a_metric_against_a_parameter_one_line_per_value_of_another():
    view = RunsTable(grid_table())
    # Numbers only: a list (a curve) or a bool is no metric; the seed of the record is no result.
    assert view.parameters == ["lr", "epochs"] and view.metrics == ["spearman", "steps"]
    assert (view.metric.value, view.parameter.value, view.by.value) == ("spearman", "lr", "epochs")
    assert [(t.name, list(t.x), list(t.y)) for t in view.figure.data] == [
        ("epochs = 1", [2e-5, 5e-5], pytest.approx([0.83, 0.86])),
        ("epochs = 2", [2e-5], pytest.approx([0.84])),  # the failed run is left out of the plot
    ]
    assert view.status.value == "4 runs, 1 failed: run-003 (RuntimeError: loss is nan)"
    assert "RuntimeError: loss is nan" in view.table_html.value and "<th>spearman</th>" in view.table_html.value
    view.show(metric="steps", parameter="epochs", by="(none)")
    assert [(t.name, list(t.x), list(t.y)) for t in view.figure.data] == [("steps", [1, 1, 2], [10, 10, 20])]
    assert view.figure.layout.xaxis.title.text == "epochs" and view.figure.layout.yaxis.title.text == "steps"
    assert view.figure.layout.showlegend is False
    view.by.value = "lr"  # the dropdown does what show() does
    assert [t.name for t in view.figure.data] == ["lr = 2e-05", "lr = 5e-05"]
    assert list(view.points["run"]) == ["run-000", "run-001", "run-002"]


def test_runs_table_reads_a_runs_folder_and_refuses_a_table_with_nothing_to_plot(tmp_path):
    write_json(tmp_path / MARKER, {"made_by": "workbench.runs"})
    for i, lr in enumerate([1e-5, 3e-5]):
        row = {"run": f"run-00{i}", "status": "ok", "parameters": {"lr": lr}, "results": {"loss": 1 - 10_000 * lr}}
        write_json(tmp_path / f"run-00{i}" / "run.json", row)
    view = RunsTable(tmp_path)
    assert [(list(t.x), list(t.y)) for t in view.figure.data] == [([1e-5, 3e-5], pytest.approx([0.9, 0.7]))]
    with pytest.raises(ValueError, match=r"nothing to plot; parameters \['lr'\], numeric results \[\]"):
        RunsTable(runs_table([{"run": "run-000", "status": "failed", "error": "x", "parameters": {"lr": 1e-5}}]))
    with pytest.raises(ValueError, match=r"the table has no \['status'\] column"):
        RunsTable(pd.DataFrame({"run": ["a"]}))


# --------------------------------------------------------------------------- ReproducibilityCard


def test_reproducibility_card_shows_the_record_of_a_results_file_closed(tmp_path):
    data = tmp_path / "pairs.csv"
    data.write_text("a,b\n")
    write_results(tmp_path / "results.json", {"score": 1.0}, seed=42, data_files=[data])
    card = ReproducibilityCard(tmp_path / "results.json")
    record = json.loads((tmp_path / "results.json").read_text())["reproducibility"]
    assert (
        card.record == record and "seed 42" in card.summary and f"torch {record['versions']['torch']}" in card.summary
    )
    assert card.html.startswith('<details class="wb-reproducibility-card"') and "<details open" not in card.html
    assert str(data) in card.html and record["data_files"][0]["sha256"] in card.html
    # Where widgets are not rendered, the same card is plain HTML.
    bundle = card._repr_mimebundle_()
    assert bundle["text/html"] == card.html and bundle[WIDGET_MIME]["model_id"] == card.widget.model_id
    assert ReproducibilityCard(record).html == ReproducibilityCard({"score": 1, "reproducibility": record}).html
    with pytest.raises(ValueError, match="holds no reproducibility record; write results with"):
        ReproducibilityCard({"score": 1.0})
