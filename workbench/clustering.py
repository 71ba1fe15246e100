"""Clustering of embeddings and keywords that describe the clusters.

* :func:`community_detection`: fast threshold-based grouping of near
  neighbours (cosine), for finding groups of paraphrases in large sets;
* :func:`kmeans`: a fixed number of clusters with scikit-learn;
* :func:`cluster_keywords`: the words that set each cluster apart (c-TF-IDF);
* :func:`cluster_scores`: silhouette, and NMI/ARI against known classes;
* :func:`project`: 2-D or 3-D map coordinates (UMAP or PCA), for drawing.

Example
-------
>>> import numpy as np
>>> from workbench.clustering import kmeans
>>> emb = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
>>> result = kmeans(emb, n_clusters=2)
>>> bool(result.labels[0] == result.labels[1] != result.labels[2])
True
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral
from typing import Hashable, Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .hooks import Hooks, Progress
from .similarity import ArrayLike, as_matrix

__all__ = [
    "community_detection",
    "labels_from_clusters",
    "KMeansResult",
    "kmeans",
    "cluster_keywords",
    "cluster_scores",
    "project",
    "PROJECTIONS",
]

#: Above this many points :func:`kmeans` switches to MiniBatchKMeans.
MINIBATCH_THRESHOLD = 50_000
#: Points the silhouette is computed on by default (it is quadratic in the points).
SILHOUETTE_SAMPLE = 2000
#: The methods :func:`project` knows.
PROJECTIONS = ("umap", "pca")


@torch.no_grad()
def community_detection(
    embeddings: ArrayLike,
    threshold: float = 0.75,
    min_community_size: int = 10,
    batch_size: int = 1024,
    hooks: Hooks | None = None,
) -> list[list[int]]:
    """Group embeddings into communities of close neighbours (cosine similarity).

    Every point with at least ``min_community_size`` neighbours (itself
    included) at cosine similarity ``>= threshold`` is the centre of a
    candidate community: those neighbours.  Candidates are taken from the
    largest down; members already taken by an earlier community are dropped,
    and what remains is kept if it still has ``min_community_size`` members.

    Two passes over the similarity matrix, ``batch_size`` rows at a time,
    keep memory at ``batch_size x n``: the first counts neighbours, the
    second builds the communities in order of size.

    Parameters
    ----------
    embeddings
        ``(n, dim)`` array, tensor or list.
    threshold
        Minimum cosine similarity to the centre.
    min_community_size
        Smallest community returned.
    batch_size
        Rows of the similarity matrix computed at once.
    hooks
        Receives ``progress_*`` events for task ``"community_detection"``,
        counted in rows over both passes.

    Returns
    -------
    list of list of int
        Non-overlapping communities, largest first; each lists its centre
        first, then the other members by decreasing similarity to it.
        Points in no community are left out.

    Example
    -------
    >>> emb = [[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [0.1, 0.99], [0.05, 1.0]]
    >>> community_detection(emb, threshold=0.9, min_community_size=2)
    [[2, 4, 3], [0, 1]]
    """
    if min_community_size < 1 or batch_size < 1:
        raise ValueError(
            f"min_community_size and batch_size must be at least 1, got {min_community_size} and {batch_size}"
        )
    emb = F.normalize(as_matrix(embeddings), dim=1)
    n = len(emb)
    with Progress(hooks, "community_detection", total=2 * n, unit="embeddings") as progress:
        counts = torch.empty(n, dtype=torch.long, device=emb.device)
        for start in range(0, n, batch_size):
            block = emb[start : start + batch_size]
            counts[start : start + len(block)] = (block @ emb.T >= threshold).sum(dim=1)
            progress.update(len(block))
        # stable: equal sizes keep index order, so the result is reproducible
        order = torch.sort(counts, descending=True, stable=True).indices
        centres = order[counts[order] >= min_community_size]
        progress.update(n - len(centres))  # points that centre no candidate skip the second pass

        taken = torch.zeros(n, dtype=torch.bool, device=emb.device)
        communities: list[list[int]] = []
        for start in range(0, len(centres), batch_size):
            if n - int(taken.sum()) < min_community_size:
                progress.update(len(centres) - start)  # too few points left for another community
                break
            rows = centres[start : start + batch_size]
            scores = emb[rows] @ emb.T
            close = (scores >= threshold) & ~taken
            # taken only grows, so rows already too small now can be skipped
            for r in torch.nonzero(close.sum(dim=1) >= min_community_size).squeeze(1):
                members = torch.nonzero(close[r] & ~taken).squeeze(1)
                if len(members) >= min_community_size:
                    members = members[torch.sort(scores[r, members], descending=True, stable=True).indices]
                    taken[members] = True
                    communities.append(members.tolist())
            progress.update(len(rows))
    communities.sort(key=len, reverse=True)
    return communities


def labels_from_clusters(clusters: Sequence[Sequence[int]], n_items: int, noise: int = -1) -> np.ndarray:
    """Turn a list of clusters (as from :func:`community_detection`) into one label per item.

    Items of ``clusters[c]`` get label ``c``; items in no cluster get ``noise``.

    Example
    -------
    >>> labels_from_clusters([[2, 0], [3]], n_items=5)
    array([ 0, -1,  0,  1, -1])
    """
    labels = np.full(n_items, noise, dtype=int)
    for label, members in enumerate(clusters):
        labels[list(members)] = label
    return labels


@dataclass
class KMeansResult:
    """What :func:`kmeans` returns.

    Attributes
    ----------
    labels
        ``(n,)`` cluster index of each embedding.
    centroids
        ``(n_clusters, dim)`` cluster centres, in the space that was clustered
        (unit-normalised embeddings when ``normalize=True``).
    inertia
        Sum of squared distances of the embeddings to their centroid.
    """

    labels: np.ndarray
    centroids: np.ndarray
    inertia: float


def kmeans(
    embeddings: ArrayLike,
    n_clusters: int,
    seed: int = 0,
    normalize: bool = True,
    n_init: int | Literal["auto"] = "auto",
) -> KMeansResult:
    """Cluster embeddings with k-means (scikit-learn).

    Parameters
    ----------
    embeddings
        ``(n, dim)`` array, tensor or list.
    n_clusters
        Number of clusters, between 1 and ``n``.
    seed
        Random state, for reproducible clusters.
    normalize
        Scale embeddings to unit length first, so that clusters follow
        cosine similarity rather than vector length.
    n_init
        Number of k-means runs with different starts (the best is kept).

    Returns
    -------
    KMeansResult
        Labels, centroids and inertia.  Above ``MINIBATCH_THRESHOLD`` points
        the faster ``MiniBatchKMeans`` is used.

    Example
    -------
    >>> result = kmeans([[1.0, 0.0], [2.0, 0.1], [0.0, 1.0]], n_clusters=2)
    >>> result.labels.tolist() in ([0, 0, 1], [1, 1, 0])
    True
    """
    from sklearn.cluster import KMeans, MiniBatchKMeans

    emb = as_matrix(embeddings).detach()
    if normalize:
        emb = F.normalize(emb, dim=1)
    # scikit-learn works in float32 or float64 only
    x = emb.to(torch.float64 if emb.dtype == torch.float64 else torch.float32).cpu().numpy()
    if not 1 <= n_clusters <= len(x):
        raise ValueError(f"n_clusters must be between 1 and the number of embeddings ({len(x)}), got {n_clusters}")
    algorithm = MiniBatchKMeans if len(x) > MINIBATCH_THRESHOLD else KMeans
    model = algorithm(n_clusters=n_clusters, random_state=seed, n_init=n_init).fit(x)
    return KMeansResult(labels=model.labels_, centroids=model.cluster_centers_, inertia=float(model.inertia_))


def cluster_keywords(texts: Sequence[str], labels: Sequence[Hashable], top_n: int = 5) -> dict[Hashable, list[str]]:
    """The ``top_n`` words that best describe each cluster, by class-based TF-IDF.

    The texts of a cluster are joined into one document.  A word scores
    ``tf(word, cluster) * log(1 + A / f(word))``, where ``A`` is the average
    number of words per cluster and ``f(word)`` the word's frequency over all
    clusters: frequent in this cluster, rare elsewhere.  Text is lowercased
    and English stop words (scikit-learn's list) are removed.

    Parameters
    ----------
    texts
        One text per item.
    labels
        One cluster label per item (any hashable, e.g. ``-1`` for noise).
    top_n
        Words per cluster; fewer when a cluster has fewer distinct words.

    Returns
    -------
    dict
        Label -> words, best first, labels in sorted order.

    Example
    -------
    >>> texts = ["the cat purrs", "a cat and a kitten", "dogs bark", "the dog barks at dogs"]
    >>> cluster_keywords(texts, [0, 0, 1, 1], top_n=1)
    {0: ['cat'], 1: ['dogs']}
    """
    from scipy import sparse
    from sklearn.feature_extraction.text import CountVectorizer

    if len(texts) != len(labels):
        raise ValueError(f"got {len(texts)} texts but {len(labels)} labels; they must pair up")
    if top_n < 1:
        raise ValueError(f"top_n must be at least 1, got {top_n}")
    classes = _sorted_labels(labels)
    vectorizer = CountVectorizer(lowercase=True, stop_words="english")
    try:
        counts = vectorizer.fit_transform(texts)
    except ValueError:  # nothing left after removing stop words
        return {_plain(c): [] for c in classes}
    words = vectorizer.get_feature_names_out()
    index = {c: i for i, c in enumerate(classes)}
    membership = sparse.csr_matrix(
        (np.ones(len(texts)), ([index[label] for label in labels], np.arange(len(texts)))),
        shape=(len(classes), len(texts)),
    )
    # summing a cluster's rows is the same as counting its concatenated texts
    tf = (membership @ counts).toarray()
    avg_words = tf.sum() / len(classes)
    scores = tf * np.log1p(avg_words / tf.sum(axis=0))
    keywords = {}
    for c, row_tf, row_scores in zip(classes, tf, scores):
        # highest score first, then alphabetical for ties; only words the cluster uses
        ranked = sorted(np.flatnonzero(row_tf), key=lambda w: (-row_scores[w], words[w]))
        keywords[_plain(c)] = [str(words[w]) for w in ranked[:top_n]]
    return keywords


def cluster_scores(
    embeddings: ArrayLike,
    labels: Sequence[Hashable],
    true_labels: Sequence[Hashable] | None = None,
    noise: Hashable = -1,
    sample_size: int = SILHOUETTE_SAMPLE,
    seed: int = 0,
) -> dict[str, float | int | None]:
    """How good a clustering is, with and without known classes.

    Parameters
    ----------
    embeddings
        ``(n, dim)`` embeddings that were clustered.
    labels
        The cluster of each embedding; ``noise`` marks points in no cluster
        (as :func:`labels_from_clusters` gives them).
    true_labels
        The known class of each embedding, if any (compared as text, so
        mixed types are fine).
    noise
        The label of unclustered points.
    sample_size
        Clustered points the silhouette is computed on (a seeded sample
        when there are more).
    seed
        Seed of that sample.

    Returns
    -------
    dict
        ``silhouette``: mean silhouette of the clustered points with cosine
        distance (-1 to 1), None when it is undefined (fewer than 2
        clusters, or every point alone in its cluster); ``clusters``: the
        number of clusters; ``unclustered``: the share of noise points; with
        ``true_labels`` also ``nmi`` (normalised mutual information) and
        ``ari`` (adjusted Rand index) of all labels, noise included, against them.

    Example
    -------
    >>> emb = [[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0], [1.0, 1.0]]
    >>> scores = cluster_scores(emb, [0, 0, 1, 1, -1], true_labels=["x", "x", "y", "y", "y"])
    >>> scores["clusters"], scores["unclustered"], round(scores["silhouette"], 3), round(scores["ari"], 3)
    (2, 0.2, 0.994, 0.545)
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score

    points = _finite_rows(embeddings, "embeddings")
    found = np.asarray(labels)
    if found.shape != (len(points),):
        raise ValueError(f"labels must hold one cluster per embedding ({len(points)}), got shape {found.shape}")
    if true_labels is not None and len(true_labels) != len(points):
        raise ValueError(f"true_labels must hold one class per embedding ({len(points)}), got {len(true_labels)}")
    if isinstance(sample_size, bool) or not isinstance(sample_size, Integral) or sample_size < 2:
        raise ValueError(f"sample_size must be a whole number >= 2, got {sample_size!r}")
    clustered = found != noise
    n_clusters = len(np.unique(found[clustered]))
    silhouette = None
    if 2 <= n_clusters < clustered.sum():
        silhouette = float(
            silhouette_score(
                points[clustered],
                found[clustered],
                metric="cosine",
                sample_size=min(sample_size, int(clustered.sum())),
                random_state=seed,
            )
        )
    scores: dict[str, float | int | None] = {
        "silhouette": silhouette,
        "clusters": n_clusters,
        "unclustered": float(np.mean(~clustered)) if len(found) else 0.0,
    }
    if true_labels is not None:
        truth = [str(c) for c in true_labels]
        scores["nmi"] = float(normalized_mutual_info_score(truth, found))
        scores["ari"] = float(adjusted_rand_score(truth, found))
    return scores


def project(
    embeddings: ArrayLike,
    method: str = "umap",
    n_components: int = 2,
    seed: int = 0,
    normalize: bool = True,
) -> np.ndarray:
    """Map coordinates of embeddings: each row placed in ``n_components`` dimensions, for drawing.

    Parameters
    ----------
    embeddings
        ``(n, dim)`` array, tensor or list, finite.
    method
        ``"umap"``: UMAP on cosine distances (needs umap-learn and at least
        3 points; small sets start from a random layout, since UMAP's
        spectral start needs more than ``n_components + 1`` points);
        ``"pca"``: the first principal components (at least 2 points).
    n_components
        Dimensions of the map, at least 1.  PCA of embeddings with fewer
        dimensions than that pads the missing ones with zeros.
    seed
        Random state of UMAP and PCA: the same inputs and seed give the
        same map (UMAP then runs on one thread).
    normalize
        Scale the embeddings to unit length first, so that PCA, like UMAP,
        follows cosine similarity rather than vector length.

    Returns
    -------
    np.ndarray
        ``(n, n_components)`` float32 coordinates.

    Raises
    ------
    ValueError
        An unknown ``method``, a bad ``n_components``, too few points, or
        embeddings with NaN or infinite values.
    ImportError
        ``method="umap"`` without umap-learn installed.

    Example
    -------
    >>> coords = project([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], method="pca")
    >>> coords.shape, [round(abs(float(x)), 4) for x in coords[:, 0]]
    ((3, 2), [0.7071, 0.7071, 0.0])
    """
    if method not in PROJECTIONS:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(PROJECTIONS)}")
    if isinstance(n_components, bool) or not isinstance(n_components, Integral) or n_components < 1:
        raise ValueError(f"n_components must be a whole number >= 1, got {n_components!r}")
    points = _finite_rows(embeddings, "embeddings")
    if normalize:
        norms = np.linalg.norm(points, axis=1, keepdims=True)
        points = points / np.where(norms == 0, 1.0, norms)  # zero rows stay zero
    least = 3 if method == "umap" else 2
    if len(points) < least:
        raise ValueError(f"method={method!r} needs at least {least} embeddings to place, got {len(points)}")
    if method == "umap":
        try:
            import umap
        except ImportError as error:
            raise ImportError(
                "method='umap' needs the umap-learn package (pip install umap-learn); method='pca' needs nothing more"
            ) from error
        init = "spectral" if len(points) > n_components + 1 else "random"
        reducer = umap.UMAP(
            n_components=n_components,
            metric="cosine",
            random_state=seed,
            n_jobs=1,
            n_neighbors=min(15, len(points) - 1),
            init=init,
        )
        return np.asarray(reducer.fit_transform(points), dtype=np.float32)
    from sklearn.decomposition import PCA

    n = min(n_components, *points.shape)
    coords = PCA(n_components=n, random_state=seed).fit_transform(points)
    return np.pad(coords, ((0, 0), (0, n_components - n))).astype(np.float32)


def _finite_rows(embeddings: ArrayLike, name: str) -> np.ndarray:
    """``embeddings`` as a 2-D float numpy array; a ValueError naming ``name`` when a value is NaN or infinite."""
    points = as_matrix(embeddings).detach().cpu()
    points = points.numpy().astype(np.float64 if points.dtype == torch.float64 else np.float32)
    bad = ~np.isfinite(points).all(axis=1)
    if bad.any():
        raise ValueError(f"{name} hold NaN or infinite values, in rows {np.flatnonzero(bad)[:5].tolist()}")
    return points


def _sorted_labels(labels: Sequence[Hashable]) -> list[Hashable]:
    """The distinct labels, sorted; by their text when their types do not compare."""
    distinct = set(labels)
    try:
        return sorted(distinct)
    except TypeError:
        return sorted(distinct, key=str)


def _plain(label: Hashable) -> Hashable:
    """numpy scalars as Python ones, so dict keys print and compare naturally."""
    return label.item() if isinstance(label, np.generic) else label
