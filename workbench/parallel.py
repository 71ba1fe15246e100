"""Encode with several processes: one per device (GPUs), or several on a CPU, with one progress bar.

Workers are started with the ``spawn`` method and run :func:`_worker`, a
function of this module, so pools work inside Jupyter (where functions
defined in the notebook cannot be sent to a spawned process) without an
``if __name__ == "__main__":`` guard.  A *script* that starts a pool still
needs that guard: a spawned process re-imports the script it came from.

The encoder is saved once to a temporary folder that every worker loads on
its own device, so any encoder works, trained or not.  The parent hands out
chunks of sentences, puts the results back in order and emits the
``progress_*`` events of all workers as one task.

Example
-------
>>> from workbench import SentenceEncoder
>>> from workbench.parallel import EncodePool, encode_multi_process
>>> model = SentenceEncoder("all-MiniLM-L6-v2")                               # doctest: +SKIP
>>> emb = encode_multi_process(model, sentences, devices=["cuda:0", "cuda:1"])  # doctest: +SKIP
>>> with EncodePool(model, devices=["cpu", "cpu"]) as pool:                   # doctest: +SKIP
...     a = pool.encode(corpus_a)
...     b = pool.encode(corpus_b, compute_dtype="int8")
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import shutil
import tempfile
import traceback
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from .encoder import check_texts, output_codes
from .quantization import check_output_precision
from .hooks import Progress, progress_hooks

#: ``encode`` options a pool passes on to the workers.
ENCODE_OPTIONS = (
    "batch_size",
    "normalize_embeddings",
    "compute_dtype",
    "precision",
    "prompt",
    "prompt_name",
    "truncate_dim",
)


def default_devices() -> list[str]:
    """Every visible GPU, else two CPU workers (``["cpu", "cpu"]``)."""
    if torch.cuda.is_available() and torch.cuda.device_count() > 0:
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return ["cpu", "cpu"]


def _worker(folder: str, device: str, threads: int, settings: dict[str, Any], inbox: Any, outbox: Any) -> None:
    """Load the encoder on ``device`` and encode the chunks of ``inbox`` until it gets ``None``."""
    try:
        torch.set_num_threads(threads)
        from .encoder import SentenceEncoder

        model = SentenceEncoder(folder, device=device, **settings)
    except BaseException:
        outbox.put(("failed", None, traceback.format_exc()))
        return
    outbox.put(("ready", None, None))
    while True:
        job = inbox.get()
        if job is None:
            return
        chunk_id, texts, options = job
        try:
            emb = model.encode(texts, show_progress_bar=False, convert_to_numpy=True, **options)
            outbox.put(("done", chunk_id, emb))
        except BaseException:
            outbox.put(("failed", chunk_id, traceback.format_exc()))


class EncodePool:
    """Worker processes, each holding the encoder on one device.

    Parameters
    ----------
    model:
        A :class:`~workbench.SentenceEncoder`; saved once so every worker loads
        the same weights (and settings: prompts, backend, truncate_dim).
    devices:
        One worker per entry: ``["cuda:0", "cuda:1"]``, ``["cpu"] * 4``;
        default: :func:`default_devices`.
    threads_per_worker:
        PyTorch threads of each worker; default: this process's threads shared
        among the CPU workers (at least one each).
    start_timeout:
        Seconds to wait for the workers to load the model.

    Example
    -------
    >>> with EncodePool(model, ["cpu", "cpu"]) as pool:                        # doctest: +SKIP
    ...     emb = pool.encode(sentences, batch_size=64, callbacks=[widget])
    """

    def __init__(
        self,
        model: Any,
        devices: Sequence[str] | None = None,
        threads_per_worker: int | None = None,
        start_timeout: float = 600.0,
    ) -> None:
        self.devices = list(devices) if devices is not None else default_devices()
        if not self.devices:
            raise ValueError("devices is empty; give at least one, e.g. ['cpu', 'cpu'] or ['cuda:0', 'cuda:1']")
        for device in self.devices:
            torch.device(device)  # raises on names that are not devices
        cpu_workers = sum(torch.device(d).type == "cpu" for d in self.devices)
        threads = threads_per_worker or max(1, torch.get_num_threads() // max(cpu_workers, 1))
        self.dim = model.get_sentence_embedding_dimension() or 0
        self._folder = Path(tempfile.mkdtemp(prefix="workbench-pool-"))
        self.processes: list[Any] = []
        try:
            # The model folder keeps its name, so cached exports (ONNX) are found again.
            name = Path(model.source_folder).name if getattr(model, "source_folder", None) else "encoder"
            model.save(self._folder / name)
            settings = {"truncate_dim": model.truncate_dim, "backend": model.backend}
            context = mp.get_context("spawn")
            self._inbox, self._outbox = context.Queue(), context.Queue()
            for device in self.devices:
                process = context.Process(
                    target=_worker,
                    daemon=True,
                    args=(str(self._folder / name), device, threads, settings, self._inbox, self._outbox),
                )
                process.start()
                self.processes.append(process)
            for _ in self.processes:
                status, _, detail = self._next(start_timeout)
                if status != "ready":
                    raise RuntimeError(f"a worker could not load the model:\n{detail}")
        except BaseException:
            self.close()
            raise

    def _next(self, timeout: float) -> tuple[str, Any, Any]:
        """The next message of any worker; fails when a worker died or nothing came in ``timeout`` seconds."""
        waited = 0.0
        while True:
            try:
                return self._outbox.get(timeout=1.0)
            except queue.Empty:
                waited += 1.0
                dead = [p.exitcode for p in self.processes if not p.is_alive()]
                if dead:
                    raise RuntimeError(f"a worker process died (exit codes {dead}); the pool is unusable") from None
                if waited >= timeout:
                    raise TimeoutError(f"no worker answered in {timeout:.0f} s") from None

    def encode(
        self,
        sentences: Sequence[str],
        chunk_size: int | None = None,
        callbacks: Iterable[Any] | None = None,
        show_progress_bar: bool | None = None,
        timeout: float = 3600.0,
        **options: Any,
    ) -> np.ndarray:
        """Embed ``sentences`` on all workers; returns the ``(n, dim)`` array in input order (float32 unless ``precision``).

        Parameters
        ----------
        sentences:
            A list of strings.
        chunk_size:
            Sentences per job; default: enough for about ten jobs per worker (at most 5,000).
        callbacks, show_progress_bar:
            One ``progress_*`` task ``"encode"`` for all workers, counted in sentences.
        timeout:
            Seconds to wait for any one chunk.
        **options:
            ``encode`` options: batch_size, normalize_embeddings, compute_dtype, precision, prompt,
            prompt_name, truncate_dim. ``precision`` codes are calibrated on all the embeddings of
            the call, as one process would.
        """
        if not self.processes:
            raise RuntimeError("the pool is closed")
        unknown = set(options) - set(ENCODE_OPTIONS)
        if unknown:
            raise TypeError(f"unsupported encode option(s) {sorted(unknown)} for a pool; accepted: {ENCODE_OPTIONS}")
        precision = options.pop("precision", "float32")
        check_output_precision(precision)
        texts = check_texts(sentences)
        if chunk_size is None:
            chunk_size = min(5000, max(1, -(-len(texts) // (10 * len(self.processes)))))
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        starts = range(0, len(texts), chunk_size)
        for chunk_id, start in enumerate(starts):
            self._inbox.put((chunk_id, texts[start : start + chunk_size], options))
        results: dict[int, np.ndarray] = {}
        failures: list[tuple[int, str]] = []
        hooks = progress_hooks(show_progress_bar, callbacks)
        with Progress(
            hooks, "encode", total=len(texts), unit="sentences", desc=f"Encoding ({len(self.processes)} processes)"
        ) as progress:
            # Every chunk is answered, failed ones too, so that nothing is left over for the next call.
            for _ in starts:
                try:
                    status, chunk_id, payload = self._next(timeout)
                except BaseException:
                    self.close()  # a dead or silent worker leaves the pool unusable
                    raise
                if status == "done":
                    results[chunk_id] = payload
                    progress.update(len(payload))
                else:
                    failures.append((chunk_id, payload))
        if failures:
            chunk_id, detail = failures[0]
            raise RuntimeError(
                f"{len(failures)} chunk(s) failed in the workers; the first, chunk {chunk_id}:\n{detail}"
            )
        embeddings = (
            np.concatenate([results[i] for i in range(len(starts))]).astype(np.float32, copy=False)
            if results
            else np.empty((0, self.dim), dtype=np.float32)
        )
        return embeddings if precision == "float32" else output_codes(embeddings, precision)

    def close(self) -> None:
        """Stop the workers and remove the saved model."""
        for _ in self.processes:
            self._inbox.put(None)
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
        self.processes = []
        shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> "EncodePool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def encode_multi_process(
    model: Any,
    sentences: Sequence[str],
    devices: Sequence[str] | None = None,
    threads_per_worker: int | None = None,
    **options: Any,
) -> np.ndarray:
    """Start a pool, encode ``sentences``, stop the pool; options as :meth:`EncodePool.encode`.

    Example
    -------
    >>> emb = encode_multi_process(model, sentences, devices=["cpu", "cpu"], batch_size=64)   # doctest: +SKIP
    >>> emb.shape                                                                                 # doctest: +SKIP
    (100000, 384)
    """
    with EncodePool(model, devices, threads_per_worker) as pool:
        return pool.encode(sentences, **options)
