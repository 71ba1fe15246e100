"""CrossEncoder: a transformer that reads two texts together and scores the pair.

A bi-encoder (:class:`~workbench.SentenceEncoder`) embeds each text alone, so
a corpus is embedded once and searched fast; a cross-encoder sees both texts
of a pair at once, in every attention layer, which judges the pair better
but costs one forward pass per pair.  Hence "retrieve with a bi-encoder,
rerank the top hits with a cross-encoder".

Folders are those of sentence-transformers 6.x (``modules.json`` naming one
sequence-classification ``Transformer`` at the folder's root, the activation
in ``config_sentence_transformers.json``) and, for older readers, the
``sentence_transformers`` section of ``config.json`` that versions 4 and 5
read; folders of either kind, and plain Hugging Face ``*ForSequenceClassification``
checkpoints, load.
"""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

from .encoder import SentenceEncoder, check_texts, default_device
from .hooks import Progress, progress_hooks
from .io import folder_lock, read_json, save_into, write_json
from .model_folder import MODULES_NAME, ST_CONFIG_NAME, library_versions, module_entries
from .model_card import CARD_NAME, cross_encoder_card
from .modules import Transformer
from .modules.transformer import check_tokenizer_files, load_pretrained

logger = logging.getLogger(__name__)

#: What sentence-transformers 6.x writes into modules.json for the one module of a cross-encoder.
ST_TRANSFORMER_TYPE = "sentence_transformers.base.modules.transformer.Transformer"
#: Its sentence_bert_config.json: a Transformer whose output is the classifier's logits, named "scores".
ST_TASK_CONFIG = {
    "transformer_task": "sequence-classification",
    "modality_config": {"text": {"method": "forward", "method_output_name": "logits"}},
    "module_output_name": "scores",
}
TASK_CONFIG_NAME = "sentence_bert_config.json"

Pair = Sequence[str]


def activation_path(fn: nn.Module) -> str:
    """The dotted class path saved for an activation, e.g. ``torch.nn.modules.activation.Sigmoid``."""
    return f"{type(fn).__module__}.{type(fn).__qualname__}"


def activation_from_path(path: Any, where: str) -> nn.Module:
    """The activation a saved dotted path names; only ``torch.nn`` classes built without arguments are accepted.

    Nothing outside ``torch.nn`` is imported from a model folder (that would run its code).

    Example
    -------
    >>> activation_from_path("torch.nn.modules.activation.Sigmoid", "config.json")
    Sigmoid()
    """
    name = path.rpartition(".")[2] if isinstance(path, str) else ""
    cls = getattr(nn, name, None) if isinstance(path, str) and path.startswith("torch.nn.") else None
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ValueError(
            f"{where}: activation_fn {path!r} is not a torch.nn class; only torch.nn activations "
            "(e.g. 'torch.nn.modules.activation.Sigmoid') are loaded from a folder. Pass "
            "activation_fn=torch.nn.Sigmoid() (or another torch.nn module) to override it"
        )
    try:
        return cls()
    except TypeError as err:
        raise ValueError(f"{where}: activation_fn {path!r} cannot be built without arguments ({err})") from None


def _checked_activation(fn: Any) -> nn.Module:
    """``fn`` when it is a ``torch.nn`` module that a folder can name (so save and load agree)."""
    if not isinstance(fn, nn.Module):
        raise TypeError(
            f"activation_fn must be a torch.nn module such as torch.nn.Sigmoid() or torch.nn.Identity(), "
            f"got {type(fn).__name__}; predict(activation_fn=...) also accepts any function"
        )
    activation_from_path(activation_path(fn), "activation_fn")
    return fn


def check_pairs(pairs: Any) -> tuple[list[tuple[str, str]], bool]:
    """The pairs as a list of ``(a, b)`` string tuples, and whether a single pair was given.

    A list or tuple of exactly two strings is one pair; anything else must be
    an iterable of such pairs.  Errors name the first bad pair.

    Example
    -------
    >>> check_pairs(("a", "b"))
    ([('a', 'b')], True)
    >>> check_pairs([("a", "b"), ("c", 1)])
    Traceback (most recent call last):
    ...
    TypeError: pair 1: item 1 is int (1), not str; every item must be a string (use '' for an empty text)
    """
    if isinstance(pairs, (list, tuple)) and len(pairs) == 2 and all(isinstance(t, str) for t in pairs):
        return [(pairs[0], pairs[1])], True
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Iterable):
        raise TypeError(f"expected a pair of texts (a, b) or a list of pairs, got {type(pairs).__name__}")
    checked = []
    for i, pair in enumerate(pairs):
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise TypeError(
                f"pair {i} is {type(pair).__name__} ({pair!r:.60}), not a pair of two texts; "
                "every item must be (text_a, text_b)"
            )
        try:
            first, second = check_texts(pair)
        except TypeError as err:
            raise TypeError(f"pair {i}: {err}") from None
        checked.append((first, second))
    return checked, False


