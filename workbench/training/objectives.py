"""Training objectives: (data, loss) pairs, their batches, and where training stands in each.

:func:`build_objectives` turns ``fit``'s ``train_objectives`` into
:class:`Objective` records: the data (examples, a Dataset, a stream, a table
or a ``DataLoader``), the loss, the collator that tokenises batches for it and
the batch sampler that orders them.  An objective reads its data pass after
pass (``epoch``), shuffled with ``seed + epoch``, and counts the batches used
(``consumed``) so that a resumed run continues in the same place.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping, Optional, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    get_worker_info,
)

from ..data.tables import as_examples
from .collate import Collator
from .samplers import BATCH_SAMPLERS, EpochBatchSampler, make_batch_sampler

FINGERPRINT_SAMPLE = 1000  # examples hashed (evenly spread) to recognise a data set

Batch = tuple[list[dict[str, torch.Tensor]], Optional[torch.Tensor]]  # features per text column, labels


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
    batch_size: int
    seed: int
    epoch: int = 0  # index of the current pass over the data (its shuffle is seeded seed + epoch)
    consumed: int = 0  # batches of the current pass used by completed steps
    iterator: Iterator[Any] | None = None
    checked: bool = False
    digest: dict[str, Any] | None = None  # size and hash of the data, recorded in checkpoints
    in_order: bool = False  # from a DataLoader without shuffling: read in order, like a stream

    def check(self, n_columns: int, labels: torch.Tensor | None) -> None:
        """Fail early, naming the objective and its loss, when the data does not suit the loss."""
        # The data may hold fewer examples than a batch: then every batch is that small.
        batch_size = min(self.batch_size, self.size or self.batch_size)
        try:
            self.loss.check_batch(n_columns, labels)
            for part in self.loss.modules():  # the loss itself, or the loss a wrapper (Matryoshka) holds
                if hasattr(part, "check_batch_size"):
                    part.check_batch_size(batch_size, n_columns)
        except ValueError as err:
            raise ValueError(
                f"objective {self.name!r}: its examples have {n_columns} text(s) and "
                f"{type(self.loss).__name__} does not accept them: {err}"
            ) from None
        self.checked = True

    def loader(self, num_workers: int) -> DataLoader:
        """A loader of the current pass from the first batch not yet consumed."""
        # Own generator: creating a loader iterator must not draw from torch's global RNG.
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        if self.sampler is not None:
            self.sampler.set_epoch(self.epoch, skip=self.consumed)
            return DataLoader(
                self.data,
                batch_sampler=self.sampler,
                collate_fn=self.collator,
                num_workers=num_workers,
                generator=generator,
            )
        stream = _StreamBatches(self.data, self.batch_size, self.consumed)
        return DataLoader(
            stream, batch_size=None, collate_fn=self.collator, num_workers=num_workers, generator=generator
        )

    def next_batch(self, num_workers: int, device: torch.device) -> Batch:
        """The next batch (tokenised features per text column, labels) on ``device``; a new pass when one ends."""
        if self.iterator is None:
            self.iterator = iter(self.loader(num_workers))
        try:
            features, labels = next(self.iterator)
        except StopIteration:
            if self.consumed == 0:
                raise ValueError(f"objective {self.name!r}: the data yielded no batch (pass {self.epoch})") from None
            self.epoch, self.consumed = self.epoch + 1, 0
            self.iterator = iter(self.loader(num_workers))
            try:
                features, labels = next(self.iterator)
            except StopIteration:
                raise ValueError(
                    f"objective {self.name!r}: the data ran out and yields nothing when read again; "
                    "a generator can be read only once: give a re-iterable (a list, a Dataset, or an object "
                    "whose __iter__ starts over) or fewer epochs * steps_per_epoch"
                ) from None
        if not self.checked:
            self.check(len(features), labels)
        features = [{k: v.to(device) for k, v in column.items()} for column in features]
        return features, labels.to(device) if labels is not None else None

    def fingerprint(self) -> dict[str, Any]:
        """The size and a hash of up to ``FINGERPRINT_SAMPLE`` examples of the data (computed once).

        Examples are taken evenly spread over indexable data, or from the start
        of a re-iterable stream; a one-shot iterator cannot be read twice, so
        only its length (if any) is recorded.
        """
        if self.digest is None:
            data, size = self.data, self.size
            if self.sampler is not None:
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
            self.digest = {"size": size, "sha256": digest}
        return self.digest


def build_objectives(
    model: nn.Module,
    train_objectives: Any,
    batch_sampler: str | Sequence[str],
    batch_size: int,
    seed: int,
    device: torch.device,
) -> tuple[list[Objective], list[str]]:
    """The objectives of ``train_objectives`` and their batch samplers' names (``"in_order"`` for in-order loaders)."""
    if isinstance(train_objectives, Mapping):
        pairs = [(str(name), pair) for name, pair in train_objectives.items()]
    elif isinstance(train_objectives, Sequence) and not isinstance(train_objectives, str):
        pairs = [(None, pair) for pair in train_objectives]
    else:
        raise TypeError(f"train_objectives must be a list of (data, loss) pairs, got {type(train_objectives).__name__}")
    if not pairs:
        raise ValueError(
            "train_objectives is empty; give at least one (data, loss) pair, "
            "e.g. [(examples, CosineSimilarityLoss(model))]"
        )
    samplers = [batch_sampler] * len(pairs) if isinstance(batch_sampler, str) else list(batch_sampler)
    if len(samplers) != len(pairs):
        raise ValueError(f"batch_sampler lists {len(samplers)} samplers for {len(pairs)} objectives")
    for index, (_, pair) in enumerate(pairs):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"train_objectives[{index}] must be a (data, loss) pair, got {type(pair).__name__}")
    # Unnamed objectives are called after their loss, numbered when a loss class repeats.
    classes = [type(pair[1]).__name__ for _, pair in pairs]
    names = [
        name or (cls if classes.count(cls) == 1 else f"{cls}_{i}")
        for i, ((name, _), cls) in enumerate(zip(pairs, classes))
    ]
    objectives = [
        _objective(model, name, pair[0], pair[1], kind, batch_size, seed, device)
        for name, (_, pair), kind in zip(names, pairs, samplers)
    ]
    # recorded in the settings: a resume must read such data in order too
    return objectives, ["in_order" if o.in_order else kind for o, kind in zip(objectives, samplers)]


