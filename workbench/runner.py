"""How :meth:`SentenceEncoder.encode` runs its modules fast, kept apart from the encoder's API.

Three speed mechanisms live here:

* the modules to run for a compute dtype: the encoder itself (float32), a
  bfloat16 copy of it (stored weights run about 3x faster than autocast
  re-casting float32 weights on every call on CPUs with AVX512-BF16), or the
  onnxruntime or OpenVINO modules (:mod:`workbench.backends`);
* :func:`forward_batches`: several batches at once in threads while the
  caller tokenizes the next ones (for the onnxruntime and OpenVINO runners);
* :class:`Derived`: a value built from some parameters (the bfloat16 copy,
  an onnxruntime session or OpenVINO compiled model, the packed weights of
  :class:`~workbench.modules.fused_encoder.FusedEncoder`), kept until those
  parameters change.

Invalidation is explicit, never read from torch's private version counters:

* every ``torch.optim`` optimizer step drops the values built from the
  parameters it updated (a global optimizer step hook: the trainer, the fused
  AdamW kernel and hand-written loops alike);
* ``load_state_dict`` on an encoder or one of its modules drops them;
* moving or re-creating the parameters (``.to(...)``) changes their storage,
  which the cache compares;
* anything else that edits weights in place (``p.data.copy_(...)`` by hand)
  calls :meth:`SentenceEncoder.weights_changed` (or :func:`params_changed`).

Example
-------
>>> import torch
>>> layer = torch.nn.Linear(2, 2)
>>> doubled = Derived()
>>> build = lambda: layer.weight.detach() * 2
>>> first = doubled.get(layer.parameters(), build)
>>> doubled.get(layer.parameters(), build) is first      # cached
True
>>> opt = torch.optim.SGD(layer.parameters(), lr=0.1)
>>> layer(torch.ones(1, 2)).sum().backward(); opt.step()
>>> doubled.get(layer.parameters(), build) is first      # the optimizer step dropped it
False
"""

from __future__ import annotations

import copy
import weakref
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Callable, Generic, Iterable, Iterator, TypeVar

import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook

T = TypeVar("T")

# Every Derived that holds a value; weak, so a cache goes with its owner.
_LIVE: "weakref.WeakSet[Derived[Any]]" = weakref.WeakSet()


class Derived(Generic[T]):
    """A value built from some parameters, rebuilt after they change.

    :meth:`get` builds it on first use and again when the parameters' storage
    changed (moved to another device or dtype, replaced); :meth:`invalidate`
    (called by the optimizer step hook, by ``load_state_dict`` and by
    :func:`params_changed`) drops it after an in-place change.  A copy or a
    pickle of the owner starts empty: the value belongs to the original's
    parameters.
    """

    def __init__(self) -> None:
        self._value: T | None = None
        self._storage: tuple[Any, ...] | None = None
        self._ids: frozenset[int] = frozenset()

    def get(self, params: Iterable[torch.Tensor], build: Callable[[], T]) -> T:
        """The value for ``params``, built with ``build()`` when missing or out of date."""
        params = list(params)
        storage = tuple((p.data_ptr(), p.dtype, p.device) for p in params)
        if self._value is None or storage != self._storage:
            self.invalidate()  # the old value is freed before the new one is built
            self._value = build()
            self._storage, self._ids = storage, frozenset(map(id, params))
            _LIVE.add(self)
        return self._value

    def depends_on(self, ids: set[int] | frozenset[int]) -> bool:
        """Whether the value was built from any parameter whose ``id`` is in ``ids``."""
        return not self._ids.isdisjoint(ids)

    def invalidate(self) -> None:
        """Drop the value; the next :meth:`get` builds it again."""
        self._value, self._storage, self._ids = None, None, frozenset()
        _LIVE.discard(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> "Derived[T]":
        return type(self)()

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), ())


def params_changed(params: Iterable[torch.Tensor]) -> None:
    """Drop every cached value built from any of ``params`` (call after editing weights in place by hand)."""
    ids = {id(p) for p in params}
    for cache in list(_LIVE):
        if cache.depends_on(ids):
            cache.invalidate()


def _after_optimizer_step(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
    if _LIVE:  # nothing cached (the usual case while training): nothing to look up
        params_changed(p for group in optimizer.param_groups for p in group["params"])


def weights_loaded(module: nn.Module, incompatible_keys: Any) -> None:
    """A ``load_state_dict`` post hook: the module's parameters were overwritten in place."""
    params_changed(module.parameters())


_OPTIMIZER_HOOK = register_optimizer_step_post_hook(_after_optimizer_step)


def forward_batches(
    model: nn.Module, batches: Iterable[tuple[Any, dict[str, Any]]]
) -> Iterator[tuple[Any, dict[str, Any]]]:
    """``(idx, model(features))`` for each ``(idx, features)`` of ``batches``, in order.

    A model whose ``concurrent_batches`` is above 1 (the onnxruntime runner,
    whose single-threaded runs scale better than one run on several threads)
    gets up to that many batches at once in threads while the caller
    tokenizes the next ones; others run one batch at a time here.
    """
    workers = getattr(model, "concurrent_batches", 1)
    if workers <= 1:
        for idx, features in batches:
            yield idx, model.forward(features)
        return

    def forward(features: dict[str, Any]) -> dict[str, Any]:
        with torch.inference_mode():  # grad mode is per thread
            return model.forward(features)

    pending: deque[tuple[Any, Future]] = deque()
    with ThreadPoolExecutor(workers, thread_name_prefix="encode") as pool:
        for idx, features in batches:
            pending.append((idx, pool.submit(forward, features)))
            if len(pending) > workers:  # one batch queued beyond the running ones, no more: memory stays flat
                done_idx, future = pending.popleft()
                yield done_idx, future.result()
        while pending:
            done_idx, future = pending.popleft()
            yield done_idx, future.result()


def autocast(compute_dtype: str, device: torch.device) -> AbstractContextManager[Any]:
    """Autocast to bfloat16 for ``compute_dtype='bfloat16'`` (for inputs the bfloat16 copy does not cover)."""
    if compute_dtype != "bfloat16":
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


# encoder -> {compute_dtype: cache}; outside the encoder, so that copying or pickling one never meets a session.
_CACHES: "weakref.WeakKeyDictionary[nn.Module, dict[str, Derived[nn.Module]]]" = weakref.WeakKeyDictionary()


def modules_for(encoder: nn.Module, compute_dtype: str, backend: str = "torch") -> nn.Module:
    """The modules ``encoder.encode`` runs: itself for float32, a cached bfloat16 copy, or an exported backend's.

    The ``onnx`` and ``openvino`` backends run the Transformer with onnxruntime
    or OpenVINO (see :func:`workbench.backends.exported_modules`); ``int8`` on
    the torch backend runs on onnxruntime.
    """
    if compute_dtype == "float32" and backend == "torch":
        return encoder
    if compute_dtype == "int8" or backend != "torch":
        from .backends import exported_modules
        from .backends.export import transformer_of

        runtime = "onnx" if backend == "torch" else backend
        key, params = f"{runtime}:{compute_dtype}", transformer_of(encoder, runtime).parameters()

        def build() -> nn.Module:
            return exported_modules(encoder, compute_dtype, runtime)
    else:
        key, params = compute_dtype, encoder.parameters()

        def build() -> nn.Module:
            return copy.deepcopy(encoder).to(torch.bfloat16)

    cache = _CACHES.setdefault(encoder, {}).setdefault(key, Derived())
    return cache.get(params, build)
