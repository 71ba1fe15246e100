"""Train an encoder on one or several (data, loss) objectives.

:func:`fit` and :class:`Trainer` run the loop; everything around it --
progress bars, history files, checkpoints, early stopping, live plots -- is a
subscriber of the events below (:mod:`workbench.hooks`).  Every event also
carries ``trainer``.

=================  =================================================================
event              fields
=================  =================================================================
``train_begin``    ``total_steps``
``epoch_begin``    ``epoch``
``evaluation``     ``step, epoch, metrics, primary, is_best, primary_metric,
                   greater_is_better, saved_to, final`` (``saved_to``: the folder
                   the best model was just saved to, else None; before the
                   ``step_end`` of its step, except the ``final`` evaluation of
                   the weights training ended with, after it)
``step_end``       ``step, total_steps, epoch, losses ({objective: float}), lr,
                   samples_per_s, grad_norm``
``checkpoint``     ``step, path``
``epoch_end``      ``epoch``
``exception``      ``error`` (a ``KeyboardInterrupt`` or any other exception)
``train_end``      ``history, stopped_early, interrupted, reason`` (why it stopped, or None)
``progress_*``     task ``"train"``, shown by :class:`~workbench.hooks.TqdmProgress`
                   (the shared progress protocol: these carry no ``trainer``, whose
                   repr would land in the bar's postfix)
=================  =================================================================

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

import hashlib
import itertools
import json
import logging
import math
import os
import random
import time
import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import BatchSampler, DataLoader, IterableDataset, RandomSampler, SequentialSampler, get_worker_info

from ..data.tables import as_examples
from ..hooks import progress_hooks
from .callbacks import CheckpointSaver, History
from .checkpoint import (
    STATE_FILE, defer_interrupts, find_checkpoint, load_model_weights, read_checkpoint, read_state, rng_state,
    save_model_keeping, set_rng_state, write_checkpoint,
)
from .collate import Collator
from .samplers import BATCH_SAMPLERS, EpochBatchSampler, make_batch_sampler

logger = logging.getLogger(__name__)

MULTI_TASK = ("round_robin", "proportional")
SCHEDULERS = ("constant", "warmup_constant", "warmup_linear", "warmup_cosine")
#: What training autocasts to (mixed precision; fit's ``precision`` argument); not encode's output type.
MIXED_PRECISIONS = ("float32", "bfloat16", "float16")
STATE_VERSION = 2
DIVERGED_AFTER = 3  # non-finite losses in a row after which a run is stopped as diverged
FINGERPRINT_SAMPLE = 1000  # examples hashed (evenly spread) to recognise a data set


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
    decay, no_decay = [], []
    for name, param in named_parameters:
        if not param.requires_grad:
            continue
        lower = name.lower()
        plain = lower.endswith("bias") or "layernorm" in lower or "layer_norm" in lower
        (no_decay if plain else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


class _StreamBatches(IterableDataset):
    """Batches of ``batch_size`` examples read lazily from an iterable, after skipping ``skip`` batches.

    With several loader workers, worker ``w`` collates batches ``w, w + n, ...``,
    which the DataLoader returns in the original order.
    """

    def __init__(self, data: Iterable[Any], batch_size: int, skip: int) -> None:
        self.data, self.batch_size, self.skip = data, batch_size, skip

    def __iter__(self) -> Iterator[list[Any]]:
        info = get_worker_info()
        workers, me = (info.num_workers, info.id) if info is not None else (1, 0)
        items = itertools.islice(iter(self.data), self.skip * self.batch_size, None)
        for index in itertools.count():
            batch = list(itertools.islice(items, self.batch_size))
            if not batch:
                return
            if index % workers == me:
                yield batch


@dataclass
class Objective:
    """One (data, loss) pair and where training stands in its data."""

    name: str
    data: Any
    loss: nn.Module
    collator: Collator
    sampler: EpochBatchSampler | None  # None: streamed data, read in order
    size: int | None  # examples per pass; None for a stream of unknown length
    batches_per_pass: int | None
    epoch: int = 0  # index of the current pass over the data (its shuffle is seeded seed + epoch)
    consumed: int = 0  # batches of the current pass used by completed steps
    iterator: Iterator[Any] | None = None
    checked: bool = False
    fingerprint: dict[str, Any] | None = None  # size and hash of the data, recorded in checkpoints
    in_order: bool = False  # from a DataLoader without shuffling: read in order, like a stream


class Trainer:
    """Fit ``model`` on ``train_objectives``; see :func:`fit` for the arguments.

    Attributes
    ----------
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
        train_objectives: Sequence[tuple[Any, nn.Module]] | Mapping[str, tuple[Any, nn.Module]],
        evaluator: Callable[..., Mapping[str, float]] | None = None,
        *,
        epochs: int = 1,
        steps_per_epoch: int | None = None,
        batch_size: int | None = None,
        multi_task: str = "round_robin",
        batch_sampler: str | Sequence[str] = "default",
        num_workers: int = 0,
        lr: float = 2e-5,
        weight_decay: float = 0.01,
        scheduler: str = "warmup_linear",
        warmup_steps: int = 0,
        warmup_ratio: float | None = None,
        max_grad_norm: float | None = 1.0,
        precision: str = "float32",
        seed: int | None = None,
        evaluation_steps: int = 0,
        output_path: str | os.PathLike | None = None,
        save_best_model: bool = True,
        checkpoint_path: str | os.PathLike | None = None,
        checkpoint_steps: int = 500,
        checkpoint_save_total_limit: int | None = None,
        resume_from_checkpoint: str | os.PathLike | None = None,
        callbacks: Iterable[Any] | None = None,
        show_progress_bar: bool | None = None,
    ) -> None:
        _check_int("epochs", epochs, 1)
        batch_size = _loader_batch_size(train_objectives, batch_size)
        _check_int("batch_size", batch_size, 1)
        _check_int("num_workers", num_workers, 0)
        _check_int("evaluation_steps", evaluation_steps, 0)
        _check_int("warmup_steps", warmup_steps, 0)
        _check_int("checkpoint_steps", checkpoint_steps, 1)
        if steps_per_epoch is not None:
            _check_int("steps_per_epoch", steps_per_epoch, 1)
        _check_number("lr", lr, positive=True)
        _check_number("weight_decay", weight_decay, positive=False)
        if max_grad_norm is not None:
            _check_number("max_grad_norm", max_grad_norm, positive=True)
        if warmup_ratio is not None:
            _check_number("warmup_ratio", warmup_ratio, positive=False)
        for name, value, choices in (("multi_task", multi_task, MULTI_TASK), ("scheduler", scheduler, SCHEDULERS),
                                     ("precision", precision, MIXED_PRECISIONS)):
            if value not in choices:
                raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(choices)}")
        if warmup_ratio is not None and (warmup_steps or not 0 <= warmup_ratio < 1):
            raise ValueError(
                f"give warmup_steps or warmup_ratio (a fraction in [0, 1)), not both; got "
                f"warmup_steps={warmup_steps}, warmup_ratio={warmup_ratio}"
            )
        self.model = model
        self.device = next(model.parameters()).device
        if precision == "float16" and self.device.type != "cuda":
            raise ValueError(
                f"precision='float16' needs a CUDA device (the model is on {self.device}); use 'bfloat16' or 'float32'"
            )
        self.evaluator = evaluator
        self.epochs = epochs
        self.batch_size = batch_size
        self.multi_task = multi_task
        self.num_workers = num_workers
        self.max_grad_norm = max_grad_norm
        self.precision = precision
        self.evaluation_steps = evaluation_steps
        self.save_best_model = save_best_model
        self.output_path = Path(output_path) if output_path is not None else None
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else (
            self.output_path / "checkpoints" if self.output_path is not None else None)

        # The seed of a resumed run is the checkpoint's: it fixes the data order.  A different one is refused
        # with the other settings when the checkpoint is loaded.
        self._resume_folder = self._find_resume_folder(resume_from_checkpoint)
        self._passed_seed = seed
        if self._resume_folder is not None:
            seed = read_state(self._resume_folder)["seed"]
        self.seed = int(seed) if seed is not None else random.SystemRandom().randrange(2**31)

        self.objectives = self._build_objectives(train_objectives, batch_sampler)
        self.objective_names = [o.name for o in self.objectives]
        unsized = [o.name for o in self.objectives if o.size is None]
        if multi_task == "proportional" and len(self.objectives) > 1 and unsized:
            raise ValueError(f"multi_task='proportional' weights objectives by their size, but {unsized} "
                             "stream data of unknown length; use multi_task='round_robin'")
        self.steps_per_epoch = steps_per_epoch or self._default_steps_per_epoch()
        self.total_steps = self.epochs * self.steps_per_epoch

        self._params = self._trainable_parameters()
        # The fused kernel updates all parameters in one pass: ~10x faster than the per-tensor loop for MiniLM on CPU.
        fused = self.device.type in ("cpu", "cuda") and all(p.is_floating_point() for _, p in self._params)
        self.optimizer = torch.optim.AdamW(parameter_groups(self._params, weight_decay), lr=lr, fused=fused)
        warmup = int(warmup_ratio * self.total_steps) if warmup_ratio is not None else warmup_steps
        self.scheduler = LambdaLR(self.optimizer, lr_factor(scheduler, warmup, self.total_steps))
        # What decides the numbers of a run: a checkpoint resumes only under the same (see load_checkpoint).
        self.settings = {
            "objectives": self.objective_names,
            "batch_size": batch_size, "batch_sampler": self.samplers, "multi_task": multi_task, "epochs": epochs,
            "steps_per_epoch": self.steps_per_epoch, "lr": lr, "weight_decay": weight_decay, "scheduler": scheduler,
            "warmup_steps": warmup, "max_grad_norm": max_grad_norm, "precision": precision, "seed": self.seed,
        }
        self.scaler = torch.amp.GradScaler("cuda") if precision == "float16" else None

        self.hooks = progress_hooks(show_progress_bar, callbacks)
        self._history = next((cb for cb in self.hooks if isinstance(cb, History)), None)
        if self._history is None:
            self._history = History()
            self.hooks.add(self._history)
        if self.checkpoint_path is not None and not any(isinstance(cb, CheckpointSaver) for cb in self.hooks):
            self.hooks.add(CheckpointSaver(
                every_n_steps=checkpoint_steps if checkpoint_path is not None else None,
                save_total_limit=checkpoint_save_total_limit,
            ))

        self.global_step = 0
        self.epoch = 0
        self.step_in_epoch = 0
        self.best_metric: float | None = None
        self.best_step: int | None = None
        self.stop_reason: str | None = None
        self.checkpoint_allowed = True
        self.evaluated_step: int | None = None  # the step whose weights were evaluated last
        self._bad_steps = 0  # steps in a row whose loss was not finite
        self._started = False
        self._mid_step = False
        self._rng_at_step_start: dict[str, Any] | None = None
        self._rng_at_stop: dict[str, Any] | None = None

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

    def _build_objectives(self, train_objectives: Any, batch_sampler: str | Sequence[str]) -> list[Objective]:
        if isinstance(train_objectives, Mapping):
            pairs = [(str(name), pair) for name, pair in train_objectives.items()]
        elif isinstance(train_objectives, Sequence) and not isinstance(train_objectives, str):
            pairs = [(None, pair) for pair in train_objectives]
        else:
            raise TypeError(f"train_objectives must be a list of (data, loss) pairs, got {type(train_objectives).__name__}")
        if not pairs:
            raise ValueError("train_objectives is empty; give at least one (data, loss) pair, "
                             "e.g. [(examples, CosineSimilarityLoss(model))]")
        samplers = [batch_sampler] * len(pairs) if isinstance(batch_sampler, str) else list(batch_sampler)
        self.samplers = samplers
        if len(samplers) != len(pairs):
            raise ValueError(f"batch_sampler lists {len(samplers)} samplers for {len(pairs)} objectives")
        for index, (_, pair) in enumerate(pairs):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(f"train_objectives[{index}] must be a (data, loss) pair, got {type(pair).__name__}")
        # Unnamed objectives are called after their loss, numbered when a loss class repeats.
        classes = [type(pair[1]).__name__ for _, pair in pairs]
        names = [name or (cls if classes.count(cls) == 1 else f"{cls}_{i}")
                 for i, ((name, _), cls) in enumerate(zip(pairs, classes))]
        objectives = [self._objective(name, *pair, kind) for name, (_, pair), kind in zip(names, pairs, samplers)]
        # recorded in the settings: a resume must read such data in order too
        self.samplers = ["in_order" if o.in_order else kind for o, kind in zip(objectives, samplers)]
        return objectives

    def _objective(self, name: str, data: Any, loss: nn.Module, kind: str) -> Objective:
        if not isinstance(loss, nn.Module) or not hasattr(loss, "label_kind"):
            raise TypeError(f"objective {name!r}: the loss must be a workbench Loss module, got {type(loss).__name__}")
        if getattr(loss, "model", None) is not self.model:
            raise ValueError(f"objective {name!r}: {type(loss).__name__} was built for another model; "
                             "build the loss with the model being trained")
        if kind not in BATCH_SAMPLERS:
            raise ValueError(f"objective {name!r}: unknown batch_sampler {kind!r}; valid: {', '.join(BATCH_SAMPLERS)}")
        in_order = False
        if isinstance(data, DataLoader):  # sentence-transformers' way: its dataset, batch size and order
            data, in_order = _loader_dataset(name, data, kind)
        data = as_examples(data)  # a DataFrame, datasets.Dataset or table file: columns mapped by default
        if isinstance(data, (str, bytes)) or not (hasattr(data, "__iter__") or hasattr(data, "__getitem__")):
            raise TypeError(f"objective {name!r}: data must be a list of Examples, a Dataset or an iterable of "
                            f"Examples, got {type(data).__name__}")
        loss.to(self.device)
        collator = Collator(self.model.tokenize, loss.label_kind, f"objective {name!r} ({type(loss).__name__})",
                            featurize=getattr(loss, "featurize", None))
        indexable = (hasattr(data, "__len__") and hasattr(data, "__getitem__") and not isinstance(data, IterableDataset)
                     and not in_order)
        size = len(data) if hasattr(data, "__len__") else None
        if size == 0:
            raise ValueError(f"objective {name!r}: the data is empty")
        sampler, per_pass = None, None
        if indexable:
            sampler = make_batch_sampler(kind, data, self.batch_size, self.seed)
            per_pass = len(sampler)
        elif kind != "default":
            raise ValueError(f"objective {name!r}: batch_sampler={kind!r} needs a list or Dataset (it looks at all "
                             "examples); streamed data is read in order")
        elif size is not None:
            per_pass = math.ceil(size / self.batch_size)
        objective = Objective(name, data, loss, collator, sampler, size, per_pass, in_order=in_order)
        if indexable:
            first = [data[0]]
            self._check_objective(objective, len(collator.columns(first)), collator.labels(first))
        return objective

    def _check_objective(self, objective: Objective, n_columns: int, labels: torch.Tensor | None) -> None:
        """Fail early, naming the objective and its loss, when the data does not suit the loss."""
        # The data may hold fewer examples than a batch: then every batch is that small.
        batch_size = min(self.batch_size, objective.size or self.batch_size)
        try:
            objective.loss.check_batch(n_columns, labels)
            for part in objective.loss.modules():  # the loss itself, or the loss a wrapper (Matryoshka) holds
                if hasattr(part, "check_batch_size"):
                    part.check_batch_size(batch_size, n_columns)
        except ValueError as err:
            raise ValueError(f"objective {objective.name!r}: its examples have {n_columns} text(s) and "
                             f"{type(objective.loss).__name__} does not accept them: {err}") from None
        objective.checked = True

    def _default_steps_per_epoch(self) -> int:
        per_pass = [o.batches_per_pass for o in self.objectives]
        unknown = [o.name for o in self.objectives if o.batches_per_pass is None]
        if unknown:
            raise ValueError(f"objective(s) {unknown} stream data of unknown length; give steps_per_epoch")
        if len(per_pass) == 1:
            return per_pass[0]
        # Round robin ends an epoch with the smallest data set (as sentence-transformers did);
        # proportional sampling sees every batch once per epoch on average.
        return min(per_pass) if self.multi_task == "round_robin" else sum(per_pass)

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
    def history(self) -> Any:
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
    def fit(self) -> Any:
        """Train; return the history DataFrame (also after ``KeyboardInterrupt``).

        Calling ``fit`` again after a requested stop or an interruption continues
        from the last completed step.
        """
        self._start()
        try:
            self._run()
        except KeyboardInterrupt as error:
            logger.warning("training interrupted at step %d of %d; the model keeps the weights of step %d and "
                           "fit() again (or resume_from_checkpoint) continues from there",
                           self.global_step, self.total_steps, self.global_step)
            self._end(error)
            return self.history
        except Exception as error:
            self._end(error)
            raise
        self._end(None)
        return self.history

    def _start(self) -> None:
        if not self._started:
            self._started = True
            torch.manual_seed(self.seed)
            np.random.seed(self.seed % 2**32)
            random.seed(self.seed)
            if self._resume_folder is not None:
                self.load_checkpoint(self._resume_folder)
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
        self.emit("train_begin", total_steps=self.total_steps)
        self.hooks.emit("progress_begin", task="train", total=self.total_steps, unit="steps", desc="Training")

    def _run(self) -> None:
        while self.epoch < self.epochs and self.stop_reason is None:
            self.emit("epoch_begin", epoch=self.epoch)
            while self.step_in_epoch < self.steps_per_epoch and self.stop_reason is None:
                self._step()
            if self.step_in_epoch < self.steps_per_epoch:
                return
            self.emit("epoch_end", epoch=self.epoch)
            self.epoch += 1
            self.step_in_epoch = 0

    def _step(self) -> None:
        self._rng_at_step_start = rng_state()
        self._mid_step = True
        started = time.perf_counter()
        chosen = self._objectives_for_step()
        self.optimizer.zero_grad(set_to_none=True)
        losses: dict[str, float] = {}
        examples = 0
        for objective in chosen:
            features, labels = self._next_batch(objective)
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
            (self.evaluation_steps and self.global_step % self.evaluation_steps == 0)
            or self.step_in_epoch == self.steps_per_epoch
        ):
            self.evaluate()
        self.emit("step_end", step=self.global_step, total_steps=self.total_steps, epoch=self.epoch,
                  losses=losses, lr=lr, samples_per_s=samples_per_s, grad_norm=grad_norm)
        self.hooks.emit("progress_update", task="train", n=1, loss=round(sum(losses.values()) / len(losses), 4))

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

    def _objectives_for_step(self) -> list[Objective]:
        if self.multi_task == "round_robin" or len(self.objectives) == 1:
            return self.objectives
        sizes = np.array([o.size for o in self.objectives], dtype=np.float64)
        # A generator per step (not one advancing state) makes the choice reproducible after resuming.
        choice = np.random.default_rng([self.seed, self.global_step]).choice(len(sizes), p=sizes / sizes.sum())
        return [self.objectives[int(choice)]]

    def _next_batch(self, objective: Objective) -> tuple[list[dict[str, torch.Tensor]], torch.Tensor | None]:
        if objective.iterator is None:
            objective.iterator = iter(self._loader(objective))
        try:
            features, labels = next(objective.iterator)
        except StopIteration:
            if objective.consumed == 0:
                raise ValueError(f"objective {objective.name!r}: the data yielded no batch "
                                 f"(pass {objective.epoch})") from None
            objective.epoch, objective.consumed = objective.epoch + 1, 0
            objective.iterator = iter(self._loader(objective))
            try:
                features, labels = next(objective.iterator)
            except StopIteration:
                raise ValueError(
                    f"objective {objective.name!r}: the data ran out and yields nothing when read again; "
                    "a generator can be read only once: give a re-iterable (a list, a Dataset, or an object "
                    "whose __iter__ starts over) or fewer epochs * steps_per_epoch"
                ) from None
        if not objective.checked:
            self._check_objective(objective, len(features), labels)
        features = [{k: v.to(self.device) for k, v in column.items()} for column in features]
        return features, labels.to(self.device) if labels is not None else None

    def _loader(self, objective: Objective) -> DataLoader:
        # Own generator: creating a loader iterator must not draw from torch's global RNG.
        generator = torch.Generator().manual_seed(self.seed + objective.epoch)
        if objective.sampler is not None:
            objective.sampler.set_epoch(objective.epoch, skip=objective.consumed)
            return DataLoader(objective.data, batch_sampler=objective.sampler, collate_fn=objective.collator,
                              num_workers=self.num_workers, generator=generator)
        stream = _StreamBatches(objective.data, self.batch_size, objective.consumed)
        return DataLoader(stream, batch_size=None, collate_fn=objective.collator,
                          num_workers=self.num_workers, generator=generator)

    def _autocast(self) -> Any:
        if self.precision == "float32":
            return nullcontext()
        dtype = torch.bfloat16 if self.precision == "bfloat16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def _update(self) -> float:
        """Clip, step the optimiser (skipped when the gradients are not finite) and the schedule; return the norm."""
        params = [p for _, p in self._params]
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if self.max_grad_norm:
            norm = float(torch.nn.utils.clip_grad_norm_(params, self.max_grad_norm))
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

    def evaluate(self, final: bool = False) -> dict[str, float]:
        """Run the evaluator now; save the model to ``output_path`` when the primary metric is the best so far.

        ``final`` marks the evaluation of the weights training ended with (sent
        after the ``step_end`` of their step).  Weights that are not finite are
        never kept as the best model.
        """
        self.model.eval()
        try:
            metrics = self.evaluator(self.model, output_path=self.output_path / "eval" if self.output_path else None,
                                     epoch=self.epoch, steps=self.global_step)
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
            self.best_metric is None or (primary > self.best_metric if greater else primary < self.best_metric))
        if is_best and not self._weights_finite():
            logger.warning("step %d: the weights are not finite; they are not kept as the best model", self.global_step)
            is_best = False
        saved_to = None
        # The save, the new best and its event go together: an interrupt waits for all three.
        with defer_interrupts():
            if is_best:
                self.best_metric, self.best_step = primary, self.global_step
                if self.output_path is not None and self.save_best_model:
                    self._save_model(self.output_path)
                    saved_to = self.output_path
            self.evaluated_step = self.global_step
            self.emit("evaluation", step=self.global_step, epoch=self.epoch, metrics=dict(metrics), primary=primary,
                      is_best=is_best, primary_metric=key, greater_is_better=greater, saved_to=saved_to,
                      final=final)
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
            logger.warning("the final evaluation was interrupted; the history has no metrics for step %d",
                           self.global_step)
        if self.output_path is None or (self.evaluator is not None and self.best_step is not None):
            return
        if self._bad_steps or not self._weights_finite():
            logger.warning("the final weights are not finite or gave a non-finite loss at step %d: they are not "
                           "saved, and %s keeps what it held", self.global_step, self.output_path)
            return
        with defer_interrupts():
            self._save_model(self.output_path)

    def _end(self, error: BaseException | None) -> None:
        self._rng_at_stop = self._boundary_rng()
        self.optimizer.zero_grad(set_to_none=True)
        if error is None or isinstance(error, KeyboardInterrupt):
            self._finish()
            set_rng_state(self._rng_at_stop)  # the final evaluation must not shift a continued run's randomness
        for module, training in self._modes:
            module.train(training)
        events = [("progress_end", {"task": "train"}),
                  ("train_end", {"trainer": self, "stopped_early": self.stop_reason is not None,
                                 "interrupted": error is not None, "reason": self.stop_reason})]
        if error is not None:
            events.insert(0, ("exception", {"trainer": self, "error": error}))
        for name, fields in events:
            if name == "train_end":
                fields["history"] = self.history
            try:
                self.hooks.emit(name, **fields)
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
        state = {
            "version": STATE_VERSION, "global_step": self.global_step, "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch, "steps_per_epoch": self.steps_per_epoch,
            "total_steps": self.total_steps, "batch_size": self.batch_size, "multi_task": self.multi_task,
            "seed": self.seed, "best_metric": self.best_metric, "best_step": self.best_step,
            "evaluated_step": self.evaluated_step, "settings": self.settings,
            "objectives": [{"name": o.name, "epoch": o.epoch, "consumed": o.consumed, "data": self._fingerprint(o)}
                           for o in self.objectives],
            "callbacks": {key: cb.state_dict() for key, cb in self._stateful_callbacks()},
        }
        tensors = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "losses": {o.name: _own_state(o.loss, self.model) for o in self.objectives},
            "rng": self._boundary_rng(),
        }
        if self.scaler is not None:
            tensors["scaler"] = self.scaler.state_dict()
        # A second Ctrl-C waits for the write: a checkpoint is whole or absent, never half-written.
        with defer_interrupts(), quiet_library_progress_bars():
            folder = write_checkpoint(Path(root) / f"checkpoint-{self.global_step}", self.model, state, tensors)
        logger.info("checkpoint written to %s", folder)
        self.emit("checkpoint", step=self.global_step, path=folder)
        return folder

    def _fingerprint(self, objective: Objective) -> dict[str, Any]:
        """The size and a hash of up to ``FINGERPRINT_SAMPLE`` examples of an objective's data (computed once).

        Examples are taken evenly spread over indexable data, or from the start
        of a re-iterable stream; a one-shot iterator cannot be read twice, so
        only its length (if any) is recorded.
        """
        if objective.fingerprint is None:
            data, size = objective.data, objective.size
            if objective.sampler is not None:
                indices = np.unique(np.linspace(0, size - 1, min(size, FINGERPRINT_SAMPLE)).round().astype(int))
                sample: Iterable[Any] | None = (data[int(i)] for i in indices)
            else:
                sample = None if iter(data) is data else itertools.islice(data, FINGERPRINT_SAMPLE)
            digest = None
            if sample is not None:
                hasher = hashlib.sha256()
                for example in sample:
                    hasher.update(repr(example).encode("utf-8", "surrogatepass") + b"\0")
                digest = hasher.hexdigest()
            objective.fingerprint = {"size": size, "sha256": digest}
        return objective.fingerprint

    def _check_resumable(self, folder: Path, state: dict[str, Any]) -> None:
        """Refuse a checkpoint written with other data or settings, naming every difference."""
        # Checkpoints of version 1 recorded fewer settings and no data fingerprint.
        saved = state.get("settings") or {"objectives": [o["name"] for o in state["objectives"]],
                                          "batch_size": state["batch_size"], "multi_task": state["multi_task"]}
        now = json.loads(json.dumps(self.settings))  # as it would read back from trainer_state.json
        if self._passed_seed is not None:
            now["seed"] = self._passed_seed
        changed = [f"{key}={saved[key]!r} (this run: {now[key]!r})" for key in saved if saved[key] != now.get(key)]
        if "settings" in state and saved["objectives"] == now["objectives"]:
            for objective, then in zip(self.objectives, state["objectives"]):
                mine = self._fingerprint(objective)
                if then["data"]["size"] != mine["size"]:
                    changed.append(f"the data of objective {objective.name!r} had {then['data']['size']} examples "
                                   f"(this run: {mine['size']})")
                elif None not in (then["data"]["sha256"], mine["sha256"]) and then["data"]["sha256"] != mine["sha256"]:
                    changed.append(f"the data of objective {objective.name!r} has other examples (same size "
                                   f"{mine['size']}, different contents)")
        elif "settings" not in state:
            logger.warning("checkpoint %s was written by an older version: its data cannot be checked", folder)
        if changed:
            raise ValueError(
                f"cannot resume from checkpoint {folder}: it was written with other data or settings: "
                + "; ".join(changed) + ". A resumed run continues the original one exactly, so it needs the "
                "same data and training settings; start a new run (without resume_from_checkpoint) to train "
                "with new ones"
            )

    def load_checkpoint(self, folder: str | os.PathLike) -> None:
        """Restore model, losses, optimiser, schedule, scaler, positions, subscribers and RNG from ``folder``.

        Refused (``ValueError`` naming each difference) when the checkpoint
        was written with other data or other training settings.
        """
        folder = Path(folder)
        state, tensors = read_checkpoint(folder)
        self._check_resumable(folder, state)
        with quiet_library_progress_bars():
            load_model_weights(self.model, folder / "model")
        for objective in self.objectives:
            _load_own_state(objective.loss, self.model, tensors["losses"][objective.name])
        self.optimizer.load_state_dict(tensors["optimizer"])
        self.scheduler.load_state_dict(tensors["scheduler"])
        if self.scaler is not None and "scaler" in tensors:
            self.scaler.load_state_dict(tensors["scaler"])
        for objective, saved in zip(self.objectives, state["objectives"]):
            objective.epoch, objective.consumed = saved["epoch"], saved["consumed"]
        self.global_step, self.epoch, self.step_in_epoch = state["global_step"], state["epoch"], state["step_in_epoch"]
        self.best_metric, self.best_step = state["best_metric"], state["best_step"]
        self.evaluated_step = state.get("evaluated_step")
        for key, callback in self._stateful_callbacks():
            if key in state["callbacks"]:
                callback.load_state_dict(state["callbacks"][key])
        set_rng_state(tensors["rng"])
        logger.info("resumed from %s at step %d", folder, self.global_step)

    def _boundary_rng(self) -> dict[str, Any]:
        """The RNG states after the last completed step (inside a step: as they were when it began)."""
        return self._rng_at_step_start if self._mid_step else rng_state()

    def _stateful_callbacks(self) -> list[tuple[str, Any]]:
        found = [cb for cb in self.hooks if hasattr(cb, "state_dict") and hasattr(cb, "load_state_dict")]
        names = [type(cb).__name__ for cb in found]
        return [(name if names.count(name) == 1 else f"{name}-{i}", cb) for i, (name, cb) in enumerate(zip(names, found))]


