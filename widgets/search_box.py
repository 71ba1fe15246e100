"""SearchBox: type a query, see the closest texts of a corpus with their scores (and, with a cross-encoder, reranked)."""

from __future__ import annotations

import html
import time
from typing import Any, Sequence

import ipywidgets as w
import numpy as np
import pandas as pd

from workbench.data.tables import is_table, read_table
from workbench.search import rerank, semantic_search

from ._common import WidgetView, encode, error_text, html_table, positive_int
from workbench.typing import Encoder

RESULT_COLUMNS = ("rank", "score", "text")
#: The reranked results' columns: new rank, the move from the bi-encoder's rank (+ is up), both scores.
RERANK_COLUMNS = ("rank", "movement", "cross_score", "bi_rank", "bi_score", "text")


def movement_text(movement: int) -> str:
    """A hit's move between the two rankings as an arrow: ``▲ 3`` (up three places), ``▼ 1``, ``=``.

    Example
    -------
    >>> [movement_text(m) for m in (3, -1, 0)]
    ['▲ 3', '▼ 1', '=']
    """
    return f"▲ {movement}" if movement > 0 else f"▼ {-movement}" if movement < 0 else "="


class SearchBox(WidgetView):
    """Semantic search over a corpus with any encoder (monolingual or cross-lingual).

    The corpus is encoded once, on the first search (or given already
    encoded); each search then encodes only the query.

    Parameters
    ----------
    model
        Anything with ``encode(texts)``: a :class:`~workbench.SentenceEncoder`,
        a sentence-transformers model, ...
    corpus
        A list of texts, a pandas Series, or a table with ``text_column`` (a
        DataFrame, a ``datasets.Dataset`` or a CSV/TSV/JSONL/Parquet path;
        its other columns come along in the results).
    top_k
        Results per query: a whole number >= 1 (``search`` may ask for another number).
    text_column
        The DataFrame column to search (default ``"text"``).
    corpus_embeddings
        ``(len(corpus), dim)`` embeddings made by ``model`` beforehand (a
        ``np.memmap`` works), to skip encoding the corpus.
    batch_size
        Texts per batch when encoding the corpus.
    cross_encoder
        Optional: a one-output cross-encoder (anything with ``predict(pairs)``,
        e.g. a :class:`~workbench.CrossEncoder`).  It rescores the
        bi-encoder's best ``rerank_depth`` hits; the box then shows the
        bi-encoder's ranking and the reranked one side by side, each reranked
        hit with its move (▲ up, ▼ down) and both scores.
    rerank_depth
        Bi-encoder hits the cross-encoder rescores (at least ``top_k``).

    Attributes
    ----------
    query, run_button
        The query box (Enter searches) and the Search button.
    results
        The last results: ``rank, score, text`` and the corpus' other columns;
        with a cross-encoder the reranked ones: ``rank, movement, cross_score,
        bi_rank, bi_score, text`` and the other columns (``movement`` is
        ``bi_rank - rank``: positive when the cross-encoder moved the hit up).
    bi_results
        The bi-encoder's results (``rank, score, text``, …); the same as
        ``results`` without a cross-encoder.
    last_latency_ms, last_rerank_ms
        Time of the last search (query encoding + scoring + reranking), and of
        its reranking alone (None without a cross-encoder), in milliseconds.

    Example
    -------
    >>> from widgets import SearchBox
    >>> box = SearchBox(model, ["A man is eating.", "A cat sleeps."], top_k=1)   # doctest: +SKIP
    >>> box.search("Someone eats food")[["rank", "text"]].values.tolist()        # doctest: +SKIP
    [[1, 'A man is eating.']]
    """

    def __init__(
        self,
        model: Encoder,
        corpus: Sequence[str] | pd.Series | pd.DataFrame,
        top_k: int = 5,
        text_column: str | None = None,
        corpus_embeddings: Any = None,
        batch_size: int = 64,
        cross_encoder: Any = None,
        rerank_depth: int = 20,
    ) -> None:
        self.model = model
        self.top_k = positive_int("top_k", top_k)
        self.batch_size = batch_size
        if cross_encoder is not None and not hasattr(cross_encoder, "predict"):
            raise TypeError(
                f"cross_encoder must have a predict(pairs) method (a CrossEncoder), got {type(cross_encoder).__name__}"
            )
        self.cross_encoder = cross_encoder
        self.rerank_depth = positive_int("rerank_depth", rerank_depth)
        self.corpus = _corpus_frame(
            corpus, text_column, RESULT_COLUMNS + (RERANK_COLUMNS if cross_encoder is not None else ())
        )
        if corpus_embeddings is not None and len(corpus_embeddings) != len(self.corpus):
            raise ValueError(
                f"corpus_embeddings has {len(corpus_embeddings)} rows for {len(self.corpus)} texts; "
                "give one embedding per corpus text, in the same order"
            )
        self._embeddings = corpus_embeddings
        others = list(self.corpus.columns.drop("text"))
        self.bi_results = pd.DataFrame(columns=[*RESULT_COLUMNS, *others])
        self.results = self.bi_results if cross_encoder is None else pd.DataFrame(columns=[*RERANK_COLUMNS, *others])
        self.last_latency_ms: float | None = None
        self.last_rerank_ms: float | None = None

        # continuous_update=False: the box reports its value on Enter (or leaving it), not per keystroke.
        self.query = w.Text(
            placeholder="type a query and press Enter", continuous_update=False, layout=w.Layout(width="60%")
        )
        self.run_button = w.Button(description="Search", icon="search", button_style="primary")
        self.status = w.HTML(f"{len(self.corpus)} texts in the corpus")
        self.table = w.HTML().add_class("wb-search-results")
        self._echoing = False  # True while search() writes its query into the box
        self.query.observe(self._query_changed, names="value")
        self.run_button.on_click(lambda _button: self._search_from_ui(self.query.value))
        if cross_encoder is None:
            shown = self.table
        else:  # the bi-encoder's ranking (self.bi_table) beside the reranked one (self.table)
            self.bi_table = w.HTML().add_class("wb-search-bi-results")
            shown = w.HBox(
                [
                    w.VBox([w.HTML("<b>Bi-encoder</b>"), self.bi_table], layout=w.Layout(width="40%")),
                    w.VBox([w.HTML("<b>Reranked by the cross-encoder</b>"), self.table], layout=w.Layout(width="60%")),
                ]
            ).add_class("wb-search-side-by-side")
        self.widget = w.VBox([w.HBox([self.query, self.run_button]), self.status, shown]).add_class("wb-search")

    @property
    def corpus_embeddings(self) -> Any:
        """The corpus' embeddings, encoded on first use."""
        if self._embeddings is None:
            self.status.value = f"encoding {len(self.corpus)} texts…"
            self._embeddings = encode(self.model, self.corpus["text"].tolist(), self.batch_size, name="model")
        return self._embeddings

    def search(self, query: str, top_k: int | None = None) -> pd.DataFrame:
        """Find the ``top_k`` corpus texts closest to ``query`` (cosine); show and return them.

        ``top_k`` None uses the box's ``top_k``; anything but a whole number >= 1 is refused.

        Returns
        -------
        DataFrame
            ``rank`` (from 1), ``score``, ``text`` and the corpus' other
            columns; empty for an empty query.
        """
        top_k = self.top_k if top_k is None else positive_int("top_k", top_k)
        if self.query.value != query:
            self._echoing = True
            try:
                self.query.value = query
            finally:
                self._echoing = False
        if not query.strip():
            self._clear()
            self.status.value = "type a query"
            return self.results
        corpus = self.corpus_embeddings
        started = time.perf_counter()
        query_embedding = encode(self.model, [query], name="model")
        depth = top_k if self.cross_encoder is None else max(top_k, self.rerank_depth)
        hits = semantic_search(query_embedding, corpus, top_k=depth)[0]
        self.bi_results = self._frame(
            hits[:top_k], {"rank": np.arange(1, len(hits[:top_k]) + 1), "score": [hit["score"] for hit in hits[:top_k]]}
        )
        if self.cross_encoder is None:
            self.results = self.bi_results
            self.last_latency_ms = (time.perf_counter() - started) * 1000
            self.table.value = html_table(self.results)
            self.status.value = html.escape(
                f"top {len(hits)} of {len(self.corpus)} texts in {self.last_latency_ms:.1f} ms"
            )
            return self.results
        reranking = time.perf_counter()
        texts = self.corpus["text"].tolist()
        reranked = rerank(
            self.cross_encoder, query, hits, texts, top_k=top_k, batch_size=self.batch_size, show_progress_bar=False
        )
        now = time.perf_counter()
        self.last_rerank_ms, self.last_latency_ms = (now - reranking) * 1000, (now - started) * 1000
        self.results = self._frame(
            reranked,
            {
                "rank": [hit["rank"] for hit in reranked],
                "movement": [hit["movement"] for hit in reranked],
                "cross_score": [hit["score"] for hit in reranked],
                "bi_rank": [hit["first_rank"] for hit in reranked],
                "bi_score": [hit["first_score"] for hit in reranked],
            },
        )
        self.bi_table.value = html_table(self.bi_results)
        self.table.value = html_table(self.results.assign(movement=self.results["movement"].map(movement_text)))
        self.status.value = html.escape(
            f"top {len(reranked)} of {len(self.corpus)} texts in {self.last_latency_ms:.1f} ms: the bi-encoder's "
            f"best {len(hits)}, reranked by the cross-encoder in {self.last_rerank_ms:.1f} ms"
        )
        return self.results

    def _frame(self, hits: list[dict[str, Any]], columns: dict[str, Any]) -> pd.DataFrame:
        """``columns`` (the result columns, in order) followed by the corpus rows of ``hits`` (text first)."""
        rows = self.corpus.iloc[[hit["corpus_id"] for hit in hits]].reset_index(drop=True)
        return pd.concat([pd.DataFrame(columns), rows], axis=1)

    def _clear(self) -> None:
        """No rows shown (an empty query, or a failed search: no stale rows under the new query)."""
        self.results, self.bi_results = self.results.iloc[:0], self.bi_results.iloc[:0]
        self.table.value = ""
        if self.cross_encoder is not None:
            self.bi_table.value = ""

    def _query_changed(self, change: dict[str, Any]) -> None:
        if not self._echoing:
            self._search_from_ui(change["new"])

    def _search_from_ui(self, query: str) -> None:
        # Typing and clicking have no caller to raise to: a failure goes to the status line.
        try:
            self.search(query)
        except Exception as err:
            self._clear()
            self.status.value = error_text(f"cannot search {query!r}", err)


