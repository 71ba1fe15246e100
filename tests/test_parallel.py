"""Multi-process encoding: same embeddings as one process, one progress task, works without a __main__ guard."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from workbench.parallel import EncodePool

TEXTS = [f"{'a man is eating food . ' * (i % 5)}the dog {i}" for i in range(37)] + [""]


class Recorder:
    """Keeps every ``progress_*`` event as (name, fields)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []

    def __getattr__(self, name: str):
        if name.startswith("on_progress_"):
            return lambda event: self.events.append((event.name, event.fields))
        raise AttributeError(name)


@pytest.fixture(scope="module")
def encoder(tiny_bert_dir):
    from workbench import SentenceEncoder
    from workbench.modules import Pooling, Transformer

    transformer = Transformer(tiny_bert_dir, max_seq_length=32)
    model = SentenceEncoder(modules=[transformer, Pooling(32)], device="cpu")
    with torch.no_grad():  # weights changed in memory must reach the workers
        model[0].auto_model.encoder.layer[0].output.dense.weight.mul_(-1.0)
    return model


@pytest.fixture(scope="module")
def pool(encoder):
    with EncodePool(encoder, devices=["cpu", "cpu"]) as pool:
        yield pool


def test_pool_gives_the_single_process_embeddings_in_order(encoder, pool):
    recorder = Recorder()
    got = pool.encode(TEXTS, chunk_size=4, batch_size=3, callbacks=[recorder])
    np.testing.assert_allclose(got, encoder.encode(TEXTS, batch_size=3), atol=1e-5)
    names = [name for name, _ in recorder.events]
    assert names[0] == "progress_begin" and names[-1] == "progress_end" and set(names[1:-1]) == {"progress_update"}
    assert recorder.events[0][1]["total"] == len(TEXTS) and recorder.events[0][1]["task"] == "encode"
    counts = [fields["n"] for name, fields in recorder.events if name == "progress_update"]
    assert counts.count(4) == 9 and sum(counts) == len(TEXTS)


def test_pool_passes_encode_options_and_stays_usable_after_a_failed_chunk(encoder, pool):
    narrow = pool.encode(TEXTS, normalize_embeddings=True, truncate_dim=8)
    assert narrow.shape == (len(TEXTS), 8)
    np.testing.assert_allclose(np.linalg.norm(narrow, axis=1), 1.0, rtol=1e-5)
    with pytest.raises(RuntimeError, match="(?s)chunk.*compute_dtype must be one of"):
        pool.encode(TEXTS, chunk_size=10, compute_dtype="float16")
    assert pool.encode(TEXTS[:3]).shape == (3, 32)  # nothing of the failed call is left over
    assert pool.encode([]).shape == (0, 32)
    with pytest.raises(TypeError, match=r"unsupported encode option\(s\) \['output_value'\]"):
        pool.encode(TEXTS, output_value="token_embeddings")


def test_bad_devices_are_refused(encoder):
    with pytest.raises(ValueError, match="devices is empty"):
        EncodePool(encoder, devices=[])
    with pytest.raises(RuntimeError, match="device"):
        EncodePool(encoder, devices=["gpu7"])


def test_runs_without_a_main_guard_like_a_notebook(tiny_bert_dir, tmp_path):
    # `python -c` has no script file, like a Jupyter kernel: spawned workers must not need one.
    code = textwrap.dedent(f"""
        import numpy as np
        from workbench import SentenceEncoder
        from workbench.modules import Pooling, Transformer
        from workbench.parallel import encode_multi_process
        t = Transformer({str(tiny_bert_dir)!r}, max_seq_length=32)
        model = SentenceEncoder(modules=[t, Pooling(32)], device="cpu")
        texts = ["a dog", "the man is eating", "a woman plays the guitar"] * 5
        emb = encode_multi_process(model, texts, devices=["cpu", "cpu"], chunk_size=4)
        print(emb.shape, bool(np.allclose(emb, model.encode(texts), atol=1e-5)))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "(15, 32) True"
