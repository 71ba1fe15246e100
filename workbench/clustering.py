"""Clustering of embeddings and keywords that describe the clusters.

* :func:`community_detection`: fast threshold-based grouping of near
  neighbours (cosine), for finding groups of paraphrases in large sets;
* :func:`kmeans`: a fixed number of clusters with scikit-learn;
* :func:`cluster_keywords`: the words that set each cluster apart (c-TF-IDF).

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
from typing import Hashable, Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .hooks import Hooks, Progress
from .similarity import ArrayLike, as_matrix

__all__ = ["community_detection", "labels_from_clusters", "KMeansResult", "kmeans", "cluster_keywords"]

#: Above this many points :func:`kmeans` switches to MiniBatchKMeans.
MINIBATCH_THRESHOLD = 50_000


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
            block = emb[start:start + batch_size]
            counts[start:start + len(block)] = (block @ emb.T >= threshold).sum(dim=1)
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
            rows = centres[start:start + batch_size]
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
