"""The settings of a training run, documented once: :class:`TrainingConfig`.

``fit(model, objectives, evaluator, **settings)`` and ``Trainer(...)`` take the
same names as keyword arguments, or one ``config=TrainingConfig(...)`` (keyword
arguments given beside it override its fields).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from ..validation import renamed_keywords

MULTI_TASK = ("round_robin", "proportional")
SCHEDULERS = ("constant", "warmup_constant", "warmup_linear", "warmup_cosine")
#: The compute types of training (autocast); not the output types of ``encode(precision=)``.
#: What training autocasts to (mixed precision; fit's ``precision`` argument); not encode's output type.
MIXED_PRECISIONS = ("float32", "bfloat16", "float16")


@dataclass
class TrainingConfig:
    """How to train: loop, data, optimiser, evaluation, saving and display.

    Loop and data
        ``epochs`` (1); ``steps_per_epoch`` (default: one pass over the data --
        the smallest data set for round robin, all of them for proportional
        sampling; needed for streams without a length); ``batch_size`` (default:
        the DataLoaders' batch size, else 16); ``num_workers`` (DataLoader worker
        processes, in which tokenisation runs); ``multi_task``: ``"round_robin"``
        (one batch of every objective per step) or ``"proportional"`` (one
        objective per step, drawn in proportion to its number of examples);
        ``batch_sampler``: ``"default"`` (shuffled), ``"no_duplicates"`` (no text
        twice per batch, for in-batch negatives) or ``"group_by_label"`` (for
        batch-hard triplet losses), one name or one per objective.
    Optimiser
        ``lr``, ``weight_decay``: AdamW (no decay on biases and LayerNorm);
        ``scheduler`` among ``constant``, ``warmup_constant``, ``warmup_linear``,
        ``warmup_cosine``, with ``warmup_steps`` or ``warmup_ratio`` (a fraction
        of all steps); gradients clipped to ``max_grad_norm`` (``None``: not
        clipped); ``precision``: ``float32``, ``bfloat16`` (autocast) or
        ``float16`` (CUDA only, with a gradient scaler); ``seed`` seeds torch,
        numpy, random and the data order (``seed + epoch`` per pass); ``None``
        draws one (kept in ``trainer.seed`` and checkpoints).
    Evaluation and saving
        ``evaluation_steps``: evaluate every this many steps; evaluation also
        ends every epoch (0: only then).  ``output_path``: folder of the best
        model (by the evaluator's primary metric; with ``save_best_model``), or
        of the final model without an evaluator; it also holds
        ``history.csv``/``history.jsonl``, ``eval/`` and, without
        ``checkpoint_path``, interruption checkpoints.  ``checkpoint_path``,
        ``checkpoint_steps``, ``checkpoint_save_total_limit``: write
        ``checkpoint-<step>/`` every ``checkpoint_steps`` steps and keep the
        newest few.
    Resuming
        ``resume_from_checkpoint``: a checkpoint folder, a folder of
        checkpoints, or ``"latest"`` (the newest in the checkpoint folder; a
        fresh start when there is none).  The run continues with the
        checkpoint's seed (it fixes the data order).  A resumed run continues the
        original exactly, so no saved setting silently wins: different data
        (size, or a hash of up to 1,000 examples) or a different ``lr``,
        ``weight_decay``, ``scheduler``, warmup, ``max_grad_norm``,
        ``precision``, ``batch_size``, ``batch_sampler``, ``multi_task``,
        ``epochs``, ``steps_per_epoch``, objective names or ``seed`` is refused,
        naming each difference.  Evaluation, checkpoint, output and worker
        settings may change.
    Display
        ``callbacks``: extra subscribers (:mod:`workbench.hooks`);
        ``show_progress_bar``: a tqdm bar (``None``: in a terminal when no
        callbacks are given).  Inside ``fit`` these are the only progress
        display: the bars of transformers and huggingface_hub are silenced while
        models are saved.

    The old names ``eval_steps``, ``output_dir`` and ``show_progress`` are taken
    with a ``FutureWarning`` (see :data:`workbench.validation.RENAMED`).

    Example
    -------
    >>> config = TrainingConfig(epochs=2, lr=1e-3, evaluation_steps=50)
    >>> TrainingConfig.build(config, {"lr": 5e-4}).lr
    0.0005
    >>> TrainingConfig(lr=0)
    Traceback (most recent call last):
    ...
    ValueError: lr must be a finite number > 0 (an int or a float, e.g. 2e-5), got 0
    """

    epochs: int = 1
    steps_per_epoch: int | None = None
    batch_size: int | None = None
    multi_task: str = "round_robin"
    batch_sampler: str | Sequence[str] = "default"
    num_workers: int = 0
    lr: float = 2e-5
    weight_decay: float = 0.01
    scheduler: str = "warmup_linear"
    warmup_steps: int = 0
    warmup_ratio: float | None = None
    max_grad_norm: float | None = 1.0
    precision: str = "float32"
    seed: int | None = None
    evaluation_steps: int = 0
    output_path: str | os.PathLike | None = None
    save_best_model: bool = True
    checkpoint_path: str | os.PathLike | None = None
    checkpoint_steps: int = 500
    checkpoint_save_total_limit: int | None = None
    resume_from_checkpoint: str | os.PathLike | None = None
    callbacks: Iterable[Any] | None = None
    show_progress_bar: bool | None = None

    def __post_init__(self) -> None:
        for name, minimum in (
            ("epochs", 1),
            ("num_workers", 0),
            ("evaluation_steps", 0),
            ("warmup_steps", 0),
            ("checkpoint_steps", 1),
        ):
            _check_int(name, getattr(self, name), minimum)
        for name in ("steps_per_epoch", "batch_size"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), 1)
        _check_number("lr", self.lr, positive=True)
        _check_number("weight_decay", self.weight_decay, positive=False)
        if self.max_grad_norm is not None:
            _check_number("max_grad_norm", self.max_grad_norm, positive=True)
        if self.warmup_ratio is not None:
            _check_number("warmup_ratio", self.warmup_ratio, positive=False)
        for name, choices in (("multi_task", MULTI_TASK), ("scheduler", SCHEDULERS), ("precision", MIXED_PRECISIONS)):
            if getattr(self, name) not in choices:
                raise ValueError(f"unknown {name} {getattr(self, name)!r}; valid: {', '.join(choices)}")
        if self.warmup_ratio is not None and (self.warmup_steps or not 0 <= self.warmup_ratio < 1):
            raise ValueError(
                f"give warmup_steps or warmup_ratio (a fraction in [0, 1)), not both; got "
                f"warmup_steps={self.warmup_steps}, warmup_ratio={self.warmup_ratio}"
            )

    @classmethod
    def build(
        cls, config: "TrainingConfig | None", options: Mapping[str, Any], where: str = "fit", stacklevel: int = 4
    ) -> "TrainingConfig":
        """``config`` (or the defaults) with the keyword arguments ``options`` of ``where()`` applied.

        Deprecated names are renamed with a ``FutureWarning`` (``stacklevel``
        points it at the caller of ``where``); an unknown name is refused,
        naming the closest setting.
        """
        if config is not None and not isinstance(config, cls):
            raise TypeError(f"{where}(config=...) must be a TrainingConfig, got {type(config).__name__}")
        options = renamed_keywords(where, options, stacklevel=stacklevel)
        names = [f.name for f in dataclasses.fields(cls)]
        for key in options:
            if key not in names:
                close = difflib.get_close_matches(key, names, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; the settings are {', '.join(names)}"
                raise TypeError(f"{where}() got an unexpected keyword argument {key!r}{hint}")
        return dataclasses.replace(config, **options) if config is not None else cls(**options)


def _check_int(name: str, value: Any, minimum: int) -> None:
    """``TypeError``/``ValueError`` naming ``name`` unless ``value`` is an int of at least ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_number(name: str, value: Any, positive: bool) -> None:
    """``TypeError``/``ValueError`` naming ``name`` unless ``value`` is a finite number (> 0 when ``positive``)."""
    accepted = f"{name} must be a finite number {'> 0' if positive else '>= 0'} (an int or a float, e.g. 2e-5)"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{accepted}, got {value!r} ({type(value).__name__})")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{accepted}, got {value!r}")
