"""Train an encoder on one or several (data, loss) objectives.

:func:`fit` and :class:`Trainer` run the loop; the settings are one
:class:`~workbench.training.config.TrainingConfig`; the objectives and their
batches live in :mod:`~workbench.training.objectives` and the checkpoint state
in :mod:`~workbench.training.checkpoint`.  Everything around the loop --
progress bars, history files, checkpoints, early stopping, live plots -- is a
subscriber of the training events of :data:`workbench.hooks.EVENTS`
(``train_begin``, ``epoch_begin``, ``evaluation``, ``step_end``,
``checkpoint``, ``epoch_end``, ``exception``, ``train_end``, each with
``trainer``), plus the ``progress_*`` events of task ``"train"``.

A subscriber ends training after the current step with
``trainer.request_stop(reason)``.  ``KeyboardInterrupt`` ends it too: a
checkpoint is written, the model stays usable and ``fit`` returns the history.
However training ends (last step, stop request, interruption, early stopping,
NaN guard), an evaluator is run once more on the final weights unless their
step was just evaluated, so the history always has the evaluator's columns
and the best model is saved.  Weights that are not finite, or that gave a
non-finite loss, are never saved as the best or the final model.
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from ..hooks import Progress, progress_hooks
from ..model_card import record_training
from .callbacks import CheckpointSaver, History
from .checkpoint import (
    STATE_FILE,
    defer_interrupts,
    find_checkpoint,
    quiet_library_progress_bars,
    read_state,
    restore_trainer,
    rng_state,
    save_model_keeping,
    set_rng_state,
    trainer_state,
    write_checkpoint,
)
from .config import MIXED_PRECISIONS, MULTI_TASK, SCHEDULERS, TrainingConfig
from .objectives import build_objectives, default_steps_per_epoch, loader_batch_size, objectives_for_step

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Trainer",
    "fit",
    "TrainingConfig",
    "lr_factor",
    "parameter_groups",
    "MULTI_TASK",
    "SCHEDULERS",
    "MIXED_PRECISIONS",
    "quiet_library_progress_bars",
]

logger = logging.getLogger(__name__)

DIVERGED_AFTER = 3  # non-finite losses in a row after which a run is stopped as diverged
TrainObjectives = Sequence[tuple[Any, nn.Module]] | Mapping[str, tuple[Any, nn.Module]]
Evaluator = Callable[..., Mapping[str, float]]


def lr_factor(name: str, warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """The multiplier of the base learning rate at each step for the schedule ``name``.

    Example
    -------
    >>> f = lr_factor("warmup_linear", warmup_steps=2, total_steps=4)
    >>> [f(s) for s in range(5)]
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r}; valid: {', '.join(SCHEDULERS)}")

    def factor(step: int) -> float:
        if name == "constant":
            return 1.0
        if step < warmup_steps:
            return step / warmup_steps
        if name == "warmup_constant":
            return 1.0
        progress = (step - warmup_steps) / max(total_steps - warmup_steps, 1)
        if name == "warmup_linear":
            return max(0.0, 1.0 - progress)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return factor


