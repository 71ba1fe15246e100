"""Community detection and k-means on synthetic blobs; c-TF-IDF keywords on a toy corpus."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.metrics import normalized_mutual_info_score

import workbench.clustering as clustering
from workbench.clustering import KMeansResult, cluster_keywords, community_detection, kmeans, labels_from_clusters
from workbench.hooks import Hooks
from workbench.similarity import cos_sim

SIZES = (30, 20, 15)


def make_blobs(seed: int = 0, n_outliers: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Tight blobs around orthogonal directions in 32-d, plus scattered outliers (label -1)."""
    rng = np.random.default_rng(seed)
    centres = np.eye(32)[: len(SIZES)]
    points = [centre + rng.normal(scale=0.05, size=(size, 32)) for centre, size in zip(centres, SIZES)]
    points.append(rng.normal(size=(n_outliers, 32)))
    labels = np.repeat(np.arange(len(SIZES) + 1), SIZES + (n_outliers,))
    labels[labels == len(SIZES)] = -1
    order = rng.permutation(len(labels))  # blobs interleaved, not in index order
    return np.concatenate(points)[order], labels[order]


EMB, LABELS = make_blobs()


@pytest.mark.parametrize("batch_size", [7, 1024])
def test_community_detection_recovers_blobs(batch_size):
    communities = community_detection(EMB, threshold=0.8, min_community_size=10, batch_size=batch_size)
    assert [len(c) for c in communities] == list(SIZES)
    for community, label in zip(communities, range(len(SIZES))):
        assert set(community) == set(np.flatnonzero(LABELS == label))
        # the centre comes first, then members by decreasing similarity to it
        sims = cos_sim(EMB[community[0]], EMB[community]).squeeze(0).numpy()
        assert np.all(np.diff(sims) <= 1e-12)


def naive_communities(emb: np.ndarray, threshold: float, min_size: int) -> list[list[int]]:
    """The algorithm spelled out on the full similarity matrix."""
    sims = cos_sim(emb, emb).numpy()
    counts = (sims >= threshold).sum(axis=1)
    taken: set[int] = set()
    communities = []
    for centre in np.argsort(-counts, kind="stable"):
        by_closeness = np.argsort(-sims[centre], kind="stable")
        members = [int(j) for j in by_closeness if sims[centre, j] >= threshold and j not in taken]
        if counts[centre] >= min_size and len(members) >= min_size:
            communities.append(members)
            taken.update(members)
    return sorted(communities, key=len, reverse=True)


@pytest.mark.parametrize("batch_size", [3, 1024])
def test_community_detection_matches_naive_version_on_overlapping_chain(batch_size):
    # points along an arc: neighbourhoods overlap, communities must not; random
    # spacing so that no two points are equally close to a centre
    angles = np.sort(np.random.default_rng(1).uniform(0, 1.2, 40))
    emb = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    communities = community_detection(torch.from_numpy(emb), threshold=0.98, min_community_size=5, batch_size=batch_size)
    assert len(communities) > 1
    flat = [i for c in communities for i in c]
    assert len(flat) == len(set(flat))
    assert communities == naive_communities(emb, 0.98, 5)


def test_community_detection_edge_cases():
    assert community_detection(EMB, threshold=0.8, min_community_size=len(EMB) + 1) == []
    assert community_detection(np.empty((0, 4))) == []
    with pytest.raises(ValueError, match="min_community_size"):
        community_detection(EMB, min_community_size=0)


def test_community_detection_reports_progress():
    ends = []
    community_detection(EMB, hooks=Hooks([SimpleNamespace(on_progress_end=ends.append)]))
    assert [e.task for e in ends] == ["community_detection"]


def test_labels_from_clusters():
    assert labels_from_clusters([[2, 0], [3]], n_items=5).tolist() == [0, -1, 0, 1, -1]


def test_kmeans_finds_blobs():
    inliers = LABELS >= 0
    result = kmeans(EMB[inliers], n_clusters=len(SIZES))
    assert isinstance(result, KMeansResult)
    assert normalized_mutual_info_score(LABELS[inliers], result.labels) == pytest.approx(1.0)
    assert result.centroids.shape == (len(SIZES), 32) and isinstance(result.inertia, float)
    np.testing.assert_array_equal(kmeans(torch.from_numpy(EMB[inliers]), len(SIZES)).labels, result.labels)
    low_precision = kmeans(torch.from_numpy(EMB[inliers]).bfloat16(), len(SIZES))
    assert normalized_mutual_info_score(LABELS[inliers], low_precision.labels) == pytest.approx(1.0)


def test_kmeans_minibatch_above_threshold(monkeypatch):
    monkeypatch.setattr(clustering, "MINIBATCH_THRESHOLD", 10)
    inliers = LABELS >= 0
    result = kmeans(EMB[inliers], n_clusters=len(SIZES), normalize=False)
    assert normalized_mutual_info_score(LABELS[inliers], result.labels) == pytest.approx(1.0)


def test_kmeans_rejects_bad_cluster_counts():
    with pytest.raises(ValueError, match="n_clusters"):
        kmeans(EMB, n_clusters=0)
    with pytest.raises(ValueError, match="n_clusters"):
        kmeans(EMB[:3], n_clusters=4)


TEXTS = [
    "The Cat sat on the mat", "A cat chased the mouse", "My cat sleeps all day",
    "Stocks fell as the market closed", "The market rallied and stocks rose",
    "Rain is expected tomorrow", "Heavy rain and wind tonight",
]


def test_cluster_keywords_picks_the_obvious_words():
    labels = np.array([0, 0, 0, 1, 1, -1, -1])
    keywords = cluster_keywords(TEXTS, labels, top_n=2)
    assert list(keywords) == [-1, 0, 1] and all(type(k) is int for k in keywords)
    assert keywords[0][0] == "cat" and keywords[-1][0] == "rain"
    assert set(keywords[1]) == {"market", "stocks"}
    assert not {"the", "a", "and", "on"} & {w for words in keywords.values() for w in words}


def test_cluster_keywords_edge_cases():
    assert cluster_keywords(["the and", "a of"], ["x", "y"]) == {"x": [], "y": []}
    assert cluster_keywords(["cat", "dog"], ["b", "a"], top_n=10) == {"a": ["dog"], "b": ["cat"]}
    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        cluster_keywords(["cat", "dog"], [0])
