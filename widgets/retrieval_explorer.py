"""RetrievalExplorer: every query of an IR evaluation, worst first, with what it retrieved and what it missed."""

from __future__ import annotations

import html
from typing import Any, Mapping, Sequence

import ipywidgets as w
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import traitlets

from workbench.evaluation import QueryResult, RankedDocument

from ._common import WidgetView, html_table, positive_int, short_text
from ._figure import figure_widget

#: The query list's orders: (label, key), the label naming the metric where ``{metric}`` stands.
SORTS = (("{metric}, worst first", "metric"), ("first relevant rank, worst first", "rank"), ("query id", "query_id"))
HIT_COLUMNS = ("rank", "relevant", "score", "doc_id", "text")
MISSED_COLUMNS = ("rank", "grade", "score", "doc_id", "text")
MARKER = {"type": "line", "yref": "paper", "y0": 0, "y1": 1, "line": {"color": "crimson", "dash": "dash"}}


def relevance_mark(grade: float) -> str:
    """A hit's relevance as shown in its row: ``✓`` (grade 1), ``✓ 2`` (another grade above 0), or empty.

    Example
    -------
    >>> [relevance_mark(g) for g in (1.0, 2.0, 0.0)]
    ['✓', '✓ 2', '']
    """
    if grade <= 0:
        return ""
    return "✓" if grade == 1 else f"✓ {grade:g}"