def parameter_groups(named_parameters: Iterable[tuple[str, nn.Parameter]], weight_decay: float) -> list[dict[str, Any]]:
    """Two AdamW groups: with ``weight_decay``, and without it for biases and LayerNorm weights.

    Example
    -------
    >>> block = nn.ModuleDict({"dense": nn.Linear(4, 4), "LayerNorm": nn.LayerNorm(4)})
    >>> [len(g["params"]) for g in parameter_groups(block.named_parameters(), 0.01)]
    [1, 3]
    """
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, param in named_parameters:
        if not param.requires_grad:
            continue
        lower = name.lower()
        plain = lower.endswith("bias") or "layernorm" in lower or "layer_norm" in lower
        (no_decay if plain else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


class Trainer:
    """Fit ``model`` on ``train_objectives``; the settings are a :class:`TrainingConfig` (see :func:`fit`).

    Attributes
    ----------
    config:
        The settings; ``batch_size``, ``seed`` and ``steps_per_epoch`` below are
        their resolved values.
    global_step, epoch, total_steps, steps_per_epoch:
        Where training stands.
    best_metric, best_step:
        Best primary metric of the evaluator so far and the step it came from.
    history:
        The :class:`~workbench.training.History` rows as a DataFrame.
    hooks:
        The subscribers (``trainer.hooks.add(cb)`` adds one).

    Example
    -------
    >>> trainer = Trainer(model, [(examples, CosineSimilarityLoss(model))], epochs=2)   # doctest: +SKIP
    >>> history = trainer.fit()                                                      # doctest: +SKIP
    >>> trainer.global_step, history["loss"].iloc[-1]                                # doctest: +SKIP
    (26, 0.031...)
    """

    def __init__(
        self,
        model: nn.Module,
        train_objectives: TrainObjectives,
        evaluator: Evaluator | None = None,
        config: TrainingConfig | None = None,
        **options: Any,
    ) -> None:
        self.config = cfg = TrainingConfig.build(config, options, where="Trainer")
        self.model, self.evaluator = model, evaluator
        self.device = next(model.parameters()).device
        if cfg.precision == "float16" and self.device.type != "cuda":
            raise ValueError(
                f"precision='float16' needs a CUDA device (the model is on {self.device}); use 'bfloat16' or 'float32'"
            )
        self.batch_size = loader_batch_size(train_objectives, cfg.batch_size)
        self.output_path = Path(cfg.output_path) if cfg.output_path is not None else None
        self.checkpoint_path = (
            Path(cfg.checkpoint_path)
            if cfg.checkpoint_path is not None
            else (self.output_path / "checkpoints" if self.output_path is not None else None)
        )
        # The seed of a resumed run is the checkpoint's: it fixes the data order.  A different one is refused
        # with the other settings when the checkpoint is loaded.
        self._resume_folder = self._find_resume_folder(cfg.resume_from_checkpoint)
        seed = read_state(self._resume_folder)["seed"] if self._resume_folder is not None else cfg.seed
        self.seed = int(seed) if seed is not None else random.SystemRandom().randrange(2**31)

        self.objectives, self.samplers = build_objectives(
            model, train_objectives, cfg.batch_sampler, self.batch_size, self.seed, self.device
        )
        self.objective_names = [o.name for o in self.objectives]
        unsized = [o.name for o in self.objectives if o.size is None]
        if cfg.multi_task == "proportional" and len(self.objectives) > 1 and unsized:
            raise ValueError(
                f"multi_task='proportional' weights objectives by their size, but {unsized} "
                "stream data of unknown length; use multi_task='round_robin'"
            )
        self.steps_per_epoch = cfg.steps_per_epoch or default_steps_per_epoch(self.objectives, cfg.multi_task)
        self.total_steps = cfg.epochs * self.steps_per_epoch

        self._params = self._trainable_parameters()
        # The fused kernel updates all parameters in one pass: ~10x faster than the per-tensor loop for MiniLM on CPU.
        fused = self.device.type in ("cpu", "cuda") and all(p.is_floating_point() for _, p in self._params)
        self.optimizer = torch.optim.AdamW(parameter_groups(self._params, cfg.weight_decay), lr=cfg.lr, fused=fused)
        warmup = int(cfg.warmup_ratio * self.total_steps) if cfg.warmup_ratio is not None else cfg.warmup_steps
        self.scheduler = LambdaLR(self.optimizer, lr_factor(cfg.scheduler, warmup, self.total_steps))
        self.scaler = torch.amp.GradScaler("cuda") if cfg.precision == "float16" else None
        # What decides the numbers of a run: a checkpoint resumes only under the same (see check_resumable).
        self.settings = {
            "objectives": self.objective_names,
            "batch_size": self.batch_size,
            "batch_sampler": self.samplers,
            "multi_task": cfg.multi_task,
            "epochs": cfg.epochs,
            "steps_per_epoch": self.steps_per_epoch,
            "lr": cfg.lr,
            "weight_decay": cfg.weight_decay,
            "scheduler": cfg.scheduler,
            "warmup_steps": warmup,
            "max_grad_norm": cfg.max_grad_norm,
            "precision": cfg.precision,
            "seed": self.seed,
        }
        self.hooks = self._subscribers()

        self.global_step = self.epoch = self.step_in_epoch = 0
        self.best_metric: float | None = None
        self.best_step: int | None = None
        self.evaluated_step: int | None = None  # the step whose weights were evaluated last
        self.stop_reason: str | None = None
        self.checkpoint_allowed = True
        self._bad_steps = 0  # steps in a row whose loss was not finite
        self._started = self._mid_step = False
        self._rng_at_step_start: dict[str, Any] | None = None
        self._rng_at_stop: dict[str, Any] | None = None
        self._progress = Progress(None, "train", self.total_steps, "steps")

    # ------------------------------------------------------------------ setup
    def _find_resume_folder(self, resume: str | os.PathLike | None) -> Path | None:
        if resume is None:
            return None
        if str(resume) == "latest":
            if self.checkpoint_path is None:
                raise ValueError("resume_from_checkpoint='latest' needs checkpoint_path or output_path to look in")
            folder = find_checkpoint(self.checkpoint_path)
            if folder is None:
                logger.info("no checkpoint in %s yet; training from the start", self.checkpoint_path)
            return folder
        folder = find_checkpoint(resume)
        if folder is None:
            raise FileNotFoundError(
                f"resume_from_checkpoint={str(resume)!r} is neither a checkpoint folder (with {STATE_FILE}) "
                "nor a folder holding checkpoint-<step> folders"
            )
        return folder

    def _trainable_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """The model's parameters, then those of each loss that the model does not have (e.g. a classifier)."""
        named = list(self.model.named_parameters())
        seen = {id(p) for _, p in named}
        for objective in self.objectives:
            for name, param in objective.loss.named_parameters():
                if id(param) not in seen:
                    seen.add(id(param))
                    named.append((f"{objective.name}.{name}", param))
        return named

    def _subscribers(self) -> Any:
        """The caller's callbacks and a tqdm bar, plus a History and a CheckpointSaver unless given."""
        cfg = self.config
        hooks = progress_hooks(cfg.show_progress_bar, cfg.callbacks)
        self._history = next((cb for cb in hooks if isinstance(cb, History)), None)
        if self._history is None:
            self._history = History()
            hooks.add(self._history)
        if self.checkpoint_path is not None and not any(isinstance(cb, CheckpointSaver) for cb in hooks):
            hooks.add(
                CheckpointSaver(
                    every_n_steps=cfg.checkpoint_steps if cfg.checkpoint_path is not None else None,
                    save_total_limit=cfg.checkpoint_save_total_limit,
                )
            )
        return hooks

    # ------------------------------------------------------------------ control
    def request_stop(self, reason: str = "stop requested", checkpoint: bool = True) -> None:
        """End training after the current step.

        Parameters
        ----------
        reason:
            Why (logged and kept in ``stop_reason``).
        checkpoint:
            ``False`` when the state is not worth resuming (diverged, or
            finished by early stopping): no checkpoint is written after this.
        """
        if self.stop_reason is None:
            self.stop_reason = reason
            logger.info("stopping after step %d: %s", self.global_step, reason)
        self.checkpoint_allowed = self.checkpoint_allowed and checkpoint

    @property
    def history(self) -> pd.DataFrame:
        """The history rows as a pandas DataFrame; with an evaluator, always with its primary metric's column."""
        frame = self._history.dataframe()
        key = getattr(self.evaluator, "primary_metric", None)
        if isinstance(key, str) and key not in frame:
            frame[key] = math.nan  # not evaluated (yet): NaN, so that dropna(subset=[key]) works
        return frame

    def emit(self, name: str, **fields: Any) -> None:
        """Send event ``name`` with ``fields`` (and ``trainer=self``) to every subscriber."""
        self.hooks.emit(name, trainer=self, **fields)

    # ------------------------------------------------------------------ the loop
    def fit(self) -> pd.DataFrame:
        """Train; return the history DataFrame (also after ``KeyboardInterrupt``).

        Calling ``fit`` again after a requested stop or an interruption continues
        from the last completed step.
        """
        self._prepare()
        try:
            self._begin()
            self._run()
        except KeyboardInterrupt as error:
            logger.warning(
                "training interrupted at step %d of %d; the model keeps the weights of step %d and "
                "fit() again (or resume_from_checkpoint) continues from there",
                self.global_step,
                self.total_steps,
                self.global_step,
            )
            self._end(error)
            return self.history
        except Exception as error:
            self._end(error)
            raise
        self._end(None)
        return self.history

    def _run(self) -> None:
        while self.epoch < self.config.epochs and self.stop_reason is None:
            self.emit("epoch_begin", epoch=self.epoch)
            while self.step_in_epoch < self.steps_per_epoch and self.stop_reason is None:
                self._step()
            if self.step_in_epoch < self.steps_per_epoch:
                return
            self.emit("epoch_end", epoch=self.epoch)
            self.epoch += 1
            self.step_in_epoch = 0

    def _step(self) -> None:
        """One optimiser step: a batch of each chosen objective, backward, update, then evaluation and events."""
        cfg = self.config
        self._rng_at_step_start, self._mid_step = rng_state(), True
        started = time.perf_counter()
        chosen = objectives_for_step(self.objectives, cfg.multi_task, self.seed, self.global_step)
        self.optimizer.zero_grad(set_to_none=True)
        losses: dict[str, float] = {}
        examples = 0
        for objective in chosen:
            features, labels = objective.next_batch(cfg.num_workers, self.device)
            examples += len(next(iter(features[0].values())))
            with self._autocast():
                value = objective.loss(features, labels)
            # Backward per objective frees each graph before the next objective's forward pass.
            (self.scaler.scale(value) if self.scaler else value).backward()
            losses[objective.name] = float(value.detach())
        lr = self.optimizer.param_groups[0]["lr"]
        # An interrupt between the update and the counters would pair new weights with old counters.
        with defer_interrupts():
            grad_norm = self._update()
            for objective in chosen:
                objective.consumed += 1
            self.global_step += 1
            self.step_in_epoch += 1
            self._mid_step = False
        samples_per_s = examples / max(time.perf_counter() - started, 1e-9)
        self._watch_divergence(losses, lr)
        if self.evaluator is not None and (
            (cfg.evaluation_steps and self.global_step % cfg.evaluation_steps == 0)
            or self.step_in_epoch == self.steps_per_epoch
        ):
            self.evaluate()
        self.emit(
            "step_end",
            step=self.global_step,
            total_steps=self.total_steps,
            epoch=self.epoch,
            losses=losses,
            lr=lr,
            samples_per_s=samples_per_s,
            grad_norm=grad_norm,
        )
        self._progress.update(1, loss=round(sum(losses.values()) / len(losses), 4))

    def _update(self) -> float:
        """Clip, step the optimiser (skipped when the gradients are not finite) and the schedule; return the norm."""
        params = [p for _, p in self._params]
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if self.config.max_grad_norm:
            norm = float(torch.nn.utils.clip_grad_norm_(params, self.config.max_grad_norm))
        else:
            norm = float(torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None]))
        if self.scaler is not None:
            self.scaler.step(self.optimizer)  # skips the update itself on inf/NaN
            self.scaler.update()
        elif math.isfinite(norm):
            self.optimizer.step()
        else:
            logger.warning("step %d: gradient norm is %s; the update is skipped", self.global_step + 1, norm)
        self.scheduler.step()
        return norm

    def _autocast(self) -> Any:
        if self.config.precision == "float32":
            return nullcontext()
        dtype = torch.bfloat16 if self.config.precision == "bfloat16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def _watch_divergence(self, losses: Mapping[str, float], lr: float) -> None:
        """Stop a run that cannot recover: weights no longer finite, or a non-finite loss step after step.

        A non-finite loss skips the update, so weights that give NaN on every
        batch never change again.  (Checking the weights only after a bad loss
        keeps healthy steps free of that cost.)
        """
        if all(math.isfinite(v) for v in losses.values()):
            self._bad_steps = 0
            return
        self._bad_steps += 1
        if not self._weights_finite():
            problem = f"the weights are no longer finite after step {self.global_step}"
        elif self._bad_steps >= DIVERGED_AFTER:
            problem = f"the loss was not finite in {self._bad_steps} steps in a row (up to step {self.global_step})"
        else:
            return
        reason = f"training diverged: {problem}; lower lr (it is {lr:g}) or check the data"
        logger.warning(reason)
        self.request_stop(reason, checkpoint=False)

    def _weights_finite(self) -> bool:
        return all(bool(torch.isfinite(p).all()) for _, p in self._params)

    # ------------------------------------------------------------------ start and end
    def _prepare(self) -> None:
        """Seed (or restore the randomness of a stopped run), resume from a checkpoint, set the training modes.

        Ctrl-C waits for the end: an interrupt must not leave a half-restored run,
        or one marked as started whose checkpoint was never read.
        """
        with defer_interrupts():
            if not self._started:
                torch.manual_seed(self.seed)
                np.random.seed(self.seed % 2**32)
                random.seed(self.seed)
                if self._resume_folder is not None:
                    self.load_checkpoint(self._resume_folder)
                self._started = True
            else:
                # Go on as if the run had not stopped, whatever drew random numbers in between.
                set_rng_state(self._rng_at_stop)
            if self._mid_step:
                for objective in self.objectives:
                    objective.iterator = None  # the loaders may be a batch ahead of the last completed step
                self._mid_step = False
            self.stop_reason = None
            self._modes = [(m, m.training) for m in [self.model, *(o.loss for o in self.objectives)]]
            for objective in self.objectives:
                objective.loss.train()

    def _begin(self) -> None:
        """Tell the subscribers; from here on, however training ends, it ends through :meth:`_end`."""
        record_training(self, fresh=True)  # what the model card of a save during training tells
        self.emit("train_begin", total_steps=self.total_steps)
        self._progress = Progress(self.hooks, "train", self.total_steps, "steps", desc="Training").begin()

    def evaluate(self, final: bool = False) -> dict[str, float]:
        """Run the evaluator now; save the model to ``output_path`` when the primary metric is the best so far.

        ``final`` marks the evaluation of the weights training ended with (sent
        after the ``step_end`` of their step).  Weights that are not finite are
        never kept as the best model.
        """
        self.model.eval()
        try:
            metrics = self.evaluator(
                self.model,
                output_path=self.output_path / "eval" if self.output_path else None,
                epoch=self.epoch,
                steps=self.global_step,
            )
        finally:
            self.model.train()
        if not isinstance(metrics, Mapping):
            raise TypeError(f"the evaluator must return a dict of metrics, got {type(metrics).__name__}")
        key = getattr(self.evaluator, "primary_metric", None) or (next(iter(metrics)) if len(metrics) == 1 else None)
        if key not in metrics:
            raise KeyError(f"the evaluator's primary metric {key!r} is not among its results {sorted(metrics)}")
        primary = float(metrics[key])
        greater = getattr(self.evaluator, "greater_is_better", True)
        is_best = math.isfinite(primary) and (
            self.best_metric is None or (primary > self.best_metric if greater else primary < self.best_metric)
        )
        if is_best and not self._weights_finite():
            logger.warning("step %d: the weights are not finite; they are not kept as the best model", self.global_step)
            is_best = False
        saved_to = None
        record_training(self, metrics)  # before a save of the best model, whose card shows them
        # The save, the new best and its event go together: an interrupt waits for all three.
        with defer_interrupts():
            if is_best:
                self.best_metric, self.best_step = primary, self.global_step
                if self.output_path is not None and self.config.save_best_model:
                    self._save_model(self.output_path)
                    saved_to = self.output_path
            self.evaluated_step = self.global_step
            self.emit(
                "evaluation",
                step=self.global_step,
                epoch=self.epoch,
                metrics=dict(metrics),
                primary=primary,
                is_best=is_best,
                primary_metric=key,
                greater_is_better=greater,
                saved_to=saved_to,
                final=final,
            )
        return dict(metrics)

    def _save_model(self, folder: Path) -> None:
        """Save the model into ``folder``; inside ``fit`` the subscribers are the progress display, not the libraries'."""
        with quiet_library_progress_bars():
            save_model_keeping(self.model, folder)

    def _finish(self) -> None:
        """Evaluate the final weights (unless just done) and save the final model when there is no best one."""
        try:
            if self.evaluator is not None and self.evaluated_step != self.global_step:
                self.evaluate(final=True)
        except KeyboardInterrupt:
            logger.warning(
                "the final evaluation was interrupted; the history has no metrics for step %d", self.global_step
            )
        if self.output_path is None or (self.evaluator is not None and self.best_step is not None):
            return
        if self._bad_steps or not self._weights_finite():
            logger.warning(
                "the final weights are not finite or gave a non-finite loss at step %d: they are not "
                "saved, and %s keeps what it held",
                self.global_step,
                self.output_path,
            )
            return
        with defer_interrupts():
            self._save_model(self.output_path)

    def _end(self, error: BaseException | None) -> None:
        record_training(self)
        self._rng_at_stop = self.boundary_rng()
        self.optimizer.zero_grad(set_to_none=True)
        if error is None or isinstance(error, KeyboardInterrupt):
            self._finish()
            set_rng_state(self._rng_at_stop)  # the final evaluation must not shift a continued run's randomness
        for module, training in self._modes:
            module.train(training)
        ending: list[tuple[str, Callable[[], Any]]] = [
            ("progress_end", self._progress.end),
            (
                "train_end",
                lambda: self.emit(
                    "train_end",
                    history=self.history,
                    stopped_early=self.stop_reason is not None,
                    interrupted=error is not None,
                    reason=self.stop_reason,
                ),
            ),
        ]
        if error is not None:
            ending.insert(0, ("exception", lambda: self.emit("exception", error=error)))
        for name, send in ending:
            try:
                send()
            except KeyboardInterrupt:
                # Training is ending already; a second interrupt must not make fit raise (cells queued after it run).
                logger.warning("interrupted again while training was ending (during %r); ending anyway", name)
            except Exception:
                if error is None:
                    raise
                # A failing subscriber must not hide the error that ended training.
                logger.exception("a subscriber of %r failed while training was ending on an error", name)

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self, root: str | os.PathLike | None = None) -> Path:
        """Write ``<root>/checkpoint-<global_step>/`` (root default: ``checkpoint_path``) and emit ``checkpoint``."""
        root = root if root is not None else self.checkpoint_path
        if root is None:
            raise ValueError("no folder for checkpoints: give checkpoint_path or output_path")
        state, tensors = trainer_state(self)
        # A second Ctrl-C waits for the write: a checkpoint is whole or absent, never half-written.
        with defer_interrupts(), quiet_library_progress_bars():
            folder = write_checkpoint(Path(root) / f"checkpoint-{self.global_step}", self.model, state, tensors)
        logger.info("checkpoint written to %s", folder)
        self.emit("checkpoint", step=self.global_step, path=folder)
        return folder

    def load_checkpoint(self, folder: str | os.PathLike) -> None:
        """Restore model, losses, optimiser, schedule, scaler, positions, subscribers and RNG from ``folder``.

        Refused (``ValueError`` naming each difference) when the checkpoint
        was written with other data or other training settings.
        """
        restore_trainer(self, folder)

    def boundary_rng(self) -> dict[str, Any]:
        """The RNG states after the last completed step (inside a step: as they were when it began)."""
        return self._rng_at_step_start if self._mid_step else rng_state()


