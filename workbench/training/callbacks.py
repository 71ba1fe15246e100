"""Subscribers of the training events: history, checkpoints, early stopping, a stop at a given step, NaN guard.

Each is a :class:`~workbench.hooks.Callback`; the trainer sends them the
training events of :data:`workbench.hooks.EVENTS`.  A subscriber with
``state_dict()`` / ``load_state_dict(state)`` has its state saved in every
checkpoint and restored on resume (keep it JSON-serialisable).

Example
-------
>>> from workbench.training import EarlyStopping, NaNGuard
>>> callbacks = [EarlyStopping(patience=2), NaNGuard(action="raise")]
>>> # fit(model, [(examples, loss)], evaluator, callbacks=callbacks)
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..hooks import Callback, Event
from ..io import atomic_write_bytes
from .checkpoint import defer_interrupts, remove_old_checkpoints

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)


class History(Callback):
    """One row per training step (losses, learning rate, speed) with the evaluation metrics of that step.

    The rows are kept in memory (:meth:`dataframe`) and, when a folder is
    known, appended to ``history.csv`` and ``history.jsonl`` after every step,
    so a crashed run keeps what it logged.

    Parameters
    ----------
    output_path:
        Folder of the two files; default: the trainer's ``output_path`` (no
        files when neither is set).

    Columns: ``step``, ``epoch``, ``loss`` (mean over the objectives of the
    step), ``loss_<objective>`` when there are several objectives, ``lr``,
    ``grad_norm``, ``samples_per_s`` and the evaluator's metric keys.  The
    final evaluation of a run joins the row of its step (a row of its own,
    with only ``step``, ``epoch`` and the metrics, when no step was run).

    Example
    -------
    >>> from workbench.hooks import Hooks
    >>> history = History()
    >>> _ = Hooks([history]).emit("step_end", step=1, epoch=0, losses={"mnrl": 0.5}, lr=1e-5,
    ...                           samples_per_s=100.0, grad_norm=1.0, total_steps=10, trainer=None)
    >>> history.dataframe()[["step", "loss"]].to_dict("records")
    [{'step': 1, 'loss': 0.5}]
    """

    # First of all subscribers: a completed step is recorded even if a later subscriber raises.
    order = -1000

    def __init__(self, output_path: str | os.PathLike | None = None) -> None:
        self.output_path = output_path
        self.rows: list[dict[str, Any]] = []
        self._folder: Path | None = None
        self._columns: list[str] = []
        self._pending_eval: dict[str, float] = {}

    def on_train_begin(self, event: Event) -> None:
        folder = self.output_path or getattr(event.trainer, "output_path", None)
        self._folder = Path(folder) if folder is not None else None
        self._pending_eval = {}
        self._columns = _columns(self.rows)
        if self._folder is not None:
            # Rows of a resumed run come from the checkpoint; steps logged after it are dropped.
            self._rewrite()

    def on_evaluation(self, event: Event) -> None:
        if not event.get("final", False):
            # The trainer evaluates before it reports the step, so the metrics join that step's row.
            self._pending_eval.update(event.metrics)
            return
        # The final evaluation comes after its step's row, or with no row at all when no step was run.
        if self.rows and self.rows[-1]["step"] == event.step:
            self.rows[-1].update(event.metrics)
        else:
            self.rows.append({"step": event.step, "epoch": event.epoch, **event.metrics})
        if self._folder is not None:
            self._columns = _columns(self.rows)
            self._rewrite()

    def on_step_end(self, event: Event) -> None:
        losses = event.losses
        row: dict[str, Any] = {
            "step": event.step,
            "epoch": event.epoch,
            "loss": sum(losses.values()) / len(losses) if losses else math.nan,
        }
        names = getattr(event.trainer, "objective_names", list(losses))
        if len(names) > 1:
            row.update({f"loss_{name}": losses.get(name, math.nan) for name in names})
        row.update({"lr": event.lr, "grad_norm": event.grad_norm, "samples_per_s": event.samples_per_s})
        row.update(self._pending_eval)
        self._pending_eval = {}
        self.rows.append(row)
        if self._folder is not None:
            self._append(row)

    def dataframe(self) -> pd.DataFrame:
        """The rows as a pandas DataFrame, always with the columns every step has (NaN in a row without a step)."""
        import pandas as pd

        # A run stopped before its first step has only the row of its final evaluation, with no loss.
        columns = _columns(self.rows)
        return pd.DataFrame(self.rows, columns=columns + [c for c in STEP_COLUMNS if c not in columns])

    def state_dict(self) -> dict[str, Any]:
        return {"rows": [_json_safe(row) for row in self.rows]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rows = [{k: math.nan if v is None else v for k, v in row.items()} for row in state["rows"]]

    def _append(self, row: dict[str, Any]) -> None:
        with open(self._folder / "history.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(_json_safe(row)) + "\n")
        if any(key not in self._columns for key in row):
            # A new column (the first evaluation): the CSV header changes, so write it whole.
            self._columns = _columns(self.rows)
            self._write_csv()
        else:
            with open(self._folder / "history.csv", "a", newline="", encoding="utf-8") as fh:
                csv.DictWriter(fh, self._columns).writerow(row)

    def _rewrite(self) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        lines = "".join(json.dumps(_json_safe(row)) + "\n" for row in self.rows)
        atomic_write_bytes(self._folder / "history.jsonl", lines.encode())
        self._write_csv()

    def _write_csv(self) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, self._columns)
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_bytes(self._folder / "history.csv", buffer.getvalue().encode())


#: The columns of every step's row (a row per objective's loss and the metrics come on top).
STEP_COLUMNS = ("step", "epoch", "loss", "lr", "grad_norm", "samples_per_s")


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    """All keys of ``rows`` in order of first appearance."""
    return list(dict.fromkeys(key for row in rows for key in row))


def _json_safe(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with NaN and infinities as ``None`` (strict JSON has no NaN)."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}


class CheckpointSaver(Callback):
    """Writes a checkpoint every ``every_n_steps`` steps and when training fails or is interrupted.

    Parameters
    ----------
    path:
        Folder of the ``checkpoint-<step>`` folders; default: the trainer's
        checkpoint folder (``checkpoint_path``, else ``output_path/checkpoints``).
    every_n_steps:
        Period in optimiser steps; ``None`` writes only on interruption,
        failure or a stop requested with ``checkpoint=True``.
    save_total_limit:
        Keep only the newest this many checkpoints (``None``: keep all).

    A stop requested with ``checkpoint=False`` (``NaNGuard``, ``EarlyStopping``)
    suppresses every later checkpoint of the run: the state is not worth resuming.

    Example
    -------
    >>> saver = CheckpointSaver("runs/ckpt", every_n_steps=500, save_total_limit=2)
    """

    order = 100

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        every_n_steps: int | None = None,
        save_total_limit: int | None = None,
    ) -> None:
        if every_n_steps is not None and (not isinstance(every_n_steps, int) or every_n_steps < 1):
            raise ValueError(f"every_n_steps must be a positive integer or None, got {every_n_steps!r}")
        if save_total_limit is not None and (not isinstance(save_total_limit, int) or save_total_limit < 1):
            raise ValueError(f"save_total_limit must be a positive integer or None, got {save_total_limit!r}")
        self.path = path
        self.every_n_steps = every_n_steps
        self.save_total_limit = save_total_limit
        self.last_saved_step: int | None = None

    def on_step_end(self, event: Event) -> None:
        if self.every_n_steps and event.step % self.every_n_steps == 0:
            self._save(event.trainer)

    def on_exception(self, event: Event) -> None:
        self._save(event.trainer)

    def on_train_end(self, event: Event) -> None:
        if event.stopped_early and not event.interrupted:
            self._save(event.trainer)

    def _save(self, trainer: Any) -> None:
        root = self.path or trainer.checkpoint_path
        if root is None or not trainer.checkpoint_allowed or trainer.global_step == 0:
            return
        if self.last_saved_step == trainer.global_step:
            return
        # Ctrl-C waits until the checkpoint is written and counted, so it is not written twice.
        with defer_interrupts():
            trainer.save_checkpoint(root)
            self.last_saved_step = trainer.global_step
            if self.save_total_limit:
                for folder in remove_old_checkpoints(root, self.save_total_limit):
                    logger.info("removed old checkpoint %s", folder)


class EarlyStopping(Callback):
    """Stops training when the evaluator's primary metric stops improving.

    Parameters
    ----------
    patience:
        Evaluations in a row without improvement before stopping.
    min_delta:
        Smallest change that counts as an improvement (in the metric's
        direction, ``greater_is_better`` of the evaluator).

    Example
    -------
    >>> stopper = EarlyStopping(patience=3, min_delta=0.001)
    """

    def __init__(self, patience: int = 3, min_delta: float = 0.0) -> None:
        if not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience must be a positive integer, got {patience!r}")
        if min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta!r}")
        self.patience = patience
        self.min_delta = float(min_delta)
        self.best: float | None = None
        self.bad_evaluations = 0

    def on_evaluation(self, event: Event) -> None:
        value = event.primary
        sign = 1.0 if event.get("greater_is_better", True) else -1.0
        if math.isfinite(value) and (self.best is None or sign * (value - self.best) > self.min_delta):
            self.best, self.bad_evaluations = value, 0
            return
        self.bad_evaluations += 1
        if self.bad_evaluations >= self.patience:
            event.trainer.request_stop(
                f"early stopping: {event.get('primary_metric', 'the primary metric')} did not improve by more "
                f"than {self.min_delta} in {self.patience} evaluation(s) (best {self.best})",
                checkpoint=False,
            )

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "bad_evaluations": self.bad_evaluations}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.bad_evaluations = state["best"], state["bad_evaluations"]


class StopAtStep(Callback):
    """Ends training once it reaches step ``step``, as the monitor's Stop button would (0: before the first step).

    The run ends like any stopped run: the final weights are evaluated, the
    best model saved, a checkpoint written (with a checkpoint folder), and
    ``fit`` returns the history.  To train in sessions, or to see what
    follows a run stopped early.

    Example
    -------
    >>> stop = StopAtStep(100)
    >>> # fit(model, [(examples, loss)], evaluator, callbacks=[stop])  -> ends after step 100
    """

    def __init__(self, step: int) -> None:
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            raise ValueError(f"step must be an integer >= 0 (0: stop before the first step), got {step!r}")
        self.step = step

    def on_train_begin(self, event: Event) -> None:
        self._check(event.trainer)

    def on_step_end(self, event: Event) -> None:
        self._check(event.trainer)

    def _check(self, trainer: Any) -> None:
        # At the last step the run ends anyway: finished, not stopped.
        if self.step <= trainer.global_step < trainer.total_steps:
            trainer.request_stop(f"StopAtStep({self.step}) reached")


class NaNGuard(Callback):
    """Stops (or raises) as soon as a step's loss is NaN or infinite.

    It runs before the other subscribers (low ``order``) and asks for no
    checkpoint, so no checkpoint of the diverged run is written.  (The
    trainer already skips the update of a step whose gradients are not finite.)

    Parameters
    ----------
    action:
        ``"stop"``: end training after this step; ``"raise"``: raise
        ``FloatingPointError`` (``fit`` re-raises it).

    Example
    -------
    >>> guard = NaNGuard(action="raise")
    """

    order = -100

    def __init__(self, action: Literal["stop", "raise"] = "stop") -> None:
        if action not in ("stop", "raise"):
            raise ValueError(f"action must be 'stop' or 'raise', got {action!r}")
        self.action = action

    def on_step_end(self, event: Event) -> None:
        bad = {name: value for name, value in event.losses.items() if not math.isfinite(value)}
        if not bad:
            return
        reason = f"non-finite loss at step {event.step}: " + ", ".join(f"{k}={v}" for k, v in bad.items())
        event.trainer.request_stop(reason, checkpoint=False)
        if self.action == "raise":
            raise FloatingPointError(reason)
        logger.warning("NaNGuard: %s; stopping", reason)