def _is_classifier(config: Any) -> bool:
    return any(str(name).endswith("ForSequenceClassification") for name in getattr(config, "architectures", None) or ())


def _read_folder(folder: Path) -> tuple[Path, str | None]:
    """The folder of the Hugging Face files of a cross-encoder folder, and the activation path its ST config names."""
    settings = read_json(folder / ST_CONFIG_NAME) if (folder / ST_CONFIG_NAME).is_file() else {}
    if not (folder / MODULES_NAME).is_file():
        return folder, settings.get("activation_fn")
    entries = module_entries(folder)
    kinds = [kind for kind, _ in entries]
    source = entries[0][1]
    task = (
        read_json(source / TASK_CONFIG_NAME).get("transformer_task") if (source / TASK_CONFIG_NAME).is_file() else None
    )
    transformer = (
        len(entries) == 1 and kinds[0].startswith("sentence_transformers.") and kinds[0].endswith(".Transformer")
    )
    if not transformer or task != "sequence-classification":
        hint = (
            "; it is a bi-encoder: CrossEncoder.from_encoder(path, num_labels=1) builds a cross-encoder from its "
            "transformer"
            if settings.get("model_type", "SentenceTransformer") == "SentenceTransformer"
            else ""
        )
        raise ValueError(
            f"{folder} is not a cross-encoder folder: its modules.json lists {kinds} (transformer_task "
            f"{task!r}); a CrossEncoder reads folders whose only module is a sequence-classification "
            f"Transformer{hint}"
        )
    return source, settings.get("activation_fn")


