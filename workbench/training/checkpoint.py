"""Checkpoint folders: write, find, read, rotate; random-number-generator state.

A checkpoint is a folder ``checkpoint-<step>/`` holding

* ``model/`` -- the encoder in its usual folder layout (``model.save``);
* ``trainer_state.json`` -- counters, data positions, best metric, subscriber state;
* ``<name>.pt`` -- optimizer, scheduler, gradient scaler, the losses' own
  parameters and the RNG states, each written with ``torch.save`` and read
  with ``torch.load(weights_only=True)``, so they hold only tensors, numbers,
  strings and containers of those.

Every folder is written through :func:`workbench.io.atomic_dir`: a crash
while saving leaves the previous checkpoint untouched.  :func:`trainer_state`
assembles what a checkpoint of a :class:`~workbench.training.Trainer` holds and
:func:`restore_trainer` puts it back, after :func:`check_resumable` made sure
the run is the same.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
import signal
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import torch
from torch import nn

from ..io import atomic_dir, read_json, read_tensor_file, write_json

logger = logging.getLogger(__name__)


STATE_VERSION = 2  # of trainer_state.json; version 1 recorded fewer settings and no data fingerprint
PREFIX = "checkpoint-"
STATE_FILE = "trainer_state.json"
MODEL_DIR = "model"
_NAME = re.compile(rf"^{PREFIX}(\d+)$")


def list_checkpoints(root: str | os.PathLike) -> list[Path]:
    """The ``checkpoint-<step>`` folders under ``root``, oldest (lowest step) first.

    Example
    -------
    >>> list_checkpoints("/no/such/folder")
    []
    """
    root = Path(root)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def find_checkpoint(path: str | os.PathLike) -> Path | None:
    """``path`` itself when it is a checkpoint, else the newest checkpoint inside it (None when there is none)."""
    path = Path(path)
    if (path / STATE_FILE).is_file():
        return path
    complete = [p for p in list_checkpoints(path) if (p / STATE_FILE).is_file()]
    return complete[-1] if complete else None


def write_checkpoint(folder: str | os.PathLike, model: Any, state: dict[str, Any], tensors: dict[str, Any]) -> Path:
    """Write a checkpoint folder atomically: ``model/``, ``trainer_state.json`` and one ``<name>.pt`` per entry of ``tensors``."""
    folder = Path(folder)
    with atomic_dir(folder) as tmp:
        model.save(tmp / MODEL_DIR)
        for name, obj in tensors.items():
            torch.save(obj, tmp / f"{name}.pt")
        write_json(tmp / STATE_FILE, state)
    return folder


#: What every checkpoint's ``trainer_state.json`` holds (later versions add more).
STATE_KEYS = (
    "global_step",
    "epoch",
    "step_in_epoch",
    "batch_size",
    "multi_task",
    "seed",
    "best_metric",
    "best_step",
    "objectives",
    "callbacks",
)
#: The ``.pt`` files every checkpoint holds (``scaler.pt`` only with float16).
TENSOR_FILES = ("optimizer", "scheduler", "losses", "rng")


def read_state(folder: str | os.PathLike) -> dict[str, Any]:
    """The ``trainer_state.json`` of a checkpoint; ``ValueError`` naming the file when it is damaged."""
    path = Path(folder) / STATE_FILE
    state = read_json(path)
    missing = [key for key in STATE_KEYS if key not in state] if isinstance(state, dict) else list(STATE_KEYS)
    if missing:
        raise ValueError(
            f"{path} is not a trainer state: it lacks {missing}; the checkpoint is damaged, resume from another one"
        )
    return state


def read_checkpoint(folder: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """The trainer state and the ``.pt`` objects of a checkpoint (loaded on the CPU, weights only).

    A missing, truncated or foreign file raises ``ValueError`` naming it.
    """
    folder = Path(folder)
    state = read_state(folder)
    tensors = {}
    for name in [*TENSOR_FILES, *(["scaler"] if (folder / "scaler.pt").exists() else [])]:
        path = folder / f"{name}.pt"
        if not path.is_file():
            raise ValueError(f"checkpoint {folder} is incomplete: {path.name} is missing; resume from another one")
        tensors[name] = read_tensor_file(path)
    return state, tensors


def load_model_weights(model: torch.nn.Module, folder: str | os.PathLike) -> None:
    """Copy the weights of the model (bi- or cross-encoder) saved in ``folder`` into ``model`` (same architecture)."""
    from ..cross_encoder import CrossEncoder
    from ..encoder import SentenceEncoder

    try:
        saved = (CrossEncoder if isinstance(model, CrossEncoder) else SentenceEncoder)(Path(folder), device="cpu")
    except (OSError, ValueError, RuntimeError, KeyError, EOFError) as err:
        raise ValueError(
            f"the model of checkpoint {Path(folder).parent} in {folder} cannot be loaded "
            f"({type(err).__name__}: {err}); resume from another checkpoint"
        ) from err
    try:
        model.load_state_dict(saved.state_dict())
    except RuntimeError as err:
        raise ValueError(f"the model saved in {folder} does not match the model being trained: {err}") from None


def remove_old_checkpoints(root: str | os.PathLike, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` checkpoints under ``root``; return the deleted folders."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    old = list_checkpoints(root)[:-keep]
    for folder in old:
        shutil.rmtree(folder, ignore_errors=True)
    return old


def save_model_keeping(model: Any, folder: str | os.PathLike) -> None:
    """Save the trained model into ``folder`` (``output_path``), keeping what else it holds.

    ``SentenceEncoder.save`` itself leaves history, checkpoints and evaluation
    results in place (see :func:`workbench.io.save_into`), so ``fit`` and
    ``model.save`` write a folder the same way; this is the trainer's name for it.
    """
    model.save(folder)


def rng_state() -> dict[str, Any]:
    """The states of torch's (CPU and CUDA), numpy's and Python's global generators, as tensors and numbers."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    _, internal, py_gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(keys.astype(np.int64)),  # type: ignore[attr-defined]  # the legacy tuple
        "numpy_pos": int(pos),
        "numpy_has_gauss": int(has_gauss),
        "numpy_gauss": float(gauss),
        "python": torch.tensor(internal, dtype=torch.int64),
        "python_gauss": py_gauss,
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(
        (
            "MT19937",
            state["numpy_keys"].numpy().astype(np.uint32),
            state["numpy_pos"],
            state["numpy_has_gauss"],
            state["numpy_gauss"],
        )
    )
    random.setstate((random.getstate()[0], tuple(state["python"].tolist()), state["python_gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextmanager
def defer_interrupts() -> Iterator[None]:
    """Hold back Ctrl-C (SIGINT) until the block is done, then deliver it.

    Around writes that must not be cut in half (a checkpoint, the best model)
    and the few statements that pair the weights with the step counters.  Only
    the main thread receives signals; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is None:
        yield  # no Python-level handler to hold back (not the main thread, or set outside Python)
        return
    received: list[tuple[int, Any]] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append((signum, frame)))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        if callable(previous):
            previous(*received[0])
        elif previous == signal.SIG_DFL:
            raise KeyboardInterrupt


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


# --------------------------------------------------------------------------- a trainer's state


def trainer_state(trainer: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """What a checkpoint of ``trainer`` holds now: the ``trainer_state.json`` dict and the ``.pt`` objects."""
    state = {
        "version": STATE_VERSION,
        "global_step": trainer.global_step,
        "epoch": trainer.epoch,
        "step_in_epoch": trainer.step_in_epoch,
        "steps_per_epoch": trainer.steps_per_epoch,
        "total_steps": trainer.total_steps,
        "batch_size": trainer.batch_size,
        "multi_task": trainer.config.multi_task,
        "seed": trainer.seed,
        "best_metric": trainer.best_metric,
        "best_step": trainer.best_step,
        "evaluated_step": trainer.evaluated_step,
        "settings": trainer.settings,
        "objectives": [
            {"name": o.name, "epoch": o.epoch, "consumed": o.consumed, "data": o.fingerprint()}
            for o in trainer.objectives
        ],
        "callbacks": {key: cb.state_dict() for key, cb in stateful_callbacks(trainer.hooks)},
    }
    tensors = {
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict(),
        "losses": {o.name: _own_state(o.loss, trainer.model) for o in trainer.objectives},
        "rng": trainer.boundary_rng(),
    }
    if trainer.scaler is not None:
        tensors["scaler"] = trainer.scaler.state_dict()
    return state, tensors


def restore_trainer(trainer: Any, folder: str | os.PathLike) -> None:
    """Put the checkpoint in ``folder`` back into ``trainer``: model, losses, optimiser, schedule, scaler,
    positions, subscribers and RNG; refused (by :func:`check_resumable`) for another run's checkpoint."""
    folder = Path(folder)
    state, tensors = read_checkpoint(folder)
    check_resumable(trainer, folder, state)
    with quiet_library_progress_bars():
        load_model_weights(trainer.model, folder / MODEL_DIR)
    for objective in trainer.objectives:
        _load_own_state(objective.loss, trainer.model, tensors["losses"][objective.name])
    trainer.optimizer.load_state_dict(tensors["optimizer"])
    trainer.scheduler.load_state_dict(tensors["scheduler"])
    if trainer.scaler is not None and "scaler" in tensors:
        trainer.scaler.load_state_dict(tensors["scaler"])
    for objective, saved in zip(trainer.objectives, state["objectives"]):
        objective.epoch, objective.consumed = saved["epoch"], saved["consumed"]
    trainer.global_step, trainer.epoch, trainer.step_in_epoch = (
        state["global_step"],
        state["epoch"],
        state["step_in_epoch"],
    )
    trainer.best_metric, trainer.best_step = state["best_metric"], state["best_step"]
    trainer.evaluated_step = state.get("evaluated_step")
    for key, callback in stateful_callbacks(trainer.hooks):
        if key in state["callbacks"]:
            callback.load_state_dict(state["callbacks"][key])
    set_rng_state(tensors["rng"])
    logger.info("resumed from %s at step %d", folder, trainer.global_step)


def check_resumable(trainer: Any, folder: Path, state: dict[str, Any]) -> None:
    """Refuse a checkpoint written with other data or settings than ``trainer``'s, naming every difference."""
    # Checkpoints of version 1 recorded fewer settings and no data fingerprint.
    saved = state.get("settings") or {
        "objectives": [o["name"] for o in state["objectives"]],
        "batch_size": state["batch_size"],
        "multi_task": state["multi_task"],
    }
    now = json.loads(json.dumps(trainer.settings))  # as it would read back from trainer_state.json
    if trainer.config.seed is not None:  # the seed passed; the trainer's own is the checkpoint's
        now["seed"] = trainer.config.seed
    changed = [f"{key}={saved[key]!r} (this run: {now[key]!r})" for key in saved if saved[key] != now.get(key)]
    if "settings" in state and saved["objectives"] == now["objectives"]:
        for objective, then in zip(trainer.objectives, state["objectives"]):
            mine = objective.fingerprint()
            if then["data"]["size"] != mine["size"]:
                changed.append(
                    f"the data of objective {objective.name!r} had {then['data']['size']} examples "
                    f"(this run: {mine['size']})"
                )
            elif None not in (then["data"]["sha256"], mine["sha256"]) and then["data"]["sha256"] != mine["sha256"]:
                changed.append(
                    f"the data of objective {objective.name!r} has other examples (same size "
                    f"{mine['size']}, different contents)"
                )
    elif "settings" not in state:
        logger.warning("checkpoint %s was written by an older version: its data cannot be checked", folder)
    if changed:
        raise ValueError(
            f"cannot resume from checkpoint {folder}: it was written with other data or settings: "
            + "; ".join(changed)
            + ". A resumed run continues the original one exactly, so it needs the "
            "same data and training settings; start a new run (without resume_from_checkpoint) to train "
            "with new ones"
        )


def stateful_callbacks(callbacks: Iterable[Any]) -> list[tuple[str, Any]]:
    """The subscribers with ``state_dict``/``load_state_dict``, keyed by class name (numbered when one repeats)."""
    found = [cb for cb in callbacks if hasattr(cb, "state_dict") and hasattr(cb, "load_state_dict")]
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
        raise ValueError(
            f"the checkpoint's state of {type(loss).__name__} does not match the loss: "
            f"missing {missing}, unexpected {result.unexpected_keys}"
        )
