"""Training subscribers (history, checkpoint saver, early stopping, NaN guard) and the checkpoint helpers."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pandas as pd
import pytest
import torch

from workbench.hooks import Hooks
from workbench.training import CheckpointSaver, EarlyStopping, History, NaNGuard
from workbench.training.checkpoint import (
    find_checkpoint,
    list_checkpoints,
    remove_old_checkpoints,
    rng_state,
    save_model_keeping,
    set_rng_state,
)


class FakeTrainer:
    """What the subscribers use of a trainer: counters, stop requests, checkpoint writing."""

    def __init__(self, root=None, output_path=None, objective_names=("sts",)) -> None:
        self.checkpoint_path = root
        self.output_path = output_path
        self.objective_names = list(objective_names)
        self.checkpoint_allowed = True
        self.global_step = 0
        self.stops: list[tuple[str, bool]] = []

    def request_stop(self, reason: str, checkpoint: bool = True) -> None:
        self.stops.append((reason, checkpoint))
        self.checkpoint_allowed = self.checkpoint_allowed and checkpoint

    def save_checkpoint(self, root):
        folder = root / f"checkpoint-{self.global_step}"
        folder.mkdir(parents=True)
        (folder / "trainer_state.json").write_text("{}")
        return folder


def step(hooks: Hooks, trainer: FakeTrainer, losses: dict[str, float], epoch: int = 0) -> None:
    trainer.global_step += 1
    hooks.emit(
        "step_end",
        trainer=trainer,
        step=trainer.global_step,
        total_steps=10,
        epoch=epoch,
        losses=losses,
        lr=1e-5,
        samples_per_s=50.0,
        grad_norm=0.5,
    )


def evaluation(hooks: Hooks, trainer: FakeTrainer, value: float, greater_is_better: bool = True) -> None:
    hooks.emit(
        "evaluation",
        trainer=trainer,
        step=trainer.global_step,
        epoch=0,
        metrics={"dev_score": value},
        primary=value,
        is_best=False,
        primary_metric="dev_score",
        greater_is_better=greater_is_better,
    )


# ---------------------------------------------------------------------------- History
def test_history_rows_merge_evaluations_into_their_step(tmp_path):
    trainer, history = FakeTrainer(output_path=tmp_path, objective_names=["sts", "nli"]), History()
    hooks = Hooks([history])
    assert history.dataframe().empty
    hooks.emit("train_begin", trainer=trainer, total_steps=10)
    step(hooks, trainer, {"sts": 1.0, "nli": 3.0})
    evaluation(hooks, trainer, 0.25)
    step(hooks, trainer, {"nli": 2.0})
    frame = history.dataframe()
    assert frame["step"].tolist() == [1, 2] and frame["loss"].tolist() == [2.0, 2.0]
    assert frame["loss_sts"].iloc[0] == 1.0 and math.isnan(frame["loss_sts"].iloc[1])
    assert math.isnan(frame["dev_score"].iloc[0]) and frame["dev_score"].iloc[1] == 0.25
    # The files were appended as the run went; the CSV header grew with the first evaluation.
    on_disk = pd.read_csv(tmp_path / "history.csv")
    pd.testing.assert_frame_equal(on_disk, frame, check_dtype=False)
    lines = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1, 2] and lines[0]["loss_nli"] == 3.0 and lines[1]["loss_sts"] is None


def test_history_state_round_trip_drops_rows_logged_after_the_checkpoint(tmp_path):
    trainer, history = FakeTrainer(output_path=tmp_path), History()
    hooks = Hooks([history])
    hooks.emit("train_begin", trainer=trainer, total_steps=10)
    step(hooks, trainer, {"sts": 0.5})
    saved = json.loads(json.dumps(history.state_dict()))  # it goes through trainer_state.json
    step(hooks, trainer, {"sts": math.nan})  # logged, then the run crashed before a checkpoint

    resumed = History()
    resumed.load_state_dict(saved)
    Hooks([resumed]).emit("train_begin", trainer=trainer, total_steps=10)
    assert resumed.dataframe()["step"].tolist() == [1]
    assert pd.read_csv(tmp_path / "history.csv")["step"].tolist() == [1]
    assert len((tmp_path / "history.jsonl").read_text().splitlines()) == 1


def test_history_without_a_folder_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    trainer, history = FakeTrainer(), History()
    hooks = Hooks([history])
    hooks.emit("train_begin", trainer=trainer, total_steps=1)
    step(hooks, trainer, {"sts": 0.5})
    assert len(history.dataframe()) == 1 and not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------- CheckpointSaver
def test_checkpoint_saver_period_interruption_and_limit(tmp_path):
    trainer = FakeTrainer(tmp_path)
    saver = CheckpointSaver(every_n_steps=2, save_total_limit=2)
    hooks = Hooks([saver])
    hooks.emit("exception", trainer=trainer, error=KeyboardInterrupt())  # step 0: nothing to save
    for _ in range(7):
        step(hooks, trainer, {"sts": 0.1})
    assert [p.name for p in list_checkpoints(tmp_path)] == ["checkpoint-4", "checkpoint-6"]
    hooks.emit("exception", trainer=trainer, error=KeyboardInterrupt())
    assert [p.name for p in list_checkpoints(tmp_path)] == ["checkpoint-6", "checkpoint-7"]
    hooks.emit("train_end", trainer=trainer, history=None, stopped_early=True, interrupted=True)  # already saved
    assert len(list_checkpoints(tmp_path)) == 2


def test_checkpoint_saver_honours_a_stop_without_checkpoint(tmp_path):
    trainer = FakeTrainer()
    hooks = Hooks([CheckpointSaver(tmp_path / "mine")])
    step(hooks, trainer, {"sts": 0.1})
    hooks.emit("train_end", trainer=trainer, history=None, stopped_early=True, interrupted=False)
    assert [p.name for p in list_checkpoints(tmp_path / "mine")] == ["checkpoint-1"]
    step(hooks, trainer, {"sts": 0.1})
    trainer.request_stop("diverged", checkpoint=False)
    hooks.emit("exception", trainer=trainer, error=FloatingPointError())
    assert len(list_checkpoints(tmp_path / "mine")) == 1


@pytest.mark.parametrize("kwargs", [{"every_n_steps": 0}, {"save_total_limit": 0}, {"every_n_steps": 1.5}])
def test_checkpoint_saver_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError, match="must be a positive integer or None"):
        CheckpointSaver(**kwargs)


# ---------------------------------------------------------------------------- EarlyStopping
@pytest.mark.parametrize(
    "values, greater, min_delta, stop_after",
    [
        ([0.5, 0.5, 0.5], True, 0.0, 3),  # no change
        ([0.5, 0.6, 0.7, 0.6, 0.65], True, 0.0, 5),  # two evaluations below the best
        ([0.5, 0.505, 0.51], True, 0.02, 3),  # gains smaller than min_delta do not count
        ([1.0, 0.9, 0.8, 0.85, 0.95], False, 0.0, 5),  # a loss-like metric: smaller is better
        ([math.nan, 0.1, math.nan, math.nan], True, 0.0, 4),
    ],
)
def test_early_stopping(values, greater, min_delta, stop_after):
    trainer = FakeTrainer()
    hooks = Hooks([EarlyStopping(patience=2, min_delta=min_delta)])
    for i, value in enumerate(values, start=1):
        evaluation(hooks, trainer, value, greater)
        assert bool(trainer.stops) == (i >= stop_after), i
    reason, checkpoint = trainer.stops[0]
    assert "dev_score did not improve" in reason and checkpoint is False


def test_early_stopping_state_survives_a_resume():
    trainer, first = FakeTrainer(), EarlyStopping(patience=2)
    for value in (0.5, 0.4):
        evaluation(Hooks([first]), trainer, value)
    second = EarlyStopping(patience=2)
    second.load_state_dict(json.loads(json.dumps(first.state_dict())))
    evaluation(Hooks([second]), trainer, 0.45)
    assert trainer.stops


@pytest.mark.parametrize("kwargs", [{"patience": 0}, {"min_delta": -0.1}])
def test_early_stopping_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        EarlyStopping(**kwargs)


# ---------------------------------------------------------------------------- NaNGuard
def test_nan_guard_stops_on_the_first_non_finite_loss():
    trainer, guard = FakeTrainer(), NaNGuard()
    hooks = Hooks([guard])
    step(hooks, trainer, {"sts": 0.3, "nli": 1.0})
    assert not trainer.stops
    step(hooks, trainer, {"sts": 0.3, "nli": math.inf})
    assert trainer.stops == [("non-finite loss at step 2: nli=inf", False)]


def test_nan_guard_raises_and_runs_first():
    trainer = FakeTrainer()
    saw: list[int] = []

    class Later:
        def on_step_end(self, event):
            saw.append(event.step)

    hooks = Hooks([Later(), NaNGuard(action="raise")])
    with pytest.raises(FloatingPointError, match="sts=nan"):
        step(hooks, trainer, {"sts": math.nan})
    assert saw == [] and trainer.stops[0][1] is False
    with pytest.raises(ValueError, match="'stop' or 'raise'"):
        NaNGuard(action="warn")


# ---------------------------------------------------------------------------- checkpoint helpers
def test_rng_state_round_trip_through_a_weights_only_file(tmp_path):
    torch.save(rng_state(), tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.rand(3), random.random(), np.random.normal())
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    again = (torch.rand(3), np.random.rand(3), random.random(), np.random.normal())
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1])
    assert expected[2:] == again[2:]


def test_checkpoints_are_ordered_by_step_and_rotated(tmp_path):
    for step_ in (9, 10, 2):
        (tmp_path / f"checkpoint-{step_}").mkdir()
        (tmp_path / f"checkpoint-{step_}" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-11").mkdir()  # unfinished: no trainer_state.json
    (tmp_path / "notes").mkdir()
    assert [p.name for p in list_checkpoints(tmp_path)] == [
        "checkpoint-2",
        "checkpoint-9",
        "checkpoint-10",
        "checkpoint-11",
    ]
    assert find_checkpoint(tmp_path).name == "checkpoint-10"
    assert find_checkpoint(tmp_path / "checkpoint-9").name == "checkpoint-9"
    assert find_checkpoint(tmp_path / "notes") is None
    assert [p.name for p in remove_old_checkpoints(tmp_path, 2)] == ["checkpoint-2", "checkpoint-9"]


def test_saving_a_model_keeps_the_other_contents_of_its_folder(tmp_path):
    class Model:
        def __init__(self, version: str) -> None:
            self.version = version

        def save(self, path) -> None:
            path.mkdir(parents=True, exist_ok=True)
            (path / "weights").write_text(self.version)

    (tmp_path / "out" / "checkpoints" / "checkpoint-3").mkdir(parents=True)
    (tmp_path / "out" / "history.csv").write_text("step\n1\n")
    save_model_keeping(Model("best"), tmp_path / "out")
    save_model_keeping(Model("better"), tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["checkpoints", "history.csv", "weights"]
    assert (tmp_path / "out" / "weights").read_text() == "better"
    assert (tmp_path / "out" / "checkpoints" / "checkpoint-3").is_dir()
