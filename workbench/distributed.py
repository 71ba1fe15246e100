"""Data-parallel training over several processes (PyTorch DDP, launched by ``torchrun``).

Every process reads the same global batch (same seed, same sampler), encodes
its own contiguous share of it inside ``DistributedDataParallel``, and the
embeddings of all processes are gathered -- with their gradients -- so that
the loss sees the whole global batch.  In-batch-negative losses
(MultipleNegativesRankingLoss and its kin) therefore rank every anchor
against the candidates of *all* processes, exactly as one process with the
global batch would: the loss values and updates match single-process
training (up to floating-point rounding, and with dropout drawing other
random numbers per process).

Commands
--------
Write the training as a script that calls :func:`fit_distributed` (it runs
unchanged in one process, too), then::

    # one machine, 2 CPU processes (gloo)
    torchrun --standalone --nproc_per_node 2 train.py
    # one machine, all its GPUs (nccl, one process per GPU)
    torchrun --standalone --nproc_per_node gpu train.py
    # two machines with 8 GPUs each; run on both, node_rank 0 and 1
    torchrun --nnodes 2 --node_rank 0 --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint host0:29500 train.py

``batch_size`` is the *global* batch.  Only process 0 writes the output
folder, checkpoints and the progress bar; the evaluator and the other
subscribers run in every process, so that decisions such as early stopping
agree.  Each process tokenizes the whole global batch (cheap next to the
encoder) so that batches come out identical without a distributed sampler.

Example
-------
>>> from workbench.distributed import fit_distributed
>>> from workbench.losses import MultipleNegativesRankingLoss
>>> model = SentenceEncoder("all-MiniLM-L6-v2")                              # doctest: +SKIP
>>> fit_distributed(model, [(pairs, MultipleNegativesRankingLoss(model))],
...                 batch_size=256, seed=12, output_path="out/mnrl")          # doctest: +SKIP
"""

from __future__ import annotations

import atexit
import datetime
import os
import random
import weakref
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from .losses.base import Loss
from .validation import renamed_keywords


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of this process; ``(0, 1)`` outside a process group.

    Example
    -------
    >>> world()
    (0, 1)
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed(backend: str | None = None) -> tuple[int, int]:
    """Join the process group that ``torchrun`` describes in the environment; return ``(rank, world_size)``.

    Parameters
    ----------
    backend:
        ``gloo`` or ``nccl``; default ``nccl`` when CUDA is available, else ``gloo``.

    Without ``torchrun`` (no ``WORLD_SIZE`` in the environment) nothing is
    started and ``(0, 1)`` is returned, so the same script runs in one process.
    On GPUs each process takes the GPU of its ``LOCAL_RANK``.
    """
    if dist.is_initialized():
        return world()
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"backend must be 'gloo' (CPU) or 'nccl' (GPU), got {backend!r}")
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend)
    # A process group still alive when the interpreter exits can abort it (gloo's threads are
    # destroyed while joinable: "terminate called without an active exception").
    atexit.register(_destroy_process_group)
    return world()


def _destroy_process_group() -> None:
    if not dist.is_initialized():
        return
    # A rank that tears down its gloo pairs while a peer still talks to them can abort that peer; wait until
    # every rank is here first. A peer that already died makes the barrier fail: tear down all the same.
    if dist.get_backend() == "gloo":
        try:
            dist.monitored_barrier(timeout=datetime.timedelta(seconds=60))
        except RuntimeError:
            pass
    dist.destroy_process_group()


class _GatherWithGrad(torch.autograd.Function):
    """All-gather along dim 0; the backward pass sums the gradients of every process and keeps this one's rows."""

    @staticmethod
    def forward(ctx: Any, tensor: Tensor, sizes: list[int], group: Any) -> Tensor:
        rank = dist.get_rank(group)
        ctx.group, ctx.start, ctx.rows = group, sum(sizes[:rank]), sizes[rank]
        padded = tensor.new_zeros((max(sizes), *tensor.shape[1:]))
        padded[: len(tensor)] = tensor
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded.contiguous(), group=group)
        return torch.cat([part[:n] for part, n in zip(parts, sizes)])

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        # Every process's loss depends on every process's rows.
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, group=ctx.group)
        return grad[ctx.start : ctx.start + ctx.rows], None, None


def all_gather_with_grad(tensor: Tensor, group: Any = None) -> Tensor:
    """The rows of ``tensor`` from every process, in rank order; gradients flow back to each process's own rows.

    Shares may differ in length.  Outside a process group, ``tensor`` itself.

    Example
    -------
    >>> all_gather_with_grad(torch.ones(2, 3)).shape                       # doctest: +SKIP
    torch.Size([4, 3])   # with 2 processes
    """
    if world()[1] == 1:
        return tensor
    count = torch.tensor([len(tensor)], device=tensor.device)
    counts = [torch.empty_like(count) for _ in range(dist.get_world_size(group))]
    dist.all_gather(counts, count, group=group)
    return _GatherWithGrad.apply(tensor, [int(c) for c in counts], group)


