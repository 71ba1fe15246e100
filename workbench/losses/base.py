"""The contract every training loss follows, and the helpers several losses share.

A loss is called with ``features`` -- one tokenized batch per text column,
each made by ``model.tokenize(texts_of_that_column)`` -- and ``labels``
(a float tensor of scores, a long tensor of class ids, or ``None``).  It
returns a scalar tensor to call ``backward`` on.

Every loss gets its embeddings from :meth:`Loss.embed` and computes its value
from them in :meth:`Loss.compute`.  Wrappers rely on that split:
:class:`~workbench.losses.MatryoshkaLoss` embeds once and calls ``compute``
on truncated embeddings, and
:class:`~workbench.losses.CachedMultipleNegativesRankingLoss` only replaces
``embed_column``.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, NoReturn

import torch
from torch import Tensor, nn

from ..similarity import SimilarityFunction, get_similarity
from ..validation import renamed_argument

if TYPE_CHECKING:
    from ..encoder import SentenceEncoder

#: Distance names the distance-based losses accept.
DISTANCES = ("euclidean", "cosine", "manhattan")


def check_distance(name: str) -> str:
    """Return ``name`` when it is one of :data:`DISTANCES`, else raise ``ValueError``."""
    if name not in DISTANCES:
        raise ValueError(f"unknown distance_metric {name!r}; choose one of {', '.join(DISTANCES)}")
    return name


def loss_similarity(
    loss: nn.Module,
    similarity_fn_name: str | SimilarityFunction,
    default: str,
    *,
    similarity_fct: str | SimilarityFunction | None = None,
    similarity: str | SimilarityFunction | None = None,
    pairwise: bool = False,
) -> SimilarityFunction:
    """The similarity function of ``loss``, from ``similarity_fn_name`` or one of its other spellings.

    ``similarity_fct`` is sentence-transformers' name of the same argument of
    its losses (accepted without a warning, so that its code runs here);
    ``similarity`` is this library's earlier name (a ``FutureWarning``).
    ``default`` is the loss's default of ``similarity_fn_name``.
    """
    where = type(loss).__name__
    if similarity_fct is not None:
        if similarity_fn_name != default:
            raise TypeError(f"{where}() got both similarity_fn_name and similarity_fct (the same argument); give one")
        similarity_fn_name = similarity_fct
    chosen = renamed_argument(
        where, "similarity_fn_name", similarity_fn_name, "similarity", similarity, default, stacklevel=4
    )
    return get_similarity(chosen, pairwise=pairwise)


def pairwise_distance(a: Tensor, b: Tensor, distance_metric: str) -> Tensor:
    """Distance between row ``i`` of ``a`` and row ``i`` of ``b``; cosine distance is ``1 - cos``.

    Example
    -------
    >>> pairwise_distance(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]]), "euclidean")
    tensor([5.])
    """
    similarity = get_similarity(check_distance(distance_metric), pairwise=True)(a, b)
    # The similarity module negates the two true distances; cosine is a similarity in [-1, 1].
    return 1 - similarity if distance_metric == "cosine" else -similarity


def distance_matrix(a: Tensor, b: Tensor, distance_metric: str) -> Tensor:
    """Distance between every row of ``a`` and every row of ``b``, shape ``(len(a), len(b))``.

    Example
    -------
    >>> distance_matrix(torch.tensor([[0.0, 0.0], [1.0, 1.0]]), torch.tensor([[1.0, 1.0]]), "manhattan")
    tensor([[2.],
            [0.]])
    """
    similarity = get_similarity(check_distance(distance_metric))(a, b)
    return 1 - similarity if distance_metric == "cosine" else -similarity


def label_masks(labels: Tensor) -> tuple[Tensor, Tensor]:
    """Boolean ``(n, n)`` masks: ``positive[a, p]`` (same label, ``p != a``) and ``negative[a, n]``.

    Example
    -------
    >>> positive, negative = label_masks(torch.tensor([0, 0, 1]))
    >>> positive.int().tolist(), negative.int().tolist()
    ([[0, 1, 0], [1, 0, 0], [0, 0, 0]], [[0, 0, 1], [0, 0, 1], [1, 1, 0]])
    """
    same = labels[:, None] == labels[None, :]
    itself = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~itself, ~same


def safe_mean(values: Tensor) -> Tensor:
    """Mean of ``values``, or a zero that stays in the autograd graph when there are none.

    Batch losses can find no valid triplet in a batch; a plain ``mean`` would be NaN.
    """
    return values.sum() / max(values.numel(), 1)


def describe(labels: object) -> str:
    """A short description of what was passed as labels, for error messages."""
    if isinstance(labels, Tensor):
        return f"a {labels.dtype} tensor of shape {tuple(labels.shape)}"
    return f"a {type(labels).__name__}"


class Loss(nn.Module):
    """Base class of the training losses.

    Subclasses set :attr:`columns`, :attr:`label_kind` and :attr:`expects`,
    and implement :meth:`compute`; :meth:`forward` validates the batch,
    embeds every column with :meth:`embed` and calls :meth:`compute`.

    Parameters
    ----------
    model:
        The encoder being trained; ``model(features)["sentence_embedding"]``
        gives the embeddings of one column.

    Example
    -------
    A loss that pulls the two columns of each pair together:

    >>> class Closeness(Loss):
    ...     columns, label_kind, expects = 2, None, "2 text columns (a, b) and no labels"
    ...     def compute(self, embeddings, labels):
    ...         return pairwise_distance(*embeddings, "euclidean").mean()
    """

    #: How many text columns an example must have: an int, or ``(min, max)``
    #: with ``max=None`` for no upper limit (optional hard negatives).
    columns: int | tuple[int, int | None]
    #: ``"float"`` (scores), ``"int"`` (class ids) or ``None`` (no labels).
    label_kind: str | None
    #: Dimensions of the label tensor: 1 (one per example) or 2 (a vector per example); None: the subclass checks.
    label_ndim: int | None = 1
    #: Whether the loss trains a :class:`~workbench.CrossEncoder` (else a bi-encoder).
    cross_encoder: bool = False
    #: What the loss expects, in words; every validation error ends with it.
    expects: str
    #: Whether :meth:`compute` accepts embeddings narrower than the model's
    #: (false for losses with weights of a fixed input width); MatryoshkaLoss needs it.
    truncatable: bool = True

    def __init__(self, model: SentenceEncoder) -> None:
        super().__init__()
        from ..cross_encoder import CrossEncoder

        if isinstance(model, CrossEncoder) != self.cross_encoder:
            kind, where = (
                ("a CrossEncoder", "workbench.losses")
                if self.cross_encoder
                else ("a bi-encoder (SentenceEncoder)", "workbench.losses.cross")
            )
            raise TypeError(
                f"{type(self).__name__} trains {kind}, got a {type(model).__name__}; the losses for it are in {where}"
            )
        self.model = model

    def forward(self, features: list[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """The loss of one batch: validate, embed each column, :meth:`compute`."""
        if not isinstance(features, (list, tuple)):
            raise ValueError(
                f"features must be a list with one tokenized batch (dict) per text column, "
                f"got {type(features).__name__}; {type(self).__name__} expects {self.expects}"
            )
        self.check_batch(len(features), labels)
        embeddings = self.embed(features)
        self.check_embeddings(embeddings, labels)
        return self.compute(embeddings, labels)

    def embed(self, features: list[dict[str, Tensor]]) -> list[Tensor]:
        """The sentence embeddings of every column, shape ``(batch, dim)`` each."""
        return [self.embed_column(column) for column in features]

    def embed_column(self, features: dict[str, Tensor]) -> Tensor:
        """The sentence embeddings of one tokenized column."""
        # A copy, because modules add their outputs to the dict they are given.
        return self.model(dict(features))["sentence_embedding"]

    def compute(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        """The loss value from the embeddings of every column (what subclasses implement)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement compute")

    def fail(self, problem: str) -> NoReturn:
        """Raise a ``ValueError`` with ``problem`` and what this loss expects."""
        raise ValueError(f"{problem}; {type(self).__name__} expects {self.expects}")

    def check_batch(self, n_columns: int, labels: Tensor | None) -> None:
        """Raise ``ValueError`` unless ``n_columns`` and the labels' type and shape suit this loss."""
        low, high = (self.columns, self.columns) if isinstance(self.columns, int) else self.columns
        if n_columns < low or (high is not None and n_columns > high):
            self.fail(f"got {n_columns} text column(s)")
        if self.label_kind is None:
            if labels is not None:
                self.fail(f"got labels ({describe(labels)}) but this loss takes none")
            return
        if labels is None:
            self.fail("got no labels")
        if not isinstance(labels, Tensor):
            self.fail(f"labels must be a torch.Tensor, got {describe(labels)}")
        if self.label_kind == "int" and (
            labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool
        ):
            self.fail(f"labels must be integer class ids (torch.long), got {describe(labels)}")
        if self.label_kind == "float":
            if not labels.is_floating_point():
                self.fail(f"labels must be floating point (use labels.float()), got {describe(labels)}")
            if not torch.isfinite(labels).all():
                self.fail("labels contain NaN or infinite values")
        if self.label_ndim is not None and labels.dim() != self.label_ndim:
            self.fail(f"labels must have {self.label_ndim} dimension(s), got {describe(labels)}")

    def check_candidate_labels(self, labels: Tensor, n_candidates: int) -> None:
        """Labels with one number per candidate column: ``(batch, n_candidates)``, or ``(batch,)`` for one candidate."""
        if labels.dim() == 2 and labels.shape[1] == n_candidates:
            return
        if labels.dim() == 1 and n_candidates == 1:
            return
        shapes = "(batch,) or (batch, 1)" if n_candidates == 1 else f"(batch, {n_candidates})"
        self.fail(
            f"with {n_candidates} candidate column(s) the labels must have shape {shapes}, got {describe(labels)}"
        )

    def check_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> None:
        """Raise ``ValueError`` unless every column and the labels have the same, non-zero number of rows."""
        rows = [len(e) for e in embeddings]
        if len(set(rows)) > 1:
            self.fail(f"the text columns have different numbers of rows {rows}")
        if rows[0] == 0:
            self.fail("got an empty batch")
        if labels is not None and len(labels) != rows[0]:
            self.fail(f"got {len(labels)} labels for {rows[0]} examples")


