"""The trainer: learning, evaluation and best model, interruption and exact resume, stops, multi-task, streams."""

from __future__ import annotations

import itertools
import math
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from workbench import SentenceEncoder
from workbench.data.records import Example
from workbench.hooks import Callback
from workbench.losses import CosineSimilarityLoss, MatryoshkaLoss, MultipleNegativesRankingLoss, SoftmaxLoss
from workbench.modules import Pooling, Transformer
from workbench.training import CheckpointSaver, EarlyStopping, NaNGuard, StopAtStep, Trainer, fit
from workbench.training.checkpoint import list_checkpoints
from workbench.training.trainer import lr_factor, parameter_groups

from recorder import Recorder
from toy_data import SIMILAR, scored_pairs, toy_sts_evaluator


def sts_objective(model: SentenceEncoder, data=None) -> list:
    """One CosineSimilarityLoss objective of ``model`` on ``data`` (default: ``scored_pairs()``)."""
    return [(scored_pairs() if data is None else data, CosineSimilarityLoss(model))]


def fit_until_interrupted(model: SentenceEncoder, checkpoint_path: Path, data=None, *, step: int, **settings) -> None:
    """``fit`` of ``sts_objective(model, data)`` (seed 0) interrupted by Ctrl-C at the end of step ``step``."""
    fit(
        model,
        sts_objective(model, data),
        seed=0,
        checkpoint_path=checkpoint_path,
        callbacks=[At(step, interrupt)],
        **settings,
    )


def resume(model: SentenceEncoder, checkpoint_path: Path, data=None, **settings) -> pd.DataFrame:
    """``fit`` of ``sts_objective(model, data)`` from the latest checkpoint in ``checkpoint_path``."""
    return fit(
        model, sts_objective(model, data), checkpoint_path=checkpoint_path, resume_from_checkpoint="latest", **settings
    )


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture()
def new_encoder(tiny_bert_dir):
    """A factory of identical fresh encoders (same weights, read from the same folder)."""

    def make() -> SentenceEncoder:
        transformer = Transformer(tiny_bert_dir, max_seq_length=16)
        return SentenceEncoder(modules=[transformer, Pooling(32)], device="cpu")

    return make


class At(Callback):
    """Calls ``action(trainer)`` at the end of step ``step``."""

    def __init__(self, step: int, action) -> None:
        self.step, self.action = step, action

    def on_step_end(self, event) -> None:
        if event.step == self.step:
            self.action(event.trainer)


def interrupt(trainer) -> None:
    raise KeyboardInterrupt


# ---------------------------------------------------------------------------- learning, evaluation, best model
def test_loss_goes_down_and_best_model_is_saved(tiny_encoder, tmp_path):
    evaluator = toy_sts_evaluator()
    out = tmp_path / "out"
    trainer = Trainer(
        tiny_encoder,
        sts_objective(tiny_encoder, scored_pairs(4)),
        evaluator,
        epochs=4,
        batch_size=8,
        lr=3e-3,
        seed=0,
        evaluation_steps=3,
        output_path=out,
    )
    history = trainer.fit()

    assert isinstance(history, pd.DataFrame) and list(history["step"]) == list(range(1, 17))
    by_epoch = history.groupby("epoch")["loss"].mean()
    assert by_epoch.iloc[-1] < 0.6 * by_epoch.iloc[0]
    # Every 3 steps plus each epoch's end (steps 4, 8, 12, 16), evaluated once when both fall together.
    evaluated = history.dropna(subset=[evaluator.primary_metric])["step"].tolist()
    assert evaluated == [3, 4, 6, 8, 9, 12, 15, 16]
    assert trainer.best_metric == history[evaluator.primary_metric].max()
    saved = SentenceEncoder(out, device="cpu")
    assert evaluator(saved)[evaluator.primary_metric] == pytest.approx(trainer.best_metric, abs=1e-6)
    # Saving the best model kept the history and the evaluator's results beside it.
    assert len(pd.read_csv(out / "history.csv")) == 16
    assert len((out / "history.jsonl").read_text().splitlines()) == 16
    assert (out / "eval" / evaluator.csv_file).is_file()
    assert trainer.global_step == 16 and not list_checkpoints(out / "checkpoints")


def test_without_evaluator_the_final_model_is_saved(new_encoder, tmp_path):
    model = new_encoder()
    fit(model, sts_objective(model), batch_size=4, seed=0, output_path=tmp_path)
    probe = ["a man eats bread"]
    np.testing.assert_allclose(SentenceEncoder(tmp_path, device="cpu").encode(probe), model.encode(probe), atol=1e-6)