class CrossEncoder(nn.Module):
    """Score text pairs with a transformer that reads both texts together.

    Parameters
    ----------
    model_name_or_path:
        A cross-encoder folder (sentence-transformers 4-6 layout, or a Hugging
        Face ``*ForSequenceClassification`` checkpoint), a URL or a hub id.
        To start from an encoder without a classification head (e.g. the
        zoo's MiniLM) use :meth:`from_encoder`.
    max_length:
        Pairs longer than this many tokens are truncated (the longer text
        first); default: the tokenizer's and the model's limit.
    activation_fn:
        A ``torch.nn`` module applied to the logits by :meth:`predict`;
        default: the saved one, else ``Sigmoid`` for one label and
        ``Identity`` for several.
    device:
        ``"cpu"``, ``"cuda"``, …; default: a GPU when there is one.

    Example
    -------
    >>> from workbench import CrossEncoder
    >>> ce = CrossEncoder.from_encoder("all-MiniLM-L6-v2", num_labels=1)            # doctest: +SKIP
    >>> ce.predict([("A man eats.", "Someone eats food."), ("A man eats.", "It rains.")])  # doctest: +SKIP
    array([0.51, 0.49], dtype=float32)
    >>> ce.rank("A man eats.", ["It rains.", "Someone eats food."], top_k=1)     # doctest: +SKIP
    [{'corpus_id': 1, 'score': 0.51}]
    """

    def __init__(
        self,
        model_name_or_path: str | os.PathLike,
        max_length: int | None = None,
        activation_fn: nn.Module | None = None,
        device: str | None = None,
    ) -> None:
        super().__init__()
        from .sources import resolve_model

        folder = resolve_model(model_name_or_path)
        with folder_lock(folder):
            source, saved_activation = _read_folder(folder)
            if not (source / "config.json").is_file():
                raise FileNotFoundError(f"{source} has no config.json (the Hugging Face model config)")
            config = AutoConfig.from_pretrained(source)
            if not _is_classifier(config):
                raise ValueError(
                    f"{folder} holds a {(config.architectures or ['model without architectures'])[0]}, which has no "
                    f"classification head; CrossEncoder.from_encoder({str(model_name_or_path)!r}, num_labels=1) "
                    "builds a new cross-encoder from it"
                )
            check_tokenizer_files(source)
            model = load_pretrained(AutoModelForSequenceClassification, str(source), config=config)
            tokenizer = AutoTokenizer.from_pretrained(source)
        # sentence-transformers 4 and 5 kept the activation in config.json, 3 under another name.
        legacy = (getattr(config, "sentence_transformers", None) or {}).get("activation_fn") or getattr(
            config, "sbert_ce_default_activation_function", None
        )
        saved = saved_activation or legacy
        if activation_fn is None and saved is not None:
            activation_fn = activation_from_path(saved, str(folder))
        self._setup(model, tokenizer, max_length, activation_fn, device)
        self.source = str(model_name_or_path)
        self.source_folder: Path | None = folder

    def _setup(
        self,
        model: nn.Module,
        tokenizer: Any,
        max_length: int | None,
        activation_fn: nn.Module | None,
        device: str | None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        if max_length is None:
            limits = [getattr(model.config, "max_position_embeddings", None), tokenizer.model_max_length]
            limits = [n for n in limits if isinstance(n, int) and 0 < n < 1_000_000]
            max_length = min(limits) if limits else 512
        self.max_length = max_length
        self.activation_fn = (
            activation_fn if activation_fn is not None else (nn.Sigmoid() if self.num_labels == 1 else nn.Identity())
        )
        self.to(device or default_device())

    def __setattr__(self, name: str, value: Any) -> None:
        # The activation is a setting, not a submodule: it has no weights and stays out of the state dict.
        if name == "activation_fn":
            object.__setattr__(self, name, _checked_activation(value))
            return
        super().__setattr__(name, value)

    @classmethod
    def from_encoder(
        cls,
        encoder: str | os.PathLike | SentenceEncoder,
        num_labels: int = 1,
        max_length: int | None = None,
        activation_fn: nn.Module | None = None,
        device: str | None = None,
    ) -> "CrossEncoder":
        """A new cross-encoder: the transformer of ``encoder`` with a freshly initialised classification head.

        ``encoder`` is a :class:`~workbench.SentenceEncoder` (its first module
        must be a Transformer), or anything it loads from (a zoo name such as
        ``"all-MiniLM-L6-v2"``, a folder, a hub id); a plain Hugging Face
        checkpoint works too.  The head has ``num_labels`` outputs: 1 for a
        relevance score, more for classes.  The head draws from torch's global
        generator, so ``torch.manual_seed`` makes it reproducible.

        Example
        -------
        >>> ce = CrossEncoder.from_encoder("all-MiniLM-L6-v2", num_labels=1)      # doctest: +SKIP
        """
        if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1:
            raise ValueError(
                f"num_labels must be a positive integer (1 for a score, 2 or more for classes), got {num_labels!r}"
            )
        if not isinstance(encoder, SentenceEncoder):
            encoder = _encoder_transformer(encoder)
        transformer = encoder[0]
        if not isinstance(transformer, Transformer):
            raise TypeError(
                f"the encoder's first module is a {type(transformer).__name__}; a cross-encoder needs a "
                "Hugging Face Transformer to read the pair"
            )
        config = copy.deepcopy(transformer.auto_model.config)
        config.num_labels = num_labels
        config.architectures = None
        config.output_hidden_states = False
        model = AutoModelForSequenceClassification.from_config(config)
        result = model.base_model.load_state_dict(transformer.auto_model.state_dict(), strict=False)
        # The pooler is missing from encoders saved without it; it then starts random, like the head.
        missing = [key for key in result.missing_keys if not key.startswith("pooler.")]
        if missing or result.unexpected_keys:
            raise ValueError(
                f"the encoder's transformer does not fit a {type(model).__name__}: missing {missing}, "
                f"unexpected {result.unexpected_keys}"
            )
        self = cls.__new__(cls)
        nn.Module.__init__(self)
        self._setup(
            model, copy.deepcopy(transformer.tokenizer), max_length or transformer.max_seq_length, activation_fn, device
        )
        self.source = getattr(encoder, "source", None)
        self.source_folder = None
        return self

    # ------------------------------------------------------------------ properties
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def config(self) -> Any:
        """The Hugging Face model config."""
        return self.model.config

    @property
    def num_labels(self) -> int:
        """Outputs per pair: 1 for a score, more for class scores."""
        return int(self.model.config.num_labels)

    @property
    def id2label(self) -> dict[int, str]:
        return {int(k): v for k, v in self.model.config.id2label.items()}

    @property
    def max_length(self) -> int:
        return self._max_length

    @max_length.setter
    def max_length(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 2:
            raise ValueError(f"max_length must be an integer >= 2 (tokens per pair), got {value!r}")
        self._max_length = value
        self.tokenizer.model_max_length = value  # what sentence-transformers reads back as the limit

    # ------------------------------------------------------------------ forward
    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Tokenise single texts (the trainer's per-column path; pairs go through :meth:`tokenize_pairs`)."""
        return dict(
            self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        )

    def tokenize_pairs(self, first: list[str], second: list[str]) -> dict[str, torch.Tensor]:
        """Tokenise pairs ``(first[i], second[i])`` together, the longer text truncated first."""
        return dict(
            self.tokenizer(
                first, second, padding=True, truncation="longest_first", max_length=self.max_length, return_tensors="pt"
            )
        )

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        """Add ``scores``, the logits ``(batch, num_labels)`` of the tokenized pairs."""
        inputs = {k: features[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in features}
        features["scores"] = self.model(**inputs, return_dict=True).logits
        return features

    # ------------------------------------------------------------------ inference
    def predict(
        self,
        pairs: Pair | Sequence[Pair],
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        activation_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
        apply_softmax: bool = False,
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
        callbacks: Iterable[Any] | None = None,
    ) -> np.ndarray | torch.Tensor | float:
        """Score one pair (a number, or one row of class scores) or a list of pairs.

        Parameters
        ----------
        pairs:
            ``(text_a, text_b)`` or a list of such pairs.
        batch_size:
            Pairs per forward pass; pairs of similar length are batched together
            (longest first) and the results come back in input order.
        show_progress_bar, callbacks:
            As for :meth:`SentenceEncoder.encode`: ``progress_*`` events of task ``"predict"``.
        activation_fn:
            Applied to the logits; default ``self.activation_fn``
            (``torch.nn.Identity()`` gives raw logits).
        apply_softmax:
            Softmax over the classes (models with several labels).
        convert_to_numpy, convert_to_tensor:
            numpy is the default; ``convert_to_tensor=True`` returns torch.

        Returns
        -------
        ``(n,)`` scores for one label, ``(n, num_labels)`` otherwise.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if activation_fn is not None and not callable(activation_fn):
            raise TypeError(
                f"activation_fn must be callable (e.g. torch.nn.Identity()), got {type(activation_fn).__name__}"
            )
        items, single = check_pairs(pairs)
        activation = self.activation_fn if activation_fn is None else activation_fn
        firsts, seconds = [a for a, _ in items], [b for _, b in items]
        lengths = (
            [
                len(ids)
                for ids in self.tokenizer(
                    firsts,
                    seconds,
                    truncation="longest_first",
                    max_length=self.max_length,
                    return_attention_mask=False,
                    return_token_type_ids=False,
                )["input_ids"]
            ]
            if items
            else []
        )
        order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
        width = () if self.num_labels == 1 else (self.num_labels,)
        result = torch.empty((len(items), *width), dtype=torch.float32, device=self.device)
        hooks = progress_hooks(show_progress_bar, callbacks)
        was_training = self.training
        self.eval()
        try:
            with (
                Progress(hooks, "predict", total=len(items), unit="pairs", desc="Scoring pairs") as progress,
                torch.inference_mode(),
            ):
                for start in range(0, len(items), batch_size):
                    idx = order[start : start + batch_size]
                    features = self.tokenize_pairs([firsts[i] for i in idx], [seconds[i] for i in idx])
                    scores = self.forward({k: v.to(self.device) for k, v in features.items()})["scores"].float()
                    scores = activation(scores)
                    if apply_softmax and scores.shape[-1] > 1:
                        scores = torch.softmax(scores, dim=-1)
                    result[torch.as_tensor(idx, device=result.device)] = scores.reshape(len(idx), *width)
                    progress.update(len(idx))
        finally:
            self.train(was_training)
        bad = int((~torch.isfinite(result)).sum())
        if bad:
            logger.warning(
                "%d of the %d scores are not finite (NaN or inf): the model's weights or inputs are broken",
                bad,
                result.numel(),
            )
        if single:
            result = result[0]
        if convert_to_tensor or not convert_to_numpy:
            return result
        return result.cpu().numpy()

    def rank(
        self,
        query: str,
        documents: Sequence[str],
        top_k: int | None = None,
        return_documents: bool = False,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        activation_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
        callbacks: Iterable[Any] | None = None,
    ) -> list[dict[str, Any]]:
        """The documents sorted by their score with ``query``, best first (equal scores keep input order).

        Returns ``[{"corpus_id": index, "score": float, ("text": document)}, ...]``,
        the best ``top_k`` (all when ``None``).  Needs a one-label model.
        """
        if self.num_labels != 1:
            raise ValueError(
                f"rank needs a model with one output (a score); this one has num_labels={self.num_labels}: "
                "use predict on the pairs instead"
            )
        if not isinstance(query, str):
            raise TypeError(f"query must be a string, got {type(query).__name__}")
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"top_k must be a positive integer or None, got {top_k!r}")
        documents = check_texts(documents)
        scores = self.predict(
            [(query, doc) for doc in documents],
            batch_size=batch_size,
            show_progress_bar=show_progress_bar,
            activation_fn=activation_fn,
            callbacks=callbacks,
        )
        order = np.argsort(-scores, kind="stable")[:top_k]
        return [
            {"corpus_id": int(i), "score": float(scores[i]), **({"text": documents[i]} if return_documents else {})}
            for i in order
        ]

    # ------------------------------------------------------------------ training
    def fit(self, train_objectives: Any, evaluator: Any = None, **options: Any) -> Any:
        """Train in place with :func:`workbench.training.fit` (the same trainer as for bi-encoders).

        Example
        -------
        >>> from workbench.losses.cross import BinaryCrossEntropyLoss
        >>> data = [Example(["A man eats.", "Someone eats."], 1.0)]            # doctest: +SKIP
        >>> ce.fit([(data, BinaryCrossEntropyLoss(ce))], epochs=1)              # doctest: +SKIP
        """
        from .training import fit

        return fit(self, train_objectives, evaluator, **options)

    # ------------------------------------------------------------------ saving
    def save(self, path: str | os.PathLike) -> None:
        """Write the model into the folder ``path`` in the sentence-transformers 6.x cross-encoder layout.

        Other files in the folder stay (see :func:`workbench.io.save_into`).
        """
        save_into(path, self._write_files, last=(MODULES_NAME, ST_CONFIG_NAME), keep_edited=(CARD_NAME,))

    save_pretrained = save

    def _write_files(self, folder: Path) -> None:
        activation = activation_path(self.activation_fn)
        from . import __version__

        # The section sentence-transformers 4 and 5 read the activation from (6.x reads it too).
        self.model.config.sentence_transformers = {"activation_fn": activation, "version": __version__}
        self.model.save_pretrained(folder, safe_serialization=True)
        self.tokenizer.save_pretrained(folder)
        write_json(folder / TASK_CONFIG_NAME, ST_TASK_CONFIG)
        write_json(folder / MODULES_NAME, [{"idx": 0, "name": "0", "path": "", "type": ST_TRANSFORMER_TYPE}])
        write_json(
            folder / ST_CONFIG_NAME,
            {
                "__version__": library_versions(),
                "model_type": "CrossEncoder",
                "activation_fn": activation,
                "prompts": {},
                "default_prompt_name": None,
            },
        )
        # The staging folder sits inside the target: the card names the target's folder.
        (folder / CARD_NAME).write_text(cross_encoder_card(self, folder.parent.name), encoding="utf-8")

    def __repr__(self) -> str:
        return (
            f"CrossEncoder({type(self.model).__name__}, num_labels={self.num_labels}, "
            f"max_length={self.max_length}, activation_fn={type(self.activation_fn).__name__})"
        )


def _encoder_transformer(name_or_path: str | os.PathLike) -> SentenceEncoder:
    """A one-module encoder holding the Transformer of a model folder (its pooling and the rest are not needed)."""
    from .sources import resolve_model

    folder = resolve_model(name_or_path)
    with folder_lock(folder):
        if (folder / MODULES_NAME).is_file():
            # sentence-transformers 6.x names its Transformer by a path of its own; any of them is one.
            paths = [path for kind, path in module_entries(folder) if kind.endswith(".Transformer")]
            if not paths:
                raise ValueError(f"{folder}: modules.json lists no Transformer to build a cross-encoder from")
            transformer = Transformer.load(paths[0])
        else:
            transformer = Transformer(folder)
    return SentenceEncoder(modules=[transformer], device="cpu")