def _corpus_frame(corpus: Any, text_column: str | None, reserved: Sequence[str] = RESULT_COLUMNS) -> pd.DataFrame:
    """The corpus as a DataFrame whose column ``text`` holds the texts (other columns kept)."""
    if is_table(corpus):
        corpus = read_table(corpus)
    if isinstance(corpus, pd.DataFrame):
        column = text_column or "text"
        if column not in corpus.columns:
            raise ValueError(
                f"the corpus DataFrame has no column {column!r}; give text_column= one of {list(corpus.columns)}"
            )
        clashing = [c for c in corpus.columns if c in reserved and c != column]
        if clashing:
            raise ValueError(
                f"the corpus columns {clashing} clash with the result columns "
                f"{list(dict.fromkeys(reserved))}; rename them"
            )
        frame = corpus.rename(columns={column: "text"}).reset_index(drop=True)
    elif isinstance(corpus, pd.Series):
        frame = pd.DataFrame({"text": corpus.to_list()})
    elif isinstance(corpus, Sequence) and not isinstance(corpus, str):
        frame = pd.DataFrame({"text": list(corpus)})
    else:
        raise TypeError(f"corpus must be a list of texts, a pandas Series or a DataFrame, got {type(corpus).__name__}")
    if frame.empty:
        raise ValueError("the corpus is empty; give at least one text")
    bad = [i for i, text in enumerate(frame["text"]) if not isinstance(text, str)]
    if bad:
        raise TypeError(f"every corpus text must be a str; item {bad[0]} is {type(frame['text'][bad[0]]).__name__}")
    return frame[["text", *[c for c in frame.columns if c != "text"]]]
