"""Corpus encoding on a local Dask cluster of 2 worker processes matches one process."""
from __future__ import annotations

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from workbench.engines.dask import encode_dask, encode_dask_shards  # noqa: E402

TEXTS = [f"{'the woman plays the guitar . ' * (i % 4)}a dog {i}" for i in range(45)]


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield client


def test_two_workers_match_one_process(tiny_encoder, client):
    events = []

    class Count:
        def on_progress_update(self, event):
            events.append(event.n)

    got = encode_dask(tiny_encoder, TEXTS, client=client, chunk_size=7, batch_size=4, callbacks=[Count()])
    np.testing.assert_allclose(got, tiny_encoder.encode(TEXTS, batch_size=4), atol=1e-5)
    assert sorted(events) == sorted([7] * 6 + [3])
    workers = client.run(lambda: 1)
    assert len(workers) == 2
    normalized = encode_dask(tiny_encoder, TEXTS[:5], client=client, chunk_size=2, normalize_embeddings=True)
    np.testing.assert_allclose(np.linalg.norm(normalized, axis=1), 1.0, rtol=1e-5)


def test_shards_are_written_by_workers_and_resumed(tiny_encoder, client, tmp_path):
    paths = encode_dask_shards(tiny_encoder, TEXTS, tmp_path, client=client, chunk_size=10)
    assert [p.name for p in paths] == [f"embeddings-{i:06d}.npy" for i in range(5)]
    whole = np.concatenate([np.load(p) for p in paths])
    np.testing.assert_allclose(whole, tiny_encoder.encode(TEXTS), atol=1e-5)

    paths[2].unlink()
    skipped = []

    class Skips:
        def on_progress_update(self, event):
            skipped.append(bool(event.get("skipped")))

    again = encode_dask_shards(tiny_encoder, TEXTS, tmp_path, client=client, chunk_size=10, callbacks=[Skips()])
    assert again == paths and skipped.count(False) == 1  # only the missing shard was encoded
    np.testing.assert_allclose(np.load(paths[2]), whole[20:30], atol=1e-6)
    with pytest.raises(ValueError, match="shards made with other settings"):
        encode_dask_shards(tiny_encoder, TEXTS, tmp_path, client=client, chunk_size=9)


def test_the_encoder_survives_copies_between_workers(tiny_encoder):
    # Dask's serializer for torch modules lost state when a worker copied the encoder to another
    from distributed.protocol import deserialize, serialize

    from workbench.engines.dask import _Pickled

    copied = _Pickled(tiny_encoder)
    for _ in range(2):  # client -> worker -> worker
        copied = deserialize(*serialize(copied))
    np.testing.assert_array_equal(copied.get().encode(TEXTS), tiny_encoder.encode(TEXTS))


def test_worker_errors_reach_the_caller(tiny_encoder, client):
    with pytest.raises(ValueError, match="precision must be one of"):
        encode_dask(tiny_encoder, TEXTS[:3], client=client, precision="float16")
    with pytest.raises(ValueError, match="chunk_size must be at least 1"):
        encode_dask(tiny_encoder, TEXTS[:3], client=client, chunk_size=0)
