"""ONNX, OpenVINO and int8 backends on the tiny random BERT, and the fidelity report."""

from __future__ import annotations

import copy
import logging
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from workbench import SentenceEncoder
from workbench.backends import Setting, export_onnx, export_openvino, fidelity_report
from workbench.backends import onnx as onnx_backend
from workbench.backends import openvino as openvino_backend
from workbench.backends.fidelity import scifact_evaluator, use_backend
from workbench.modules import BoW
from workbench.runner import modules_for

onnx = pytest.importorskip("onnx")  # the backends import onnxruntime and onnx only when used
pytest.importorskip("onnxruntime")

TEXTS = [
    "a man is eating food .",
    "the dog",
    "",
    "a woman plays the guitar with a child in the street",
    "someone rides a horse",
]


@pytest.fixture()
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_onnx_float32_matches_torch_for_any_batch_and_length(tiny_encoder, private_cache):
    expected = tiny_encoder.encode(TEXTS, batch_size=2)
    tiny_encoder.backend = "onnx"
    for batch_size in (1, 2, 5):  # other batch sizes and paddings than the traced ones
        got = tiny_encoder.encode(TEXTS, batch_size=batch_size)
        np.testing.assert_allclose(got, expected, atol=1e-5)
    tokens = tiny_encoder.encode(TEXTS[:2], output_value="token_embeddings")
    tiny_encoder.backend = "torch"
    reference = tiny_encoder.encode(TEXTS[:2], output_value="token_embeddings")
    for a, b in zip(tokens, reference):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_concurrent_onnx_batches_come_back_in_input_order(tiny_encoder, private_cache, monkeypatch):
    texts = [f"{text} {i}" for i in range(6) for text in TEXTS]  # 30 texts, many lengths
    expected = tiny_encoder.encode(texts)
    monkeypatch.setattr(onnx_backend, "concurrency", lambda device: (3, 1))
    tiny_encoder.backend = "onnx"
    runs = []
    forward = onnx_backend.OnnxTransformer.forward

    def recorded(self, features):
        runs.append(threading.current_thread().name)
        return forward(self, features)

    monkeypatch.setattr(onnx_backend.OnnxTransformer, "forward", recorded)
    got = tiny_encoder.encode(texts, batch_size=2)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert len(runs) == 15 and all(name.startswith("encode") for name in runs)  # in the worker threads
    assert len(tiny_encoder.encode(texts[:1], batch_size=2)) == 1


def test_int8_is_quantized_and_close(tiny_encoder, private_cache, caplog):
    fp32 = tiny_encoder.encode(TEXTS)
    int8 = tiny_encoder.encode(TEXTS, compute_dtype="int8")
    assert int8.dtype == np.float32 and int8.shape == fp32.shape
    assert not np.allclose(int8, fp32, atol=1e-5), "int8 gave float32's numbers: nothing was quantized"
    assert cosines(int8, fp32).min() > 0.98
    graph = onnx.load(str(export_onnx(tiny_encoder, "int8"))).graph
    assert {"MatMulInteger", "DynamicQuantizeLinear"} <= {node.op_type for node in graph.node}
    # the switch is per call: float32 afterwards is float32 again
    np.testing.assert_array_equal(tiny_encoder.encode(TEXTS), fp32)
    with caplog.at_level(logging.WARNING):  # tracing the export did not use up the one truncation warning
        tiny_encoder.encode(["a " * 40])
    assert "truncated" in caplog.text


def test_exports_are_cached_and_redone_only_for_new_weights(tiny_encoder, private_cache, monkeypatch):
    first = export_onnx(tiny_encoder, "int8")
    assert first.parent.parent == private_cache / "models"
    assert sorted(p.name for p in first.parent.glob("*.onnx")) == ["model-int8.onnx", "model.onnx"]

    def no_export(*args):
        raise AssertionError("exported again although the weights did not change")

    monkeypatch.setattr(onnx_backend, "_export_float32", no_export)
    twin = copy.deepcopy(tiny_encoder)  # another encoder, same weights
    assert export_onnx(twin, "int8") == first
    twin.encode(TEXTS, compute_dtype="int8")
    monkeypatch.undo()

    with torch.no_grad():
        twin[0].auto_model.encoder.layer[0].output.dense.weight.mul_(-1.0)
    twin.weights_changed()  # an in-place edit by hand is announced (optimizer steps and load_state_dict need not)
    changed = twin.encode(TEXTS, compute_dtype="int8")
    assert export_onnx(twin, "int8").parent != first.parent
    assert not np.allclose(changed, tiny_encoder.encode(TEXTS, compute_dtype="int8"))


