"""What the exported backends (onnx, openvino) share: the module they export, its digest and cache folder.

Both export the encoder's first module, a :class:`~workbench.modules.Transformer`,
as a function of the tokenizer's tensors to its token embeddings, check the
export against PyTorch on a padded batch, and cache it under
``<cache>/models/<name>-<backend>-<digest>``, where the digest covers the
config, every weight and the export's own version: the same weights are never
exported twice, and changed weights (training) get a fresh export.

Example
-------
>>> EXPORTED_COMPUTE_DTYPES
('float32', 'int8')
>>> check_compute_dtype("openvino", "bfloat16")
Traceback (most recent call last):
...
ValueError: compute_dtype='bfloat16' runs on the torch backend; the openvino backend runs float32 and int8
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..modules import Transformer
from ..paths import cache_dir

#: Compute dtypes the exported backends run.
EXPORTED_COMPUTE_DTYPES = ("float32", "int8")
#: Most batches one encoder runs at once on CPU (see :func:`concurrency`).
MAX_CONCURRENT_BATCHES = 8
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
#: Largest difference from PyTorch's token embeddings an export may show on the traced batch.
EXPORT_TOLERANCE = 1e-3
# Texts of different lengths, so that the traced graph pads and masks.
_TRACE_TEXTS = ["an export", "a longer sentence, so that the batch has padding to mask"]


def check_compute_dtype(backend: str, compute_dtype: str) -> None:
    """Refuse a compute dtype that an exported ``backend`` does not run, saying which ones it does."""
    if compute_dtype not in EXPORTED_COMPUTE_DTYPES:
        raise ValueError(
            f"compute_dtype={compute_dtype!r} runs on the torch backend; the {backend} backend runs "
            f"{' and '.join(EXPORTED_COMPUTE_DTYPES)}"
        )


def transformer_of(encoder: nn.Module, backend: str) -> Transformer:
    """The encoder's first module, which ``backend`` exports; an error when it cannot."""
    first = encoder[0]
    if not isinstance(first, Transformer):
        raise ValueError(
            f"the {backend} backend and compute_dtype='int8' export the encoder's first module, which must be a "
            f"Transformer; this encoder starts with {type(first).__name__} (use backend='torch' with float32 or bfloat16)"
        )
    if first.output_hidden_states:
        raise ValueError(
            f"the {backend} backend exports token embeddings only, but this Transformer returns all hidden states "
            "(output_hidden_states=True, needed by layer-pooling modules); use backend='torch'"
        )
    return first


def trace_batch(transformer: Transformer) -> dict[str, torch.Tensor]:
    """A padded batch for tracing (straight from the tokenizer: ``tokenize`` would spend its one truncation warning)."""
    return dict(
        transformer.tokenizer(
            _TRACE_TEXTS, padding=True, truncation=True, max_length=transformer.max_seq_length, return_tensors="pt"
        )
    )


def input_names(transformer: Transformer) -> list[str]:
    """The tokenizer outputs the model takes (``token_type_ids`` only where the tokenizer makes them)."""
    return [name for name in INPUT_NAMES if name in trace_batch(transformer)]


def weights_digest(transformer: Transformer, *export: Any) -> str:
    """SHA-256 of what an export depends on: the model config, every weight, the inputs and ``export`` (its versions).

    Example
    -------
    >>> weights_digest(model[0], 1, 17)[:12]                                # doctest: +SKIP
    '3f1c0a9b27de'
    """
    digest = hashlib.sha256()
    digest.update(transformer.auto_model.config.to_json_string().encode())
    digest.update(json.dumps([*export, input_names(transformer)]).encode())
    for name, tensor in transformer.auto_model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy())  # no copy: a buffer
    return digest.hexdigest()


def export_folder(encoder: nn.Module, backend: str, digest: str) -> Path:
    """Where ``backend``'s exports of the weights with ``digest`` live: ``<cache>/models/<name>-<backend>-<digest>``.

    ``<name>`` is the model folder's name (``encoder`` for models built from modules).

    Example
    -------
    >>> export_folder(model, "onnx", "3f1c0a9b27de41a2ff").name             # doctest: +SKIP
    'all-MiniLM-L6-v2-onnx-3f1c0a9b27de41a2'
    """
    source = getattr(encoder, "source_folder", None)
    name = Path(source).name if source else "encoder"
    return cache_dir("models") / f"{name}-{backend}-{digest[:16]}"


class TokenEmbeddings(nn.Module):
    """The Hugging Face model as a function of positional tensors, for the exporters."""

    def __init__(self, model: nn.Module, names: list[str]) -> None:
        super().__init__()
        self.model, self.names = model, names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.names, inputs)), return_dict=True).last_hidden_state


def check_export(backend: str, model: nn.Module, features: dict[str, torch.Tensor], got: np.ndarray) -> None:
    """Refuse an export whose token embeddings ``got`` for ``features`` differ from ``model``'s (PyTorch's)."""
    with torch.no_grad():
        expected = model(**features, return_dict=True).last_hidden_state
    mask = features["attention_mask"].bool()
    error = float(np.abs(got[mask.numpy()] - expected[mask].numpy()).max())
    if error > EXPORT_TOLERANCE:
        raise RuntimeError(
            f"the {backend} export of {type(model).__name__} differs from PyTorch by {error:.2g} "
            "on a padded batch; this architecture does not export cleanly, use backend='torch'"
        )


def concurrency(device: torch.device) -> tuple[int, int]:
    """``(batches run at once, threads per run)`` for an exported backend on ``device``.

    On CPU, as many single-threaded runs as PyTorch has threads (up to
    :data:`MAX_CONCURRENT_BATCHES`): a batch of a small encoder is too little
    work to split over threads (measured on 2 cores, all-MiniLM-L6-v2 int8 on
    onnxruntime: 2,250 sentences/s for two concurrent runs of one thread,
    1,500-1,800 for one run of two).  On a GPU, one run at a time.
    """
    threads = torch.get_num_threads()
    if device.type != "cpu":
        return 1, threads
    runs = max(1, min(threads, MAX_CONCURRENT_BATCHES))
    return runs, max(1, threads // runs)
