"""STSExplorer: gold similarity against each model's cosine, side by side, with the worst pairs."""

from __future__ import annotations

import html
from typing import Any, Mapping, Sequence

import ipywidgets as w
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.data.tables import Table
from workbench.evaluation import EmbeddingSimilarityEvaluator
from workbench.evaluation.embedding_similarity import correlations

from ._common import WidgetView, hover_text, html_table
from ._figure import figure_widget

ALL = "all"
HOVER = "%{customdata[0]}<br>%{customdata[1]}<br>gold %{x:.2f} · predicted %{y:.3f}<extra>%{fullData.name}</extra>"


class STSExplorer(WidgetView):
    """Compare models on a semantic-similarity set: scatter, correlations, worst pairs, filters.

    The predictions and correlations are those of
    :class:`~workbench.evaluation.EmbeddingSimilarityEvaluator`: on all pairs,
    ``summary`` holds exactly its ``pearson_cosine`` and ``spearman_cosine``.

    Parameters
    ----------
    models
        ``{name: model}``; a model is anything with ``encode(texts)`` (its
        prediction is the cosine of the two embeddings) or a sequence of
        ready-made predicted scores, one per pair.
    sentences1, sentences2, gold_scores
        The pairs and their gold similarity (any scale).
    genres
        One genre (or any group name) per pair, for the genre filter.
    n_worst
        Rows of the worst-pairs table.
    batch_size
        Texts per batch when encoding.

    Attributes
    ----------
    results
        One row per pair: ``sentence1, sentence2, genre, gold, pred_<model>`` ...
    genre, score_range
        The filters (a Dropdown and a FloatRangeSlider over the gold score).
    figure
        Plotly ``FigureWidget``: one gold-vs-predicted scatter per model.

    Example
    -------
    >>> from widgets import STSExplorer
    >>> explorer = STSExplorer({"minilm": model}, s1, s2, gold, genres=genres)   # doctest: +SKIP
    >>> explorer.summary                                                        # doctest: +SKIP
    >>> explorer.set_filter(genre="news", score_range=(0, 2.5)); explorer.worst(5)  # doctest: +SKIP
    """

    def __init__(
        self,
        models: Mapping[str, Any],
        sentences1: Sequence[str],
        sentences2: Sequence[str],
        gold_scores: Sequence[float],
        genres: Sequence[str] | None = None,
        n_worst: int = 10,
        batch_size: int = 64,
    ) -> None:
        if not isinstance(models, Mapping) or not models:
            raise TypeError("models must be a non-empty dict {name: encoder or predicted scores}")
        n = len(gold_scores)
        lengths = {"sentences1": len(sentences1), "sentences2": len(sentences2), "gold_scores": n}
        if genres is not None:
            lengths["genres"] = len(genres)
        if n < 2 or len(set(lengths.values())) != 1:
            raise ValueError(f"need at least 2 pairs and the same length for every column, got {lengths}")
        self.model_names = [str(name) for name in models]
        self.n_worst = n_worst
        frame = pd.DataFrame(
            {
                "sentence1": list(sentences1),
                "sentence2": list(sentences2),
                "genre": list(genres) if genres is not None else ALL,
                "gold": np.asarray(gold_scores, dtype=np.float64),
            }
        )
        # The evaluator's computation, so that the view and a training run report the same numbers.
        evaluator = EmbeddingSimilarityEvaluator(
            frame["sentence1"], frame["sentence2"], frame["gold"], batch_size=batch_size
        )
        for name, model in models.items():
            frame[f"pred_{name}"] = _predictions(model, evaluator, name)
        self.results = frame
        self._mask = np.ones(n, dtype=bool)
        self._holding = False

        low, high = float(frame["gold"].min()), float(frame["gold"].max())
        self.genre = w.Dropdown(options=[ALL, *sorted(set(frame["genre"]) - {ALL})], value=ALL, description="genre")
        self.score_range = w.FloatRangeSlider(
            value=(low, high),
            min=low,
            max=high,
            step=(high - low) / 100 or 1.0,
            description="gold score",
            continuous_update=False,
        )
        self.worst_model = w.Dropdown(options=self.model_names, description="worst of")
        self.summary_table = w.HTML()
        self.worst_table = w.HTML(layout=w.Layout(max_height="320px", overflow="auto"))
        self._apply_filters()
        self.figure = self._make_figure()
        self._fill_tables()
        for control in (self.genre, self.score_range, self.worst_model):
            control.observe(lambda _change: self._refresh(), names="value")
        self.widget = w.VBox(
            [
                w.HBox([self.genre, self.score_range]),
                self.figure,
                self.summary_table,
                self.worst_model,
                self.worst_table,
            ]
        ).add_class("wb-sts-explorer")

    @classmethod
    def from_examples(
        cls, models: Mapping[str, Any], examples: Sequence[Any], genres: Sequence[str] | None = None, **kwargs: Any
    ) -> "STSExplorer":
        """Build from scored pair :class:`~workbench.data.Example` records (``texts`` a pair, ``label`` the score).

        Example
        -------
        >>> from workbench import load_dataset
        >>> test = load_dataset("stsb", split="test")                        # doctest: +SKIP
        >>> explorer = STSExplorer.from_examples({"minilm": model}, test)    # doctest: +SKIP
        """
        for i, example in enumerate(examples):
            if len(example.texts) != 2 or not isinstance(example.label, (int, float)):
                raise ValueError(
                    f"examples[{i}] is not a scored pair: texts {example.texts!r:.80}, "
                    f"label {example.label!r}; every example needs two texts and a numeric label"
                )
        return cls(
            models,
            [e.texts[0] for e in examples],
            [e.texts[1] for e in examples],
            [float(e.label) for e in examples],
            genres=genres,
            **kwargs,
        )

    @classmethod
    def from_table(
        cls,
        models: Mapping[str, Any],
        source: Any,
        texts: Sequence[str] = ("sentence1", "sentence2"),
        label: str = "score",
        genre: str | None = None,
        **kwargs: Any,
    ) -> "STSExplorer":
        """Build from a table of scored pairs: a DataFrame, a ``datasets.Dataset`` or a CSV/TSV/JSONL/Parquet path.

        ``texts`` names the two sentence columns, ``label`` the gold score
        column, ``genre`` an optional column to filter by.

        Example
        -------
        >>> explorer = STSExplorer.from_table({"minilm": model}, "pairs.csv", texts=["a", "b"])  # doctest: +SKIP
        """
        table = Table(source, list(texts), label)
        genres = None if genre is None else Table(table.frame, genre, name=table.source).column(genre)
        return cls.from_examples(models, table, genres=genres, **kwargs)

    # ------------------------------------------------------------------ state
    @property
    def filtered(self) -> pd.DataFrame:
        """The rows of ``results`` that pass the current filters."""
        return self.results[self._mask]

    @property
    def summary(self) -> pd.DataFrame:
        """Pearson and Spearman correlation of each model with the gold scores, on the filtered pairs.

        NaN where a correlation is undefined (fewer than 2 pairs, or no spread).
        """
        rows = self.filtered
        return pd.DataFrame(
            [
                {"model": name, **correlations(rows["gold"], rows[f"pred_{name}"], quiet=True), "pairs": len(rows)}
                for name in self.model_names
            ]
        )

    def worst(self, n: int | None = None, model: str | None = None) -> pd.DataFrame:
        """The ``n`` filtered pairs on which ``model`` (default: the one picked) disagrees most with the gold order.

        Disagreement is the gap between the pair's percentile rank by gold
        score and by predicted score (0: same place, 1: opposite ends), which
        is what Spearman's correlation penalises.
        """
        model = model or self.worst_model.value
        if model not in self.model_names:
            raise ValueError(f"unknown model {model!r}; the explorer has {self.model_names}")
        rows = self.filtered
        pred = rows[f"pred_{model}"]
        gap = (rows["gold"].rank(pct=True) - pred.rank(pct=True)).abs()
        table = rows[["sentence1", "sentence2", "genre", "gold"]].assign(pred=pred, rank_gap=gap)
        return table.sort_values("rank_gap", ascending=False, kind="stable").head(n or self.n_worst)

    def set_filter(self, genre: str | None = None, score_range: tuple[float, float] | None = None) -> None:
        """Show only ``genre`` (``"all"``: every genre) and gold scores in ``score_range``; None keeps a filter.

        A ``score_range`` reaching past the gold scores is cut to them on the
        slider (the same pairs pass); one that holds no gold score at all, or
        whose low end is above its high end, is refused and no filter changes.
        """
        if genre is not None and genre not in self.genre.options:
            raise ValueError(f"unknown genre {genre!r}; choose one of {list(self.genre.options)}")
        if score_range is not None:
            score_range = self._slider_range(score_range)
        # Both controls change before one redraw, not one redraw per control.
        self._holding = True
        try:
            if genre is not None:
                self.genre.value = genre
            if score_range is not None:
                self.score_range.value = score_range
        finally:
            self._holding = False
        self._refresh()

    def _slider_range(self, score_range: tuple[float, float]) -> tuple[float, float]:
        """``score_range`` cut to the slider's ends, which are the lowest and highest gold score."""
        try:
            low, high = (float(value) for value in score_range)
        except (TypeError, ValueError):
            raise ValueError(f"score_range must be two numbers (low, high), got {score_range!r}") from None
        lowest, highest = self.score_range.min, self.score_range.max
        if not low <= high:  # also refuses NaN
            raise ValueError(f"score_range must be (low, high) with low <= high, got {score_range!r}")
        if high < lowest or low > highest:
            # The slider would silently clamp this to its end and show the pairs scored there instead of none.
            raise ValueError(
                f"score_range {score_range!r} holds no gold score: the gold scores lie in [{lowest:g}, {highest:g}]"
            )
        return max(low, lowest), min(high, highest)

    # ------------------------------------------------------------------ drawing
    def _make_figure(self) -> Any:
        figure = make_subplots(
            rows=1,
            cols=len(self.model_names),
            shared_yaxes=True,
            subplot_titles=self.model_names,
            horizontal_spacing=0.05,
        )
        for i, name in enumerate(self.model_names, start=1):
            figure.add_trace(
                go.Scattergl(name=name, mode="markers", marker={"size": 5, "opacity": 0.6}, hovertemplate=HOVER),
                row=1,
                col=i,
            )
            figure.update_xaxes(title_text="gold score", row=1, col=i)
        figure.update_yaxes(title_text="predicted cosine", row=1, col=1)
        figure.update_layout(height=380, showlegend=False, margin={"t": 40, "b": 40, "l": 50, "r": 20})
        # The points and correlations go with the browser's model, not as updates it can lose while it loads
        # plotly (anywidget drops every update to a model whose module took over 2 s to load).
        self._fill_figure(figure)
        return figure_widget(figure)

    def _apply_filters(self) -> None:
        gold = self.results["gold"].to_numpy()
        low, high = self.score_range.value
        mask = (gold >= low) & (gold <= high)
        if self.genre.value != ALL:
            mask &= (self.results["genre"] == self.genre.value).to_numpy()
        self._mask = mask

    def _fill_figure(self, figure: Any) -> None:
        """Each model's scatter of the filtered pairs, and its Spearman in the subplot's title."""
        rows = self.filtered
        custom = np.column_stack([rows["sentence1"].map(hover_text), rows["sentence2"].map(hover_text)])
        for trace, annotation, record in zip(figure.data, figure.layout.annotations, self.summary.itertuples()):
            trace.x, trace.y, trace.customdata = rows["gold"], rows[f"pred_{record.model}"], custom
            annotation.text = html.escape(f"{record.model}: Spearman {record.spearman:.4f}")

    def _fill_tables(self) -> None:
        self.summary_table.value = html_table(self.summary)
        self.worst_table.value = html_table(self.worst())

    def _refresh(self) -> None:
        if self._holding:
            return
        self._apply_filters()
        with self.figure.batch_update():
            self._fill_figure(self.figure)
        self._fill_tables()


def _predictions(model: Any, evaluator: EmbeddingSimilarityEvaluator, name: str) -> np.ndarray:
    """The evaluator's cosine of each pair's embeddings, or the given scores when ``model`` is a sequence of them."""
    n = len(evaluator.scores)
    if not hasattr(model, "encode"):
        scores = np.asarray(model, dtype=np.float64)
        if scores.shape != (n,):
            raise ValueError(
                f"models[{name!r}] must be an encoder or {n} predicted scores, got an array of shape {scores.shape}"
            )
        return scores
    try:
        cosine = evaluator.similarities(model, ["cosine"])["cosine"]
    except ValueError as error:  # e.g. a model that returned no rows: say which of the models
        raise ValueError(f"models[{name!r}]: {error}") from error
    return cosine.astype(np.float64)