def test_events_arrive_in_order_with_the_trainer(tiny_encoder, tmp_path):
    recorder = Recorder()
    trainer = Trainer(
        tiny_encoder,
        sts_objective(tiny_encoder),
        toy_sts_evaluator(),
        batch_size=4,
        seed=0,
        checkpoint_path=tmp_path,
        checkpoint_steps=2,
        callbacks=[recorder],
    )
    trainer.fit()
    assert recorder.names() == [
        "train_begin",
        "progress_begin",
        "epoch_begin",
        "step_end",
        "progress_update",
        "evaluation",
        "step_end",
        "checkpoint",
        "progress_update",
        "epoch_end",
        "progress_end",
        "train_end",
    ]
    for name, fields in recorder.events:
        if name.startswith("progress_"):  # the progress protocol shared with encode and downloads
            assert fields["task"] == "train" and "trainer" not in fields
        else:
            assert fields["trainer"] is trainer, name
    step = dict(recorder.events[3][1])
    assert step["step"] == 1 and step["total_steps"] == 2 and set(step["losses"]) == {"CosineSimilarityLoss"}
    assert step["lr"] > 0 and step["samples_per_s"] > 0 and math.isfinite(step["grad_norm"])
    evaluation = recorder.events[5][1]
    assert evaluation["is_best"] and evaluation["primary"] == evaluation["metrics"][evaluation["primary_metric"]]
    assert recorder.events[7][1]["path"] == tmp_path / "checkpoint-2"
    end = recorder.events[-1][1]
    assert not end["stopped_early"] and not end["interrupted"] and len(end["history"]) == 2


# ---------------------------------------------------------------------------- interruption and resume
class InterruptedSoftmax(SoftmaxLoss):
    """SoftmaxLoss whose ``calls``-th forward pass is interrupted (Ctrl-C in the middle of a step)."""

    calls = 0

    def compute(self, embeddings, labels):
        InterruptedSoftmax.calls -= 1
        if InterruptedSoftmax.calls == 0:
            raise KeyboardInterrupt
        return super().compute(embeddings, labels)


def two_objectives(model, softmax=SoftmaxLoss) -> dict:
    torch.manual_seed(0)  # the classifier of SoftmaxLoss starts the same in every run
    nli = [Example([e.texts[0], e.texts[1]], int(e.label)) for e in scored_pairs(2)]
    return {"sts": (scored_pairs(3), CosineSimilarityLoss(model)), "nli": (nli, softmax(model, num_labels=2))}


@pytest.mark.parametrize("where", ["after step 6", "inside step 7"])
def test_interrupted_run_resumes_to_the_same_losses(new_encoder, tmp_path, where):
    options = dict(epochs=3, batch_size=4, lr=5e-4, seed=7, warmup_steps=2, checkpoint_steps=4)
    reference_model = new_encoder()
    reference = fit(reference_model, two_objectives(reference_model), checkpoint_path=tmp_path / "ref", **options)
    n = len(reference)
    assert n == 3 * 4  # 3 epochs of the smaller objective's 4 batches

    model = new_encoder()
    was_training = model.training
    if where == "after step 6":
        trainer = Trainer(
            model, two_objectives(model), checkpoint_path=tmp_path / "run", callbacks=[At(6, interrupt)], **options
        )
    else:  # the second objective's forward pass of step 7, after the first objective's batch was taken
        InterruptedSoftmax.calls = 7
        trainer = Trainer(model, two_objectives(model, InterruptedSoftmax), checkpoint_path=tmp_path / "run", **options)
    interrupted = trainer.fit()
    assert list(interrupted["step"]) == [1, 2, 3, 4, 5, 6]
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == ["checkpoint-4", "checkpoint-6"]
    assert SentenceEncoder(tmp_path / "run" / "checkpoint-6" / "model", device="cpu").encode("a cat").shape == (32,)
    assert model.training == was_training and model.encode(["a man eats bread"]).shape == (1, 32)

    resumed_model = new_encoder()
    resumed = fit(
        resumed_model,
        two_objectives(resumed_model),
        checkpoint_path=tmp_path / "run",
        resume_from_checkpoint="latest",
        **options,
    )
    assert list(resumed["step"]) == list(range(1, n + 1))
    columns = ["loss_sts", "loss_nli", "lr", "grad_norm"]
    np.testing.assert_allclose(resumed[columns].to_numpy(), reference[columns].to_numpy(), rtol=1e-5, atol=1e-7)
    probe = ["a woman plays the guitar"]
    np.testing.assert_allclose(resumed_model.encode(probe), reference_model.encode(probe), atol=1e-5)

    # The interrupted trainer itself can go on too, in memory.
    continued = trainer.fit()
    np.testing.assert_allclose(continued[columns].to_numpy(), reference[columns].to_numpy(), rtol=1e-5, atol=1e-7)


def test_other_errors_write_a_checkpoint_and_propagate(new_encoder, tmp_path):
    def fail(trainer):
        raise RuntimeError("disk on fire")

    model = new_encoder()
    recorder = Recorder()
    with pytest.raises(RuntimeError, match="disk on fire"):
        fit(model, sts_objective(model), batch_size=2, seed=0, output_path=tmp_path, callbacks=[At(3, fail), recorder])
    assert [p.name for p in list_checkpoints(tmp_path / "checkpoints")] == ["checkpoint-3"]
    names = recorder.names()
    assert names[-4:] == ["exception", "checkpoint", "progress_end", "train_end"]
    assert isinstance(recorder.events[-4][1]["error"], RuntimeError) and recorder.events[-1][1]["interrupted"]
    assert not (tmp_path / "modules.json").exists()  # an unfinished run does not pass for a trained model


