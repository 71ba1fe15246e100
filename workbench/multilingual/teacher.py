"""The teacher's embeddings of sentences, each encoded once and cached on disk.

* :func:`sentence_key` -- a sentence's key in the cache;
* :func:`teacher_fingerprint` -- a teacher's identity (settings, tokenizers, weights);
* :class:`TeacherEmbeddings` -- the cache itself, answering ``encode`` like a model.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from ..encoder import COMPUTE_DTYPES, renamed_precision
from ..io import atomic_write_bytes, write_json
from ..paths import cache_dir

#: Subfolder of the workbench cache that holds teacher embeddings.
CACHE_NAME = "teacher-embeddings"


def sentence_key(sentence: str) -> bytes:
    """The 32-byte key of a sentence in the teacher cache (SHA-256 of its UTF-8 bytes).

    Example
    -------
    >>> sentence_key("Hello").hex()[:12]
    '185f8db32271'
    """
    return hashlib.sha256(sentence.encode("utf-8")).digest()


def teacher_fingerprint(teacher: nn.Module, compute_dtype: str = "float32") -> str:
    """A hex digest that changes whenever the teacher's embeddings could change.

    It covers every module's class and settings, every weight, the
    tokenizers, the encoder's prompts and ``truncate_dim``, and the compute
    dtype of encoding.  Hashing all weights takes a fraction of a second for a
    MiniLM-sized model.

    Example
    -------
    >>> from workbench.modules import Dense
    >>> _ = torch.manual_seed(0)
    >>> a, b = Dense(2, 2), Dense(2, 2)
    >>> teacher_fingerprint(a) == teacher_fingerprint(a), teacher_fingerprint(a) == teacher_fingerprint(b)
    (True, False)
    """
    if not isinstance(teacher, nn.Module):
        raise TypeError(
            f"cannot fingerprint a {type(teacher).__name__}: the teacher must be a torch module "
            "(a SentenceEncoder); otherwise give TeacherEmbeddings a teacher_id"
        )
    digest = hashlib.blake2b(digest_size=16)

    def add(value: Any) -> None:
        digest.update(json.dumps(value, sort_keys=True, default=str).encode())

    # "precision" is the compute dtype's old name, kept so that existing caches stay valid
    add(
        {
            "precision": compute_dtype,
            "prompts": getattr(teacher, "prompts", None),
            "default_prompt_name": getattr(teacher, "default_prompt_name", None),
            "truncate_dim": getattr(teacher, "truncate_dim", None),
        }
    )
    for name, module in teacher.named_modules():
        getter = getattr(module, "get_config", None)
        add([name, type(module).__name__, getter() if callable(getter) else None])
        tokenizer = getattr(module, "tokenizer", None)
        backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
        if hasattr(backend, "to_str"):
            # Padding and truncation are set per call by Hugging Face tokenizers; they do not change embeddings.
            add({k: v for k, v in json.loads(backend.to_str()).items() if k not in ("padding", "truncation")})
    for name, tensor in teacher.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().flatten().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class TeacherEmbeddings:
    """The teacher's embeddings of sentences, each sentence encoded once and cached on disk.

    The cache is a folder per teacher identity (see :func:`teacher_fingerprint`)
    holding ``.npz`` shards of (sentence key, embedding) rows; every call that
    meets new sentences encodes only those and adds one shard.  Shards are
    written atomically, so an interrupted run leaves a usable cache.

    Parameters
    ----------
    teacher
        The model whose embeddings are the targets; anything with
        ``encode(sentences, batch_size=, compute_dtype=, ...)``.
    folder
        Where teacher caches live (one subfolder per teacher identity);
        default: ``teacher-embeddings`` in the workbench cache (``WORKBENCH_CACHE``).
    compute_dtype
        Passed to the teacher's ``encode`` (``float32``, ``bfloat16``, ``int8``); part of the cache key.
    precision
        Deprecated name of ``compute_dtype`` (a FutureWarning).
    batch_size
        Sentences per teacher forward pass.
    teacher_id
        A name that identifies the teacher instead of hashing its weights
        (needed for teachers that are not torch modules).
    callbacks
        Subscribers of the teacher's ``progress_*`` events.

    Attributes
    ----------
    path
        This teacher's cache folder.
    encoded
        How many sentences the teacher has encoded through this object
        (0 when everything came from the cache).

    Example
    -------
    >>> embed = TeacherEmbeddings(teacher, folder="cache")     # doctest: +SKIP
    >>> embed(["Hello", "Hello", "World"]).shape                # doctest: +SKIP
    (3, 384)
    >>> embed.encoded                                           # doctest: +SKIP
    2
    """

    def __init__(
        self,
        teacher: Any,
        folder: str | os.PathLike | None = None,
        compute_dtype: str = "float32",
        batch_size: int = 64,
        teacher_id: str | None = None,
        callbacks: Iterable[Any] | None = None,
        precision: str | None = None,
    ) -> None:
        compute_dtype = renamed_precision(precision, compute_dtype, "TeacherEmbeddings")
        if compute_dtype not in COMPUTE_DTYPES:
            raise ValueError(f"compute_dtype must be one of {COMPUTE_DTYPES}, got {compute_dtype!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        identity = (
            teacher_fingerprint(teacher, compute_dtype) if teacher_id is None else f"{teacher_id}\0{compute_dtype}"
        )
        self.teacher = teacher
        self.compute_dtype = compute_dtype
        self.batch_size = batch_size
        self.callbacks = list(callbacks or ())
        self.path = (
            Path(folder if folder is not None else cache_dir(CACHE_NAME))
            / hashlib.blake2b(identity.encode(), digest_size=10).hexdigest()
        )
        self.encoded = 0
        self._rows: dict[bytes, np.ndarray] = {}
        self._load()

    def __len__(self) -> int:
        """Number of sentences in the cache."""
        return len(self._rows)

    def __contains__(self, sentence: str) -> bool:
        return sentence_key(sentence) in self._rows

    def __call__(self, sentences: Sequence[str]) -> np.ndarray:
        """Embeddings of ``sentences`` (float32, one row each), encoding only the ones not cached."""
        keys = [sentence_key(s) for s in sentences]
        missing = list({k: s for k, s in zip(keys, sentences) if k not in self._rows}.items())
        if missing:
            embeddings = np.asarray(
                self.teacher.encode(
                    [s for _, s in missing],
                    batch_size=self.batch_size,
                    compute_dtype=self.compute_dtype,
                    convert_to_numpy=True,
                    callbacks=self.callbacks or None,
                ),
                dtype=np.float32,
            )
            self._store([k for k, _ in missing], embeddings)
            self.encoded += len(missing)
        if not keys:
            return np.zeros((0, self.dimension or 0), dtype=np.float32)
        return np.stack([self._rows[k] for k in keys])

    def encode(self, sentences: str | Sequence[str], **options: Any) -> np.ndarray:
        """The cached embeddings with a model's ``encode`` call, so evaluators can score the teacher cheaply.

        ``options`` (batch size, progress bar, ...) are accepted and ignored:
        the teacher's settings were fixed when this object was made.

        Example
        -------
        >>> sts_spearman(TeacherEmbeddings(teacher), benchmarks)   # doctest: +SKIP
        """
        if isinstance(sentences, str):
            return self([sentences])[0]
        return self(sentences)

    @property
    def dimension(self) -> int | None:
        """Width of the cached embeddings (None while the cache is empty)."""
        return len(next(iter(self._rows.values()))) if self._rows else None

    def _load(self) -> None:
        for shard in sorted(self.path.glob("shard-*.npz")):
            with np.load(shard, allow_pickle=False) as data:
                keys, embeddings = data["keys"], data["embeddings"]
            if len(keys) != len(embeddings) or keys.shape[1:] != (32,):
                raise ValueError(
                    f"{shard} is not a teacher-embedding shard ({keys.shape} keys, "
                    f"{embeddings.shape} embeddings); delete it and run again"
                )
            self._rows.update(zip((row.tobytes() for row in keys), embeddings))

    def _store(self, keys: list[bytes], embeddings: np.ndarray) -> None:
        if embeddings.ndim != 2 or len(embeddings) != len(keys):
            raise ValueError(
                f"the teacher returned embeddings of shape {embeddings.shape} for {len(keys)} "
                "sentences; expected one vector per sentence"
            )
        if self.dimension is not None and embeddings.shape[1] != self.dimension:
            raise ValueError(
                f"the teacher returned {embeddings.shape[1]}-d embeddings but {self.path} holds "
                f"{self.dimension}-d ones; give this teacher its own teacher_id or folder"
            )
        buffer = io.BytesIO()
        key_matrix = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), 32)
        np.savez(buffer, keys=key_matrix, embeddings=embeddings)
        name = hashlib.blake2b(key_matrix.tobytes(), digest_size=12).hexdigest()
        atomic_write_bytes(self.path / f"shard-{name}.npz", buffer.getvalue())
        if not (self.path / "teacher.json").exists():
            # For people browsing the cache: which teacher a folder belongs to.
            about = {
                "teacher": str(getattr(self.teacher, "source", type(self.teacher).__name__)),
                "compute_dtype": self.compute_dtype,
            }
            write_json(self.path / "teacher.json", about)
        self._rows.update(zip(keys, embeddings))