class MarginLoss(Loss):
    """Base of the MarginMSE losses (bi- and cross-encoder): a query, a positive and negatives, and a teacher's margin
    ``score(query, positive) - score(query, negative)`` for each negative.

    Labels are ``(batch,)`` for one negative or ``(batch, negatives)``.
    """

    columns = (3, None)
    label_kind = "float"
    label_ndim = None
    expects = (
        "3 or more text columns (query, positive, negatives...) and float margins, shape (batch,) for one "
        "negative or (batch, negatives)"
    )

    def check_batch(self, n_columns: int, labels: Tensor | None) -> None:
        super().check_batch(n_columns, labels)
        self.check_candidate_labels(labels, n_columns - 2)


class DistanceLoss(Loss):
    """Base of the losses that compare distances between embeddings with a margin.

    Parameters
    ----------
    model:
        The encoder being trained.
    distance_metric:
        ``euclidean`` (default), ``cosine`` (``1 - cos``) or ``manhattan``
        (sentence-transformers' name; ``distance`` is its deprecated name here).
    margin:
        The required gap; suit it to the distance (5 for euclidean on
        unnormalised embeddings, ~0.5 for cosine).
    """

    def __init__(
        self,
        model: SentenceEncoder,
        distance_metric: str = "euclidean",
        margin: float = 5.0,
        *,
        distance: str | None = None,
    ) -> None:
        super().__init__(model)
        default = inspect.signature(type(self)).parameters["distance_metric"].default
        self.distance_metric = check_distance(
            renamed_argument(
                type(self).__name__, "distance_metric", distance_metric, "distance", distance, default, stacklevel=4
            )
        )
        self.margin = margin


