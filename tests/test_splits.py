"""Question-disjoint splits of pair data and retrieval tasks built from duplicate pairs."""

from __future__ import annotations

import doctest
import random

import pytest

from workbench.data import Example, splits
from workbench.data.splits import disjoint_split, duplicate_retrieval


def test_doctests():
    assert doctest.testmod(splits).failed == 0


def random_pairs(n: int, texts: int, seed: int) -> list[Example]:
    rng = random.Random(seed)
    return [Example([f"t{rng.randrange(texts)}", f"t{rng.randrange(texts)}"], rng.random() < 0.4) for _ in range(n)]


@pytest.mark.parametrize("seed", range(5))
def test_no_text_is_on_both_sides_and_every_pair_is_accounted_for(seed):
    pairs = random_pairs(300, 200, seed)
    split = disjoint_split(pairs, test_fraction=0.2, seed=seed)
    train_texts = {t for p in split.train for t in p.texts}
    test_texts = {t for p in split.test for t in p.texts}
    assert not train_texts & test_texts
    assert len(split.train) + len(split.test) + split.dropped == len(pairs)
    # Positive pairs are never dropped: both texts are in one group.
    kept = {id(p) for p in split.train + split.test}
    assert all(id(p) in kept for p in pairs if p.label)
    # The same split whatever the order of the pairs.
    shuffled = random.Random(1).sample(pairs, len(pairs))
    again = disjoint_split(shuffled, test_fraction=0.2, seed=seed)
    assert {t for p in again.test for t in p.texts} == test_texts


def test_split_refuses_bad_arguments():
    with pytest.raises(ValueError, match="test_fraction"):
        disjoint_split([Example(["a", "b"], 1)], test_fraction=1.0)
    with pytest.raises(TypeError, match=r"pairs\[0\]"):
        disjoint_split([Example(["a", "b", "c"], 1)], test_fraction=0.5)


def test_duplicate_retrieval_asks_one_text_per_group_and_cuts_the_corpus():
    pairs = [
        Example(["a", "b"], 1),
        Example(["c", "a"], 1),
        Example(["x", "y"], 0),
        Example(["p", "q"], 1),
        Example(["r", "s"], 0),
        Example(["t", "u"], 0),
    ]
    task = duplicate_retrieval(pairs)
    assert task.queries == {"q0": "a", "q1": "p"}
    assert {q: sorted(task.corpus[d] for d in ds) for q, ds in task.relevant.items()} == {"q0": ["b", "c"], "q1": ["q"]}
    assert sorted(task.corpus.values()) == ["b", "c", "q", "r", "s", "t", "u", "x", "y"]
    small = duplicate_retrieval(pairs, max_queries=1, max_corpus=4)
    assert small.queries == {"q0": "a"} and len(small.corpus) == 4
    assert {small.corpus[d] for d in small.relevant["q0"]} == {"b", "c"}  # relevant documents always stay
    with pytest.raises(ValueError, match="no group"):
        duplicate_retrieval([Example(["a", "b"], 0)])
    with pytest.raises(ValueError, match="max_corpus"):
        duplicate_retrieval(pairs, max_corpus=0)