def test_damaged_export_is_made_again(tiny_encoder, private_cache, caplog):
    expected = tiny_encoder.encode(TEXTS)
    path = export_onnx(tiny_encoder, "int8")
    sizes = {p.name: p.stat().st_size for p in path.parent.glob("*.onnx")}
    with open(path.parent / "model.onnx", "r+b") as fh:  # an export cut short (disk full, killed)
        fh.truncate(1000)
    twin = copy.deepcopy(tiny_encoder)  # another encoder: no session from before
    twin.backend = "onnx"
    with caplog.at_level(logging.WARNING):
        np.testing.assert_allclose(twin.encode(TEXTS), expected, atol=1e-5)
    assert f"cache entry {path.parent} cannot be trusted (model.onnx has 1,000 bytes" in caplog.text
    assert {p.name: p.stat().st_size for p in path.parent.glob("*.onnx")} == sizes


def test_sessions_do_not_travel_with_copies(tiny_encoder, private_cache):
    tiny_encoder.encode(TEXTS, compute_dtype="int8")
    clone = copy.deepcopy(tiny_encoder)  # a session inside the encoder could not be copied
    np.testing.assert_allclose(
        clone.encode(TEXTS, compute_dtype="bfloat16"), tiny_encoder.encode(TEXTS, compute_dtype="bfloat16"), atol=1e-6
    )


def test_backend_errors_say_what_is_accepted(tiny_bert_dir, tiny_encoder, private_cache):
    with pytest.raises(ValueError, match=r"backend must be one of \('torch', 'onnx', 'openvino'\), got 'tensorrt'"):
        SentenceEncoder(tiny_bert_dir, backend="tensorrt")
    tiny_encoder.backend = "onnx"
    with pytest.raises(ValueError, match="bfloat16.*torch backend"):
        tiny_encoder.encode(TEXTS, compute_dtype="bfloat16")
    bow = SentenceEncoder(modules=[BoW(["a", "dog"])], device="cpu")
    with pytest.raises(ValueError, match="must be a Transformer; this encoder starts with BoW"):
        bow.encode(TEXTS, compute_dtype="int8")


def test_use_backend_restores_the_encoders_own(tiny_encoder):
    with pytest.raises(RuntimeError):
        with use_backend(tiny_encoder, "onnx"):
            assert tiny_encoder.backend == "onnx"
            raise RuntimeError("boom")
    assert tiny_encoder.backend == "torch"
    with pytest.raises(ValueError, match="backend must be one of"):
        with use_backend(tiny_encoder, "tensorrt"):
            pass


def test_setting_labels_and_errors():
    assert Setting().label == "torch/float32"
    assert Setting(compute_dtype="int8", name="fast").label == "fast"
    assert Setting.of({"backend": "onnx", "truncate_dim": 8}) == Setting(backend="onnx", truncate_dim=8)
    with pytest.raises(ValueError, match=r"unknown setting key\(s\) \['dtype'\]"):
        Setting.of({"dtype": "int8"})
    with pytest.raises(TypeError, match="a setting is a Setting or a dict"):
        Setting.of("int8")


def test_fidelity_report_compares_settings(tiny_encoder, private_cache, mirror):
    report = fidelity_report(
        tiny_encoder,
        {},
        {"compute_dtype": "int8"},
        {"backend": "onnx"},
        {"truncate_dim": 16},
        stsb_pairs=300,
        scifact_docs=40,
        scifact_queries=8,
        top_k=5,
    )
    assert list(report["setting"]) == ["torch/float32", "torch/int8", "onnx/float32", "torch/float32/16d"]
    reference, int8, onnx_fp32, narrow = (report.iloc[i] for i in range(4))
    assert reference["mean_cosine"] == pytest.approx(1.0) and reference["stsb_delta"] == 0
    assert reference["top5_overlap"] == 1 and reference["ndcg_retained"] == 1
    assert onnx_fp32["min_cosine"] > 0.99999 and abs(onnx_fp32["stsb_delta"]) < 1e-4
    assert 0.9 < int8["mean_cosine"] < 1.0 and int8["stsb_spearman"] != reference["stsb_spearman"]
    assert narrow["dim"] == 16 and np.isnan(narrow["mean_cosine"]) and narrow["top5_overlap"] < 1
    assert (report["sentences_per_s"] > 0).all()


