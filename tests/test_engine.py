"""Corpus encoding on a local Dask cluster of 2 worker processes matches one process."""

from __future__ import annotations

import numpy as np
import pytest
import torch

distributed = pytest.importorskip("distributed")

from workbench.engines.dask import encode_dask, encode_dask_shards  # noqa: E402

TEXTS = [f"{'the woman plays the guitar . ' * (i % 4)}a dog {i}" for i in range(45)]


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
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
    with pytest.raises(ValueError, match="chunk_size: 10 earlier, 9 now"):
        encode_dask_shards(tiny_encoder, TEXTS, tmp_path, client=client, chunk_size=9)


def test_shards_of_another_input_or_model_are_not_mixed_in(tiny_encoder, client, tmp_path):
    paths = encode_dask_shards(tiny_encoder, TEXTS, tmp_path, client=client, chunk_size=10)
    paths[4].unlink()  # as if interrupted before the last shard
    changed = TEXTS[:12] + ["another sentence"] + TEXTS[13:]
    with pytest.raises(ValueError, match="the input differs in lines 11-20, which the earlier run already encoded"):
        encode_dask_shards(tiny_encoder, changed, tmp_path, client=client, chunk_size=10)
    with torch.no_grad():
        tiny_encoder[0].auto_model.encoder.layer[1].output.dense.bias.add_(0.5)
    with pytest.raises(ValueError, match="the model weights differ"):
        encode_dask_shards(tiny_encoder, TEXTS, tmp_path, client=client, chunk_size=10)

    again = encode_dask_shards(tiny_encoder, changed, tmp_path, client=client, chunk_size=10, restart=True)
    np.testing.assert_allclose(np.concatenate([np.load(p) for p in again]), tiny_encoder.encode(changed), atol=1e-5)


def test_a_damaged_shard_is_encoded_again_and_foreign_files_are_kept(tiny_encoder, client, tmp_path):
    paths = encode_dask_shards(tiny_encoder, TEXTS, tmp_path / "run", client=client, chunk_size=10)
    expected = np.concatenate([np.load(p) for p in paths])
    np.save(paths[1], np.zeros((10, 32), dtype=np.float32))  # a valid .npy, but not what was written
    with pytest.warns(UserWarning, match=r"the shards of 1 chunks \(lines 11-20\) do not match"):
        again = encode_dask_shards(tiny_encoder, TEXTS, tmp_path / "run", client=client, chunk_size=10)
    np.testing.assert_allclose(np.concatenate([np.load(p) for p in again]), expected, atol=1e-6)

    foreign = np.ones((3, 2))
    (tmp_path / "other").mkdir()
    np.save(tmp_path / "other" / "embeddings-000000.npy", foreign)
    for restart in (False, True):
        with pytest.raises(FileExistsError, match="not written by encode_dask_shards"):
            encode_dask_shards(tiny_encoder, TEXTS, tmp_path / "other", client=client, chunk_size=10, restart=restart)
    np.testing.assert_array_equal(np.load(tmp_path / "other" / "embeddings-000000.npy"), foreign)


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
