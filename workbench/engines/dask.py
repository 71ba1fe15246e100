"""Corpus encoding on a Dask cluster: one machine's worker processes, or many machines'.

The encoder is sent to every worker once (``client.scatter(..., broadcast=True)``),
the corpus goes out in chunks, and each chunk comes back as an array -- or,
with :func:`encode_dask_shards`, is written by the worker as one ``.npy``
shard in a folder all workers can reach, so that nothing passes through the
client and a rerun skips the shards already written -- those whose input
lines, model and settings are this run's and whose file still matches the
checksum recorded when it was written (see :func:`encode_dask_shards`).

Why Dask rather than Ray: ``dask[distributed]`` is pure Python and installs
in seconds; a 2-worker ``LocalCluster`` starts in a few seconds on 2 cores,
while Ray brings a large binary wheel and several daemons (GCS, raylet,
dashboard) to start before the first task.  Both scale to many machines;
for encoding, which is one map over chunks, Dask's futures are all that is needed.

Example
-------
>>> from distributed import Client, LocalCluster                # doctest: +SKIP
>>> from workbench.engines.dask import encode_dask                  # doctest: +SKIP
>>> with LocalCluster(n_workers=2, threads_per_worker=1) as cluster, Client(cluster) as client:   # doctest: +SKIP
...     emb = encode_dask(model, sentences, client=client, chunk_size=5000)
"""

from __future__ import annotations

import os
import pickle
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Collection, Iterable, Iterator, Sequence

import numpy as np

from ..corpus import check_resumable, chunk_lines, model_fingerprint, refuse_resume
from ..encoder import check_texts, output_codes
from ..fingerprint import hash_file, hash_texts
from ..hooks import Progress, progress_hooks
from ..io import read_json, write_json
from ..quantization import check_output_precision
from ..typing import Encoder, SizedEncoder
from ..validation import accepts_renamed

SHARD_PATTERN = "embeddings-{:06d}.npy"
MANIFEST_NAME = "shards.json"
#: Options that change how shards are computed, not what they hold.
RUN_OPTIONS = ("threads_per_task", "n_workers", "callbacks", "show_progress_bar")
#: Version of the manifest; earlier ones had no fingerprints and cannot be resumed safely.
MANIFEST_FORMAT = 2
#: The manifest's settings, as they are named in messages; a rerun must match every one.
SHARD_LABELS = {"n": "number of sentences", "chunk_size": "chunk_size", "options": "encode options", "model": "model"}


def _require_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ImportError("the Dask engine needs dask.distributed: pip install 'dask[distributed]'") from None
    return distributed