def fit(
    model: nn.Module,
    train_objectives: TrainObjectives,
    evaluator: Evaluator | None = None,
    config: TrainingConfig | None = None,
    **settings: Any,
) -> pd.DataFrame:
    """Train ``model`` on ``train_objectives``; return the history as a pandas DataFrame.

    Parameters
    ----------
    model:
        The :class:`~workbench.SentenceEncoder` (or ``CrossEncoder``) to train, in place.
    train_objectives:
        ``[(data, loss), ...]`` or ``{name: (data, loss)}``.  ``data`` is a
        list of :class:`~workbench.data.records.Example`, a ``Dataset``, or any
        iterable of examples (streamed: read lazily, in order; needs
        ``steps_per_epoch`` when it has no length); or a table -- a
        :class:`~workbench.data.Table` with a column mapping, or a DataFrame,
        ``datasets.Dataset`` or CSV/TSV/JSONL/Parquet path whose ``label`` or
        ``score`` column is the label and other columns the texts; or, as in
        sentence-transformers, a ``DataLoader(dataset, batch_size=, shuffle=)``:
        its dataset is trained on, with its batch size and order (``shuffle=False``
        reads in order); its ``collate_fn`` is replaced, as sentence-transformers did.
        Objective names (used in events and history columns) default to the loss class names.
    evaluator:
        Called as ``evaluator(model, output_path=, epoch=, steps=)``, returns
        a dict of metrics; ``primary_metric`` and ``greater_is_better``
        decide which model is best.
    config, **settings:
        The settings: a :class:`TrainingConfig`, its fields as keyword
        arguments (``epochs=``, ``lr=``, ``output_path=``, ...), or both (the
        keywords override the config's fields).  They are documented once, in
        :class:`TrainingConfig`.

    However training ends (last step, ``request_stop``, ``KeyboardInterrupt``,
    early stopping, the NaN guard), ``fit`` returns the history; with an
    evaluator the final weights are evaluated (unless just done) and the
    history always has the primary metric's column.  A run whose weights turn
    non-finite, or whose loss stays non-finite for 3 steps, is stopped as
    diverged; such weights are never saved, and ``output_path`` keeps what it held.

    Example
    -------
    >>> from workbench.data.records import Example
    >>> from workbench.losses import CosineSimilarityLoss                     # doctest: +SKIP
    >>> data = [Example(["A man eats.", "Someone eats food."], 0.9)] * 64
    >>> history = fit(model, [(data, CosineSimilarityLoss(model))], epochs=1)  # doctest: +SKIP
    >>> history[["step", "loss"]].tail(1)                                     # doctest: +SKIP
    """
    config = TrainingConfig.build(config, settings, where="fit")
    return Trainer(model, train_objectives, evaluator, config=config).fit()