def test_fidelity_report_needs_distinct_settings(tiny_encoder):
    with pytest.raises(ValueError, match="settings must differ"):
        fidelity_report(tiny_encoder, {}, Setting(), scifact_docs=0)


def test_scifact_subset_keeps_relevant_documents(mirror):
    ir = scifact_evaluator(docs=30, queries=5)
    assert len(ir.query_ids) == 5 and len(ir.corpus_ids) == 30
    kept = set(ir.corpus_ids)
    assert all(doc in kept for q in ir.query_ids for doc in ir.qrels[q])


@pytest.fixture()
def openvino():
    return pytest.importorskip("openvino")


def test_openvino_float32_matches_torch_for_any_batch_and_length(tiny_encoder, private_cache, openvino):
    expected = tiny_encoder.encode(TEXTS, batch_size=2)
    tiny_encoder.backend = "openvino"
    for batch_size in (1, 2, 5):  # other batch sizes and paddings than the traced ones
        np.testing.assert_allclose(tiny_encoder.encode(TEXTS, batch_size=batch_size), expected, atol=1e-5)
    assert isinstance(modules_for(tiny_encoder, "float32", "openvino")[0], openvino_backend.OpenVINOTransformer)
    tokens = tiny_encoder.encode(TEXTS[:2], output_value="token_embeddings")
    tiny_encoder.backend = "torch"
    for a, b in zip(tokens, tiny_encoder.encode(TEXTS[:2], output_value="token_embeddings")):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_openvino_int8_has_int8_weights_and_stays_close(tiny_encoder, private_cache, openvino):
    fp32 = tiny_encoder.encode(TEXTS)
    tiny_encoder.backend = "openvino"
    int8 = tiny_encoder.encode(TEXTS, compute_dtype="int8")
    assert int8.dtype == np.float32 and int8.shape == fp32.shape
    assert not np.allclose(int8, fp32, atol=1e-6), "int8 gave float32's numbers: nothing was compressed"
    assert cosines(int8, fp32).min() > 0.999
    model = openvino_backend.core().read_model(str(export_openvino(tiny_encoder, "int8")))
    weights = {op.get_element_type().get_type_name() for op in model.get_ops() if op.get_type_name() == "Constant"}
    assert "u8" in weights or "i8" in weights
    assert isinstance(modules_for(tiny_encoder, "int8", "openvino")[0], openvino_backend.OpenVINOTransformer)
    np.testing.assert_allclose(tiny_encoder.encode(TEXTS), fp32, atol=1e-5)  # the switch is per call


def test_openvino_models_are_cached_and_redone_only_for_new_weights(tiny_encoder, private_cache, openvino, monkeypatch):
    first = export_openvino(tiny_encoder, "int8")
    assert first.parent.parent == private_cache / "models" and "-openvino-" in first.parent.name
    assert sorted(p.name for p in first.parent.iterdir()) == [
        "export.json",
        "openvino_model.bin",
        "openvino_model.xml",
        "openvino_model_int8.bin",
        "openvino_model_int8.xml",
    ]
    tiny_encoder.backend = "openvino"
    runner = modules_for(tiny_encoder, "int8", "openvino")
    assert modules_for(tiny_encoder, "int8", "openvino") is runner  # compiled once per encoder

    def no_export(*args):
        raise AssertionError("converted again although the weights did not change")

    monkeypatch.setattr(openvino_backend, "_convert_float32", no_export)
    monkeypatch.setattr(openvino_backend, "_compress", no_export)
    twin = copy.deepcopy(tiny_encoder)  # another encoder, same weights
    assert export_openvino(twin, "int8") == first
    before = twin.encode(TEXTS, compute_dtype="int8")
    monkeypatch.undo()

    with torch.no_grad():
        twin[0].auto_model.encoder.layer[0].output.dense.weight.mul_(-1.0)
    twin.weights_changed()
    changed = twin.encode(TEXTS, compute_dtype="int8")
    assert export_openvino(twin, "int8").parent != first.parent
    assert not np.allclose(changed, before, atol=1e-4)
    assert modules_for(tiny_encoder, "int8", "openvino") is runner  # the untouched encoder keeps its own