class BatchTripletLoss(DistanceLoss):
    """Base of the losses that mine triplets inside a batch of labelled texts.

    Inputs: 1 text column and an integer label per text.  Texts with the same
    label are positives of each other, all others negatives, so a batch must
    hold several texts of each label (a label-grouping sampler does that);
    anchors without a positive or a negative in the batch add nothing.
    Parameters as for :class:`DistanceLoss`: ``model``, ``distance_metric``
    (euclidean by default) and ``margin`` (5 by default).
    """

    columns = 1
    label_kind = "int"
    expects = "1 text column and a torch.long label per text, several texts per label in a batch"

    def distances(self, embeddings: list[Tensor]) -> Tensor:
        """Distances between every two texts of the batch, ``(batch, batch)``."""
        (texts,) = embeddings
        return distance_matrix(texts, texts, self.distance_metric)


class BinaryPairLoss(DistanceLoss):
    """Base of the contrastive losses: pairs labelled similar (1) or dissimilar (0), compared by a distance.

    Parameters as for :class:`DistanceLoss`, with other defaults: cosine
    distance and a margin of 0.5 (dissimilar pairs farther apart cost nothing).
    """

    columns = 2
    label_kind = "int"
    expects = "2 text columns (sentence1, sentence2) and a torch.long label per pair, 1 similar or 0 dissimilar"

    def __init__(
        self,
        model: SentenceEncoder,
        distance_metric: str = "cosine",
        margin: float = 0.5,
        *,
        distance: str | None = None,
    ) -> None:
        super().__init__(model, distance_metric, margin, distance=distance)

    def check_batch(self, n_columns: int, labels: Tensor | None) -> None:
        super().check_batch(n_columns, labels)
        if labels.numel() and not ((labels == 0) | (labels == 1)).all():
            self.fail(f"labels must be 0 or 1, got values {labels.unique().tolist()[:5]}")