def test_request_stop_ends_after_the_current_step_and_fit_continues(new_encoder, tmp_path):
    model = new_encoder()
    recorder = Recorder()
    trainer = Trainer(
        model,
        sts_objective(model),
        batch_size=2,
        seed=0,
        callbacks=[At(3, lambda t: t.request_stop("user pressed Stop")), recorder],
    )
    history = trainer.fit()
    assert trainer.global_step == 3 and len(history) == 3 and trainer.stop_reason == "user pressed Stop"
    assert recorder.events[-1][1]["stopped_early"] and not recorder.events[-1][1]["interrupted"]
    assert trainer.fit()["step"].tolist() == list(range(1, 5))  # fit again: the remaining step


def test_resume_refuses_a_checkpoint_of_other_settings(new_encoder, tmp_path):
    model = new_encoder()
    fit(model, sts_objective(model), batch_size=2, seed=0, checkpoint_path=tmp_path, checkpoint_steps=2)
    other = new_encoder()
    with pytest.raises(ValueError, match=r"batch_size=2 \(this run: 4\)"):
        resume(other, tmp_path, batch_size=4)
    # A new learning rate (kept in the optimiser's saved state) or seed is not silently ignored: refused.
    with pytest.raises(ValueError, match=r"lr=2e-05 \(this run: 0.001\); seed=0 \(this run: 5\)"):
        resume(other, tmp_path, batch_size=2, lr=1e-3, seed=5)
    # Settings that do not change the numbers may differ; no seed means the checkpoint's.
    history = fit(
        other,
        sts_objective(other),
        batch_size=2,
        checkpoint_path=tmp_path,
        num_workers=0,
        evaluation_steps=7,
        resume_from_checkpoint=tmp_path / "checkpoint-2",
    )
    assert history["step"].tolist() == [1, 2, 3, 4]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda data: data + data[:2], r"objective 'CosineSimilarityLoss' had 8 examples \(this run: 10\)"),
        (lambda data: [Example([e.texts[1], e.texts[0]], e.label) for e in data], "has other examples"),
        (lambda data: data[:-1] + [Example(["a cat", "a dog"], 0.5)], "has other examples"),
    ],
)
def test_resume_refuses_changed_data(new_encoder, tmp_path, change, message):
    model = new_encoder()
    fit_until_interrupted(model, tmp_path, step=3, epochs=2, batch_size=2)
    other = new_encoder()
    with pytest.raises(ValueError, match=f"cannot resume from checkpoint .*checkpoint-3.*{message}"):
        resume(other, tmp_path, change(scored_pairs()), epochs=2, batch_size=2)


def test_fit_takes_a_dataloader_as_sentence_transformers_does(new_encoder, tmp_path):
    def run(data, **options):
        model = new_encoder()
        return fit(model, sts_objective(model, data), seed=3, warmup_steps=2, **options)["loss"].to_numpy()

    # shuffle=True: the loader's batch size, shuffled as the trainer shuffles a list
    np.testing.assert_allclose(
        run(DataLoader(scored_pairs(), batch_size=4, shuffle=True)), run(scored_pairs(), batch_size=4), rtol=1e-6
    )

    class Stream:  # re-iterable, read in order
        def __iter__(self):
            return iter(scored_pairs())

    # shuffle=False: read in order, as the loader would
    np.testing.assert_allclose(
        run(DataLoader(scored_pairs(), batch_size=4)), run(Stream(), batch_size=4, steps_per_epoch=2), rtol=1e-6
    )
    # a checkpoint of a loader run resumes only with the same examples, read the same way
    model = new_encoder()
    fit_until_interrupted(model, tmp_path, DataLoader(scored_pairs(), batch_size=2, shuffle=True), step=2)
    other = new_encoder()
    changed = [Example(["a cat", "a dog"], 0.5)] + scored_pairs()[1:]
    with pytest.raises(ValueError, match="has other examples"):
        resume(other, tmp_path, DataLoader(changed, batch_size=2, shuffle=True))
    with pytest.raises(ValueError, match=r"batch_sampler=\['default'\] \(this run: \['in_order'\]\)"):
        resume(other, tmp_path, DataLoader(scored_pairs(), batch_size=2))
    resumed = resume(other, tmp_path, DataLoader(scored_pairs(), batch_size=2, shuffle=True))
    assert resumed["step"].tolist() == [1, 2, 3, 4]


