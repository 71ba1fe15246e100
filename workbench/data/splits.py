"""Splits of labelled text pairs that keep every text on one side, and retrieval tasks built from duplicate pairs.

A random split of Quora's question pairs leaks: the same question sits in
pairs on both sides, so a model trained on one side has seen the questions
it is tested on.  :func:`disjoint_split` puts whole groups of duplicates on
one side; :func:`duplicate_retrieval` turns the pairs of one side into a
search task (ask one question of a group, find the others).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable

from .readers import BeirData
from .records import Example


@dataclass
class DisjointSplit:
    """``train`` and ``test`` pairs sharing no text; ``dropped`` pairs had a text on each side."""

    train: list[Example]
    test: list[Example]
    dropped: int


def _groups(pairs: list[Example]) -> dict[str, str]:
    """Each text's group: texts joined by positive pairs (label > 0), named by their smallest text."""
    parent: dict[str, str] = {}

    def root(text: str) -> str:
        parent.setdefault(text, text)
        while parent[text] != text:
            parent[text] = parent[parent[text]]
            text = parent[text]
        return text

    for pair in pairs:
        a, b = root(pair.texts[0]), root(pair.texts[1])
        if pair.label is not None and pair.label > 0 and a != b:
            parent[max(a, b)] = min(a, b)
    return {text: root(text) for text in parent}


def _check_pairs(pairs: Iterable[Example]) -> list[Example]:
    pairs = list(pairs)
    for i, pair in enumerate(pairs):
        texts = getattr(pair, "texts", None)
        if not isinstance(texts, (list, tuple)) or len(texts) != 2 or not all(isinstance(t, str) for t in texts):
            raise TypeError(f"pairs[{i}] must be an Example with two texts, got {pair!r:.80}")
    return pairs


def disjoint_split(pairs: Iterable[Example], test_fraction: float, seed: int = 0) -> DisjointSplit:
    """Split text pairs so that no text of ``test`` appears in ``train``.

    Texts joined by positive pairs (label > 0, e.g. duplicate questions) form
    a group; each group goes to ``test`` with probability ``test_fraction``,
    decided by a hash of the group's smallest text and ``seed`` (so the split
    does not depend on the order of the pairs).  A pair goes where both its
    texts are; a negative pair whose texts landed on different sides is
    dropped (counted in ``dropped``).

    Example
    -------
    >>> pairs = [Example(["a", "b"], 1), Example(["b", "c"], 1), Example(["c", "d"], 0), Example(["e", "f"], 1)]
    >>> split = disjoint_split(pairs, test_fraction=0.5, seed=4)
    >>> sorted(t for p in split.test for t in p.texts), len(split.train), split.dropped
    (['e', 'f'], 2, 1)
    """
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be a number between 0 and 1 (exclusive), got {test_fraction!r}")
    pairs = _check_pairs(pairs)
    groups = _groups(pairs)

    def in_test(group: str) -> bool:
        digest = hashlib.sha256(f"{seed}\0{group}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < test_fraction

    side = {group: in_test(group) for group in set(groups.values())}
    train: list[Example] = []
    test: list[Example] = []
    dropped = 0
    for pair in pairs:
        a, b = (side[groups[text]] for text in pair.texts)
        if a != b:
            dropped += 1
        else:
            (test if a else train).append(pair)
    return DisjointSplit(train, test, dropped)


def duplicate_retrieval(
    pairs: Iterable[Example], max_queries: int | None = None, max_corpus: int | None = None
) -> BeirData:
    """A retrieval task from duplicate pairs: ask one text of each group of duplicates, find the others.

    Every text of ``pairs`` is a document except the asked ones (a query
    would find itself); the query of a group (of two or more texts joined by
    positive pairs) is its first text in file order, and its relevant
    documents are the group's other texts.  ``max_queries`` keeps the first
    groups; ``max_corpus`` cuts the corpus to that many documents, keeping
    every relevant one (a smaller corpus is an easier search).  Ids are the
    texts' positions as strings (``q…`` for queries, ``d…`` for documents).

    Example
    -------
    >>> task = duplicate_retrieval([Example(["a", "b"], 1), Example(["a", "c"], 1), Example(["d", "e"], 0)])
    >>> task.queries, [task.corpus[d] for d in sorted(task.relevant["q0"])], len(task.corpus)
    ({'q0': 'a'}, ['b', 'c'], 4)
    """
    pairs = _check_pairs(pairs)
    for name, value in (("max_queries", max_queries), ("max_corpus", max_corpus)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    groups = _groups(pairs)
    texts = list(dict.fromkeys(text for pair in pairs for text in pair.texts if text.strip()))
    members: dict[str, list[str]] = {}
    for text in texts:
        members.setdefault(groups[text], []).append(text)
    asked = [group[0] for group in members.values() if len(group) > 1][:max_queries]
    asked_set = set(asked)
    relevant_texts = {text for query in asked for text in members[groups[query]] if text != query}
    documents = [text for text in texts if text not in asked_set]
    if max_corpus is not None and len(documents) > max_corpus:
        others = [text for text in documents if text not in relevant_texts]
        keep = relevant_texts | set(others[: max(max_corpus - len(relevant_texts), 0)])
        documents = [text for text in documents if text in keep]
    doc_id = {text: f"d{i}" for i, text in enumerate(documents)}
    queries = {f"q{i}": text for i, text in enumerate(asked)}
    relevant = {
        f"q{i}": {doc_id[t] for t in members[groups[text]] if t != text and t in doc_id} for i, text in enumerate(asked)
    }
    if not queries or not all(relevant.values()):
        raise ValueError("the pairs hold no group of two or more duplicates (positive pairs) to search for")
    return BeirData({d: text for text, d in doc_id.items()}, queries, relevant)