class _Pickled:
    """An encoder as Python pickle bytes, unpickled once per worker process by :meth:`get`.

    Dask's own serializer for torch modules does not keep all of an encoder's
    state (copies between workers gave other embeddings), so only the bytes
    ever travel, and the unpickled encoder never leaves the worker.
    """

    def __init__(self, model: Encoder) -> None:
        self.payload = pickle.dumps(model)
        self._setup()

    def _setup(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, bytes]:
        return {"payload": self.payload}

    def __setstate__(self, state: dict[str, bytes]) -> None:
        self.payload = state["payload"]
        self._setup()

    def get(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = pickle.loads(self.payload)
            return self._model


def _encode_chunk(
    shipped: _Pickled, texts: list[str], options: dict[str, Any], threads: int | None, path: str | None
) -> Any:
    """Runs on a worker: the chunk's embeddings, or their count and the file's checksum once written to ``path``."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    emb = (
        shipped.get()
        .encode(texts, show_progress_bar=False, convert_to_numpy=True, **options)
        .astype(np.float32, copy=False)
    )
    if path is None:
        return emb
    tmp = f"{path}.tmp-{os.getpid()}.npy"
    np.save(tmp, emb)
    digest = hash_file(tmp)
    os.replace(tmp, path)  # a shard is there whole or not at all
    return len(emb), digest


@contextmanager
def _client(client: Any, n_workers: int) -> Iterator[Any]:
    """The given client, or a local cluster of ``n_workers`` single-threaded processes for the call."""
    distributed = _require_distributed()
    if client is not None:
        yield client
        return
    with (
        distributed.LocalCluster(
            n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as local,
    ):
        yield local


def _run(
    model: Encoder,
    texts: list[str],
    client: Any,
    chunk_size: int,
    folder: Path | None,
    threads_per_task: int | None = None,
    n_workers: int = 2,
    callbacks: Iterable[Any] | None = None,
    show_progress_bar: bool | None = None,
    skip: Collection[int] = (),
    record: Callable[[int, str], None] | None = None,
    **options: Any,
) -> dict[int, Any]:
    """Encode the chunks of ``texts`` but those in ``skip``: arrays, or shards in ``folder`` given to ``record``."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    distributed = _require_distributed()
    threads = threads_per_task
    if client is None and threads is None:  # our local cluster: share the cores among its workers
        threads = max(1, (os.cpu_count() or 1) // n_workers)
    starts = list(range(0, len(texts), chunk_size))
    hooks = progress_hooks(show_progress_bar, callbacks)
    results: dict[int, Any] = {}
    with (
        Progress(hooks, "encode", total=len(texts), unit="sentences", desc="Encoding (dask)") as progress,
        _client(client, n_workers) as active,
    ):
        remote_model = active.scatter(_Pickled(model), broadcast=True, hash=False)
        futures = {}
        for i, start in enumerate(starts):
            path = _shard(folder, i) if folder is not None else None
            if path is not None and i in skip:  # written by an earlier run
                results[i] = path
                progress.update(min(chunk_size, len(texts) - start), skipped=True)
                continue
            future = active.submit(
                _encode_chunk,
                remote_model,
                texts[start : start + chunk_size],
                options,
                threads,
                None if path is None else str(path),
                pure=False,
            )
            futures[future] = (i, path)
        for future in distributed.as_completed(futures):
            i, path = futures[future]
            value = future.result()
            if path is None:
                results[i] = value
            else:
                results[i] = path
                record(i, value[1])  # type: ignore[misc]
            progress.update(len(value) if path is None else value[0])
    return results


def _shard(folder: Path, chunk_id: int) -> Path:
    return folder / SHARD_PATTERN.format(chunk_id)


def _finished_shards(folder: Path, settings: dict[str, Any], inputs: list[str], restart: bool) -> dict[int, str]:
    """Checksums of the shards in ``folder`` that an earlier run of these settings and input lines finished.

    Refuses a rerun whose settings, model or (finished chunks') input lines
    changed; a shard that no longer matches its checksum is left out, so it is
    encoded again, with a warning.  Only shards a manifest records are ever replaced.
    """
    manifest = folder / MANIFEST_NAME
    if not manifest.exists():
        present = [_shard(folder, i) for i in range(len(inputs)) if _shard(folder, i).exists()]
        if present:
            raise FileExistsError(
                f"{present[0]} exists but {MANIFEST_NAME} does not, so it was not written by "
                "encode_dask_shards; it is left alone: move it away or use another output_path"
            )
        return {}
    previous = read_json(manifest)
    if not isinstance(previous, dict) or not {"n", "chunk_size"} <= set(previous):
        raise FileExistsError(
            f"{manifest} was not written by encode_dask_shards; it is left alone: "
            "move it away or use another output_path"
        )
    if restart:  # the earlier run's shards go, so that none is taken for one of this run's
        for i in range(-(-previous["n"] // max(1, previous["chunk_size"]))):
            _shard(folder, i).unlink(missing_ok=True)
        return {}
    check_resumable(folder, manifest, previous, settings, SHARD_LABELS, MANIFEST_FORMAT)
    n, size = settings["n"], settings["chunk_size"]
    finished = {int(i): digest for i, digest in previous["outputs"].items()}
    changed = sorted(i for i in finished if previous["inputs"][i] != inputs[i])
    if changed:
        refuse_resume(
            folder, [f"the input differs in {chunk_lines(changed, size, n)}, which the earlier run already encoded"]
        )
    good = {
        i: digest
        for i, digest in finished.items()
        if _shard(folder, i).exists() and hash_file(_shard(folder, i)) == digest
    }
    damaged = sorted(i for i in set(finished) - set(good) if _shard(folder, i).exists())
    if damaged:
        warnings.warn(
            f"{folder}: the shards of {len(damaged)} chunks ({chunk_lines(damaged, size, n)}) do not "
            "match the checksums recorded when they were written; encoding them again",
            stacklevel=3,
        )
    return good


def encode_dask(
    model: SizedEncoder,
    sentences: Sequence[str],
    client: Any = None,
    chunk_size: int = 10_000,
    threads_per_task: int | None = None,
    n_workers: int = 2,
    callbacks: Iterable[Any] | None = None,
    show_progress_bar: bool | None = None,
    **options: Any,
) -> np.ndarray:
    """Embed ``sentences`` on a Dask cluster; the ``(n, dim)`` array in input order (float32 unless ``precision``).

    Parameters
    ----------
    model:
        A :class:`~workbench.SentenceEncoder` (sent once to every worker).
    sentences:
        A list of strings.
    client:
        A ``distributed.Client``; default: a ``LocalCluster`` of ``n_workers``
        single-threaded processes, started and closed for this call.
    chunk_size:
        Sentences per task.
    threads_per_task:
        PyTorch threads inside each task (default: the worker's setting).
    callbacks, show_progress_bar:
        One ``progress_*`` task ``"encode"``, counted in sentences, in this process.
    **options:
        ``encode`` options (batch_size, compute_dtype, normalize_embeddings, prompt, truncate_dim, ...);
        ``precision`` codes are calibrated on all the embeddings of the call, as one process would.

    Example
    -------
    >>> emb = encode_dask(model, ["A man is eating.", "A dog runs."], chunk_size=1)     # doctest: +SKIP
    >>> emb.shape                                                                      # doctest: +SKIP
    (2, 384)
    """
    precision = options.pop("precision", "float32")
    check_output_precision(precision)
    texts = check_texts(sentences)
    results = _run(
        model, texts, client, chunk_size, None, threads_per_task, n_workers, callbacks, show_progress_bar, **options
    )
    embeddings = (
        np.concatenate([results[i] for i in range(len(results))])
        if results
        else np.empty((0, model.get_sentence_embedding_dimension() or 0), dtype=np.float32)
    )
    return embeddings if precision == "float32" else output_codes(embeddings, precision)


@accepts_renamed(output_dir="output_path")
def encode_dask_shards(
    model: Encoder,
    sentences: Sequence[str],
    output_path: str | os.PathLike,
    client: Any = None,
    chunk_size: int = 10_000,
    restart: bool = False,
    **options: Any,
) -> list[Path]:
    """Like :func:`encode_dask`, but every worker writes its chunks as ``.npy`` shards into ``output_path``.

    ``output_path`` must be reachable by every worker (a shared file system for
    a multi-machine cluster).  ``shards.json`` records the settings, a hash of
    the model's weights and configuration, a hash of each chunk's sentences and
    a checksum of each shard written.  A rerun with the same folder skips the
    shards already written; one whose settings, model or already encoded
    sentences differ is refused with a ``ValueError`` that says what changed,
    and a shard that no longer matches its checksum is encoded again (with a
    warning).  ``restart=True`` removes the earlier run's shards and starts
    over; files this function did not write are never replaced.  The other parameters (``threads_per_task``,
    ``n_workers``, ``callbacks``, ``show_progress_bar`` and ``encode`` options)
    are those of :func:`encode_dask`.  Returns the shard paths in corpus
    order; ``np.concatenate([np.load(p, mmap_mode="r") for p in paths])`` joins them.

    Example
    -------
    >>> paths = encode_dask_shards(model, sentences, "/shared/emb", client=client)      # doctest: +SKIP
    >>> paths[0].name                                                                    # doctest: +SKIP
    'embeddings-000000.npy'
    """
    if options.get("precision", "float32") != "float32":
        # Codes calibrated shard by shard would mean different things in different shards.
        raise ValueError(
            f"precision={options['precision']!r}: shards are written as float32; quantize the joined "
            "embeddings with workbench.quantization.quantize_embeddings and one set of ranges"
        )
    texts = check_texts(sentences)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    folder = Path(output_path).absolute()
    folder.mkdir(parents=True, exist_ok=True)
    settings = {
        "n": len(texts),
        "chunk_size": chunk_size,
        "model": {"source": getattr(model, "source", None), **model_fingerprint(model)},
        "options": {k: repr(v) for k, v in sorted(options.items()) if k not in RUN_OPTIONS},
    }
    inputs = [hash_texts(texts[start : start + chunk_size]) for start in range(0, len(texts), chunk_size)]
    outputs = _finished_shards(folder, settings, inputs, restart)

    def save(chunk_id: int | None = None, digest: str = "") -> None:
        """Write the manifest, with a newly written shard's checksum when one is given."""
        if chunk_id is not None:
            outputs[chunk_id] = digest
        write_json(
            folder / MANIFEST_NAME,
            settings
            | {"format": MANIFEST_FORMAT, "inputs": inputs, "outputs": {str(i): outputs[i] for i in sorted(outputs)}},
        )

    save()
    results = _run(model, texts, client, chunk_size, folder, skip=set(outputs), record=save, **options)
    return [results[i] for i in range(len(results))]
