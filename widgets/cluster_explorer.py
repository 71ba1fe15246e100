"""ClusterExplorer: a 2-D/3-D map of embeddings, clustered live, with keywords and selection."""

from __future__ import annotations

import html
from typing import Any, Sequence

import ipywidgets as w
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from workbench.clustering import (
    PROJECTIONS,
    cluster_keywords,
    cluster_scores,
    community_detection,
    kmeans,
    labels_from_clusters,
    project,
)
from workbench.data.tables import Table, is_table

from ._common import WidgetView, encode, hover_text, html_table
from ._figure import figure_widget

METHODS = ("kmeans", "community")
NOISE = -1
#: Clusters drawn as their own trace; smaller ones share one "other clusters" trace.
MAX_TRACES = 50
#: Clusters named on the 2-D map (the largest); the legend names all of them.
MAX_ANNOTATIONS = 20
FIGURE_LAYOUT = {
    "height": 560,
    "dragmode": "lasso",
    "legend": {"itemsizing": "constant"},
    "margin": {"t": 30, "b": 30, "l": 30, "r": 30},
}


class ClusterExplorer(WidgetView):
    """Cluster embeddings with k-means or community detection and explore the clusters on a UMAP map.

    Clusters are found in the full embedding space; UMAP (or PCA) only
    places the points on the map.  Each cluster is named after its top words
    (class-based TF-IDF).  A box or lasso selection on the map is available
    as a DataFrame (``selection``).

    Parameters
    ----------
    embeddings_or_model
        ``(n, dim)`` embeddings of ``texts``, or an encoder (anything with
        ``encode(texts)``) that embeds them (only the points shown).
    texts
        The ``n`` texts (hover text and keywords), or a table (a DataFrame,
        a ``datasets.Dataset`` or a CSV/TSV/JSONL/Parquet path) whose
        ``text_column`` holds them.
    labels
        True classes of the texts, if known: ``scores`` then holds NMI and
        ARI of the clusters against them.  With a table: the name of its
        class column.
    n_components
        2 or 3 map dimensions at the start (``components`` switches).
    method, k, threshold, min_community_size
        ``"kmeans"`` with ``k`` clusters, or ``"community"``: groups of at
        least ``min_community_size`` points within cosine ``threshold`` of
        their centre (the others are unclustered, label -1).
    max_points
        Above this many texts a random sample (seeded) of this size is shown.
    seed
        Seed of the sample, of k-means and of the projection.
    projection
        ``"umap"`` (falls back to PCA, with a note, when umap-learn is
        missing) or ``"pca"``.
    top_words
        Keywords per cluster.
    batch_size
        Texts per batch when encoding.
    text_column
        The text column when ``texts`` is a table.

    Attributes
    ----------
    labels, keywords, silhouette, scores
        Cluster of each shown point; ``{cluster: top words}``; silhouette
        (cosine, on a sample); ``{"silhouette", "clusters", "unclustered"
        [, "nmi", "ari"]}`` from :func:`workbench.clustering.cluster_scores`.
    indices, coords, sampled
        Positions in ``texts`` of the shown points, their map coordinates,
        whether the points are a sample.
    method, k_slider, threshold_slider, components
        The controls; changing one reclusters or redraws.
    figure
        Plotly ``FigureWidget`` with one ``Scattergl`` (3-D: ``Scatter3d``) trace per cluster.

    Example
    -------
    >>> import numpy as np
    >>> from widgets import ClusterExplorer
    >>> emb = np.random.default_rng(0).normal(size=(40, 8))
    >>> texts = [f"text number {i}" for i in range(40)]
    >>> explorer = ClusterExplorer(emb, texts, k=3, projection="pca")
    >>> explorer.k_slider.value = 4
    >>> len(set(explorer.labels))
    4
    """

    def __init__(
        self,
        embeddings_or_model: Any,
        texts: Sequence[str],
        labels: Sequence[Any] | None = None,
        n_components: int = 2,
        method: str = "kmeans",
        k: int = 8,
        threshold: float = 0.75,
        min_community_size: int = 10,
        max_points: int = 20_000,
        seed: int = 0,
        projection: str = "umap",
        top_words: int = 3,
        batch_size: int = 64,
        text_column: str = "text",
    ) -> None:
        if is_table(texts):
            table = Table(texts, text_column, labels if isinstance(labels, str) else None)
            texts, labels = table.column(text_column), table.labels if isinstance(labels, str) else labels
        for name, value, choices in (
            ("method", method, METHODS),
            ("projection", projection, PROJECTIONS),
            ("n_components", n_components, (2, 3)),
        ):
            if value not in choices:
                raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(map(str, choices))}")
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError("texts must be a list of strings")
        if labels is not None and len(labels) != len(texts):
            raise ValueError(f"got {len(labels)} labels for {len(texts)} texts; give one true class per text")
        if len(texts) < 3 or max_points < 3:
            raise ValueError(f"need at least 3 points to cluster, got {len(texts)} texts and max_points={max_points}")
        self.seed = seed
        self.projection = projection
        self.min_community_size = min_community_size
        self.top_words = top_words

        self.sampled = len(texts) > max_points
        rng = np.random.default_rng(seed)
        self.indices = (
            np.sort(rng.choice(len(texts), max_points, replace=False)) if self.sampled else np.arange(len(texts))
        )
        self.n_texts = len(texts)
        self.texts = [texts[i] for i in self.indices]
        self.true_labels = None if labels is None else [labels[i] for i in self.indices]
        self.embeddings = self._embeddings(embeddings_or_model, batch_size)
        self._hover = [
            hover_text(t) + ("" if self.true_labels is None else f"<br>class: {hover_text(str(c))}")
            for t, c in zip(self.texts, self.true_labels or self.texts)
        ]
        self._projections: dict[int, np.ndarray] = {}
        self.projection_note = ""
        self._selected = np.zeros(0, dtype=int)  # positions among the shown points
        self._chosen: dict[int, np.ndarray] = {}  # the figure's selection, per trace
        self._trace_members: list[np.ndarray] = []

        self.method = w.ToggleButtons(options=[("k-means", "kmeans"), ("communities", "community")], value=method)
        self.components = w.ToggleButtons(options=[("2-D", 2), ("3-D", 3)], value=n_components)
        self.k_slider = w.IntSlider(value=k, min=2, max=max(50, k), description="k", continuous_update=False)
        self.threshold_slider = w.FloatSlider(
            value=threshold, min=0.3, max=0.99, step=0.01, description="threshold", continuous_update=False
        )
        self.info = w.HTML()
        self.selection_table = w.HTML(layout=w.Layout(max_height="240px", overflow="auto"))
        self.figure: go.FigureWidget | None = None  # made by the first drawing, with it
        self.recluster()
        self.method.observe(lambda _change: self.recluster(), names="value")
        self.k_slider.observe(lambda _change: self._slider_moved("kmeans"), names="value")
        self.threshold_slider.observe(lambda _change: self._slider_moved("community"), names="value")
        self.components.observe(lambda _change: self._draw(), names="value")
        self.widget = w.VBox(
            [
                w.HBox([self.method, self.components]),
                w.HBox([self.k_slider, self.threshold_slider]),
                self.info,
                self.figure,
                self.selection_table,
            ]
        ).add_class("wb-cluster-explorer")

    # ------------------------------------------------------------------ state
    @property
    def coords(self) -> np.ndarray:
        """``(points, components)`` map coordinates of the shown points (computed once per dimension)."""
        n = self.components.value
        if n not in self._projections:
            self._projections[n] = self._project(n)
        return self._projections[n]

    @property
    def selection(self) -> pd.DataFrame:
        """The selected points: ``index`` (in ``texts``), ``text``, ``cluster``, ``name``, coordinates [, ``class``]."""
        pos = self._selected
        frame = pd.DataFrame(
            {
                "index": self.indices[pos],
                "text": [self.texts[p] for p in pos],
                "cluster": self.labels[pos],
                "name": [self._name(c) for c in self.labels[pos]],
            }
        )
        for axis, values in zip("xyz", self.coords[pos].T):
            frame[axis] = values
        if self.true_labels is not None:
            frame["class"] = [self.true_labels[p] for p in pos]
        return frame

    def select(self, indices: Sequence[int]) -> pd.DataFrame:
        """Select points by their position in ``texts`` (as a lasso would); return ``selection``."""
        wanted = np.unique(np.asarray(indices, dtype=int))
        pos = np.searchsorted(self.indices, wanted)
        shown = (pos < len(self.indices)) & (self.indices[np.minimum(pos, len(self.indices) - 1)] == wanted)
        if not shown.all():
            raise ValueError(
                f"texts {wanted[~shown][:5].tolist()} are not on the map: it shows a sample of "
                f"{len(self.indices)} of {self.n_texts} texts (see .indices)"
            )
        self._chosen = {}
        self._set_selection(pos)
        with self.figure.batch_update():
            for trace, members in zip(self.figure.data, self._trace_members):
                trace.selectedpoints = np.flatnonzero(np.isin(members, pos)).tolist()
        return self.selection

    def recluster(self) -> None:
        """Cluster again with the current method and slider; update keywords, scores and the map."""
        self.k_slider.disabled = self.method.value != "kmeans"
        self.threshold_slider.disabled = self.method.value != "community"
        if self.method.value == "kmeans":
            k = min(self.k_slider.value, len(self.texts))
            self.labels = kmeans(self.embeddings, n_clusters=k, seed=self.seed).labels.astype(int)
        else:
            communities = community_detection(
                self.embeddings, threshold=self.threshold_slider.value, min_community_size=self.min_community_size
            )
            self.labels = labels_from_clusters(communities, len(self.texts), noise=NOISE)
        keywords = cluster_keywords(self.texts, self.labels.tolist(), top_n=self.top_words)
        self.keywords = {label: words for label, words in keywords.items() if label != NOISE}
        self.scores = cluster_scores(self.embeddings, self.labels, self.true_labels, noise=NOISE, seed=self.seed)
        self.silhouette = self.scores["silhouette"]
        self._draw()

    def _slider_moved(self, method: str) -> None:
        # Each slider belongs to one method; moving the other one changes nothing.
        if self.method.value == method:
            self.recluster()

    # ------------------------------------------------------------------ computing
    def _embeddings(self, source: Any, batch_size: int) -> np.ndarray:
        if hasattr(source, "encode"):
            return encode(source, self.texts, batch_size, name="embeddings_or_model")
        matrix = np.asarray(source, dtype=np.float32)
        if matrix.ndim != 2 or len(matrix) != self.n_texts:
            raise ValueError(f"embeddings must be ({self.n_texts}, dim), one row per text; got shape {matrix.shape}")
        return matrix[self.indices]

    def _project(self, n_components: int) -> np.ndarray:
        if self.projection == "umap":
            try:
                return project(self.embeddings, "umap", n_components, seed=self.seed)
            except ImportError:
                # The map still draws; the info line says which projection it is.
                self.projection_note = "umap-learn is not installed: the map is a PCA projection"
        return project(self.embeddings, "pca", n_components, seed=self.seed)

    def _name(self, label: int) -> str:
        if label == NOISE:
            return "unclustered"
        return f"{label}: " + ", ".join(self.keywords.get(label, []))

    # ------------------------------------------------------------------ drawing
    def _draw(self) -> None:
        coords = self.coords
        three_d = coords.shape[1] == 3
        clusters, counts = np.unique(self.labels[self.labels != NOISE], return_counts=True)
        by_size = clusters[np.argsort(-counts, kind="stable")]
        groups = [(self._name(c), np.flatnonzero(self.labels == c)) for c in by_size[:MAX_TRACES]]
        rest = np.flatnonzero(np.isin(self.labels, by_size[MAX_TRACES:]))
        if len(rest):
            groups.append((f"other {len(by_size) - MAX_TRACES} clusters", rest))
        if (self.labels == NOISE).any():
            groups.append((self._name(NOISE), np.flatnonzero(self.labels == NOISE)))
        self._trace_members = [members for _, members in groups]
        self._chosen = {}

        traces = []
        for name, members in groups:
            style = {"size": 3 if three_d else 5, "opacity": 0.75}
            if name == self._name(NOISE):
                style["color"] = "lightgrey"
            kind = go.Scatter3d if three_d else go.Scattergl
            axes = dict(zip("xyz", coords[members].T))
            traces.append(
                kind(
                    name=html.escape(name),
                    mode="markers",
                    marker=style,
                    text=[self._hover[m] for m in members],
                    hovertemplate="%{text}<extra>%{fullData.name}</extra>",
                    **axes,
                )
            )
        annotations = (
            []
            if three_d
            else [
                {
                    "x": float(np.median(coords[members, 0])),
                    "y": float(np.median(coords[members, 1])),
                    "text": html.escape(", ".join(self.keywords[c][:2])),
                    "showarrow": False,
                    "font": {"size": 12},
                    "bgcolor": "rgba(255,255,255,0.7)",
                }
                for c, (_, members) in zip(by_size[:MAX_ANNOTATIONS], groups)
            ]
        )
        if self.figure is None:
            # The browser's model is created with the whole map: an update can be lost while it loads plotly.
            layout = {**FIGURE_LAYOUT, "annotations": annotations}
            self.figure = figure_widget(go.Figure(traces, layout), "wb-cluster-plot")
        else:
            with self.figure.batch_update():
                self.figure.data = []
                self.figure.layout.annotations = annotations
            self.figure.add_traces(traces)
        for trace in self.figure.data:
            trace.on_selection(self._on_selection)
            trace.on_deselect(self._on_deselect)
        self._update_info()

    def _on_selection(self, trace: Any, points: Any, _selector: Any) -> None:
        # The figure reports a selection trace by trace; the union is rebuilt after each.
        self._chosen[points.trace_index] = self._trace_members[points.trace_index][points.point_inds]
        self._set_selection(np.concatenate(list(self._chosen.values())))

    def _on_deselect(self, _trace: Any, _points: Any) -> None:
        self._chosen = {}
        self._set_selection(np.zeros(0, dtype=int))

    def _set_selection(self, positions: np.ndarray) -> None:
        self._selected = np.unique(positions.astype(int))
        frame = self.selection
        self.selection_table.value = (
            ""
            if frame.empty
            else (f"<b>{len(frame)} selected</b>" + html_table(frame[["index", "text", "name"]].head(50)))
        )

    def _update_info(self) -> None:
        parts = [f"{len(self.texts)} points"]
        if self.sampled:
            parts.append(f"a random sample (seed {self.seed}) of {self.n_texts} texts")
        if self.projection_note:
            parts.append(self.projection_note)
        parts.append(f"{self.scores['clusters']} clusters")
        if self.scores["unclustered"]:
            parts.append(f"{self.scores['unclustered']:.0%} unclustered")
        if self.silhouette is not None:
            parts.append(f"silhouette {self.silhouette:.3f}")
        if "nmi" in self.scores:
            parts.append(f"NMI {self.scores['nmi']:.3f} · ARI {self.scores['ari']:.3f}")
        self.info.value = html.escape(" · ".join(parts))
