"""Where and in what number type an encoder runs, and how faithful each setting is.

* :mod:`workbench.backends.onnx`: the Transformer exported to ONNX (cached
  beside the model) and run with onnxruntime, in float32 or int8;
  ``SentenceEncoder(..., backend="onnx")`` and ``encode(..., compute_dtype="int8")``
  use it.
* :mod:`workbench.backends.fidelity`: :func:`fidelity_report` compares
  settings (compute_dtype, backend, truncate_dim) by embedding cosine, STSb
  Spearman and SciFact top-10 overlap, next to their speed.
"""

from .fidelity import Setting, fidelity_report
from .onnx import OnnxTransformer, export_onnx, onnx_modules

__all__ = ["OnnxTransformer", "Setting", "export_onnx", "fidelity_report", "onnx_modules"]
