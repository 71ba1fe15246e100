"""Training: the trainer, its events' subscribers, batch samplers and collation.

Example
-------
>>> from workbench.training import fit, EarlyStopping
>>> # history = fit(model, [(examples, loss)], evaluator, epochs=3, callbacks=[EarlyStopping(2)])
"""

from .callbacks import CheckpointSaver, EarlyStopping, History, NaNGuard, StopAtStep
from .collate import Collator, label_tensor
from .samplers import (
    EpochBatchSampler,
    GroupByLabelBatchSampler,
    NoDuplicatesBatchSampler,
    RandomBatchSampler,
    make_batch_sampler,
)
from .config import TrainingConfig
from .trainer import Trainer, fit

__all__ = [
    "fit",
    "Trainer",
    "TrainingConfig",
    "History",
    "CheckpointSaver",
    "EarlyStopping",
    "NaNGuard",
    "StopAtStep",
    "Collator",
    "label_tensor",
    "EpochBatchSampler",
    "RandomBatchSampler",
    "NoDuplicatesBatchSampler",
    "GroupByLabelBatchSampler",
    "make_batch_sampler",
]