def shard_rows(features: dict[str, Any], rank: int, world_size: int) -> dict[str, Any]:
    """Process ``rank``'s contiguous share of a tokenized batch (shares differ by at most one row).

    Example
    -------
    >>> shard_rows({"input_ids": torch.arange(5)[:, None]}, 1, 2)["input_ids"].flatten().tolist()
    [2, 3, 4]
    """
    rows = len(next(iter(features.values())))
    bounds = [rows * r // world_size for r in range(world_size + 1)]
    start, end = bounds[rank], bounds[rank + 1]
    return {k: v[start:end] if isinstance(v, Tensor) else v for k, v in features.items()}


class _Columns(nn.Module):
    """All text columns of a batch in one forward pass, so that DDP sees one forward per step."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, columns: list[dict[str, Tensor]]) -> list[Tensor]:
        return [self.model(dict(column))["sentence_embedding"] for column in columns]


# model -> (its DDP wrapper, the process group of the gathers): one per model, shared by all its losses,
# since two DDP wrappers of the same parameters would each reduce their gradients.
_PARALLEL: "weakref.WeakKeyDictionary[nn.Module, tuple[nn.Module, Any]]" = weakref.WeakKeyDictionary()


def _parallel(model: nn.Module, find_unused_parameters: bool) -> tuple[nn.Module, Any]:
    if model not in _PARALLEL:
        device = next(model.parameters()).device
        ddp = DistributedDataParallel(
            _Columns(model),
            device_ids=[device] if device.type == "cuda" else None,
            find_unused_parameters=find_unused_parameters,
        )
        # A group of its own, so that the gathers never interleave with DDP's gradient reductions.
        _PARALLEL[model] = (ddp, dist.new_group())
    return _PARALLEL[model]


class GatheredLoss(Loss):
    """Wraps a loss for data-parallel training: local encoding, gathered embeddings, the loss of the global batch.

    The wrapped loss's :meth:`~workbench.losses.base.Loss.compute` runs on the
    embeddings of all processes; its own ``embed`` step (e.g. the mini-batches
    of the cached MNRL loss) is replaced by plain encoding of this process's share.
    With one process it is the wrapped loss.

    Parameters
    ----------
    loss:
        Any workbench loss.
    find_unused_parameters:
        Passed to ``DistributedDataParallel``; needed when some parameters get
        no gradient (e.g. the pooler of a Hugging Face BERT).

    Example
    -------
    >>> loss = GatheredLoss(MultipleNegativesRankingLoss(model))              # doctest: +SKIP
    """

    def __init__(self, loss: Loss, find_unused_parameters: bool = True) -> None:
        if not isinstance(loss, Loss):
            raise TypeError(f"GatheredLoss wraps a workbench Loss, got {type(loss).__name__}")
        super().__init__(loss.model)
        self.loss = loss
        self.columns, self.label_kind, self.label_ndim = loss.columns, loss.label_kind, loss.label_ndim
        self.expects, self.truncatable = loss.expects, loss.truncatable
        self.ddp: nn.Module | None
        self.group: Any
        self.ddp, self.group = _parallel(loss.model, find_unused_parameters) if world()[1] > 1 else (None, None)

    def check_batch(self, n_columns: int, labels: Tensor | None) -> None:
        self.loss.check_batch(n_columns, labels)

    def forward(self, features: list[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        if self.ddp is None:
            return self.loss(features, labels)
        self.loss.check_batch(len(features), labels)
        rank, size = world()
        rows = len(next(iter(features[0].values())))
        if rows < size:
            self.fail(f"a batch of {rows} example(s) cannot be shared by {size} processes")
        local = self.ddp([shard_rows(column, rank, size) for column in features])
        embeddings = [all_gather_with_grad(e, self.group) for e in local]
        self.loss.check_embeddings(embeddings, labels)
        return self.loss.compute(embeddings, labels)


def _broadcast_seed(seed: int | None) -> int:
    """The same seed in every process: process 0's (drawn there when ``None``)."""
    value = torch.tensor([seed if seed is not None else random.SystemRandom().randrange(2**31)], dtype=torch.int64)
    if world()[1] > 1:
        # nccl moves CUDA tensors only
        value = value.to("cuda" if dist.get_backend() == "nccl" else "cpu")
        dist.broadcast(value, src=0)
    return int(value)


def fit_distributed(
    model: nn.Module,
    train_objectives: Sequence[tuple[Any, Loss]] | Mapping[str, tuple[Any, Loss]],
    evaluator: Callable[..., Mapping[str, float]] | None = None,
    backend: str | None = None,
    **options: Any,
) -> Any:
    """:func:`workbench.training.fit` in every process of a ``torchrun`` launch; returns the history.

    Parameters
    ----------
    model, train_objectives, evaluator:
        As for :func:`~workbench.training.fit`; each loss is wrapped in :class:`GatheredLoss`.
    backend:
        Process-group backend (see :func:`init_distributed`).
    **options:
        Trainer options; ``batch_size`` is the global batch.  Processes other
        than 0 get no ``output_path``/``checkpoint_path`` and no progress bar;
        ``seed`` is process 0's.

    Example
    -------
    >>> history = fit_distributed(model, [(pairs, MultipleNegativesRankingLoss(model))],
    ...                           batch_size=64, seed=1, epochs=1)              # doctest: +SKIP
    """
    from .training import fit
    from .training.checkpoint import find_checkpoint

    options = renamed_keywords("fit_distributed", options)  # output_dir= would survive the rank-0-only reset
    rank, size = init_distributed(backend)
    if size > 1:
        device = f"cuda:{torch.cuda.current_device()}" if dist.get_backend() == "nccl" else "cpu"
        model.to(device)
    options["seed"] = _broadcast_seed(options.get("seed"))
    if isinstance(train_objectives, Mapping):
        wrapped: Any = {name: (data, GatheredLoss(loss)) for name, (data, loss) in train_objectives.items()}
    else:
        wrapped = [(data, GatheredLoss(loss)) for data, loss in train_objectives]
    if rank != 0:
        resume = options.get("resume_from_checkpoint")
        if resume is not None and str(resume) == "latest":
            folder = options.get("checkpoint_path") or (
                os.path.join(options["output_path"], "checkpoints") if options.get("output_path") else None
            )
            options["resume_from_checkpoint"] = find_checkpoint(folder) if folder else None
        options.update(output_path=None, checkpoint_path=None, show_progress_bar=False)
    return fit(model, wrapped, evaluator, **options)
