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

Example
-------
>>> from workbench import SentenceEncoder
>>> model = SentenceEncoder("all-MiniLM-L6-v2", backend="openvino")    # doctest: +SKIP
>>> emb = model.encode(["A man is eating."], compute_dtype="int8")     # doctest: +SKIP
>>> export_openvino(model, "int8").name                                 # doctest: +SKIP
'openvino_model_int8.xml'
"""

from __future__ import annotations

import copy
import logging
import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..cache import cached_folder
from ..modules import Transformer
from .export import (
    EXPORTED_COMPUTE_DTYPES,
    TokenEmbeddings,
    check_export,
    concurrency,
    export_folder,
    input_names,
    trace_batch,
    transformer_of,
    weights_digest,
)

logger = logging.getLogger(__name__)

#: Bumped when the conversion changes, so that old cached files are not reused.
EXPORT_VERSION = 1
#: The model file of each compute dtype; each has its weights beside it in a ``.bin`` of the same name.
FILES = {"float32": "openvino_model.xml", "int8": "openvino_model_int8.xml"}
#: The export folder's record (see :mod:`workbench.cache`), written last.
EXPORT_RECORD = "export.json"


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


def _convert_float32(transformer: Transformer, path: Path) -> None:
    ov = _require_openvino()
    names = input_names(transformer)
    model = copy.deepcopy(transformer.auto_model).to("cpu", torch.float32).eval()
    features = trace_batch(transformer)
    with warnings.catch_warnings(), torch.no_grad():
        # Tracing warns that Python conditions become constants; the check below tells a good conversion.
        warnings.simplefilter("ignore")
        converted = ov.convert_model(TokenEmbeddings(model, names), example_input=tuple(features[n] for n in names))
    for port, name in zip(converted.inputs, names):
        port.get_tensor().set_names({name})
    converted.outputs[0].get_tensor().set_names({"token_embeddings"})
    compiled = ov.Core().compile_model(converted, "CPU")
    check_export("openvino", model, features, compiled({n: features[n].numpy() for n in names})[0])
    ov.save_model(converted, str(path), compress_to_fp16=False)  # fp16 storage would change the float32 results


def _compress(source: Path, target: Path) -> None:
    ov, nncf = _require_openvino(), _require_nncf()
    # NNCF prints a table and a progress bar at INFO level; a library call keeps quiet unless something is wrong.
    nncf_logger = logging.getLogger("nncf")
    level = nncf_logger.level
    nncf_logger.setLevel(logging.WARNING)
    try:
        compressed = nncf.compress_weights(ov.Core().read_model(str(source)), mode=nncf.CompressWeightsMode.INT8_ASYM)
    finally:
        nncf_logger.setLevel(level)
    ov.save_model(compressed, str(target), compress_to_fp16=False)


def _weights(path: str) -> str:
    return str(Path(path).with_suffix(".bin"))


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
    if compute_dtype not in EXPORTED_COMPUTE_DTYPES:
        raise ValueError(
            f"compute_dtype must be one of {EXPORTED_COMPUTE_DTYPES} for OpenVINO exports, got {compute_dtype!r}"
        )
    ov = _require_openvino()
    transformer = transformer_of(encoder, "openvino")
    digest = weights_digest(transformer, "openvino", EXPORT_VERSION)
    folder = export_folder(encoder, "openvino", digest)
    wanted = FILES[compute_dtype]

    def build(tmp: Path, previous: dict[str, Any] | None) -> dict[str, Any]:
        # Keep what an earlier call made and is still whole (the float32 model), and add what is missing.
        kept = set(previous["files"]) if previous else set()
        for name in FILES.values():
            if {name, _weights(name)} <= kept:
                for file in (name, _weights(name)):
                    os.link(folder / file, tmp / file)
        if not (tmp / FILES["float32"]).is_file():
            logger.info("converting %s to OpenVINO in %s", type(transformer.auto_model).__name__, folder)
            _convert_float32(transformer, tmp / FILES["float32"])
        if compute_dtype == "int8" and not (tmp / FILES["int8"]).is_file():  # never write into a linked file
            _compress(tmp / FILES["float32"], tmp / FILES["int8"])
        return {
            "source": str(getattr(encoder, "source", None)),
            "digest": digest,
            "inputs": input_names(transformer),
            "openvino": ov.__version__,
            "export_version": EXPORT_VERSION,
        }

    # The record lists each file's size: a model cut short (disk full, killed) is made again.
    cached_folder(folder, EXPORT_RECORD, build, usable=lambda info: {wanted, _weights(wanted)} <= set(info["files"]))
    return folder / wanted


class OpenVINOTransformer(nn.Module):
    """Stands in for a :class:`~workbench.modules.Transformer` at inference: token embeddings from OpenVINO.

    Parameters
    ----------
    path:
        A model file from :func:`export_openvino`.
    input_names:
        The tokenizer outputs the model takes.
    device:
        Where the outputs go; OpenVINO itself runs on the CPU.

    Example
    -------
    >>> runner = OpenVINOTransformer(export_openvino(model), ["input_ids", "attention_mask"])   # doctest: +SKIP
    >>> runner(model.tokenize(["hi"]))["token_embeddings"].shape                                  # doctest: +SKIP
    torch.Size([1, 3, 384])
    """

    def __init__(self, path: str | os.PathLike, input_names: list[str], device: str | torch.device = "cpu") -> None:
        super().__init__()
        ov = _require_openvino()
        self.path = Path(path)
        self.input_names = list(input_names)
        self.target = torch.device(device)
        # As with onnxruntime: concurrent single-threaded runs (OpenVINO's streams), one per PyTorch thread.
        runs, threads = concurrency(torch.device("cpu"))
        self.compiled = ov.Core().compile_model(
            str(self.path), "CPU", {"NUM_STREAMS": runs, "INFERENCE_NUM_THREADS": runs * threads}
        )
        self.concurrent_batches = runs
        self._requests = threading.local()  # an infer request serves one run at a time: one per thread

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        request = getattr(self._requests, "request", None)
        if request is None:
            request = self._requests.request = self.compiled.create_infer_request()
        inputs = {name: features[name].detach().cpu().numpy().astype(np.int64, copy=False) for name in self.input_names}
        tokens = request.infer(inputs)["token_embeddings"]  # a copy: the request's own buffer is reused
        features["token_embeddings"] = torch.from_numpy(tokens).to(self.target)
        return features
