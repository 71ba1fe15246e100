"""Community detection and k-means on synthetic blobs; c-TF-IDF keywords on a toy corpus."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.metrics import normalized_mutual_info_score

import workbench.clustering as clustering
from workbench.clustering import (
    KMeansResult,
    cluster_keywords,
    cluster_scores,
    community_detection,
    kmeans,
    labels_from_clusters,
    project,
)
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
    communities = community_detection(
        torch.from_numpy(emb), threshold=0.98, min_community_size=5, batch_size=batch_size
    )
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
    "The Cat sat on the mat",
    "A cat chased the mouse",
    "My cat sleeps all day",
    "Stocks fell as the market closed",
    "The market rallied and stocks rose",
    "Rain is expected tomorrow",
    "Heavy rain and wind tonight",
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


# --------------------------------------------------------------------------- scores and maps


def test_cluster_scores_match_the_silhouette_worked_out_by_hand():
    # Two clusters of two points on the unit circle; cosine distance is 1 - cos(angle between).
    d = 0.1
    angles = np.array([0.0, d, np.pi / 2, np.pi / 2 + d])
    emb = np.column_stack([np.cos(angles), np.sin(angles)])
    a = 1 - np.cos(d)  # to the other point of its own cluster
    # mean distance to the other cluster: the outer points are further from it than the inner ones
    b_outer, b_inner = 1 + np.sin(d) / 2, 1 - np.sin(d) / 2
    expected = np.mean([(b - a) / max(a, b) for b in (b_outer, b_inner, b_inner, b_outer)])
    scores = cluster_scores(emb, [0, 0, 1, 1])
    assert scores == {"silhouette": pytest.approx(expected, abs=1e-6), "clusters": 2, "unclustered": 0.0}


def test_cluster_scores_against_known_classes():
    emb = np.eye(4)
    crossed = cluster_scores(emb, [0, 0, 1, 1], true_labels=["x", "y", "x", "y"])
    # Every cluster holds one of each class: nothing shared (NMI 0), and ARI (0 - 2/3) / (2 - 2/3) = -0.5.
    assert crossed["nmi"] == pytest.approx(0.0, abs=1e-12) and crossed["ari"] == pytest.approx(-0.5)
    same = cluster_scores(emb, [1, 1, 0, 0], true_labels=["x", "x", 7, 7])  # mixed class types compare as text
    assert same["nmi"] == pytest.approx(1.0) and same["ari"] == pytest.approx(1.0)


def test_cluster_scores_with_noise_and_without_a_silhouette():
    emb = np.eye(5)
    scores = cluster_scores(emb, [-1, 0, 0, -1, -1])
    assert scores == {"silhouette": None, "clusters": 1, "unclustered": 0.6}  # one cluster: no silhouette
    assert cluster_scores(emb, [0, 1, 2, 3, 4])["silhouette"] is None  # every point alone
    assert cluster_scores(emb, [7, 7, 8, 8, 9], noise=9)["unclustered"] == pytest.approx(0.2)


def test_cluster_scores_reject_bad_input():
    with pytest.raises(ValueError, match=r"labels must hold one cluster per embedding \(3\)"):
        cluster_scores(np.eye(3), [0, 1])
    with pytest.raises(ValueError, match=r"true_labels must hold one class per embedding \(3\), got 1"):
        cluster_scores(np.eye(3), [0, 1, 1], true_labels=["x"])
    with pytest.raises(ValueError, match=r"embeddings hold NaN or infinite values, in rows \[1\]"):
        cluster_scores([[1.0, 0.0], [np.nan, 1.0], [0.0, 1.0]], [0, 1, 1])
    with pytest.raises(ValueError, match="sample_size must be a whole number >= 2"):
        cluster_scores(np.eye(3), [0, 1, 1], sample_size=1)


def test_pca_projection_matches_the_principal_axes_worked_out_by_hand():
    emb = np.array([[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]])  # normalised: (1, 0), (0, 1), (1, 1)/sqrt(2)
    coords = project(emb, method="pca")
    assert coords.dtype == np.float32 and coords.shape == (3, 2)
    m = (1 + 1 / np.sqrt(2)) / 3  # the mean of either coordinate after normalising
    first = [1 / np.sqrt(2), 1 / np.sqrt(2), 0.0]  # along (1, -1)/sqrt(2)
    second = [(1 - 2 * m) / np.sqrt(2), (1 - 2 * m) / np.sqrt(2), (np.sqrt(2) - 2 * m) / np.sqrt(2)]
    assert np.abs(coords[:, 0]) == pytest.approx(first, abs=1e-6)
    assert np.abs(coords[:, 1]) == pytest.approx(np.abs(second), abs=1e-6)
    assert coords[0, 0] == pytest.approx(-coords[1, 0])  # opposite sides of the first axis
    raw = project(emb, method="pca", normalize=False)  # unnormalised: the longest vector dominates
    assert not np.allclose(np.abs(raw), np.abs(coords), atol=1e-3)
    padded = project(emb, method="pca", n_components=3)  # 2-d embeddings: the third axis is zeros
    assert (
        padded.shape == (3, 3) and (padded[:, 2] == 0).all() and np.abs(padded[:, :2]) == pytest.approx(np.abs(coords))
    )


@pytest.mark.slow  # numba compiles UMAP on its first call: a minute or more on two cores
def test_umap_projection_is_seeded_and_keeps_blobs_apart():
    pytest.importorskip("umap")
    emb, labels = make_blobs(n_outliers=0)
    first = project(emb, method="umap", seed=3)
    assert first.shape == (len(emb), 2) and first.dtype == np.float32 and np.isfinite(first).all()
    assert np.array_equal(first, project(emb, method="umap", seed=3))  # same seed, same map
    centres = np.stack([first[labels == c].mean(axis=0) for c in range(len(SIZES))])
    spread = max(np.linalg.norm(first[labels == c] - centres[c], axis=1).max() for c in range(len(SIZES)))
    gaps = [np.linalg.norm(centres[i] - centres[j]) for i in range(len(SIZES)) for j in range(i)]
    assert min(gaps) > 2 * spread  # each blob is its own island on the map
    tiny = project(np.eye(4)[:3], method="umap", n_components=3)  # 3 points: a random start, not spectral
    assert tiny.shape == (3, 3) and np.isfinite(tiny).all()


def test_project_refuses_bad_arguments_and_says_what_is_accepted(monkeypatch):
    with pytest.raises(ValueError, match="unknown method 'tsne'; valid: umap, pca"):
        project(np.eye(3), method="tsne")
    for bad in (0, 2.0, True):
        with pytest.raises(ValueError, match="n_components must be a whole number >= 1"):
            project(np.eye(3), method="pca", n_components=bad)
    with pytest.raises(ValueError, match="method='umap' needs at least 3 embeddings to place, got 2"):
        project(np.eye(2), method="umap")
    with pytest.raises(ValueError, match="method='pca' needs at least 2 embeddings to place, got 1"):
        project([1.0, 0.0], method="pca")
    with pytest.raises(ValueError, match=r"NaN or infinite values, in rows \[0\]"):
        project([[np.inf, 0.0], [0.0, 1.0], [1.0, 1.0]], method="pca")
    monkeypatch.setitem(sys.modules, "umap", None)  # as if umap-learn were not installed
    with pytest.raises(ImportError, match="needs the umap-learn package"):
        project(np.eye(4), method="umap")
