"""GISTEmbedLoss: in-batch negatives ranking where a guide model removes the negatives that are likely positives."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..similarity import SimilarityFunction
from .base import Loss, loss_similarity

if TYPE_CHECKING:
    from ..encoder import SentenceEncoder

GUIDE_PREFIX = "guide_"
MARGIN_STRATEGIES = ("absolute", "relative")


class GISTEmbedLoss(Loss):
    """MultipleNegativesRankingLoss whose in-batch negatives are filtered by a guide model (Solatorio, 2024).

    In-batch negatives are sometimes true positives (two paraphrase pairs of
    the same question in one batch); training pushes them apart anyway.  Here
    a guide model (usually larger, frozen) scores every candidate too, and a
    candidate the guide finds at least as similar to the anchor as the
    anchor's own positive is left out of the softmax.  The candidates of each
    anchor are all positives, all other anchors, all other positives and all
    hard negatives of the batch.

    Inputs: 2 or more text columns (anchor, positive, optional hard negatives)
    and no labels.  Each text is tokenized for both models (they may use
    different tokenizers) by the collator.

    Parameters
    ----------
    model:
        The encoder being trained.
    guide:
        The guide encoder; it runs without gradients in eval mode and is not
        trained, saved in checkpoints or moved.
    temperature:
        Divides the similarities before the softmax (0.01 = scale 100).
    margin_strategy, margin:
        A candidate is dropped when its guide similarity exceeds the positive's
        minus ``margin`` (``absolute``) or minus ``|positive| * margin``
        (``relative``); a larger margin drops more.
    similarity_fn_name:
        Similarity of both models' embeddings (default cosine; ``similarity_fct``:
        sentence-transformers' name of it; ``similarity``: deprecated).

    Example
    -------
    >>> loss = GISTEmbedLoss(model, guide=SentenceEncoder("all-MiniLM-L6-v2"))   # doctest: +SKIP
    """

    columns = (2, None)
    label_kind = None
    expects = "2 or more text columns (anchor, positive, optional hard negatives) and no labels"

    def __init__(
        self,
        model: SentenceEncoder,
        guide: SentenceEncoder,
        temperature: float = 0.01,
        margin_strategy: str = "absolute",
        margin: float = 0.0,
        similarity_fn_name: str | SimilarityFunction = "cosine",
        *,
        similarity_fct: str | SimilarityFunction | None = None,
        similarity: str | SimilarityFunction | None = None,
    ) -> None:
        super().__init__(model)
        if guide is model:
            raise ValueError("guide must be another model than the one being trained (a frozen, usually larger one)")
        if not hasattr(guide, "tokenize") or not callable(guide):
            raise TypeError(f"guide must be a SentenceEncoder, got {type(guide).__name__}")
        if margin_strategy not in MARGIN_STRATEGIES:
            raise ValueError(f"unknown margin_strategy {margin_strategy!r}; valid: {', '.join(MARGIN_STRATEGIES)}")
        if not isinstance(temperature, (int, float)) or not temperature > 0:
            raise ValueError(f"temperature must be a positive number, got {temperature!r}")
        # Kept outside the module tree: the guide is not trained, not in checkpoints, and stays in eval mode.
        self.__dict__["guide"] = guide
        self.temperature = temperature
        self.margin_strategy = margin_strategy
        self.margin = margin
        self.similarity_fct = loss_similarity(
            self, similarity_fn_name, "cosine", similarity_fct=similarity_fct, similarity=similarity
        )

    def check_batch_size(self, batch_size: int, n_columns: int) -> None:
        """Refuse batches of one pair without hard negatives: nothing to rank the positive against."""
        if batch_size < 2 and n_columns < 3:
            self.fail(f"batches of {batch_size} example(s) leave each anchor no negative; use batch_size >= 2")

    def featurize(self, columns: list[list[str]]) -> list[dict[str, Tensor]]:
        """Each column tokenized for the model, with the guide's tokenization under ``guide_`` keys."""
        return [
            {**self.model.tokenize(column), **{GUIDE_PREFIX + k: v for k, v in self.guide.tokenize(column).items()}}
            for column in columns
        ]

    def embed(self, features: list[dict[str, Tensor]]) -> list[Tensor]:
        """The model's embeddings of every column, then the guide's."""
        missing = [i for i, column in enumerate(features) if not any(k.startswith(GUIDE_PREFIX) for k in column)]
        if missing:
            self.fail(
                f"columns {missing} have no guide tokenization; build batches with {type(self).__name__}.featurize"
            )
        own = [self.embed_column({k: v for k, v in f.items() if not k.startswith(GUIDE_PREFIX)}) for f in features]
        return own + self.guide_embeddings(features)

    def guide_embeddings(self, features: list[dict[str, Tensor]]) -> list[Tensor]:
        guide: Any = self.guide
        was_training = guide.training
        guide.eval()
        try:
            with torch.no_grad():
                return [
                    guide(
                        {k[len(GUIDE_PREFIX) :]: v.to(guide.device) for k, v in f.items() if k.startswith(GUIDE_PREFIX)}
                    )["sentence_embedding"]
                    for f in features
                ]
        finally:
            guide.train(was_training)

    def compute(self, embeddings: list[Tensor], labels: None) -> Tensor:
        half = len(embeddings) // 2
        (anchor, positive, *negatives), (g_anchor, g_positive, *g_negatives) = embeddings[:half], embeddings[half:]
        g_anchor, g_positive = g_anchor.to(anchor.device), g_positive.to(anchor.device)
        sim = self.similarity_fct
        guided_ap = sim(g_anchor, g_positive)
        positive_score = guided_ap.diagonal().unsqueeze(1)
        limit = positive_score - (
            self.margin if self.margin_strategy == "absolute" else positive_score.abs() * self.margin
        )
        eye = torch.eye(len(anchor), dtype=torch.bool, device=anchor.device)

        def filtered(guided: Tensor, scores: Tensor, diagonal: str) -> Tensor:
            drop = guided > limit
            # The own positive is always kept; a text is never its own negative.
            drop = drop & ~eye if diagonal == "keep" else drop | eye if diagonal == "drop" else drop
            return scores.masked_fill(drop, float("-inf"))

        parts = [
            filtered(guided_ap, sim(anchor, positive), "keep"),
            filtered(sim(g_anchor, g_anchor), sim(anchor, anchor), "drop"),
            filtered(sim(g_positive, g_positive), sim(positive, positive), "drop"),
        ]
        parts += [
            filtered(sim(g_anchor, g_neg.to(anchor.device)), sim(anchor, neg), "")
            for neg, g_neg in zip(negatives, g_negatives)
        ]
        scores = torch.cat(parts, dim=1) / self.temperature
        return F.cross_entropy(scores, torch.arange(len(anchor), device=anchor.device))