def test_damaged_openvino_model_is_made_again(tiny_encoder, private_cache, openvino, caplog):
    expected = tiny_encoder.encode(TEXTS)
    path = export_openvino(tiny_encoder)
    with open(path.with_suffix(".bin"), "r+b") as fh:  # weights cut short (disk full, killed)
        fh.truncate(100)
    tiny_encoder.backend = "openvino"
    with caplog.at_level(logging.WARNING):
        np.testing.assert_allclose(tiny_encoder.encode(TEXTS), expected, atol=1e-5)
    assert f"cache entry {path.parent} cannot be trusted (openvino_model.bin has 100 bytes" in caplog.text


def test_openvino_errors_say_what_is_accepted(tiny_encoder, private_cache, openvino, monkeypatch):
    tiny_encoder.backend = "openvino"
    with pytest.raises(
        ValueError, match="compute_dtype='bfloat16' runs on the torch backend; the openvino backend runs"
    ):
        tiny_encoder.encode(TEXTS, compute_dtype="bfloat16")
    with pytest.raises(ValueError, match=r"compute_dtype must be one of \('float32', 'int8'\).*got 'float16'"):
        export_openvino(tiny_encoder, "float16")
    bow = SentenceEncoder(modules=[BoW(["a", "dog"])], device="cpu", backend="openvino")
    with pytest.raises(ValueError, match="the openvino backend .* must be a Transformer; this encoder starts with BoW"):
        bow.encode(TEXTS)
    monkeypatch.setitem(sys.modules, "openvino", None)  # as if it were not installed
    with pytest.raises(ImportError, match="pip install openvino nncf"):
        tiny_encoder.encode(TEXTS)
    monkeypatch.undo()
    monkeypatch.setitem(sys.modules, "nncf", None)
    with pytest.raises(ImportError, match="needs nncf: pip install nncf"):
        tiny_encoder.encode(TEXTS, compute_dtype="int8")


def test_ctrl_c_after_openvino_still_interrupts_training(tiny_bert_dir, private_cache, openvino):
    # Each OpenVINO Core's CPU plugin sets the signal stack of the thread that loads it and, unloaded, puts back
    # the one it found: two unloaded first-in first-out left the main thread's pointing at unmapped memory, and
    # the next Ctrl-C (SIGINT, run by Python on that stack) killed the process (exit 139, no traceback).
    # In a process of its own: a crash here must not take the test run with it.
    code = textwrap.dedent(f"""
        import gc, signal, sys
        sys.path.insert(0, "tests")
        from toy_data import scored_pairs
        from workbench import SentenceEncoder
        from workbench.hooks import Callback
        from workbench.losses import CosineSimilarityLoss
        from workbench.modules import Pooling, Transformer
        from workbench.training import Trainer

        def encoder(backend):
            return SentenceEncoder(modules=[Transformer({str(tiny_bert_dir)!r}), Pooling(32)], device="cpu", backend=backend)

        first, second = encoder("openvino"), encoder("openvino")
        first.encode(["a dog"])
        second.encode(["a dog"], compute_dtype="int8")  # NNCF too
        del first  # unloaded in the order they were loaded
        del second
        gc.collect()

        class CtrlC(Callback):
            def on_step_end(self, event):
                if event.step == 1:
                    signal.raise_signal(signal.SIGINT)

        signal.signal(signal.SIGINT, signal.default_int_handler)
        model = encoder("torch")
        trainer = Trainer(model, [(scored_pairs(), CosineSimilarityLoss(model))], batch_size=2, seed=0, callbacks=[CtrlC()])
        trainer.fit()
        print("stopped at step", trainer.global_step)
    """)
    repo = Path(__file__).resolve().parents[1]  # this checkout's workbench, not an installed one
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=repo)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    assert done.stdout.strip().splitlines()[-1] == "stopped at step 1"