def test_resume_fingerprints_a_re_iterable_stream(new_encoder, tmp_path):
    class Stream:  # re-iterable, without a length
        def __init__(self, examples):
            self.examples = examples

        def __iter__(self):
            return iter(self.examples)

    model = new_encoder()
    fit_until_interrupted(model, tmp_path, Stream(scored_pairs()), step=2, steps_per_epoch=4, batch_size=2)
    other = new_encoder()
    changed = Stream([Example(["a cat", "a dog"], 0.5)] + scored_pairs()[1:])
    with pytest.raises(ValueError, match="has other examples"):
        resume(other, tmp_path, changed, steps_per_epoch=4, batch_size=2)
    resumed = resume(other, tmp_path, Stream(scored_pairs()), steps_per_epoch=4, batch_size=2)
    assert resumed["step"].tolist() == [1, 2, 3, 4]


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda f: (f / "optimizer.pt").write_bytes((f / "optimizer.pt").read_bytes()[:100]),
            r"optimizer\.pt is damaged",
        ),
        (lambda f: (f / "rng.pt").unlink(), "incomplete: rng.pt is missing"),
        (
            lambda f: (f / "trainer_state.json").write_text('{"global_step": 3'),
            r"trainer_state\.json is not valid JSON",
        ),
        (lambda f: (f / "trainer_state.json").write_text("[]"), r"trainer_state\.json is not a trainer state"),
        (
            lambda f: (f / "model" / "modules.json").write_text("{"),
            r"the model of checkpoint .*checkpoint-3 .*cannot be loaded",
        ),
    ],
)
def test_a_damaged_checkpoint_is_named(new_encoder, tmp_path, damage, message):
    model = new_encoder()
    fit_until_interrupted(model, tmp_path, step=3, batch_size=2)
    damage(tmp_path / "checkpoint-3")
    other = new_encoder()
    with pytest.raises(ValueError, match=message) as caught:
        resume(other, tmp_path, batch_size=2)
    assert "checkpoint-3" in str(caught.value)


# ---------------------------------------------------------------------------- stopping anywhere (issue 17)
class AtBegin(Callback):
    """Calls ``action(trainer)`` at the ``train_begin`` of the first fit only."""

    def __init__(self, action) -> None:
        self.action, self.done = action, False

    def on_train_begin(self, event) -> None:
        if not self.done:
            self.done = True
            self.action(event.trainer)


def StopAtBegin() -> AtBegin:
    """Presses Stop before the first step (between train_begin and the loop) of the first fit."""
    return AtBegin(lambda trainer: trainer.request_stop("Stop pressed before the first step"))


