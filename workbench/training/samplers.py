"""Batch samplers: which examples go into one batch.

Every sampler here is seeded and *epoch-aware*: :meth:`EpochBatchSampler.set_epoch`
picks the shuffle of one pass over the data (seed ``seed + epoch``) and how
many of its batches to skip, which is how a resumed run continues in the
middle of a pass with exactly the batches an uninterrupted run would see.

* :class:`RandomBatchSampler` -- a shuffled order cut into batches (the default);
* :class:`NoDuplicatesBatchSampler` -- no text twice in one batch, for losses
  that use the other examples of the batch as negatives
  (MultipleNegativesRankingLoss): a duplicate would be a "negative" equal to
  the positive;
* :class:`GroupByLabelBatchSampler` -- batches made of groups of examples
  sharing a label, so that batch-hard triplet losses find a positive for
  every anchor.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict, deque
from typing import Any, Iterator, Sequence

import torch
from torch.utils.data import Sampler

logger = logging.getLogger(__name__)


class EpochBatchSampler(Sampler[list[int]]):
    """Base class: yields lists of example indices; reshuffled per epoch.

    Subclasses implement :meth:`make_batches`; this class seeds it, caches the
    batches of the current epoch and skips the consumed ones.

    Parameters
    ----------
    batch_size:
        Largest number of examples in one batch.
    seed:
        The batches of epoch ``e`` are drawn with a generator seeded ``seed + e``.
    """

    def __init__(self, batch_size: int, seed: int = 0) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = batch_size
        self.seed = int(seed)
        self.epoch = 0
        self.skip = 0
        self._batches: list[list[int]] | None = None

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Use the shuffle of ``epoch`` and leave out its first ``skip`` batches."""
        if epoch != self.epoch:
            self._batches = None
        self.epoch, self.skip = int(epoch), int(skip)

    def make_batches(self, generator: torch.Generator) -> list[list[int]]:
        """All batches of one epoch, drawn with ``generator`` (what subclasses implement)."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_batches(generator)")

    def batches(self) -> list[list[int]]:
        """The batches of the current epoch, skipped ones included."""
        if self._batches is None:
            self._batches = self.make_batches(torch.Generator().manual_seed(self.seed + self.epoch))
        return self._batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches()[self.skip :])

    def __len__(self) -> int:
        return max(len(self.batches()) - self.skip, 0)


class RandomBatchSampler(EpochBatchSampler):
    """A random permutation of ``range(n)`` cut into batches of ``batch_size`` (the last may be smaller).

    Example
    -------
    >>> sampler = RandomBatchSampler(5, batch_size=2, seed=0)
    >>> sorted(i for batch in sampler for i in batch), [len(b) for b in sampler]
    ([0, 1, 2, 3, 4], [2, 2, 1])
    """

    def __init__(self, n: int, batch_size: int, seed: int = 0) -> None:
        super().__init__(batch_size, seed)
        self.n = int(n)

    def make_batches(self, generator: torch.Generator) -> list[list[int]]:
        order = torch.randperm(self.n, generator=generator).tolist()
        return [order[i : i + self.batch_size] for i in range(0, self.n, self.batch_size)]

    def __len__(self) -> int:
        # Known without drawing the permutation.
        return max(math.ceil(self.n / self.batch_size) - self.skip, 0)


class NoDuplicatesBatchSampler(EpochBatchSampler):
    """Batches in which no text occurs twice (across all columns of all examples).

    Examples are taken in a shuffled order; one whose texts collide with the
    batch being filled waits for the next batch, where it is tried first.
    Every example is used once per epoch; batches can come out smaller than
    ``batch_size`` when the data has many repeated texts.

    Parameters
    ----------
    data:
        A sized, indexable collection of examples (anything with ``.texts``).

    Example
    -------
    >>> from workbench.data.records import Example
    >>> data = [Example(["q", "a"]), Example(["q", "b"]), Example(["r", "c"]), Example(["s", "d"])]
    >>> batches = list(NoDuplicatesBatchSampler(data, batch_size=2, seed=0))
    >>> all(len({t for i in b for t in data[i].texts}) == 2 * len(b) for b in batches)
    True
    """

    def __init__(self, data: Sequence[Any], batch_size: int, seed: int = 0) -> None:
        super().__init__(batch_size, seed)
        self.keys = [frozenset(example.texts) for example in data]

    def make_batches(self, generator: torch.Generator) -> list[list[int]]:
        pending = deque(torch.randperm(len(self.keys), generator=generator).tolist())
        batches = []
        while pending:
            batch: list[int] = []
            seen: set[str] = set()
            waiting: list[int] = []
            while pending and len(batch) < self.batch_size:
                index = pending.popleft()
                if seen.isdisjoint(self.keys[index]):
                    batch.append(index)
                    seen.update(self.keys[index])
                else:
                    waiting.append(index)
            pending.extendleft(reversed(waiting))
            batches.append(batch)
        return batches


class GroupByLabelBatchSampler(EpochBatchSampler):
    """Batches of label groups: each label in a batch has at least ``samples_per_label`` examples.

    The examples of every label are shuffled and cut into groups of
    ``samples_per_label`` (a short remainder joins the label's last group);
    the groups are shuffled and packed into batches without being split.
    Labels with fewer than ``samples_per_label`` examples cannot give an
    anchor a positive and are left out (logged), as are batches that end up
    with a single label (no negatives).

    Parameters
    ----------
    data:
        A sized, indexable collection of examples with hashable ``.label``.
    batch_size:
        At least ``2 * samples_per_label``, so a batch can hold two labels.
    samples_per_label:
        Smallest group of one label in a batch (at least 2).

    Example
    -------
    >>> from workbench.data.records import Example
    >>> data = [Example([f"t{i}"], i % 3) for i in range(12)]
    >>> batches = list(GroupByLabelBatchSampler(data, batch_size=4, seed=0))
    >>> all(min(sum(data[i].label == data[j].label for j in b) for i in b) >= 2 for b in batches)
    True
    """

    def __init__(self, data: Sequence[Any], batch_size: int, samples_per_label: int = 2, seed: int = 0) -> None:
        super().__init__(batch_size, seed)
        if not isinstance(samples_per_label, int) or samples_per_label < 2:
            raise ValueError(f"samples_per_label must be an integer >= 2, got {samples_per_label!r}")
        if batch_size < 2 * samples_per_label:
            raise ValueError(
                f"batch_size={batch_size} cannot hold two labels of samples_per_label={samples_per_label} "
                f"examples each; use batch_size >= {2 * samples_per_label}"
            )
        self.samples_per_label = samples_per_label
        by_label: dict[Any, list[int]] = defaultdict(list)
        for index, example in enumerate(data):
            if example.label is None:
                raise ValueError(f"example {index} has no label; GroupByLabelBatchSampler groups examples by label")
            by_label[example.label].append(index)
        self.groups = {label: idx for label, idx in by_label.items() if len(idx) >= samples_per_label}
        left_out = len(by_label) - len(self.groups)
        if left_out:
            logger.info(
                "GroupByLabelBatchSampler: %d label(s) with fewer than %d examples are not used",
                left_out,
                samples_per_label,
            )
        if len(self.groups) < 2:
            raise ValueError(
                f"GroupByLabelBatchSampler needs at least 2 labels with >= {samples_per_label} examples each, "
                f"the data has {len(self.groups)}"
            )

    def make_batches(self, generator: torch.Generator) -> list[list[int]]:
        chunks: list[tuple[Any, list[int]]] = []
        for label, indices in self.groups.items():
            shuffled = [indices[i] for i in torch.randperm(len(indices), generator=generator).tolist()]
            size = self.samples_per_label
            label_chunks = [shuffled[i : i + size] for i in range(0, len(shuffled), size)]
            if len(label_chunks[-1]) < size:
                label_chunks[-2].extend(label_chunks.pop())
            chunks.extend((label, chunk) for chunk in label_chunks)
        batches: list[tuple[set[Any], list[int]]] = [(set(), [])]
        for c in torch.randperm(len(chunks), generator=generator).tolist():
            label, chunk = chunks[c]
            if len(batches[-1][1]) + len(chunk) > self.batch_size:
                batches.append((set(), []))
            batches[-1][0].add(label)
            batches[-1][1].extend(chunk)
        return [batch for labels, batch in batches if len(labels) >= 2]


#: ``batch_sampler`` names the trainer accepts.
BATCH_SAMPLERS = ("default", "no_duplicates", "group_by_label")


def make_batch_sampler(kind: str, data: Sequence[Any], batch_size: int, seed: int = 0) -> EpochBatchSampler:
    """The batch sampler called ``kind`` (one of :data:`BATCH_SAMPLERS`) over ``data``.

    Example
    -------
    >>> type(make_batch_sampler("default", list(range(10)), 4)).__name__
    'RandomBatchSampler'
    """
    if kind == "default":
        return RandomBatchSampler(len(data), batch_size, seed)
    if kind == "no_duplicates":
        return NoDuplicatesBatchSampler(data, batch_size, seed)
    if kind == "group_by_label":
        return GroupByLabelBatchSampler(data, batch_size, seed=seed)
    raise ValueError(f"unknown batch_sampler {kind!r}; valid: {', '.join(BATCH_SAMPLERS)}")
