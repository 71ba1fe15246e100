"""The event contract (EVENTS), the Progress helper, the training settings and the renamed parameters."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

from workbench.data.records import Example
from workbench.evaluation import EmbeddingSimilarityEvaluator
from workbench.hooks import EVENTS, Callback, Hooks, Progress, TqdmProgress, check_event
from workbench.losses import CosineSimilarityLoss
from workbench.training import (
    CheckpointSaver,
    EarlyStopping,
    History,
    NaNGuard,
    StopAtStep,
    Trainer,
    TrainingConfig,
    fit,
)

PAIRS = [
    Example(["a man is eating food", "a man eats bread"], 1.0),
    Example(["a woman plays the guitar", "the cat sits on a car"], 0.0),
] * 4
TRAINING_EVENTS = {"train_begin", "epoch_begin", "step_end", "evaluation", "checkpoint", "epoch_end", "train_end"}

pytestmark = pytest.mark.usefixtures("one_thread")


class Recorder:
    """Every event, in order, with its fields."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []

    def __getattr__(self, attr: str):
        if attr.startswith("on_") and attr[3:] in EVENTS:
            return lambda event: self.events.append((event.name, dict(event.fields)))
        raise AttributeError(attr)

    def names(self) -> list[str]:
        return [name for name, _ in self.events]


@pytest.fixture()
def checked(monkeypatch):
    """Every emit checks its event against EVENTS (as WORKBENCH_CHECK_EVENTS=1 does)."""
    monkeypatch.setattr(Hooks, "check_events", True)


def evaluator() -> EmbeddingSimilarityEvaluator:
    return EmbeddingSimilarityEvaluator(
        [e.texts[0] for e in PAIRS[:2]], [e.texts[1] for e in PAIRS[:2]], [e.label for e in PAIRS[:2]], name="toy"
    )


# ----------------------------------------------------------------------------- Progress


def test_progress_sends_progress_end_when_the_block_raises():
    recorder = Recorder()
    with pytest.raises(RuntimeError, match="boom"):
        with Progress(Hooks([recorder]), "job", total=3, unit="rows", desc="Job") as progress:
            progress.update(1, loss=0.5)
            raise RuntimeError("boom")
    assert recorder.events == [
        ("progress_begin", {"task": "job", "total": 3, "unit": "rows", "desc": "Job"}),
        ("progress_update", {"task": "job", "n": 1, "loss": 0.5}),
        ("progress_end", {"task": "job"}),
    ]


def test_progress_sends_begin_and_end_once_and_nothing_without_hooks():
    recorder = Recorder()
    progress = Progress(Hooks([recorder]), "job", total=None, unit="B")
    progress.begin().begin()
    progress.end()
    progress.end()
    assert recorder.names() == ["progress_begin", "progress_end"]
    with Progress(None, "job", total=1, unit="rows") as silent:  # no hooks: a no-op, not an error
        silent.update(1)


def test_encoding_sends_progress_end_when_it_fails(tiny_encoder, checked):
    recorder = Recorder()

    class Fail(Callback):
        def on_progress_update(self, event):
            raise RuntimeError("subscriber failed")

    with pytest.raises(RuntimeError, match="subscriber failed"):
        tiny_encoder.encode(["one", "two", "three"], batch_size=2, callbacks=[recorder, Fail()])
    assert recorder.names() == ["progress_begin", "progress_update", "progress_end"]


# ----------------------------------------------------------------------------- EVENTS and Hooks.add


def test_a_misspelt_handler_warns_naming_it_and_the_closest_event():
    class Late(Callback):
        def on_step_ended(self, event):
            pass

    with pytest.warns(UserWarning, match=r"Late\.on_step_ended matches no event.*did you mean 'step_end'"):
        Hooks([Late()])
    hooks = Hooks()
    with pytest.warns(UserWarning, match="on_progres_update"):
        hooks.add(type("Bar", (), {"on_progres_update": lambda self, event: None})())


def test_the_project_subscribers_handle_only_events_of_the_table():
    subscribers = [History(), CheckpointSaver(), EarlyStopping(2), NaNGuard(), StopAtStep(3), TqdmProgress()]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Hooks(subscribers)
    handled = {attr[3:] for cb in subscribers for attr in dir(cb) if attr.startswith("on_")}
    assert handled and handled <= set(EVENTS)


def test_the_widgets_handle_only_events_of_the_table():
    widgets = pytest.importorskip("widgets")
    views = [widgets.TrainingMonitor(), widgets.ProgressBar()]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Hooks(views)
    assert {"train_begin", "step_end", "evaluation", "train_end"} <= {
        attr[3:] for attr in dir(views[0]) if attr.startswith("on_")
    }


def test_check_event_names_what_differs_from_the_table():
    check_event("progress_update", {"task": "t", "n": 1, "loss": 0.1})  # a postfix is allowed
    with pytest.raises(ValueError, match=r"'step_ended' is not in EVENTS.*did you mean 'step_end'"):
        check_event("step_ended", {})
    with pytest.raises(ValueError, match=r"lacks the fields \['path'\]"):
        check_event("checkpoint", {"trainer": None, "step": 1})
    with pytest.raises(ValueError, match=r"fields \['extra'\] that EVENTS does not list"):
        check_event("progress_end", {"task": "t", "extra": 1})
    hooks = Hooks()
    hooks.check_events = True
    with pytest.raises(ValueError, match="lacks the fields"):
        hooks.emit("progress_begin", task="t")


