"""Run an encoder's Transformer with onnxruntime, in float32 or int8.

The Transformer (the first module) is exported once to ONNX with dynamic
batch and sequence axes; its int8 version is made from that export by
onnxruntime's dynamic quantization (weights int8 per output channel,
activations quantized per batch at run time, so no calibration data is
needed).  Both files are cached beside the model folder in the cache,
under a digest of the weights: the same weights are never exported twice,
and changed weights (training) get a fresh export.  The other modules
(pooling, dense, normalize) keep running in PyTorch.

Why onnxruntime for int8: on a 2-core AMD EPYC (AVX512-VNNI) PyTorch's own
int8 routes (dynamically quantized ``Linear`` layers, or oneDNN
``qlinear_pointwise`` on packed tokens) reached 1.4-1.75x the float32 path,
with the same STSb fidelity (Spearman 0.818 vs 0.820 in float32); onnxruntime's
dynamic int8 model with batches run concurrently (:func:`concurrency`) goes
further (see ``bench/RESULTS.md``).  Fusing attention with onnxruntime's
transformer optimizer before quantizing was tried and measured no faster.

Example
-------
>>> from workbench import SentenceEncoder
>>> model = SentenceEncoder("all-MiniLM-L6-v2", backend="onnx")       # doctest: +SKIP
>>> emb = model.encode(["A man is eating."], compute_dtype="int8")    # doctest: +SKIP
>>> export_onnx(model, "int8").name                                    # doctest: +SKIP
'model-int8.onnx'
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..modules import Transformer
from .export import ExportedTransformer, TokenEmbeddings, cached_export, check_export, concurrency, traced

#: Bumped when the export changes, so that old cached files are not reused.
EXPORT_VERSION = 1
OPSET = 17
#: Each compute dtype's file.
FILES = {"float32": ("model.onnx",), "int8": ("model-int8.onnx",)}


def _require_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise ImportError(
            "the onnx backend and compute_dtype='int8' need onnxruntime and onnx: pip install onnxruntime onnx"
        ) from None
    return onnxruntime


def _export_float32(transformer: Transformer, path: Path) -> None:
    model, names, features = traced(transformer)
    inputs = tuple(features[name] for name in names)
    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "token_embeddings"]}
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter warns that it is deprecated and that traced Python
        # conditions become constants; the check below is what tells a good export.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            TokenEmbeddings(model, names).eval(),
            inputs,
            str(path),
            input_names=names,
            output_names=["token_embeddings"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
    session = _session(path, torch.device("cpu"))
    check_export("onnx", model, features, session.run(None, {name: features[name].numpy() for name in names})[0])


def _quantize(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # onnxruntime suggests its shape pre-processing on the root logger at every call; for
    # dynamic quantization of MatMul weights it changes nothing, so the advice is muted.
    root = logging.getLogger()
    advice = _DropMessage("pre-processing before quantization")
    root.addFilter(advice)
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.removeFilter(advice)


class _DropMessage(logging.Filter):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def export_onnx(encoder: nn.Module, compute_dtype: str = "float32") -> Path:
    """The cached ONNX file of ``encoder``'s Transformer, exported (and quantized) when missing.

    Parameters
    ----------
    encoder:
        A :class:`~workbench.SentenceEncoder` whose first module is a Transformer.
    compute_dtype:
        ``float32`` (``model.onnx``) or ``int8`` (``model-int8.onnx``: dynamic
        quantization, int8 weights per output channel).

    Returns
    -------
    Path of the ``.onnx`` file; inputs ``input_ids``, ``attention_mask`` (and
    ``token_type_ids`` when the tokenizer makes them), output ``token_embeddings``.

    Example
    -------
    >>> path = export_onnx(SentenceEncoder("all-MiniLM-L6-v2"), "int8")   # doctest: +SKIP
    >>> path.parent.name                                                   # doctest: +SKIP
    'all-MiniLM-L6-v2-onnx-3f1c0a9b27de41a2'
    """
    _require_onnxruntime()
    versions = {"export_version": EXPORT_VERSION, "opset": OPSET}  # the digest of earlier exports: they stay valid
    return cached_export(encoder, "onnx", compute_dtype, FILES, _export_float32, _quantize, versions)


def _session(path: Path, device: torch.device) -> Any:
    ort = _require_onnxruntime()
    options = ort.SessionOptions()
    # The threads PyTorch would use, shared among the concurrent runs, so both backends use the same cores.
    options.intra_op_num_threads = concurrency(device)[1]
    options.inter_op_num_threads = 1
    # Between two runs PyTorch pools, normalises and tokenizes; spinning ORT workers would take its cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    providers = ["CPUExecutionProvider"]
    if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, ("CUDAExecutionProvider", {"device_id": device.index or 0}))
    return ort.InferenceSession(str(path), options, providers=providers)


class OnnxTransformer(ExportedTransformer):
    """An :class:`~workbench.backends.export.ExportedTransformer` on onnxruntime, for a file from :func:`export_onnx`.

    ``device`` also picks the execution provider (CUDA where onnxruntime has it).

    Example
    -------
    >>> runner = OnnxTransformer(export_onnx(model), ["input_ids", "attention_mask"])   # doctest: +SKIP
    >>> runner(model.tokenize(["hi"]))["token_embeddings"].shape                          # doctest: +SKIP
    torch.Size([1, 3, 384])
    """

    def __init__(self, path: str | os.PathLike, input_names: list[str], device: str | torch.device = "cpu") -> None:
        super().__init__(path, input_names, device)
        self.session = _session(self.path, self.target)  # run() is thread-safe: one session serves every run
        self.concurrent_batches = concurrency(self.target)[0]

    def run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(["token_embeddings"], inputs)[0]


def onnx_modules(encoder: nn.Module, compute_dtype: str) -> nn.Module:
    """The modules encode runs on onnxruntime, built once per encoder and compute dtype, and again after the weights change.

    See :mod:`workbench.runner` for when a change is noticed.
    """
    from ..runner import modules_for

    return modules_for(encoder, compute_dtype, backend="onnx")