def _model_prefixes(loss: nn.Module, model: nn.Module) -> tuple[str, ...]:
    """The attribute paths under which ``loss`` holds ``model`` (``"model."``, ``"loss.model."``, ...)."""
    return tuple(f"{name}." for name, module in loss.named_modules(remove_duplicate=False) if module is model and name)


def _own_state(loss: nn.Module, model: nn.Module) -> dict[str, torch.Tensor]:
    """The state of ``loss`` without the model's (a classifier head, a learnable scale, ...)."""
    prefixes = _model_prefixes(loss, model)
    return {k: v for k, v in loss.state_dict().items() if not k.startswith(prefixes)}


def _load_own_state(loss: nn.Module, model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    result = loss.load_state_dict(state, strict=False)
    prefixes = _model_prefixes(loss, model)
    missing = [k for k in result.missing_keys if not k.startswith(prefixes)]
    if missing or result.unexpected_keys:
        raise ValueError(f"the checkpoint's state of {type(loss).__name__} does not match the loss: "
                         f"missing {missing}, unexpected {result.unexpected_keys}")


def _loader_batch_size(train_objectives: Any, batch_size: int | None) -> int:
    """``batch_size``, or the one the objectives' DataLoaders share (default 16); a different one is refused.

    The trainer uses one batch size for all objectives, as a DataLoader-built
    run in sentence-transformers uses each loader's own.
    """
    pairs = train_objectives.values() if isinstance(train_objectives, Mapping) else train_objectives
    # malformed objectives are left for _build_objectives to name
    loaders = [p[0] for p in pairs if isinstance(p, (tuple, list)) and p and isinstance(p[0], DataLoader)] \
        if isinstance(pairs, Iterable) and not isinstance(pairs, str) else []
    sizes = sorted({loader.batch_size for loader in loaders}, key=str)
    if batch_size is None and len(sizes) == 1:
        return sizes[0]
    if sizes and (batch_size is None or sizes != [batch_size]):
        given = f"fit(batch_size={batch_size}) but " if batch_size is not None else ""
        raise ValueError(f"{given}the DataLoaders of train_objectives have batch sizes {sizes}; a step takes one "
                         "batch size for all objectives: make them equal")
    return 16 if batch_size is None else batch_size


def _loader_dataset(name: str, loader: DataLoader, kind: str) -> tuple[Any, bool]:
    """The dataset of a ``DataLoader`` objective and whether it is read in order (``shuffle=False``).

    The trainer batches, shuffles and collates itself (as sentence-transformers'
    ``fit`` replaced a loader's ``collate_fn``); what it cannot do as the
    loader would is refused, naming it.
    """
    where = f"objective {name!r}: the DataLoader"
    if loader.batch_size is None or not isinstance(loader.batch_sampler, BatchSampler):
        raise ValueError(f"{where} has its own batch_sampler ({type(loader.batch_sampler).__name__}); give "
                         "DataLoader(dataset, batch_size=..., shuffle=...) or the examples with fit(batch_sampler=...)")
    if loader.drop_last:
        raise ValueError(f"{where} has drop_last=True; the trainer keeps the last, smaller batch of each pass")
    if isinstance(loader.sampler, RandomSampler) and not loader.sampler.replacement:
        return loader.dataset, False
    if isinstance(loader.sampler, SequentialSampler):
        if kind != "default":
            raise ValueError(f"{where} reads in order (shuffle=False), which batch_sampler={kind!r} would not; "
                             "use shuffle=True or the default batch_sampler")
        return loader.dataset, True
    raise ValueError(f"{where} samples with {type(loader.sampler).__name__}; only shuffle=True or shuffle=False "
                     "loaders are taken (give the examples and fit(batch_sampler=...) for other orders)")


def _check_int(name: str, value: Any, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_number(name: str, value: Any, positive: bool) -> None:
    accepted = f"{name} must be a finite number {'> 0' if positive else '>= 0'} (an int or a float, e.g. 2e-5)"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{accepted}, got {value!r} ({type(value).__name__})")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{accepted}, got {value!r}")


@contextmanager
def quiet_library_progress_bars() -> Iterator[None]:
    """Silence the progress bars of transformers and huggingface_hub (\"Writing model shards\", ...) in the block."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
    from transformers.utils import logging as hf_logging

    hub_was_off, transformers_was_on = are_progress_bars_disabled(), hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # both libraries' bars
    try:
        yield
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # enabling warns where HF_HUB_DISABLE_PROGRESS_BARS=1 forbids it
            if transformers_was_on:
                hf_logging.enable_progress_bar()
            (disable_progress_bars if hub_was_off else enable_progress_bars)()


def fit(
    model: nn.Module,
    train_objectives: Sequence[tuple[Any, nn.Module]] | Mapping[str, tuple[Any, nn.Module]],
    evaluator: Callable[..., Mapping[str, float]] | None = None,
    **options: Any,
) -> Any:
    """Train ``model`` on ``train_objectives``; return the history as a pandas DataFrame.

    Parameters
    ----------
    model:
        The :class:`~workbench.SentenceEncoder` to train (in place).
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
    epochs, steps_per_epoch:
        ``steps_per_epoch`` defaults to one pass over the data (the smallest
        data set for round robin, all of them for proportional sampling).
    batch_size, num_workers:
        Examples per batch (default: the DataLoaders' batch size, else 16); DataLoader
        worker processes (tokenisation runs in them).
    multi_task:
        ``"round_robin"``: one batch of every objective per step;
        ``"proportional"``: one objective per step, drawn with probability
        proportional to its number of examples.
    batch_sampler:
        ``"default"`` (shuffled), ``"no_duplicates"`` (no text twice per
        batch, for in-batch negatives) or ``"group_by_label"`` (for batch-hard
        triplet losses); one name, or one per objective.
    lr, weight_decay, scheduler, warmup_steps, warmup_ratio, max_grad_norm:
        AdamW (no decay on biases and LayerNorm) with a schedule among
        ``constant``, ``warmup_constant``, ``warmup_linear``, ``warmup_cosine``;
        gradients are clipped to ``max_grad_norm`` (``None``: no clipping).
    precision:
        ``float32``, ``bfloat16`` (autocast) or ``float16`` (CUDA only, with a gradient scaler).
    seed:
        Seeds torch, numpy, random and the data order (``seed + epoch`` per
        pass); ``None`` draws one (kept in ``trainer.seed`` and checkpoints).
    evaluation_steps:
        Evaluate every this many steps; evaluation also ends every epoch (0: only then).
    output_path, save_best_model:
        Folder of the best model (by the primary metric), or of the final model
        without an evaluator; also holds ``history.csv``/``history.jsonl``,
        ``eval/`` and, without ``checkpoint_path``, interruption checkpoints.
    checkpoint_path, checkpoint_steps, checkpoint_save_total_limit:
        Write ``checkpoint-<step>/`` every ``checkpoint_steps`` steps, keep the newest few.
    resume_from_checkpoint:
        A checkpoint folder, a folder of checkpoints, or ``"latest"`` (the
        newest in the checkpoint folder; a fresh start when there is none).
        The run continues with the checkpoint's seed (it fixes the data order).
        A resumed run continues the original exactly, so no saved setting
        silently wins: different data (size, or a hash of up to 1,000
        examples) or a different ``lr``, ``weight_decay``, ``scheduler``,
        warmup, ``max_grad_norm``, ``precision``, ``batch_size``,
        ``batch_sampler``, ``multi_task``, ``epochs``, ``steps_per_epoch``,
        objective names or ``seed`` is refused, naming each difference.
        Evaluation, checkpoint, output and worker settings may change.
    callbacks, show_progress_bar:
        Extra subscribers; a tqdm bar (``None``: in a terminal when no callbacks are given).
        Inside ``fit`` these are the only progress display: the bars of
        transformers and huggingface_hub are silenced while models are saved.

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
    return Trainer(model, train_objectives, evaluator, **options).fit()
