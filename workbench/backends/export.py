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

import copy
import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..cache import cached_folder
from ..modules import Transformer
from ..paths import cache_dir

logger = logging.getLogger(__name__)

#: Compute dtypes the exported backends run.
EXPORTED_COMPUTE_DTYPES = ("float32", "int8")
#: Most batches one encoder runs at once on CPU (see :func:`concurrency`).
MAX_CONCURRENT_BATCHES = 8
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
#: Largest difference from PyTorch's token embeddings an export may show on the traced batch.
EXPORT_TOLERANCE = 1e-3
#: The export folder's record (see :mod:`workbench.cache`), written last.
EXPORT_RECORD = "export.json"
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


def traced(transformer: Transformer) -> tuple[nn.Module, list[str], dict[str, torch.Tensor]]:
    """What an exporter traces: a float32 CPU copy of the Hugging Face model, its input names and a padded batch."""
    model = copy.deepcopy(transformer.auto_model).to("cpu", torch.float32).eval()
    return model, input_names(transformer), trace_batch(transformer)


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


def cached_export(
    encoder: nn.Module,
    backend: str,
    compute_dtype: str,
    files: dict[str, tuple[str, ...]],
    make_float32: Callable[[Transformer, Path], None],
    make_int8: Callable[[Path, Path], None],
    versions: dict[str, Any],
) -> Path:
    """The model file of ``backend``'s cached export of ``encoder``'s Transformer in ``compute_dtype``, made when missing.

    Parameters
    ----------
    encoder:
        A :class:`~workbench.SentenceEncoder` whose first module is a Transformer.
    backend:
        The backend's name, in the folder's name and the messages.
    compute_dtype:
        ``float32`` or ``int8``.
    files:
        Each compute dtype's files, the model file first (the others, such as
        OpenVINO's ``.bin`` weights, belong to it).
    make_float32, make_int8:
        ``make_float32(transformer, path)`` writes the float32 model file (and
        its companions); ``make_int8(float32_path, path)`` the int8 one made from it.
    versions:
        What the files depend on besides the weights (the export code's
        version, the format's); part of the digest and of the record.

    Example
    -------
    >>> path = cached_export(model, "onnx", "int8", FILES, export, quantize, {"export_version": 1})   # doctest: +SKIP
    >>> path.name                                                                                   # doctest: +SKIP
    'model-int8.onnx'
    """
    if compute_dtype not in EXPORTED_COMPUTE_DTYPES:
        raise ValueError(
            f"compute_dtype must be one of {EXPORTED_COMPUTE_DTYPES} for {backend} exports, got {compute_dtype!r}"
        )
    transformer = transformer_of(encoder, backend)
    digest = weights_digest(transformer, *versions.values())
    folder = export_folder(encoder, backend, digest)

    def build(tmp: Path, previous: dict[str, Any] | None) -> dict[str, Any]:
        # Keep what an earlier call made and is still whole (the float32 export), and add what is missing.
        whole = set(previous["files"]) if previous else set()
        for names in files.values():
            if set(names) <= whole:
                for name in names:
                    os.link(folder / name, tmp / name)
        float32, int8 = tmp / files["float32"][0], tmp / files["int8"][0]
        if not float32.is_file():
            logger.info("exporting %s to %s in %s", type(transformer.auto_model).__name__, backend, folder)
            make_float32(transformer, float32)
        if compute_dtype == "int8" and not int8.is_file():  # never write into a linked file
            make_int8(float32, int8)
        source = str(getattr(encoder, "source", None))
        return {"source": source, "digest": digest, "inputs": input_names(transformer), **versions}

    # The record lists each file's size: an export cut short (disk full, killed) is made again.
    cached_folder(folder, EXPORT_RECORD, build, usable=lambda info: set(files[compute_dtype]) <= set(info["files"]))
    return folder / files[compute_dtype][0]


class TokenEmbeddings(nn.Module):
    """The Hugging Face model as a function of positional tensors, for the exporters."""

    def __init__(self, model: nn.Module, names: list[str]) -> None:
        super().__init__()
        self.model, self.names = model, names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.names, inputs)), return_dict=True).last_hidden_state


class ExportedTransformer(nn.Module):
    """Stands in for a :class:`~workbench.modules.Transformer` at inference: token embeddings from an export.

    A backend's runner (:class:`~workbench.backends.OnnxTransformer`,
    :class:`~workbench.backends.OpenVINOTransformer`) loads the export and
    implements :meth:`run`; ``concurrent_batches`` says how many batches it
    runs at once.

    Parameters
    ----------
    path:
        The export's model file.
    input_names:
        The tokenizer outputs the model takes.
    device:
        Where the outputs go.
    """

    concurrent_batches: int

    def __init__(self, path: str | os.PathLike, input_names: list[str], device: str | torch.device = "cpu") -> None:
        super().__init__()
        self.path = Path(path)
        self.input_names = list(input_names)
        self.target = torch.device(device)

    def run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """The token embeddings (batch, tokens, dimension) for the tokenizer's ``inputs`` (int64 arrays)."""
        raise NotImplementedError(f"{type(self).__name__} does not run an export")

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        inputs = {name: features[name].detach().cpu().numpy().astype(np.int64, copy=False) for name in self.input_names}
        features["token_embeddings"] = torch.from_numpy(self.run(inputs)).to(self.target)
        return features


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