class RetrievalExplorer(WidgetView, traitlets.HasTraits):
    """The queries of an information-retrieval evaluation, one by one: where the metric comes from.

    Shows the distribution of a per-query metric (default nDCG@10), the
    queries sorted worst first (or by the rank of their first relevant
    document, or by id), and for the chosen query the documents it retrieved,
    with their relevance marks and scores, beside the relevant documents it
    missed, with their rank and score.  The numbers are those of
    :meth:`~workbench.evaluation.InformationRetrievalEvaluator.per_query`, so
    the view and the evaluator agree: the metric's mean over the queries is
    what the evaluator reported.

    Parameters
    ----------
    results
        ``evaluator.per_query()`` after the evaluator was called on a model.
    corpus
        Doc id -> text, to show the documents' texts (without it, their ids only).
    metric
        The per-query metric of the histogram and the worst-first order: a
        key of the results' ``metrics``, e.g. ``"ndcg@10"`` or ``"mrr@10"``.
    n_hits
        Retrieved documents shown for the chosen query; relevant documents
        ranked below are listed as missed.
    rows
        Queries visible in the list at once.

    Attributes
    ----------
    query_id
        The chosen query (a traitlet: ``observe`` it, or ``link`` it to another
        view); the worst query at the start.  Setting an id that is not among
        the results raises ``traitlets.TraitError``.
    queries
        One row per query: ``query_id, query, <metric>, first_relevant_rank,
        relevant, found`` (relevant documents in all, and in the top ``n_hits``).
    sort_by, query_list
        The order (a Dropdown) and the list of queries (a Select; picking one sets ``query_id``).
    figure
        Plotly ``FigureWidget``: the histogram of the metric, the chosen query marked.

    Example
    -------
    >>> from workbench.evaluation import InformationRetrievalEvaluator
    >>> from workbench.evaluation.base import LookupEncoder
    >>> model = LookupEncoder({"q": [1.0, 0.0], "r": [0.0, 1.0], "near": [0.9, 0.1], "far": [0.0, 1.0]})
    >>> corpus = {"d1": "far", "d2": "near"}
    >>> ir = InformationRetrievalEvaluator({"q1": "q", "q2": "r"}, corpus, {"q1": {"d1"}, "q2": {"d1"}})
    >>> _ = ir(model)
    >>> explorer = RetrievalExplorer(ir.per_query(), corpus)
    >>> explorer.query_id, explorer.worst(2)["ndcg@10"].round(4).tolist()
    ('q1', [0.6309, 1.0])
    >>> explorer.hits()[["rank", "relevant", "doc_id"]].values.tolist()
    [[1, '', 'd2'], [2, '✓', 'd1']]
    """

    query_id = traitlets.Unicode()

    def __init__(
        self,
        results: Sequence[QueryResult],
        corpus: Mapping[str, str] | None = None,
        metric: str = "ndcg@10",
        n_hits: int = 10,
        rows: int = 12,
    ) -> None:
        super().__init__()
        if isinstance(results, (str, Mapping)) or not isinstance(results, Sequence):
            raise TypeError(
                f"results must be a list of QueryResult (evaluator.per_query()), got {type(results).__name__}"
            )
        if not results:
            raise ValueError("results is empty; give evaluator.per_query() of an evaluator called on a model")
        wrong = next((i for i, result in enumerate(results) if not isinstance(result, QueryResult)), None)
        if wrong is not None:
            raise TypeError(
                f"results[{wrong}] has type {type(results[wrong]).__name__}, not QueryResult; give evaluator.per_query()"
            )
        if metric not in results[0].metrics:
            raise ValueError(
                f"metric {metric!r} is not a per-query metric of results; valid: {sorted(results[0].metrics)}"
            )
        self._by_id = {result.query_id: result for result in results}
        if len(self._by_id) != len(results):
            raise ValueError("results holds a query id twice; give each query once")
        self.metric = metric
        self.n_hits = positive_int("n_hits", n_hits)
        self.corpus = dict(corpus or {})
        # the rank given to documents retrieved below the evaluator's depth, which per_query leaves without one
        self.depth = max(len(result.hits) for result in results)
        self.queries = pd.DataFrame(
            {
                "query_id": [r.query_id for r in results],
                "query": [r.query for r in results],
                metric: [r.metrics[metric] for r in results],
                "first_relevant_rank": pd.array([r.first_relevant_rank for r in results], dtype="Int64"),
                "relevant": [len(r.relevant) for r in results],
                "found": [len(r.relevant) - len(r.missed(self.n_hits)) for r in results],
            }
        )
        values = self.queries[metric].to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            raise ValueError(f"the {metric} of some queries is not finite; their model produced non-finite scores")
        self._holding = False  # True while the list's options change (which resets its value)

        self.sort_by = w.Dropdown(
            options=[(label.format(metric=metric), key) for label, key in SORTS], description="sort by"
        )
        self.query_list = w.Select(rows=rows, layout=w.Layout(width="98%")).add_class("wb-retrieval-queries")
        self.info = w.HTML(
            html.escape(
                f"{len(results)} queries · mean {metric} {values.mean():.4f} · "
                f"{int((values == 0).sum())} with {metric} 0 · "
                f"{int(self.queries['first_relevant_rank'].isna().sum())} with no relevant document "
                f"in their top {self.depth}"
            )
        )
        self.detail = w.HTML().add_class("wb-retrieval-hits")
        self.query_id = str(self.sorted("metric")["query_id"].iloc[0])
        self._fill_list()
        self.figure = self._make_figure()
        self._draw_query()
        self.sort_by.observe(lambda _change: self._fill_list(), names="value")
        self.query_list.observe(self._picked, names="value")
        self.observe(self._query_changed, names="query_id")
        self.widget = w.VBox([self.info, self.figure, self.sort_by, self.query_list, self.detail]).add_class(
            "wb-retrieval-explorer"
        )

    @traitlets.validate("query_id")
    def _known_query(self, proposal: Any) -> str:
        if proposal.value not in self._by_id:
            known = list(self._by_id)
            raise traitlets.TraitError(
                f"query_id {proposal.value!r} is not among the {len(known)} evaluated queries (e.g. {known[:3]})"
            )
        return str(proposal.value)

    # ------------------------------------------------------------------ state
    def sorted(self, by: str = "metric") -> pd.DataFrame:
        """``queries`` in the order ``by``: ``"metric"`` (lowest first; ties: first relevant rank, worst first),
        ``"rank"`` (the first relevant document's rank, none found first; ties: lowest metric) or ``"query_id"``."""
        # a query that found no relevant document ranks it after every retrieved one
        rank = self.queries["first_relevant_rank"].astype("Float64").fillna(np.inf).astype(float)
        keys = {
            "metric": (self.queries[self.metric], -rank),
            "rank": (-rank, self.queries[self.metric]),
            "query_id": (self.queries["query_id"],),
        }
        if by not in keys:
            raise ValueError(f"unknown order {by!r}; valid: {', '.join(keys)}")
        # lexsort sorts by its last key first; the query id breaks the remaining ties
        order = np.lexsort([self.queries["query_id"].to_numpy(), *[np.asarray(k) for k in reversed(keys[by])]])
        return self.queries.iloc[order].reset_index(drop=True)

    def worst(self, n: int = 10) -> pd.DataFrame:
        """The ``n`` queries with the lowest metric (ties: the first relevant document ranked lower first)."""
        return self.sorted("metric").head(positive_int("n", n))

    def hits(self, query_id: str | None = None) -> pd.DataFrame:
        """The top ``n_hits`` documents retrieved for ``query_id`` (default: the chosen query): ``rank, relevant,
        score, doc_id, text``, ``relevant`` the mark of :func:`relevance_mark`."""
        retrieved = self._result(query_id).hits[: self.n_hits]
        return self._frame(retrieved, HIT_COLUMNS).assign(relevant=[relevance_mark(d.grade) for d in retrieved])

    def missed(self, query_id: str | None = None) -> pd.DataFrame:
        """The relevant documents of ``query_id`` (default: the chosen query) that are not in its top ``n_hits``:
        ``rank`` (empty below the evaluator's depth or when not in the corpus), ``grade, score, doc_id, text``."""
        return self._frame(self._result(query_id).missed(self.n_hits), MISSED_COLUMNS)

    def _result(self, query_id: str | None) -> QueryResult:
        query_id = self.query_id if query_id is None else query_id
        if query_id not in self._by_id:
            raise ValueError(f"query_id {query_id!r} is not among the evaluated queries")
        return self._by_id[query_id]

    def _frame(self, documents: Sequence[RankedDocument], columns: Sequence[str]) -> pd.DataFrame:
        frame = pd.DataFrame(
            {
                "rank": pd.array([d.rank for d in documents], dtype="Int64"),
                "relevant": "",
                "grade": [d.grade for d in documents],
                "score": [np.nan if d.score is None else d.score for d in documents],
                "doc_id": [d.doc_id for d in documents],
                "text": [self.corpus.get(d.doc_id, "") for d in documents],
            }
        )
        return frame[list(columns)]

    # ------------------------------------------------------------------ events and drawing
    def _fill_list(self) -> None:
        rows = self.sorted(self.sort_by.value)
        options = [
            (
                f"{value:.3f} · first relevant {'–' if pd.isna(rank) else f'#{rank}'} · {qid}: {short_text(text, 100)}",
                qid,
            )
            for qid, text, value, rank in zip(
                rows["query_id"], rows["query"], rows[self.metric], rows["first_relevant_rank"]
            )
        ]
        self._holding = True
        try:
            self.query_list.options = options
            self.query_list.value = self.query_id
        finally:
            self._holding = False

    def _picked(self, change: dict[str, Any]) -> None:
        if not self._holding and change["new"] is not None:
            self.query_id = change["new"]

    def _query_changed(self, _change: dict[str, Any]) -> None:
        if self.query_list.value != self.query_id:
            self.query_list.value = self.query_id
        self._draw_query()

    def _make_figure(self) -> go.FigureWidget:
        # bins of 0.05 from 0; the last, [1, 1.05), holds the perfect queries alone
        histogram = go.Histogram(
            x=self.queries[self.metric],
            xbins={"start": 0.0, "end": 1.05, "size": 0.05},
            marker={"color": "steelblue"},
            hovertemplate=f"{html.escape(self.metric)} %{{x}}: %{{y}} queries<extra></extra>",
        )
        layout = {
            "height": 260,
            "bargap": 0.05,
            "xaxis": {"title": {"text": f"{self.metric} per query"}, "range": [0, 1.05]},
            "yaxis": {"title": {"text": "queries"}},
            "margin": {"t": 30, "b": 40, "l": 50, "r": 20},
            "shapes": [self._marker()],
        }
        return figure_widget(go.Figure(histogram, layout), "wb-retrieval-histogram")

    def _marker(self) -> dict[str, Any]:
        value = float(self._by_id[self.query_id].metrics[self.metric])
        return {**MARKER, "x0": value, "x1": value}

    def _draw_query(self) -> None:
        result = self._by_id[self.query_id]
        rank = result.first_relevant_rank
        where = f"first relevant document at rank {rank}" if rank else f"no relevant document in the top {self.depth}"
        missed = self.missed()
        parts = [
            f"<b>{html.escape(result.query_id)}</b>: {html.escape(result.query)}<br>"
            + html.escape(f"{self.metric} {result.metrics[self.metric]:.4f} · {where}"),
            f"<b>Retrieved, top {self.n_hits}</b>",
            html_table(self.hits().assign(text=lambda f: f["text"].map(lambda t: short_text(t, 300)))),
            f"<b>Relevant, not in the top {self.n_hits}</b> (no rank: below the top {self.depth})",
            html_table(missed.assign(text=missed["text"].map(lambda t: short_text(t, 300))))
            if len(missed)
            else "none: every relevant document was retrieved",
        ]
        self.detail.value = "".join(f"<div>{part}</div>" for part in parts)
        self.figure.layout.shapes = [self._marker()]