def _objective(
    model: nn.Module, name: str, data: Any, loss: nn.Module, kind: str, batch_size: int, seed: int, device: torch.device
) -> Objective:
    if not isinstance(loss, nn.Module) or not hasattr(loss, "label_kind"):
        raise TypeError(f"objective {name!r}: the loss must be a workbench Loss module, got {type(loss).__name__}")
    if getattr(loss, "model", None) is not model:
        raise ValueError(
            f"objective {name!r}: {type(loss).__name__} was built for another model; "
            "build the loss with the model being trained"
        )
    if kind not in BATCH_SAMPLERS:
        raise ValueError(f"objective {name!r}: unknown batch_sampler {kind!r}; valid: {', '.join(BATCH_SAMPLERS)}")
    in_order = False
    if isinstance(data, DataLoader):  # sentence-transformers' way: its dataset, batch size and order
        data, in_order = _loader_dataset(name, data, kind)
    data = as_examples(data)  # a DataFrame, datasets.Dataset or table file: columns mapped by default
    if isinstance(data, (str, bytes)) or not (hasattr(data, "__iter__") or hasattr(data, "__getitem__")):
        raise TypeError(
            f"objective {name!r}: data must be a list of Examples, a Dataset or an iterable of "
            f"Examples, got {type(data).__name__}"
        )
    loss.to(device)
    collator = Collator(
        model.tokenize,
        loss.label_kind,
        f"objective {name!r} ({type(loss).__name__})",
        featurize=getattr(loss, "featurize", None),
    )
    indexable = (
        hasattr(data, "__len__")
        and hasattr(data, "__getitem__")
        and not isinstance(data, IterableDataset)
        and not in_order
    )
    size = len(data) if hasattr(data, "__len__") else None
    if size == 0:
        raise ValueError(f"objective {name!r}: the data is empty")
    sampler, per_pass = None, None
    if indexable:
        sampler = make_batch_sampler(kind, data, batch_size, seed)
        per_pass = len(sampler)
    elif kind != "default":
        raise ValueError(
            f"objective {name!r}: batch_sampler={kind!r} needs a list or Dataset (it looks at all "
            "examples); streamed data is read in order"
        )
    elif size is not None:
        per_pass = math.ceil(size / batch_size)
    objective = Objective(name, data, loss, collator, sampler, size, per_pass, batch_size, seed, in_order=in_order)
    if indexable:
        first = [data[0]]
        objective.check(len(collator.columns(first)), collator.labels(first))
    return objective


