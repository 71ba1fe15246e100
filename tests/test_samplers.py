"""Batch samplers (random, no duplicate texts, grouped by label) and the collate function."""

from __future__ import annotations

import random
from collections import Counter

import pytest
import torch

from workbench.data.records import Example
from workbench.training import (
    Collator,
    GroupByLabelBatchSampler,
    NoDuplicatesBatchSampler,
    RandomBatchSampler,
    label_tensor,
    make_batch_sampler,
)


def flat(batches: list[list[int]]) -> list[int]:
    return sorted(i for batch in batches for i in batch)


def repetitive_pairs(n: int = 300, seed: int = 0) -> list[Example]:
    """Pairs drawn from a small pool of texts, so many share a text (like MNRL data with repeated anchors)."""
    rng = random.Random(seed)
    pool = [f"text {i}" for i in range(40)]
    return [Example([rng.choice(pool[:5]), rng.choice(pool)]) for _ in range(n)]


# ---------------------------------------------------------------------------- RandomBatchSampler
def test_random_sampler_is_a_seeded_permutation_per_epoch():
    sampler = RandomBatchSampler(10, batch_size=4, seed=3)
    first = list(sampler)
    assert flat(first) == list(range(10)) and [len(b) for b in first] == [4, 4, 2] and len(sampler) == 3
    assert list(RandomBatchSampler(10, batch_size=4, seed=3)) == first
    sampler.set_epoch(1)
    assert list(sampler) != first and flat(list(sampler)) == list(range(10))
    # Epoch e of seed s is epoch 0 of seed s + e: what the trainer relies on.
    assert list(sampler) == list(RandomBatchSampler(10, batch_size=4, seed=4))


def test_skipping_resumes_in_the_middle_of_an_epoch():
    sampler = NoDuplicatesBatchSampler(repetitive_pairs(), batch_size=8, seed=1)
    sampler.set_epoch(2)
    whole = list(sampler)
    sampler.set_epoch(2, skip=5)
    assert list(sampler) == whole[5:] and len(sampler) == len(whole) - 5


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        RandomBatchSampler(10, batch_size=0)


# ---------------------------------------------------------------------------- NoDuplicatesBatchSampler
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_duplicate_texts_in_a_batch_and_every_example_used_once(seed):
    data = repetitive_pairs(seed=seed)
    sampler = NoDuplicatesBatchSampler(data, batch_size=8, seed=seed)
    for epoch in range(2):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert flat(batches) == list(range(len(data)))
        for batch in batches:
            texts = [t for i in batch for t in set(data[i].texts)]
            assert len(texts) == len(set(texts)), batch
        assert all(1 <= len(b) <= 8 for b in batches)


def test_a_plain_random_batch_of_that_data_would_have_duplicates():
    # Guards the test above: the data really is repetitive enough to make duplicates likely.
    data = repetitive_pairs()
    batches = list(RandomBatchSampler(len(data), batch_size=8, seed=0))
    assert any(len({t for i in b for t in data[i].texts}) < sum(len(set(data[i].texts)) for i in b) for b in batches)


# ---------------------------------------------------------------------------- GroupByLabelBatchSampler
def test_label_groups_hold_at_least_two_examples_of_several_labels():
    data = [Example([f"t{i}"], label) for i, label in enumerate([0] * 7 + [1] * 5 + [2] * 4 + [3] * 2 + [4])]
    sampler = GroupByLabelBatchSampler(data, batch_size=6, seed=0)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert batches and all(len(b) <= 6 for b in batches)
        for batch in batches:
            counts = Counter(data[i].label for i in batch)
            assert len(counts) >= 2 and min(counts.values()) >= 2, counts
        assert 18 not in flat(batches)  # label 4 has one example: it can have no positive


def test_group_by_label_explains_bad_input():
    two = [Example([f"t{i}"], i % 2) for i in range(8)]
    with pytest.raises(ValueError, match="use batch_size >= 4"):
        GroupByLabelBatchSampler(two, batch_size=3)
    with pytest.raises(ValueError, match="needs at least 2 labels with >= 2 examples"):
        GroupByLabelBatchSampler([Example(["a"], 0), Example(["b"], 0), Example(["c"], 1)], batch_size=4)
    with pytest.raises(ValueError, match="example 0 has no label"):
        GroupByLabelBatchSampler([Example(["a"])], batch_size=4)


def test_make_batch_sampler_names():
    data = [Example([f"t{i}"], i % 2) for i in range(8)]
    assert isinstance(make_batch_sampler("group_by_label", data, 4), GroupByLabelBatchSampler)
    assert isinstance(make_batch_sampler("no_duplicates", data, 4), NoDuplicatesBatchSampler)
    with pytest.raises(ValueError, match="unknown batch_sampler 'sorted'; valid: default, no_duplicates"):
        make_batch_sampler("sorted", data, 4)


# ---------------------------------------------------------------------------- collation
def test_collator_tokenises_per_column(tiny_encoder):
    collate = Collator(tiny_encoder.tokenize, "int")
    features, labels = collate([Example(["a dog", "a cat", "the car"], 2), Example(["men", "women", "food"], 0)])
    assert len(features) == 3 and labels.dtype == torch.long and labels.tolist() == [2, 0]
    assert torch.equal(features[1]["input_ids"], tiny_encoder.tokenize(["a cat", "women"])["input_ids"])


def test_labels_by_kind():
    assert label_tensor([1, 0.5], "float").dtype == torch.float32
    assert label_tensor([[1, 2], [3, 4]], "float").shape == (2, 2)  # vectors, e.g. teacher embeddings
    assert label_tensor([1.0, 2], "int").tolist() == [1, 2]
    assert label_tensor(["ignored", None], None) is None
    with pytest.raises(ValueError, match="example 1 has label 0.5 .* needs integer class ids"):
        label_tensor([1, 0.5], "int")
    with pytest.raises(ValueError, match="example 0 has label None .* give every example a label"):
        label_tensor([None], "float")
    with pytest.raises(ValueError, match="unknown label_kind 'bool'"):
        label_tensor([True], "bool")


def test_collator_rejects_ragged_batches_and_non_examples():
    collate = Collator(lambda texts: {}, None, "objective 'x'")
    with pytest.raises(ValueError, match="objective 'x': example 1 of the batch has 3 texts but example 0 has 2"):
        collate([Example(["a", "b"]), Example(["a", "b", "c"])])
    with pytest.raises(TypeError, match="item 0 of the batch is a tuple, not an Example"):
        collate([("a", "b")])
