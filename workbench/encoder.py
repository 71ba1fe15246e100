"""SentenceEncoder: a sequence of modules that turns text into vectors."""

from __future__ import annotations

import logging
import os
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Set
from pathlib import Path
from typing import Any, Iterable, Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .hooks import Progress, progress_hooks
from .io import save_into, write_json
from .model_card import CARD_NAME, encoder_card
from .model_folder import (  # noqa: F401  (the folder format's names, also importable from here)
    ENCODER_CONFIG_FIELDS,
    MODULES_NAME,
    ST_CONFIG_NAME,
    check_encoder_config,
    library_versions,
    load_folder,
    module_class,
)
from .modules import Module, Transformer
from .quantization import OUTPUT_PRECISIONS, quantize_embeddings
from .runner import autocast, forward_batches, modules_for, params_changed, weights_loaded
from .validation import describe_rows, non_finite_rows, positive_int

logger = logging.getLogger(__name__)

#: What ``encode(compute_dtype=...)`` runs the modules in (``precision`` is the output type, as in sentence-transformers).
COMPUTE_DTYPES = ("float32", "bfloat16", "int8")
BACKENDS = ("torch", "onnx", "openvino")
OUTPUT_VALUES = ("sentence_embedding", "token_embeddings")


def default_device() -> str:
    """``cuda`` when a GPU is visible, else ``mps`` on Apple silicon, else ``cpu``."""
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def renamed_precision(precision: str | None, compute_dtype: str, where: str) -> str:
    """``compute_dtype``, or the old ``precision`` argument of ``where`` that meant it (with a FutureWarning).

    ``precision`` now names the output type everywhere, as in sentence-transformers;
    functions whose ``precision`` chose the compute type keep it for one release.
    """
    if precision is None:
        return compute_dtype
    warnings.warn(
        f"{where}(precision=...) is deprecated: it chose the compute type, which is now "
        f"compute_dtype (precision means the output type, as in sentence-transformers); "
        f"use compute_dtype={precision!r}",
        FutureWarning,
        stacklevel=3,
    )
    return precision


def output_codes(embeddings: np.ndarray, precision: str) -> np.ndarray:
    """The ``precision`` codes of one call's ``(n, dim)`` embeddings, calibrated on them as sentence-transformers does.

    Example
    -------
    >>> output_codes(np.array([[0.0, -255.0], [255.0, 255.0]], dtype=np.float32), "uint8")
    array([[  0,   0],
           [255, 255]], dtype=uint8)
    """
    if len(embeddings) == 1 and precision in ("int8", "uint8"):
        raise ValueError(
            f"precision={precision!r} takes its bounds from the embeddings of one call, and one text gives "
            "no range; encode more texts at once, or encode float32 and call "
            "workbench.quantization.quantize_embeddings with ranges from a representative sample"
        )
    if len(embeddings) == 0:
        width = embeddings.shape[1] if precision in ("int8", "uint8") else (embeddings.shape[1] + 7) // 8
        return np.empty((0, width), dtype=np.uint8 if precision.startswith("u") else np.int8)
    return quantize_embeddings(embeddings, precision)


def check_texts(sentences: Any) -> list[str]:
    """Return ``sentences`` as a list of strings, or raise naming the first bad item.

    Containers whose iteration does not give the texts in a fixed order are
    refused: a dict or a DataFrame iterates over its keys or column names, a
    set in no fixed order, so the rows could not be matched to the texts.
    """
    kind = type(sentences).__name__
    if isinstance(sentences, Mapping) or kind == "DataFrame":
        raise TypeError(
            f"expected a string or a list of strings, got a {kind}, whose keys would be encoded; "
            "pass the texts themselves, e.g. list(d.values()) or df['text'].tolist()"
        )
    if isinstance(sentences, Set):
        raise TypeError(
            f"expected a string or a list of strings, got a {kind}, which has no order to match "
            "the embeddings to; pass a list, e.g. sorted(texts)"
        )
    if isinstance(sentences, (str, bytes)) or not isinstance(sentences, Iterable):
        raise TypeError(f"expected a string or a list of strings, got {kind}")
    texts = list(sentences)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(
                f"item {i} is {type(text).__name__} ({text!r:.40}), not str; "
                "every item must be a string (use '' for an empty text)"
            )
        if not text.isascii():  # only non-ASCII text can hold a lone surrogate
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as err:
                raise ValueError(
                    f"item {i} holds {text[err.start]!r} at position {err.start}, a lone surrogate that is not "
                    "valid Unicode (often from bytes decoded with errors='surrogateescape'); every item must be "
                    "valid text: decode with errors='replace' or remove the character"
                ) from None
    return texts


