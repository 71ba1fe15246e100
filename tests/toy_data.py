"""The toy STS data the trainer and widget tests train and evaluate on."""

from __future__ import annotations

from workbench.data.records import Example
from workbench.evaluation import EmbeddingSimilarityEvaluator

SIMILAR = [
    ("a man is eating food", "a man eats bread"),
    ("a woman plays the guitar", "a woman is playing music"),
    ("the child rides a horse", "a child is riding a horse"),
    ("a cat sits on the car", "the cat is sitting on a car"),
]


def scored_pairs(repeat: int = 1) -> list[Example]:
    """Scored pairs: each similar pair (1.0) and a mismatched pair (0.0); 8 * repeat examples."""
    examples = []
    for i, (a, b) in enumerate(SIMILAR):
        examples += [Example([a, b], 1.0), Example([a, SIMILAR[(i + 1) % len(SIMILAR)][1]], 0.0)]
    return examples * repeat


def toy_sts_evaluator() -> EmbeddingSimilarityEvaluator:
    """An STS evaluator named ``toy`` on one round of :func:`scored_pairs`."""
    return EmbeddingSimilarityEvaluator.from_examples(scored_pairs(), name="toy")
