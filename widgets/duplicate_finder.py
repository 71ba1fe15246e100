"""DuplicateFinder: groups of near-duplicate texts found by paraphrase mining, with a threshold slider."""

from __future__ import annotations

import html
import math
from typing import Any, Sequence

import ipywidgets as w
import numpy as np
import pandas as pd
import traitlets

from workbench.search import connected_groups, paraphrase_mining_embeddings

from ._common import WidgetView, encode, html_table, positive_int

MEMBER_COLUMNS = ("group", "size", "index", "score", "text")


class DuplicateFinder(WidgetView, traitlets.HasTraits):
    """Near-duplicates in a corpus: mined once, grouped at any threshold.

    The texts' most similar pairs are mined once
    (:func:`workbench.search.paraphrase_mining_embeddings`, cosine: each
    text's ``top_k`` nearest others, the best ``max_pairs`` pairs kept).  At a
    threshold, the pairs scoring at least that much link texts into groups
    (:func:`workbench.search.connected_groups`: a~b and b~c make one group
    a, b, c).  Moving the slider only filters the mined pairs.

    Parameters
    ----------
    embeddings_or_model
        ``(n, dim)`` embeddings of ``texts``, or an encoder (anything with
        ``encode(texts)``) that embeds them.
    texts
        The ``n`` texts (a list of strings or a pandas Series).
    threshold
        The cosine a pair needs to link its texts at the start.
    top_k, max_pairs
        Neighbours mined per text, and the most pairs kept.  A text with more
        than ``top_k`` near-duplicates is linked to its ``top_k`` best ones
        only, which still joins it to their group.
    min_threshold
        The slider's low end (its high end is 1).
    max_groups
        Groups shown in the table (the largest); ``groups`` holds all of them.
    max_members
        Texts shown per group (its best-linked ones); its size counts all.
    batch_size
        Texts per batch when encoding.

    Attributes
    ----------
    threshold
        The current threshold (a traitlet: ``observe`` or ``link`` it); the
        slider follows it.  A value that is not a number in
        ``[min_threshold, 1]`` raises ``traitlets.TraitError``.
    pairs
        Every mined pair: ``score, i, j`` (positions in ``texts``, ``i < j``), best first.
    groups
        The groups at the current threshold: each a list of positions in
        ``texts``, ascending; the largest group first.
    members
        One row per text in a group: ``group`` (from 1, as in ``groups``),
        ``size``, ``index`` (its position in ``texts``), ``score`` (its best
        link inside the group), ``text``; by group, then best linked first.
    slider
        The threshold slider.

    Example
    -------
    >>> import numpy as np
    >>> from widgets import DuplicateFinder
    >>> emb = np.array([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [0.1, 0.99], [0.7, 0.7]])
    >>> finder = DuplicateFinder(emb, ["a", "a'", "b", "b'", "ab"], threshold=0.95)
    >>> finder.groups
    [[0, 1], [2, 3]]
    >>> finder.threshold = 0.7
    >>> finder.groups
    [[0, 1, 2, 3, 4]]
    """

    threshold = traitlets.Float()

    def __init__(
        self,
        embeddings_or_model: Any,
        texts: Sequence[str] | pd.Series,
        threshold: float = 0.9,
        top_k: int = 10,
        max_pairs: int = 500_000,
        min_threshold: float = 0.5,
        max_groups: int = 50,
        max_members: int = 10,
        batch_size: int = 64,
    ) -> None:
        super().__init__()
        if isinstance(texts, pd.Series):
            texts = texts.tolist()
        if isinstance(texts, str) or not isinstance(texts, Sequence):
            raise TypeError(f"texts must be a list of strings, got {type(texts).__name__}")
        if not texts:
            raise ValueError("texts is empty; give at least one text")
        wrong = next((i for i, text in enumerate(texts) if not isinstance(text, str)), None)
        if wrong is not None:
            raise TypeError(f"texts must be strings; texts[{wrong}] has type {type(texts[wrong]).__name__}")
        if not (isinstance(min_threshold, (int, float)) and math.isfinite(min_threshold) and min_threshold < 1):
            raise ValueError(f"min_threshold must be a number below 1, got {min_threshold!r}")
        self.texts = list(texts)
        self.min_threshold = float(min_threshold)
        self.max_groups = positive_int("max_groups", max_groups)
        self.max_members = positive_int("max_members", max_members)
        self.max_pairs = positive_int("max_pairs", max_pairs)
        embeddings = self._embeddings(embeddings_or_model, batch_size)
        mined = paraphrase_mining_embeddings(embeddings, top_k=positive_int("top_k", top_k), max_pairs=self.max_pairs)
        self.pairs = pd.DataFrame(mined, columns=["score", "i", "j"]).astype({"score": float, "i": int, "j": int})
        self.groups: list[list[int]] = []

        self.slider = w.FloatSlider(
            min=self.min_threshold,
            max=1.0,
            step=0.01,
            description="threshold",
            readout_format=".2f",
            continuous_update=False,
        )
        self.info = w.HTML()
        self.table = w.HTML(layout=w.Layout(max_height="480px", overflow="auto")).add_class("wb-duplicate-groups")
        self.threshold = threshold
        self._regroup()
        # the slider sets the traitlet and follows it; a change of either regroups once
        self.slider.value = self.threshold
        w.link((self.slider, "value"), (self, "threshold"))
        self.observe(lambda _change: self._regroup(), names="threshold")
        self.widget = w.VBox([self.slider, self.info, self.table]).add_class("wb-duplicate-finder")

    @traitlets.validate("threshold")
    def _valid_threshold(self, proposal: Any) -> float:
        value = proposal.value
        if not (math.isfinite(value) and self.min_threshold <= value <= 1):
            raise traitlets.TraitError(
                f"threshold must be a number in [{self.min_threshold:g}, 1] (min_threshold to 1), got {value!r}"
            )
        return float(value)

    def _embeddings(self, source: Any, batch_size: int) -> np.ndarray:
        if hasattr(source, "encode"):
            return encode(source, self.texts, batch_size, name="embeddings_or_model")
        matrix = np.asarray(source, dtype=np.float32)
        if matrix.ndim != 2 or len(matrix) != len(self.texts):
            raise ValueError(
                f"embeddings_or_model must be ({len(self.texts)}, dim) embeddings, one row per text; "
                f"got shape {matrix.shape}"
            )
        bad = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
        if len(bad):
            raise ValueError(f"embeddings_or_model has non-finite values in {len(bad)} rows (e.g. row {bad[0]})")
        return matrix

    # ------------------------------------------------------------------ grouping and drawing
    def _regroup(self) -> None:
        linked = self.pairs[self.pairs["score"] >= self.threshold]
        i, j, score = (linked[c].to_numpy() for c in ("i", "j", "score"))
        self.groups = connected_groups(zip(i.tolist(), j.tolist()))
        # a text's best link: every linked pair joins two texts of the same group
        best = np.full(len(self.texts), -np.inf)
        np.maximum.at(best, i, score)
        np.maximum.at(best, j, score)
        rows = [
            (number, len(members), index, best[index], self.texts[index])
            for number, members in enumerate(self.groups, start=1)
            for index in members
        ]
        members = pd.DataFrame(rows, columns=list(MEMBER_COLUMNS))
        order = members.sort_values(["group", "score", "index"], ascending=[True, False, True], kind="stable")
        self.members = order.reset_index(drop=True)
        self._draw(len(linked))

    def _draw(self, n_linked: int) -> None:
        grouped = sum(len(group) for group in self.groups)
        parts = [
            f"{len(self.pairs)} pairs mined among {len(self.texts)} texts",
            f"{n_linked} score at least {self.threshold:.2f}",
            f"{len(self.groups)} groups holding {grouped} texts",
        ]
        if len(self.groups) > self.max_groups:
            parts.append(f"the {self.max_groups} largest shown")
        lowest = self.pairs["score"].iloc[-1] if len(self.pairs) else None
        if len(self.pairs) == self.max_pairs and lowest is not None and lowest > self.threshold:
            parts.append(f"only the best {self.max_pairs} pairs were kept (max_pairs): none under {lowest:.3f}")
        self.info.value = html.escape(" · ".join(parts))
        shown = self.members[self.members["group"] <= self.max_groups].groupby("group").head(self.max_members)
        self.table.value = html_table(shown) if len(shown) else "no pair scores that much: lower the threshold"
