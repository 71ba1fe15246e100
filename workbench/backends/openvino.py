"""Run an encoder's Transformer with OpenVINO, in float32 or int8.

The Transformer (the first module) is converted once to OpenVINO's format
(``openvino_model.xml`` + ``.bin``) from PyTorch, with dynamic batch and
sequence axes, and checked against PyTorch on a padded batch.  Its int8
version is made from that conversion by NNCF's weight compression: every
matrix product's weights stored as int8 (asymmetric, per output channel),
activations kept float32, so no calibration data is needed.  Both are cached
under the workbench cache (``<cache>/models/<name>-openvino-<digest>``) by the
rules of :mod:`workbench.cache`, under a digest of the weights, as the onnx
exports are.  The other modules (pooling, dense, normalize) keep running in
PyTorch.

Why weight compression rather than NNCF's post-training quantization (int8
activations too, calibrated on texts): on all-MiniLM-L6-v2 it kept more of
the float32 results (min cosine 0.9995 against 0.9895 on 3,000 STSb
sentences; STSb test Spearman 0.8201 against 0.8197, float32 0.8203), needs no
calibration texts and builds in seconds instead of minutes.  Neither was
faster than OpenVINO float32 on the 2-core AVX2-only AMD EPYC it was measured
on (no VNNI there); see ``bench/RESULTS.md``.

One Core, plugins loaded off the caller's thread: OpenVINO's CPU plugin (each
``openvino.Core`` loads its own) gives the thread that loads it an alternate
signal stack (``sigaltstack``) and, unloaded, puts back the stack it found
only if its own is still the current one, unmapping its own either way.  Two
plugins unloaded in the order they were loaded leave that thread's signal
stack pointing at unmapped memory; the next signal Python handles there (its
handlers run on that stack), such as Ctrl-C or a notebook's Interrupt, then
kills the process with a segmentation fault and no traceback (exit 139).  So
this module loads the plugin once per process (:func:`core`) on a thread of
its own, and runs NNCF, which makes Cores of its own, on such a thread too:
the threads that encode and train keep their signal stacks.

Example
-------
>>> from workbench import SentenceEncoder
>>> model = SentenceEncoder("all-MiniLM-L6-v2", backend="openvino")    # doctest: +SKIP
>>> emb = model.encode(["A man is eating."], compute_dtype="int8")     # doctest: +SKIP
>>> export_openvino(model, "int8").name                                 # doctest: +SKIP
'openvino_model_int8.xml'
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from ..modules import Transformer
from .export import ExportedTransformer, TokenEmbeddings, cached_export, check_export, concurrency, traced

#: Bumped when the conversion changes, so that old cached files are not reused.
EXPORT_VERSION = 1
#: Each compute dtype's files: the model and its weights.
FILES = {
    "float32": ("openvino_model.xml", "openvino_model.bin"),
    "int8": ("openvino_model_int8.xml", "openvino_model_int8.bin"),
}

_T = TypeVar("_T")


def _require_openvino() -> Any:
    try:
        import openvino
    except ImportError:
        raise ImportError(
            "the openvino backend needs openvino (and nncf for compute_dtype='int8'): pip install openvino nncf"
        ) from None
    return openvino


def _require_nncf() -> Any:
    try:
        import nncf
    except ImportError:
        raise ImportError("compute_dtype='int8' on the openvino backend needs nncf: pip install nncf") from None
    return nncf


def _on_own_thread(work: Callable[[], _T]) -> _T:
    """``work()`` run on a short-lived thread: a signal stack that OpenVINO sets while loading a plugin stays there."""
    with ThreadPoolExecutor(1, thread_name_prefix="workbench-openvino") as pool:
        return pool.submit(work).result()


@functools.cache
def core() -> Any:
    """The process's one ``openvino.Core``, its CPU plugin loaded on a thread of its own (see the module's text).

    Example
    -------
    >>> core() is core()                                                     # doctest: +SKIP
    True
    """
    ov = _require_openvino()
    loaded = ov.Core()
    _on_own_thread(lambda: loaded.get_property("CPU", "FULL_DEVICE_NAME"))
    return loaded


def _convert_float32(transformer: Transformer, path: Path) -> None:
    ov = _require_openvino()
    model, names, features = traced(transformer)
    with warnings.catch_warnings(), torch.no_grad():
        # Tracing warns that Python conditions become constants; the check below tells a good conversion.
        warnings.simplefilter("ignore")
        converted = ov.convert_model(TokenEmbeddings(model, names), example_input=tuple(features[n] for n in names))
    for port, name in zip(converted.inputs, names):
        port.get_tensor().set_names({name})
    converted.outputs[0].get_tensor().set_names({"token_embeddings"})
    compiled = core().compile_model(converted, "CPU")
    check_export("openvino", model, features, compiled({n: features[n].numpy() for n in names})[0])
    ov.save_model(converted, str(path), compress_to_fp16=False)  # fp16 storage would change the float32 results


def _compress(source: Path, target: Path) -> None:
    ov, nncf = _require_openvino(), _require_nncf()
    # NNCF prints a table and a progress bar at INFO level; a library call keeps quiet unless something is wrong.
    nncf_logger = logging.getLogger("nncf")
    level = nncf_logger.level
    nncf_logger.setLevel(logging.WARNING)
    try:
        # NNCF compiles helper models with Cores of its own: on another thread, their plugins leave ours alone.
        compressed = _on_own_thread(
            lambda: nncf.compress_weights(core().read_model(str(source)), mode=nncf.CompressWeightsMode.INT8_ASYM)
        )
    finally:
        nncf_logger.setLevel(level)
    ov.save_model(compressed, str(target), compress_to_fp16=False)


def export_openvino(encoder: nn.Module, compute_dtype: str = "float32") -> Path:
    """The cached OpenVINO model of ``encoder``'s Transformer, converted (and compressed) when missing.

    Parameters
    ----------
    encoder:
        A :class:`~workbench.SentenceEncoder` whose first module is a Transformer.
    compute_dtype:
        ``float32`` (``openvino_model.xml``) or ``int8``
        (``openvino_model_int8.xml``: int8 weights per output channel).

    Returns
    -------
    Path of the ``.xml`` file (its weights in the ``.bin`` beside it); inputs
    ``input_ids``, ``attention_mask`` (and ``token_type_ids`` when the
    tokenizer makes them), output ``token_embeddings``.

    Example
    -------
    >>> path = export_openvino(SentenceEncoder("all-MiniLM-L6-v2"), "int8")   # doctest: +SKIP
    >>> path.parent.name                                                       # doctest: +SKIP
    'all-MiniLM-L6-v2-openvino-5be0c3d21f9a7e64'
    """
    ov = _require_openvino()
    # Made again under another OpenVINO: its conversion and NNCF's compression change between releases.
    versions = {"export_version": EXPORT_VERSION, "openvino": ov.__version__}
    return cached_export(encoder, "openvino", compute_dtype, FILES, _convert_float32, _compress, versions)


class OpenVINOTransformer(ExportedTransformer):
    """An :class:`~workbench.backends.export.ExportedTransformer` on OpenVINO, for a file from :func:`export_openvino`.

    OpenVINO itself runs on the CPU, whatever ``device`` (where the outputs go) is.

    Example
    -------
    >>> runner = OpenVINOTransformer(export_openvino(model), ["input_ids", "attention_mask"])   # doctest: +SKIP
    >>> runner(model.tokenize(["hi"]))["token_embeddings"].shape                                  # doctest: +SKIP
    torch.Size([1, 3, 384])
    """

    def __init__(self, path: str | os.PathLike, input_names: list[str], device: str | torch.device = "cpu") -> None:
        super().__init__(path, input_names, device)
        # As with onnxruntime: concurrent single-threaded runs (OpenVINO's streams), one per PyTorch thread.
        runs, threads = concurrency(torch.device("cpu"))
        self.compiled = core().compile_model(
            str(self.path), "CPU", {"NUM_STREAMS": runs, "INFERENCE_NUM_THREADS": runs * threads}
        )
        self.concurrent_batches = runs
        self._requests = threading.local()  # an infer request serves one run at a time: one per thread

    def run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        request = getattr(self._requests, "request", None)
        if request is None:
            request = self._requests.request = self.compiled.create_infer_request()
        return request.infer(inputs)["token_embeddings"]  # a copy: the request's own buffer is reused