@pytest.fixture(autouse=True)
def python_sigint():
    """SIGINT reaches Python as ``KeyboardInterrupt`` in these tests, whatever this process inherited.

    A process started with SIGINT ignored (a background job of a non-interactive shell, some CI runners) keeps it
    ignored: ``signal.raise_signal(SIGINT)`` then did nothing and the interrupted run trained to its end.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def interrupt_while_writing_checkpoints(monkeypatch) -> list[str]:
    """Send SIGINT (Ctrl-C, Kernel → Interrupt) in the middle of every checkpoint write; return the folders hit."""
    from workbench.training import checkpoint

    hit: list[str] = []
    original = checkpoint.write_json

    def write_json(path, obj):
        hit.append(Path(path).parent.name)  # the temporary folder of the checkpoint being written
        signal.raise_signal(signal.SIGINT)
        original(path, obj)

    monkeypatch.setattr(checkpoint, "write_json", write_json)
    return hit


STOPS = {
    # name: (callbacks, steps run, whether the final weights need an evaluation of their own)
    "Stop at step 0": (lambda: [StopAtBegin()], 0, True),
    "Stop before the first evaluation": (lambda: [At(1, lambda t: t.request_stop("Stop"))], 1, True),
    "Stop right after an evaluation": (lambda: [At(3, lambda t: t.request_stop("Stop"))], 3, False),
    "KeyboardInterrupt": (lambda: [At(2, interrupt)], 2, True),
    "KeyboardInterrupt in a train_begin subscriber": (lambda: [AtBegin(interrupt)], 0, True),
    "KeyboardInterrupt during a checkpoint write": (lambda: [], 2, True),
    "second KeyboardInterrupt during its checkpoint write": (lambda: [At(1, interrupt)], 1, True),
}


@pytest.mark.parametrize("where", list(STOPS))
def test_stopping_anywhere_leaves_a_best_model_metrics_and_a_resumable_checkpoint(
    new_encoder, tmp_path, monkeypatch, where
):
    callbacks, steps, final_evaluation = STOPS[where]
    evaluator, out = toy_sts_evaluator(), tmp_path / "out"
    options = dict(
        epochs=2,
        batch_size=2,
        lr=1e-3,
        seed=0,
        evaluation_steps=3,
        output_path=out,
        checkpoint_path=out / "checkpoints",
    )
    hit = interrupt_while_writing_checkpoints(monkeypatch) if "checkpoint write" in where else []
    recorder = Recorder()
    model = new_encoder()
    trainer = Trainer(
        model, sts_objective(model), evaluator, checkpoint_steps=2, callbacks=[*callbacks(), recorder], **options
    )
    history = trainer.fit()  # returns normally, whatever ended the run
    monkeypatch.undo()

    assert trainer.global_step == steps
    assert all(name.startswith(f".checkpoint-{steps}.tmp") for name in hit) and len(hit) == ("checkpoint" in where)
    key = evaluator.primary_metric
    # The history has the evaluator's column, and the weights training ended with were evaluated (once).
    assert key in history and history["step"].iloc[-1] == steps and not math.isnan(history[key].iloc[-1])
    evaluations = [fields for name, fields in recorder.events if name == "evaluation"]
    assert [e["step"] for e in evaluations].count(steps) == 1 and evaluations[-1]["final"] == final_evaluation
    # A loadable best model whose score is the best one seen.
    assert evaluator(SentenceEncoder(out, device="cpu"))[key] == pytest.approx(trainer.best_metric, abs=1e-6)
    # A complete checkpoint of the last step (none at step 0: a rerun starts from the beginning anyway).
    checkpoints = [p.name for p in list_checkpoints(out / "checkpoints")]
    assert checkpoints[-1:] == ([f"checkpoint-{steps}"] if steps else [])
    assert not [p for p in (out / "checkpoints").glob(".*")] if steps else True  # no half-written leftovers
    resumed_model = new_encoder()
    resumed = fit(resumed_model, sts_objective(resumed_model), evaluator, resume_from_checkpoint="latest", **options)
    assert resumed["step"].iloc[-1] == 8 and resumed["step"].tolist()[-8 + steps :] == list(range(steps + 1, 9))


def test_history_has_the_metric_columns_even_without_an_evaluation(new_encoder):
    model = new_encoder()
    evaluator = toy_sts_evaluator()
    trainer = Trainer(model, sts_objective(model), evaluator, batch_size=2, seed=0, callbacks=[StopAtBegin()])
    assert list(trainer.history.columns) == [
        "step",
        "epoch",
        "loss",
        "lr",
        "grad_norm",
        "samples_per_s",
        evaluator.primary_metric,
    ]
    history = trainer.fit()
    assert history["step"].tolist() == [0] and history[evaluator.primary_metric].notna().all()
    # The row of the final evaluation has no step: what reads the step columns still works.
    assert history[["step", "epoch", "loss", "lr"]].iloc[0][["loss", "lr"]].isna().all()
    assert trainer.fit()["step"].tolist() == [0, 1, 2, 3, 4]  # fit again: the whole run


@pytest.mark.parametrize("step", [0, 3, 8])
def test_stop_at_step_ends_training_there_like_the_stop_button(new_encoder, tmp_path, step):
    model, evaluator, out = new_encoder(), toy_sts_evaluator(), tmp_path / "out"
    trainer = Trainer(
        model,
        sts_objective(model),
        evaluator,
        epochs=2,
        batch_size=2,
        seed=0,
        evaluation_steps=5,
        output_path=out,
        callbacks=[StopAtStep(step)],
    )
    history = trainer.fit()
    assert trainer.global_step == step and history["step"].iloc[-1] == step
    # Step 8 is the last one: the run finished, it was not stopped.
    assert trainer.stop_reason == (f"StopAtStep({step}) reached" if step < 8 else None)
    # The weights it ended with were evaluated, a best model saved and (after a step) a checkpoint written.
    assert not math.isnan(history[evaluator.primary_metric].iloc[-1]) and (out / "modules.json").is_file()
    checkpoints = [p.name for p in list_checkpoints(out / "checkpoints")] if (out / "checkpoints").is_dir() else []
    assert checkpoints == ([f"checkpoint-{step}"] if 0 < step < 8 else [])


@pytest.mark.parametrize("step", [-1, 1.5, True, "3"])
def test_stop_at_step_refuses_what_is_not_a_step(step):
    with pytest.raises(ValueError, match=r"step must be an integer >= 0 \(0: stop before the first step\)"):
        StopAtStep(step)


# ---------------------------------------------------------------------------- a run that diverges (issue 10, item 6)
@pytest.mark.parametrize("with_evaluator", [False, True])
@pytest.mark.parametrize("guard", [None, NaNGuard()])
def test_a_diverged_run_never_replaces_a_good_model(new_encoder, tmp_path, caplog, with_evaluator, guard):
    out = tmp_path / "out"
    good = new_encoder()
    fit(good, sts_objective(good), batch_size=4, seed=0, output_path=out)
    probe = ["a man eats bread", "a cat sits on the car"]
    expected = SentenceEncoder(out, device="cpu").encode(probe)

    model = new_encoder()
    trainer = Trainer(
        model,
        sts_objective(model, scored_pairs(2)),
        toy_sts_evaluator() if with_evaluator else None,
        epochs=3,
        batch_size=2,
        lr=1e10,
        seed=0,
        output_path=out,
        callbacks=[guard] if guard else [],
    )
    history = trainer.fit()
    assert trainer.global_step < trainer.total_steps and history["loss"].isna().any()
    assert ("non-finite loss" if guard else "training diverged") in trainer.stop_reason
    assert "lower lr" in trainer.stop_reason or guard
    assert trainer.best_step is None and "are not saved" in caplog.text
    np.testing.assert_array_equal(SentenceEncoder(out, device="cpu").encode(probe), expected)
    assert not list_checkpoints(out / "checkpoints")  # no checkpoint of a diverged state either


def test_non_finite_weights_are_never_the_best_model(new_encoder, tmp_path):
    def constant(model, output_path=None, epoch=-1, steps=-1):
        return {"score": 0.5}  # a (broken) evaluator that scores any weights

    model = new_encoder()

    def poison(trainer):
        with torch.no_grad():
            next(model.parameters()).fill_(math.nan)

    trainer = Trainer(
        model, sts_objective(model), constant, batch_size=2, seed=0, output_path=tmp_path, callbacks=[At(2, poison)]
    )
    trainer.fit()
    assert trainer.stop_reason.startswith("training diverged: the weights are no longer finite after step 3")
    assert trainer.best_step is None and not (tmp_path / "modules.json").exists()


def test_library_progress_bars_stay_out_of_fit(new_encoder, tmp_path, capsys):
    from transformers.utils import logging as hf_logging

    model = new_encoder()
    capsys.readouterr()  # what loading the model printed
    fit(
        model,
        sts_objective(model),
        toy_sts_evaluator(),
        batch_size=2,
        seed=0,
        output_path=tmp_path,
        checkpoint_path=tmp_path / "checkpoints",
        checkpoint_steps=1,
        show_progress_bar=False,
    )
    assert (tmp_path / "modules.json").exists() and list_checkpoints(tmp_path / "checkpoints")
    err = capsys.readouterr().err
    assert "Writing model shards" not in err and "Loading weights" not in err
    assert hf_logging.is_progress_bar_enabled()  # switched back on after fit


# ---------------------------------------------------------------------------- subscribers that stop training
def test_early_stopping_stops_when_the_metric_stalls(new_encoder, tmp_path):
    def constant(model, output_path=None, epoch=-1, steps=-1):
        return {"score": 0.5}

    model = new_encoder()
    trainer = Trainer(
        model,
        sts_objective(model, scored_pairs(2)),
        constant,
        batch_size=2,
        seed=0,
        evaluation_steps=1,
        checkpoint_path=tmp_path,
        checkpoint_steps=100,
        callbacks=[EarlyStopping(patience=2)],
    )
    history = trainer.fit()
    assert trainer.global_step == 3 and trainer.stop_reason.startswith("early stopping")
    assert history["score"].tolist() == [0.5] * 3
    assert not list_checkpoints(tmp_path)  # a finished run is not checkpointed for resuming


class NaNAfter(CosineSimilarityLoss):
    """CosineSimilarityLoss that turns NaN from its ``start``-th call on."""

    def __init__(self, model, start: int) -> None:
        super().__init__(model)
        self.start, self.calls = start, 0

    def compute(self, embeddings, labels):
        self.calls += 1
        value = super().compute(embeddings, labels)
        return value * math.nan if self.calls >= self.start else value


def test_nan_guard_stops_before_a_checkpoint_of_the_bad_step(new_encoder, tmp_path):
    model = new_encoder()
    trainer = Trainer(
        model,
        [(scored_pairs(), NaNAfter(model, start=3))],
        batch_size=2,
        seed=0,
        checkpoint_path=tmp_path,
        checkpoint_steps=1,
        callbacks=[NaNGuard()],
    )
    history = trainer.fit()
    assert trainer.global_step == 3 and math.isnan(history["loss"].iloc[-1])
    assert [p.name for p in list_checkpoints(tmp_path)] == ["checkpoint-1", "checkpoint-2"]
    assert all(torch.isfinite(p).all() for p in model.parameters())  # the NaN step's update was skipped


def test_nan_guard_can_raise(new_encoder, tmp_path):
    model = new_encoder()
    with pytest.raises(FloatingPointError, match="non-finite loss at step 2"):
        fit(
            model,
            [(scored_pairs(), NaNAfter(model, start=2))],
            batch_size=2,
            seed=0,
            checkpoint_path=tmp_path,
            callbacks=[NaNGuard(action="raise")],
        )
    assert not list_checkpoints(tmp_path)


def test_checkpoint_limit_keeps_the_newest(new_encoder, tmp_path):
    model = new_encoder()
    fit(
        model,
        sts_objective(model),
        epochs=2,
        batch_size=2,
        seed=0,
        checkpoint_path=tmp_path,
        checkpoint_steps=2,
        checkpoint_save_total_limit=2,
    )
    assert [p.name for p in list_checkpoints(tmp_path)] == ["checkpoint-6", "checkpoint-8"]


def test_a_callers_checkpoint_saver_replaces_the_default(new_encoder, tmp_path):
    model = new_encoder()
    trainer = Trainer(
        model,
        sts_objective(model),
        batch_size=2,
        seed=0,
        checkpoint_path=tmp_path / "default",
        callbacks=[CheckpointSaver(tmp_path / "mine", 3)],
    )
    trainer.fit()
    assert sum(isinstance(cb, CheckpointSaver) for cb in trainer.hooks) == 1
    assert [p.name for p in list_checkpoints(tmp_path / "mine")] == ["checkpoint-3"]


# ---------------------------------------------------------------------------- several objectives
def chosen_objectives(history: pd.DataFrame) -> list[str]:
    columns = [c for c in history if c.startswith("loss_")]
    return [
        next(c[5:] for c in columns if not math.isnan(row[c])) if row[columns].notna().sum() == 1 else "both"
        for _, row in history.iterrows()
    ]


def test_round_robin_uses_every_objective_each_step(new_encoder):
    model = new_encoder()
    mnrl = [Example(list(pair)) for pair in SIMILAR] * 2
    history = fit(
        model,
        {"sts": (scored_pairs(6), CosineSimilarityLoss(model)), "nli": (mnrl, MultipleNegativesRankingLoss(model))},
        epochs=2,
        batch_size=4,
        seed=0,
        batch_sampler=["default", "no_duplicates"],
    )
    assert len(history) == 2 * 2  # an epoch ends with the smaller objective (2 batches)
    assert history[["loss_sts", "loss_nli"]].notna().all().all()


def test_proportional_draws_one_objective_by_size_reproducibly(new_encoder):
    def run() -> list[str]:
        model = new_encoder()
        objectives = {
            "big": (scored_pairs(6), CosineSimilarityLoss(model)),
            "small": (scored_pairs(2), CosineSimilarityLoss(model)),
        }
        return chosen_objectives(fit(model, objectives, multi_task="proportional", epochs=2, batch_size=8, seed=3))

    first = run()
    assert len(first) == 2 * (6 + 2)  # an epoch is one pass over both
    assert first.count("big") > first.count("small") > 0 and "both" not in first
    assert run() == first


# ---------------------------------------------------------------------------- data sources
def test_streamed_generator_is_read_lazily(new_encoder):
    pulled = itertools.count()

    def stream():
        for i in range(10**7):
            next(pulled)
            yield Example([f"a man {i}", f"the dog {i % 7}"])

    model = new_encoder()
    history = fit(model, [(stream(), MultipleNegativesRankingLoss(model))], steps_per_epoch=20, batch_size=4, seed=0)
    assert len(history) == 20
    assert next(pulled) <= 20 * 4 + 4  # the batches trained on, and not much more


def test_a_generator_cannot_be_read_twice(new_encoder):
    model = new_encoder()
    examples = (Example(pair) for pair in SIMILAR * 2)
    with pytest.raises(ValueError, match="a generator can be read only once"):
        fit(model, [(examples, MultipleNegativesRankingLoss(model))], steps_per_epoch=3, batch_size=4)


def test_workers_tokenise_the_same_batches(new_encoder):
    def losses(num_workers: int, data) -> np.ndarray:
        model = new_encoder()
        history = fit(
            model, sts_objective(model, data), batch_size=4, seed=5, num_workers=num_workers, steps_per_epoch=4
        )
        return history["loss"].to_numpy()

    np.testing.assert_allclose(losses(2, scored_pairs(2)), losses(0, scored_pairs(2)), rtol=1e-6)

    class Stream:  # re-iterable, without a length
        def __iter__(self):
            return iter(scored_pairs(2))

    np.testing.assert_allclose(losses(2, Stream()), losses(0, Stream()), rtol=1e-6)


def test_bfloat16_autocast_trains(new_encoder):
    model = new_encoder()
    history = fit(model, sts_objective(model), batch_size=4, seed=0, precision="bfloat16")
    assert history["loss"].notna().all() and len(history) == 2


# ---------------------------------------------------------------------------- bad input
def test_bad_objectives_are_explained(new_encoder):
    model = new_encoder()
    with pytest.raises(ValueError, match="train_objectives is empty"):
        fit(model, [])
    triplets = [Example(["a", "b", "c"], 1.0)] * 4
    with pytest.raises(
        ValueError,
        match=r"objective 'CosineSimilarityLoss': its examples have 3 text\(s\).*"
        r"CosineSimilarityLoss expects 2 text columns",
    ):
        fit(model, sts_objective(model, triplets))
    with pytest.raises(ValueError, match=r"objective 'CosineSimilarityLoss': its examples have 3 text\(s\)"):
        fit(model, sts_objective(model, iter(triplets)), steps_per_epoch=1)
    with pytest.raises(ValueError, match="needs integer class ids; map class names"):
        fit(model, [([Example(["a", "b"], "entailment")], SoftmaxLoss(model, num_labels=3))])
    with pytest.raises(ValueError, match="was built for another model"):
        fit(model, [(scored_pairs(), CosineSimilarityLoss(new_encoder()))])
    with pytest.raises(ValueError, match="unknown length; give steps_per_epoch"):
        fit(model, sts_objective(model, iter(scored_pairs())))
    with pytest.raises(ValueError, match="the DataLoader has drop_last=True; the trainer keeps the last"):
        fit(model, sts_objective(model, DataLoader(scored_pairs(), batch_size=4, drop_last=True)))
    with pytest.raises(
        ValueError,
        match=r"fit\(batch_size=2\) but the DataLoaders of train_objectives have batch "
        r"sizes \[4\]",
    ):
        fit(model, sts_objective(model, DataLoader(scored_pairs(), batch_size=4)), batch_size=2)
    weighted = torch.utils.data.WeightedRandomSampler([1.0] * 8, 8)
    with pytest.raises(ValueError, match="samples with WeightedRandomSampler"):
        fit(model, sts_objective(model, DataLoader(scored_pairs(), batch_size=4, sampler=weighted)))
    with pytest.raises(ValueError, match="needs a list or Dataset"):
        fit(model, sts_objective(model, iter(scored_pairs())), steps_per_epoch=1, batch_sampler="no_duplicates")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"scheduler": "linear"}, "unknown scheduler 'linear'; valid: constant"),
        ({"precision": "float16"}, "needs a CUDA device"),
        ({"multi_task": "random"}, "unknown multi_task"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"warmup_steps": 5, "warmup_ratio": 0.1}, "not both"),
        ({"resume_from_checkpoint": "latest"}, "needs checkpoint_path or output_path"),
        ({"lr": 0}, r"lr must be a finite number > 0 .*got 0"),
        ({"lr": math.nan}, r"lr must be a finite number > 0 .*got nan"),
        ({"weight_decay": -0.1}, r"weight_decay must be a finite number >= 0 .*got -0.1"),
        ({"max_grad_norm": math.inf}, r"max_grad_norm must be a finite number > 0"),
    ],
)
def test_bad_settings_are_explained(tiny_encoder, options, message):
    with pytest.raises(ValueError, match=message):
        Trainer(tiny_encoder, sts_objective(tiny_encoder), **options)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"lr": "1e-3"}, r"lr must be a finite number > 0 \(an int or a float, e.g. 2e-5\), got '1e-3' \(str\)"),
        ({"batch_size": True}, r"batch_size must be an integer >= 1, got True \(bool\)"),
        ({"epochs": 2.0}, r"epochs must be an integer >= 1, got 2.0 \(float\)"),
        ({"weight_decay": None}, r"weight_decay must be a finite number >= 0 .*got None"),
    ],
)
def test_settings_of_the_wrong_type_are_refused(tiny_encoder, options, message):
    with pytest.raises(TypeError, match=message):
        Trainer(tiny_encoder, sts_objective(tiny_encoder), **options)


def test_in_batch_negatives_need_two_examples_per_batch(new_encoder):
    model = new_encoder()
    two_columns = [Example(list(pair)) for pair in SIMILAR]
    with pytest.raises(
        ValueError,
        match=r"MultipleNegativesRankingLoss.*batches of 1 example\(s\).*the loss is "
        r"always 0 and the model learns nothing; use batch_size >= 2",
    ):
        fit(model, [(two_columns, MultipleNegativesRankingLoss(model))], batch_size=1)
    with pytest.raises(ValueError, match="batches of 1 example"):  # one pair of data: every batch is that pair
        fit(model, [(two_columns[:1], MultipleNegativesRankingLoss(model))], batch_size=16)
    with pytest.raises(ValueError, match="batches of 1 example"):  # streamed: checked on the first batch
        fit(model, [(iter(two_columns), MultipleNegativesRankingLoss(model))], batch_size=1, steps_per_epoch=2)
    with pytest.raises(ValueError, match="batches of 1 example"):  # inside a wrapper
        fit(model, [(two_columns, MatryoshkaLoss(MultipleNegativesRankingLoss(model), [16, 8]))], batch_size=1)
    # A hard negative gives a single pair something to rank against.
    triplets = [Example([a, b, SIMILAR[(i + 1) % 4][1]]) for i, (a, b) in enumerate(SIMILAR)]
    history = fit(model, [(triplets, MultipleNegativesRankingLoss(model))], batch_size=1, seed=0)
    assert len(history) == 4 and (history["loss"] > 0).all()


# ---------------------------------------------------------------------------- optimiser pieces
def test_learning_rate_schedules():
    assert [lr_factor("constant", 2, 6)(s) for s in (0, 3)] == [1.0, 1.0]
    assert [lr_factor("warmup_constant", 2, 6)(s) for s in (0, 1, 2, 5)] == [0.0, 0.5, 1.0, 1.0]
    assert [lr_factor("warmup_linear", 2, 6)(s) for s in (1, 2, 4, 6)] == [0.5, 1.0, 0.5, 0.0]
    cosine = lr_factor("warmup_cosine", 2, 6)
    assert cosine(2) == 1.0 and cosine(4) == pytest.approx(0.5) and cosine(6) == pytest.approx(0.0)


def test_no_weight_decay_on_biases_and_layer_norms(tiny_encoder):
    groups = parameter_groups(tiny_encoder.named_parameters(), 0.01)
    decayed = {id(p) for p in groups[0]["params"]}
    for name, param in tiny_encoder.named_parameters():
        expected = not (name.endswith("bias") or "LayerNorm" in name)
        assert (id(param) in decayed) == expected, name
    assert groups[1]["weight_decay"] == 0.0
