"""Content fingerprints (SHA-256 hex digests) of bytes, files, texts, arrays and ``state_dict``\\ s.

Resumable work records these beside its results so that a resume can tell
whether its inputs are still the ones the saved results came from.  Each
hash covers the *meaning* of the value, not only its bytes: an array's hash
includes its dtype and shape, a list of texts hashes each text's length, so
``["ab", "c"]`` and ``["a", "bc"]`` differ.

Example
-------
>>> from workbench.fingerprint import hash_bytes, hash_texts
>>> hash_bytes(b"abc")[:12]
'ba7816bf8f01'
>>> hash_texts(["ab", "c"]) != hash_texts(["a", "bc"])
True
"""

from __future__ import annotations

import hashlib
import itertools
import os
from typing import Any, Iterable, Mapping

import numpy as np

_BLOCK = 1 << 20


def hash_bytes(data: bytes | memoryview) -> str:
    """SHA-256 hex digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


def hash_file(path: str | os.PathLike, start: int = 0, length: int | None = None) -> str:
    """SHA-256 hex digest of a file, or of its ``length`` bytes from ``start`` on (fewer where the file ends)."""
    digest = hashlib.sha256()
    left = length
    with open(path, "rb") as fh:
        fh.seek(start)
        while left is None or left > 0:
            block = fh.read(_BLOCK if left is None else min(_BLOCK, left))
            if not block:
                break
            digest.update(block)
            if left is not None:
                left -= len(block)
    return digest.hexdigest()


def hash_texts(texts: Iterable[str]) -> str:
    """SHA-256 hex digest of a sequence of strings (their order, count and each one's content)."""
    digest = hashlib.sha256()
    stream = iter(texts)
    # In batches: each batch's byte lengths, then its bytes (the lengths keep ["ab", "c"] apart from ["a", "bc"]).
    while batch := [t.encode("utf-8", "surrogatepass") for t in itertools.islice(stream, 4096)]:
        digest.update(np.fromiter(map(len, batch), dtype="<i8", count=len(batch)).data)
        digest.update(b"".join(batch))
    return digest.hexdigest()


def _update_array(digest: Any, array: np.ndarray) -> None:
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    digest.update(np.ascontiguousarray(array).reshape(-1).view(np.uint8).data)


def hash_array(array: np.ndarray) -> str:
    """SHA-256 hex digest of an array's dtype, shape and values."""
    digest = hashlib.sha256()
    _update_array(digest, np.asarray(array))
    return digest.hexdigest()


def hash_state_dict(state: Mapping[str, Any]) -> str:
    """SHA-256 hex digest of a ``state_dict``: every tensor's name, dtype, shape and values, in key order.

    Tensors are hashed through their raw bytes, so dtypes numpy lacks (bfloat16) work too.
    """
    import torch

    digest = hashlib.sha256()
    for name in sorted(state):
        value = state[name]
        digest.update(name.encode())
        if isinstance(value, torch.Tensor):
            tensor = value.detach().cpu().contiguous()
            digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().data)
        else:  # extra state: anything with a stable repr
            digest.update(repr(value).encode())
    return digest.hexdigest()