def default_steps_per_epoch(objectives: Sequence[Objective], multi_task: str) -> int:
    """One pass over the data: the smallest data set for round robin, all of them for proportional sampling."""
    unknown = [o.name for o in objectives if o.batches_per_pass is None]
    if unknown:
        raise ValueError(f"objective(s) {unknown} stream data of unknown length; give steps_per_epoch")
    per_pass = [int(o.batches_per_pass or 0) for o in objectives]
    if len(per_pass) == 1:
        return per_pass[0]
    # Round robin ends an epoch with the smallest data set (as sentence-transformers did);
    # proportional sampling sees every batch once per epoch on average.
    return min(per_pass) if multi_task == "round_robin" else sum(per_pass)


def objectives_for_step(objectives: list[Objective], multi_task: str, seed: int, step: int) -> list[Objective]:
    """All objectives (round robin), or one drawn in proportion to its size, the same for a step after resuming."""
    if multi_task == "round_robin" or len(objectives) == 1:
        return objectives
    sizes = np.array([o.size for o in objectives], dtype=np.float64)
    # A generator per step (not one advancing state) makes the choice reproducible after resuming.
    choice = np.random.default_rng([seed, step]).choice(len(sizes), p=sizes / sizes.sum())
    return [objectives[int(choice)]]


def loader_batch_size(train_objectives: Any, batch_size: int | None) -> int:
    """``batch_size``, or the one the objectives' DataLoaders share (default 16); a different one is refused.

    The trainer uses one batch size for all objectives, as a DataLoader-built
    run in sentence-transformers uses each loader's own.
    """
    pairs = train_objectives.values() if isinstance(train_objectives, Mapping) else train_objectives
    # malformed objectives are left for build_objectives to name
    loaders = (
        [p[0] for p in pairs if isinstance(p, (tuple, list)) and p and isinstance(p[0], DataLoader)]
        if isinstance(pairs, Iterable) and not isinstance(pairs, str)
        else []
    )
    sizes = sorted({loader.batch_size for loader in loaders}, key=str)
    if batch_size is None and len(sizes) == 1:
        return sizes[0]
    if sizes and (batch_size is None or sizes != [batch_size]):
        given = f"fit(batch_size={batch_size}) but " if batch_size is not None else ""
        raise ValueError(
            f"{given}the DataLoaders of train_objectives have batch sizes {sizes}; a step takes one "
            "batch size for all objectives: make them equal"
        )
    return 16 if batch_size is None else batch_size


def _loader_dataset(name: str, loader: DataLoader, kind: str) -> tuple[Any, bool]:
    """The dataset of a ``DataLoader`` objective and whether it is read in order (``shuffle=False``).

    The trainer batches, shuffles and collates itself (as sentence-transformers'
    ``fit`` replaced a loader's ``collate_fn``); what it cannot do as the
    loader would is refused, naming it.
    """
    where = f"objective {name!r}: the DataLoader"
    if loader.batch_size is None or not isinstance(loader.batch_sampler, BatchSampler):
        raise ValueError(
            f"{where} has its own batch_sampler ({type(loader.batch_sampler).__name__}); give "
            "DataLoader(dataset, batch_size=..., shuffle=...) or the examples with fit(batch_sampler=...)"
        )
    if loader.drop_last:
        raise ValueError(f"{where} has drop_last=True; the trainer keeps the last, smaller batch of each pass")
    if isinstance(loader.sampler, RandomSampler) and not loader.sampler.replacement:
        return loader.dataset, False
    if isinstance(loader.sampler, SequentialSampler):
        if kind != "default":
            raise ValueError(
                f"{where} reads in order (shuffle=False), which batch_sampler={kind!r} would not; "
                "use shuffle=True or the default batch_sampler"
            )
        return loader.dataset, True
    raise ValueError(
        f"{where} samples with {type(loader.sampler).__name__}; only shuffle=True or shuffle=False "
        "loaders are taken (give the examples and fit(batch_sampler=...) for other orders)"
    )
