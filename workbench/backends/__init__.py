"""Where and in what number type an encoder runs, and how faithful each setting is.

* :mod:`workbench.backends.onnx`: the Transformer exported to ONNX (cached
  under the workbench cache) and run with onnxruntime, in float32 or int8;
  ``SentenceEncoder(..., backend="onnx")`` and ``encode(..., compute_dtype="int8")``
  on the torch backend use it.
* :mod:`workbench.backends.openvino`: the Transformer converted to OpenVINO
  (cached the same way) and run with OpenVINO, in float32 or int8 (NNCF's
  int8 weights); ``SentenceEncoder(..., backend="openvino")``.
* :mod:`workbench.backends.export`: what both exports share (digest, cache
  folder, the check against PyTorch).
* :mod:`workbench.backends.fidelity`: :func:`fidelity_report` compares
  settings (compute_dtype, backend, truncate_dim) by embedding cosine, STSb
  Spearman and SciFact top-10 overlap, next to their speed.
"""

from __future__ import annotations

from torch import nn

from .export import check_compute_dtype, input_names, transformer_of
from .fidelity import Setting, fidelity_report
from .onnx import OnnxTransformer, export_onnx, onnx_modules
from .openvino import OpenVINOTransformer, export_openvino

#: The backends that run an export of the Transformer.
EXPORTED_BACKENDS = ("onnx", "openvino")


def exported_modules(encoder: nn.Module, compute_dtype: str, backend: str) -> nn.Module:
    """The modules ``encoder`` runs for ``compute_dtype`` on the exported ``backend``, built anew.

    The Transformer is replaced by the backend's runner of the cached export
    (:class:`OnnxTransformer`, :class:`OpenVINOTransformer`); the other modules
    are the encoder's own.  :func:`workbench.runner.modules_for` keeps the
    result until the weights change.

    Example
    -------
    >>> type(exported_modules(model, "int8", "openvino")[0]).__name__    # doctest: +SKIP
    'OpenVINOTransformer'
    """
    runners = {"onnx": (export_onnx, OnnxTransformer), "openvino": (export_openvino, OpenVINOTransformer)}
    if backend not in runners:
        raise ValueError(f"backend must be one of {EXPORTED_BACKENDS} to run an export, got {backend!r}")
    check_compute_dtype(backend, compute_dtype)
    export, runner_type = runners[backend]
    transformer = transformer_of(encoder, backend)
    runner: OnnxTransformer | OpenVINOTransformer = runner_type(
        export(encoder, compute_dtype), input_names(transformer), encoder.device
    )
    modules = nn.Sequential(runner, *list(encoder)[1:])
    modules.concurrent_batches = runner.concurrent_batches  # read by workbench.runner.forward_batches
    return modules


__all__ = [
    "EXPORTED_BACKENDS",
    "OnnxTransformer",
    "OpenVINOTransformer",
    "Setting",
    "exported_modules",
    "export_onnx",
    "export_openvino",
    "fidelity_report",
    "onnx_modules",
]