def test_every_event_the_trainer_emits_is_in_the_table_with_its_fields(tiny_encoder, tmp_path, checked):
    recorder = Recorder()
    history = fit(
        tiny_encoder,
        [(PAIRS, CosineSimilarityLoss(tiny_encoder))],
        evaluator(),
        batch_size=4,
        epochs=2,
        evaluation_steps=1,
        output_path=tmp_path / "out",
        checkpoint_path=tmp_path / "ckpt",
        checkpoint_steps=2,
        callbacks=[recorder],
        seed=1,
    )
    names = recorder.names()
    assert TRAINING_EVENTS | {"progress_begin", "progress_update", "progress_end"} <= set(names)
    assert names[-2:] == ["progress_end", "train_end"] and names.count("step_end") == 4
    assert list(history["step"].dropna().astype(int).unique()) == [1, 2, 3, 4]

    class Interrupt(Callback):
        def on_step_end(self, event):
            raise KeyboardInterrupt

    recorder = Recorder()
    fit(
        tiny_encoder,
        [(PAIRS, CosineSimilarityLoss(tiny_encoder))],
        batch_size=4,
        callbacks=[recorder, Interrupt()],
        seed=1,
    )
    assert recorder.names()[-3:] == ["exception", "progress_end", "train_end"]


# ----------------------------------------------------------------------------- TrainingConfig and names


def test_training_config_checks_its_fields_and_names_unknown_ones():
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        TrainingConfig(lr=float("nan"))
    with pytest.raises(ValueError, match="unknown scheduler 'linear'"):
        TrainingConfig(scheduler="linear")
    with pytest.raises(TypeError, match="epochs must be an integer >= 1"):
        TrainingConfig(epochs=1.5)
    with pytest.raises(
        TypeError, match=r"unexpected keyword argument 'evaluation_step'; did you mean 'evaluation_steps'"
    ):
        TrainingConfig.build(None, {"evaluation_step": 3})
    with pytest.raises(TypeError, match="must be a TrainingConfig"):
        TrainingConfig.build({"lr": 1e-3}, {})  # type: ignore[arg-type]
    base = TrainingConfig(epochs=3, lr=1e-3)
    merged = TrainingConfig.build(base, {"lr": 5e-4})
    assert (merged.epochs, merged.lr, base.lr) == (3, 5e-4, 1e-3)


def test_fit_takes_a_config_or_its_fields_as_keywords(new_trainer_args):
    model, objectives = new_trainer_args()
    trainer = Trainer(model, objectives, config=TrainingConfig(batch_size=4, epochs=2, seed=3), lr=1e-3)
    assert (trainer.config.epochs, trainer.config.lr, trainer.batch_size, trainer.total_steps) == (2, 1e-3, 4, 4)
    model, objectives = new_trainer_args()
    by_config = fit(model, objectives, config=TrainingConfig(batch_size=4, seed=3))
    model, objectives = new_trainer_args()
    by_keywords = fit(model, objectives, batch_size=4, seed=3)
    assert np.allclose(by_config["loss"], by_keywords["loss"])
    for function in (fit, Trainer.fit):
        assert "DataFrame" in str(inspect.signature(function).return_annotation)
    assert "DataFrame" in str(inspect.signature(Trainer.history.fget).return_annotation)


@pytest.fixture()
def new_trainer_args(tiny_bert_dir):
    """A factory of (fresh model, its objectives): identical weights each time."""

    def make():
        from workbench import SentenceEncoder
        from workbench.modules import Pooling, Transformer

        model = SentenceEncoder(modules=[Transformer(tiny_bert_dir, max_seq_length=16), Pooling(32)], device="cpu")
        return model, [(PAIRS, CosineSimilarityLoss(model))]

    return make


@pytest.mark.parametrize(
    ("old", "new", "value"), [("eval_steps", "evaluation_steps", 2), ("show_progress", "show_progress_bar", False)]
)
def test_old_training_names_warn_and_still_work(new_trainer_args, old, new, value):
    model, objectives = new_trainer_args()
    with pytest.warns(FutureWarning, match=rf"fit\({old}=\.\.\.\) is deprecated: use {new}="):
        config = TrainingConfig.build(None, {old: value}, where="fit")
    assert getattr(config, new) == value
    with pytest.warns(FutureWarning, match=rf"Trainer\({old}=\.\.\.\) is deprecated: use {new}="):
        trainer = Trainer(model, objectives, **{old: value})
    assert getattr(trainer.config, new) == value
    with pytest.raises(TypeError, match=f"got both {old}= and {new}="):
        Trainer(model, objectives, **{old: value, new: value})


def test_fit_output_dir_warns_and_saves_to_that_folder(new_trainer_args, tmp_path):
    model, objectives = new_trainer_args()
    with pytest.warns(FutureWarning, match=r"fit\(output_dir=\.\.\.\) is deprecated: use output_path="):
        fit(model, objectives, batch_size=8, output_dir=tmp_path / "model", seed=0)
    assert (tmp_path / "model" / "modules.json").is_file()


def test_encode_corpus_output_dir_warns_and_writes_there(tiny_encoder, tmp_path):
    from workbench.corpus import chunks_done, encode_corpus

    with pytest.warns(FutureWarning, match=r"encode_corpus\(output_dir=\.\.\.\) is deprecated: use output_path="):
        emb = encode_corpus(
            tiny_encoder, ["one", "two", "three"], output_dir=tmp_path / "emb", chunk_size=2, show_progress_bar=False
        )
    assert emb.shape[0] == 3 and (tmp_path / "emb" / "embeddings.npy").is_file()
    with pytest.warns(FutureWarning, match="use output_path="):
        assert sorted(chunks_done(output_dir=tmp_path / "emb")) == [0, 1]