def _warn_non_finite(result: torch.Tensor | list[torch.Tensor] | None, total: int) -> None:
    """Log which texts encoded to NaN or infinity, which would otherwise pass silently into search or training."""
    if result is None:
        return
    if isinstance(result, torch.Tensor):
        bad = non_finite_rows(result)
    else:  # token embeddings: one tensor per text
        bad = [i for i, tokens in enumerate(result) if not bool(torch.isfinite(tokens).all())]
    if bad:
        logger.warning(
            "%d of %d embeddings are not finite (NaN or infinity): %s of the input; the model's weights "
            "are likely broken (a diverged training run?). Search ranks such rows after every finite one.",
            len(bad),
            total,
            describe_rows(bad),
        )


class SentenceEncoder(nn.Sequential):
    """Encode sentences into vectors with a sequence of modules.

    Parameters
    ----------
    model_name_or_path:
        A local folder in the sentence-transformers layout, a zoo name such as
        ``"all-MiniLM-L6-v2"``, an ``https://…zip`` URL or a Hugging Face hub
        id; see :func:`workbench.sources.resolve_model`.
    modules:
        Build a new encoder from these modules instead (first one tokenises).
    device:
        ``"cpu"``, ``"cuda"``, …; default: a GPU when there is one.
    prompts, default_prompt_name:
        Named text prefixes (e.g. ``{"query": "query: "}``) and the one used
        when ``encode`` gets no prompt.
    similarity_fn_name:
        ``cosine``, ``dot``, ``euclidean`` or ``manhattan``; used by
        :meth:`similarity`. Default: the saved model's, else ``cosine``.
    truncate_dim:
        Keep only the first dimensions of every embedding (Matryoshka models).
        Default: the saved model's.

    The settings given here win over those saved with the model (as in
    sentence-transformers), and all of them are saved by :meth:`save`.
    backend:
        ``torch`` (default), ``onnx`` or ``openvino``: run the Transformer with
        onnxruntime or OpenVINO on an export cached under the workbench cache
        (see :mod:`workbench.backends`).

    Example
    -------
    >>> from workbench import SentenceEncoder
    >>> model = SentenceEncoder("all-MiniLM-L6-v2")                  # doctest: +SKIP
    >>> emb = model.encode(["A man is eating.", "Someone eats."])     # doctest: +SKIP
    >>> emb.shape                                                     # doctest: +SKIP
    (2, 384)
    >>> float(model.similarity(emb[0], emb[1]))                       # doctest: +SKIP
    0.7...
    """

    def __init__(
        self,
        model_name_or_path: str | os.PathLike | None = None,
        modules: Sequence[nn.Module] | None = None,
        device: str | None = None,
        prompts: dict[str, str] | None = None,
        default_prompt_name: str | None = None,
        similarity_fn_name: str | None = None,
        truncate_dim: int | None = None,
        backend: Literal["torch", "onnx", "openvino"] = "torch",
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if (model_name_or_path is None) == (modules is None):
            raise ValueError("give either model_name_or_path or modules, not both or neither")
        config: dict[str, Any] = {}
        if model_name_or_path is not None:
            from .sources import resolve_model

            folder = resolve_model(model_name_or_path)
            modules, config = load_folder(folder)
        else:
            folder = None
            modules = list(modules)
            if not modules:
                raise ValueError(
                    "modules is empty; give at least one module, the first one tokenising "
                    "(e.g. [Transformer(path), Pooling(dim)])"
                )
            bad = [f"{i}: {type(m).__name__}" for i, m in enumerate(modules) if not isinstance(m, nn.Module)]
            if bad:
                raise TypeError(f"every item of modules must be a torch.nn.Module; got {', '.join(bad)}")
        check_dimensions(modules, where=str(folder) if folder is not None else "modules")
        super().__init__(OrderedDict((str(i), m) for i, m in enumerate(modules)))
        self.prompts: dict[str, str] = dict(config.get("prompts") or {}) | dict(prompts or {})
        self.default_prompt_name = default_prompt_name or config.get("default_prompt_name")
        if self.default_prompt_name and self.default_prompt_name not in self.prompts:
            raise ValueError(
                f"default_prompt_name {self.default_prompt_name!r} is not one of the prompts {sorted(self.prompts)}"
            )
        from .similarity import get_similarity

        self.similarity_fn_name = similarity_fn_name or config.get("similarity_fn_name") or "cosine"
        get_similarity(self.similarity_fn_name)  # validate early
        truncate_dim = truncate_dim if truncate_dim is not None else config.get("truncate_dim")
        self.truncate_dim = None if truncate_dim is None else positive_int("truncate_dim", truncate_dim)
        self.backend = backend
        #: what the user asked for, and the local folder it resolved to (None when built from modules)
        self.source = None if model_name_or_path is None else str(model_name_or_path)
        self.source_folder = folder
        # load_state_dict overwrites weights in place: what the runner derived from them is dropped
        for module in (self, *self):
            module.register_load_state_dict_post_hook(weights_loaded)
        self.to(device or default_device())

    # ------------------------------------------------------------------ properties
    @property
    def device(self) -> torch.device:
        for tensor in self.parameters():
            return tensor.device
        return torch.device("cpu")

    @property
    def tokenizer(self) -> Any:
        return getattr(self[0], "tokenizer", None)

    @property
    def max_seq_length(self) -> int | None:
        return getattr(self[0], "max_seq_length", None)

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        if not hasattr(self[0], "max_seq_length"):
            raise AttributeError(f"the first module ({type(self[0]).__name__}) has no max_seq_length")
        self[0].max_seq_length = positive_int("max_seq_length", value)

    def get_sentence_embedding_dimension(self) -> int | None:
        """Width of ``encode``'s output (after ``truncate_dim``)."""
        dim = None
        for module in self:
            dim = getattr(module, "get_sentence_embedding_dimension", lambda: None)() or dim
        if dim is None:
            dim = getattr(self[0], "get_word_embedding_dimension", lambda: None)()
        if dim is not None and self.truncate_dim:
            dim = min(dim, self.truncate_dim)
        return dim

    # ------------------------------------------------------------------ encoding
    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Tokenise with the first module (it must define ``tokenize``)."""
        first = self[0]
        if not hasattr(first, "tokenize"):
            raise TypeError(f"the first module ({type(first).__name__}) cannot tokenize; put an input module first")
        return first.tokenize(texts)

    def encode(
        self,
        sentences: str | Sequence[str],
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        output_value: Literal["sentence_embedding", "token_embeddings"] = "sentence_embedding",
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
        normalize_embeddings: bool = False,
        precision: Literal["float32", "int8", "uint8", "binary", "ubinary"] = "float32",
        prompt: str | None = None,
        prompt_name: str | None = None,
        truncate_dim: int | None = None,
        device: str | None = None,
        callbacks: Iterable[Any] | None = None,
        compute_dtype: Literal["float32", "bfloat16", "int8"] = "float32",
    ) -> np.ndarray | torch.Tensor | list[Any]:
        """Embed one sentence (1-D result) or a list of sentences (2-D result).

        Parameters
        ----------
        sentences:
            A string or a sequence of strings; ``""`` is a valid text.
        batch_size:
            Sentences per forward pass; batches are formed from sentences of
            similar length so that little padding is computed.
        show_progress_bar:
            Show a tqdm bar; ``None`` shows one in a terminal when no callbacks are given.
        output_value:
            ``sentence_embedding`` or ``token_embeddings`` (a list of
            (tokens, dim) tensors, padding removed).
        convert_to_numpy, convert_to_tensor:
            numpy is the default; ``convert_to_tensor=True`` returns torch.
        normalize_embeddings:
            L2-normalise each embedding.
        precision:
            The type of the returned embeddings, as in sentence-transformers: ``float32``, or
            codes made by :func:`workbench.quantization.quantize_embeddings` from all embeddings
            of this call: ``int8``/``uint8`` (256 levels per dimension between the minimum and
            maximum of these embeddings; needs at least two texts) or ``binary``/``ubinary``
            (sign bits packed eight to a byte). Not how the model computes: that is ``compute_dtype``.
        prompt, prompt_name:
            A text prefix, or the name of one of ``self.prompts``.
        truncate_dim:
            Keep the first ``truncate_dim`` dimensions (overrides the model's).
        callbacks:
            Subscribers of the ``progress_*`` events (e.g. a notebook widget).
        compute_dtype:
            What the modules run in: ``float32``, ``bfloat16`` (fast on CPUs with AVX512-BF16 or
            AMX, and on GPUs) or ``int8`` (int8 weights; on the torch and onnx backends
            onnxruntime's, activations quantized per batch; on the openvino backend NNCF's int8
            weights with float32 activations). The ``onnx`` and ``openvino`` backends run float32 and int8.
            The result is float32 whatever this is.

        Returns
        -------
        numpy array (n, dim) / (dim,) or a torch tensor (float32, or the
        ``precision``'s integer codes); for ``token_embeddings`` a list of tensors.
        """
        if output_value not in OUTPUT_VALUES:
            raise ValueError(f"output_value must be one of {OUTPUT_VALUES}, got {output_value!r}")
        if precision == "bfloat16" and compute_dtype == "float32":
            warnings.warn(
                "encode(precision='bfloat16') is deprecated: precision is now the output type "
                f"{OUTPUT_PRECISIONS}, as in sentence-transformers; use compute_dtype='bfloat16'",
                FutureWarning,
                stacklevel=2,
            )
            precision, compute_dtype = "float32", "bfloat16"
        if precision not in OUTPUT_PRECISIONS:
            raise ValueError(
                f"precision must be one of {OUTPUT_PRECISIONS} (the output type), got {precision!r}; "
                f"the compute type is compute_dtype, one of {COMPUTE_DTYPES}"
            )
        if compute_dtype not in COMPUTE_DTYPES:
            raise ValueError(f"compute_dtype must be one of {COMPUTE_DTYPES}, got {compute_dtype!r}")
        if precision != "float32" and output_value != "sentence_embedding":
            raise ValueError(
                f"precision={precision!r} quantizes sentence embeddings; token_embeddings are returned as float32 only"
            )
        batch_size = positive_int("batch_size", batch_size)
        if self.backend != "torch" or compute_dtype == "int8":
            from .backends.export import check_compute_dtype

            # here too: an empty input builds no exported model to check it
            check_compute_dtype("onnx" if self.backend == "torch" else self.backend, compute_dtype)
        single = isinstance(sentences, str)
        texts = check_texts([sentences] if single else sentences)
        prefix = self._prompt(prompt, prompt_name)
        if prefix:
            texts = [prefix + t for t in texts]
        # Pooling with include_prompt=False leaves out the prompt's tokens; they are counted once here.
        prompt_length = self._prompt_length(prefix) if prefix else None
        truncate_dim = self.truncate_dim if truncate_dim is None else truncate_dim
        if truncate_dim is not None:
            positive_int("truncate_dim", truncate_dim)
        if device is not None:
            self.to(device)
        target = self.device

        # Batches of similar length waste little on padding; token counts beat
        # character counts for that when the first module can give them.
        # Longest first: memory trouble shows at the first batch, not the last.
        lengths = getattr(self[0], "text_lengths", lambda batch: [len(t) for t in batch])(texts) if texts else []
        order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
        result: torch.Tensor | list[Any] | None = [None] * len(texts) if output_value == "token_embeddings" else None
        hooks = progress_hooks(show_progress_bar, callbacks)
        was_training = self.training

        def tokenized() -> Iterable[tuple[np.ndarray, dict[str, Any]]]:
            # Tokenizing stays in this thread: a fast tokenizer must not be used by two threads at once.
            for start in range(0, len(texts), batch_size):
                idx = order[start : start + batch_size]
                features = self.tokenize([texts[i] for i in idx])
                features = {k: v.to(target) if isinstance(v, torch.Tensor) else v for k, v in features.items()}
                if prompt_length is not None:
                    features["prompt_length"] = prompt_length
                yield idx, features

        try:
            self.eval()
            # no texts, no model: an int8 or onnx run would export one just to encode nothing
            model = modules_for(self, compute_dtype, self.backend) if texts else None
            with (
                Progress(hooks, "encode", total=len(texts), unit="sentences", desc="Encoding") as progress,
                torch.inference_mode(),
                autocast(compute_dtype, target),
            ):
                for idx, out in forward_batches(model, tokenized()):
                    if output_value == "token_embeddings":
                        for row, i in enumerate(idx):
                            n_tokens = int(out["attention_mask"][row].sum())
                            result[i] = self._finish(
                                out["token_embeddings"][row, :n_tokens], truncate_dim, normalize_embeddings
                            )
                    else:
                        emb = self._finish(out["sentence_embedding"], truncate_dim, normalize_embeddings)
                        if result is None:
                            result = torch.empty((len(texts), emb.shape[1]), dtype=torch.float32, device=emb.device)
                        result[torch.as_tensor(idx, device=emb.device)] = emb
                    progress.update(len(idx))
        finally:
            self.train(was_training)

        _warn_non_finite(result, len(texts))
        if output_value == "token_embeddings":
            return result[0] if single else result
        if result is None:  # no sentences: still give the right width
            result = torch.empty((0, self.get_sentence_embedding_dimension() or 0), dtype=torch.float32)
        if precision != "float32":
            result = torch.from_numpy(output_codes(result.cpu().numpy(), precision))
        if single:
            result = result[0]
        if convert_to_tensor or not convert_to_numpy:
            return result
        return result.cpu().numpy()

    def encode_query(self, sentences: str | Sequence[str], **kwargs: Any) -> np.ndarray | torch.Tensor | list[Any]:
        """:meth:`encode` with the ``query`` prompt (none when the model has none; never the default prompt).

        Example
        -------
        >>> model.prompts = {"query": "query: ", "document": "passage: "}     # doctest: +SKIP
        >>> q = model.encode_query("What is the capital of France?")        # doctest: +SKIP
        """
        return self._encode_as("query", sentences, kwargs)

    def encode_document(self, sentences: str | Sequence[str], **kwargs: Any) -> np.ndarray | torch.Tensor | list[Any]:
        """:meth:`encode` with the ``document`` prompt (none when the model has none; never the default prompt)."""
        return self._encode_as("document", sentences, kwargs)

    def _encode_as(self, role: str, sentences: Any, kwargs: dict[str, Any]) -> Any:
        # As in sentence-transformers: an explicit prompt or prompt_name wins; else the role's prompt,
        # and a model without one encodes without any prompt rather than with the default one.
        if kwargs.get("prompt") is None and kwargs.get("prompt_name") is None:
            if role in self.prompts:
                kwargs["prompt_name"] = role
            else:
                kwargs["prompt"] = ""
        return self.encode(sentences, **kwargs)

    def _prompt_length(self, prompt: str) -> int | None:
        """Tokens of ``prompt`` at the start of a prompted text (without a closing special token), cached."""
        first = self[0]
        tokenizer = getattr(first, "tokenizer", None)
        if tokenizer is None or not callable(tokenizer):
            return None
        cache = self.__dict__.setdefault("_prompt_lengths", {})
        if prompt not in cache:
            ids = first.tokenize([prompt])["input_ids"][0]
            special = set(getattr(tokenizer, "all_special_ids", ()))
            cache[prompt] = len(ids) - (1 if len(ids) and int(ids[-1]) in special else 0)
        return cache[prompt]

    @staticmethod
    def _finish(emb: torch.Tensor, truncate_dim: int | None, normalize: bool) -> torch.Tensor:
        if truncate_dim:
            emb = emb[..., :truncate_dim]
        emb = emb.float()
        return F.normalize(emb, p=2, dim=-1) if normalize else emb

    def _prompt(self, prompt: str | None, prompt_name: str | None) -> str:
        if prompt is not None:
            return prompt
        name = prompt_name or self.default_prompt_name
        if name is None:
            return ""
        if name not in self.prompts:
            raise ValueError(f"unknown prompt_name {name!r}; this model has prompts {sorted(self.prompts)}")
        return self.prompts[name]

    def weights_changed(self) -> None:
        """Drop what was derived from the weights (bfloat16 copy, onnxruntime session, packed weights).

        Optimizer steps, ``load_state_dict`` and ``.to(...)`` are noticed by
        themselves (see :mod:`workbench.runner`); call this after changing
        weights in place any other way, e.g. ``p.data.copy_(...)``.
        """
        params_changed(self.parameters())

    def similarity(self, a: Any, b: Any) -> torch.Tensor:
        """Similarity matrix between two sets of embeddings with ``similarity_fn_name``."""
        from .similarity import get_similarity

        return get_similarity(self.similarity_fn_name)(a, b)

    def similarity_pairwise(self, a: Any, b: Any) -> torch.Tensor:
        """Similarity of ``a[i]`` and ``b[i]`` for each ``i`` with ``similarity_fn_name``.

        Example
        -------
        >>> model.similarity_pairwise([[1.0, 0.0]], [[0.0, 1.0]])              # doctest: +SKIP
        tensor([0.])
        """
        from .similarity import get_similarity

        return get_similarity(self.similarity_fn_name, pairwise=True)(a, b)

    # ------------------------------------------------------------------ training
    def fit(self, train_objectives: Any, evaluator: Any = None, **options: Any) -> Any:
        """Train this encoder in place; returns the history as a pandas DataFrame.

        ``train_objectives`` is a list of ``(data, loss)`` pairs; the settings are
        those of :class:`workbench.training.TrainingConfig` (epochs, batch_size, lr,
        warmup, evaluation_steps, output_path, checkpoints, callbacks, …), as
        keywords or ``config=``.

        Example
        -------
        >>> from workbench.data import Example
        >>> from workbench.losses import CosineSimilarityLoss
        >>> data = [Example(["A man eats.", "Someone eats."], 0.9)]           # doctest: +SKIP
        >>> model.fit([(data, CosineSimilarityLoss(model))], epochs=1)        # doctest: +SKIP
        """
        from .training import fit

        return fit(self, train_objectives, evaluator, **options)

    # ------------------------------------------------------------------ saving
    def save(self, path: str | os.PathLike) -> None:
        """Write the model into the folder ``path`` in the sentence-transformers layout.

        The Transformer (when first) goes to the folder's root, every other
        module to ``<index>_<Name>/``; ``modules.json`` lists them.  Other
        files in the folder stay: each of the model's files is moved in with
        an atomic rename (see :func:`workbench.io.save_into`), and only files
        an earlier save wrote that this model lacks are removed.  A ``path``
        that is an existing file is refused.
        """
        save_into(path, self._write_files, last=(MODULES_NAME, ST_CONFIG_NAME), keep_edited=(CARD_NAME,))

    def _write_files(self, folder: Path) -> None:
        entries = []
        for idx, module in enumerate(self):
            name = type(module).__name__
            sub = "" if idx == 0 and isinstance(module, Transformer) else f"{idx}_{name}"
            module.save(folder / sub if sub else folder)
            entries.append({"idx": idx, "name": str(idx), "path": sub, "type": module.type_string()})
        write_json(folder / MODULES_NAME, entries)
        config = {
            "__version__": library_versions(),
            "model_type": "SentenceTransformer",
            "prompts": self.prompts,
            "default_prompt_name": self.default_prompt_name,
            "similarity_fn_name": self.similarity_fn_name,
        }
        if self.truncate_dim is not None:
            config["truncate_dim"] = self.truncate_dim
        write_json(folder / ST_CONFIG_NAME, config)
        # The staging folder sits inside the target: the card names the target's folder.
        (folder / CARD_NAME).write_text(encoder_card(self, folder.parent.name), encoding="utf-8")

    save_pretrained = save

    @classmethod
    def from_pretrained(cls, model_name_or_path: str | os.PathLike, **kwargs: Any) -> "SentenceEncoder":
        return cls(model_name_or_path, **kwargs)

    def __repr__(self) -> str:
        inner = ",\n".join(f"  ({i}): {type(m).__name__}({_short_config(m)})" for i, m in enumerate(self))
        return f"SentenceEncoder(\n{inner}\n)"


def check_dimensions(modules: Sequence[nn.Module], where: str) -> None:
    """Refuse modules whose widths disagree (a Pooling of 999 after a 32-wide Transformer).

    Each module that declares the width it takes (``word_embedding_dimension``,
    ``in_word_embedding_dimension`` for token vectors, ``in_features`` for
    sentence vectors) must get what the module before it produces.
    """
    token_dim: int | None = None
    sentence_dim: int | None = None
    for idx, module in enumerate(modules):
        for attr, have, kind in (
            ("word_embedding_dimension", token_dim, "token"),
            ("in_word_embedding_dimension", token_dim, "token"),
            ("in_features", sentence_dim, "sentence"),
        ):
            wanted = getattr(module, attr, None)
            if isinstance(wanted, int) and have is not None and wanted != have:
                raise ValueError(
                    f"{where}: module {idx} ({type(module).__name__}) has {attr}={wanted}, but the modules "
                    f"before it produce {kind} embeddings of width {have}; set it to {have}"
                )
        token_dim = getattr(module, "get_word_embedding_dimension", lambda: None)() or token_dim
        sentence_dim = getattr(module, "get_sentence_embedding_dimension", lambda: None)() or sentence_dim


def _short_config(module: nn.Module) -> str:
    config = {k: getattr(module, k) for k in module.config_keys} if isinstance(module, Module) else {}
    return ", ".join(f"{k}={v!r}" for k, v in config.items() if not isinstance(v, (list, dict)) or len(str(v)) < 40)
