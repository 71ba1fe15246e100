"""Transformer: any Hugging Face encoder turned into token embeddings."""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from transformers import AutoConfig, AutoModel, AutoTokenizer

from ..io import read_json, write_json
from ..validation import positive_int
from .base import Module, register
from .fused_encoder import FusedEncoder, fused_enabled, supports_fused

logger = logging.getLogger(__name__)

#: Names sentence-transformers has used for this module's config over the years.
CONFIG_FILE_NAMES = (
    "sentence_bert_config.json",
    "sentence_roberta_config.json",
    "sentence_distilbert_config.json",
    "sentence_camembert_config.json",
    "sentence_albert_config.json",
    "sentence_xlm-roberta_config.json",
    "sentence_xlnet_config.json",
)


#: Fields of sentence_bert_config.json that sentence-transformers writes (6.2 and earlier releases), with the
#: values this module honours: a callable accepts the value, a tuple lists the accepted values.
CONFIG_FIELDS: dict[str, Any] = {
    "max_seq_length": lambda v: v is None or isinstance(v, int),
    "do_lower_case": lambda v: isinstance(v, bool),
    "model_args": lambda v: v is None or isinstance(v, dict),
    "tokenizer_args": lambda v: v is None or isinstance(v, dict),
    "config_args": lambda v: v is None or isinstance(v, dict),
    "transformer_task": ("feature-extraction",),
    # 6.2's default for text models: the token embeddings are the model's last hidden state
    "modality_config": (None, {"text": {"method": "forward", "method_output_name": "last_hidden_state"}}),
    "module_output_name": (None, "token_embeddings"),
    "processing_kwargs": (None, {}),
    "unpad_inputs": lambda v: v is None or isinstance(v, bool),  # a speed setting: the same embeddings either way
    "query_length": (None,),
    "document_length": (None,),
    "query_expansion": (None,),
}


def check_config(config: Any, file: Path) -> None:
    """Refuse a Transformer config with a field or value this module does not honour, naming it."""
    if not isinstance(config, dict):
        raise ValueError(f"{file} must hold a JSON object, got {type(config).__name__}")
    for key, value in config.items():
        accepted = CONFIG_FIELDS.get(key)
        if accepted is None:
            raise ValueError(
                f"{file}: field {key!r} is not supported (this library reads {', '.join(CONFIG_FIELDS)}); "
                "the model would encode differently than intended"
            )
        if not (accepted(value) if callable(accepted) else value in accepted):
            expected = "" if callable(accepted) else f"; supported: {', '.join(map(repr, accepted))}"
            raise ValueError(f"{file}: {key}={value!r} is not supported{expected}")


#: Files a Hugging Face tokenizer is built from; a local model folder needs at least one.
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
    "spm.model",
    "source.spm",
    "sentencepiece.model",
    "vocab.model",
)


def check_tokenizer_files(folder: Path) -> None:
    """Refuse a local model folder without a tokenizer (every word would become ``[UNK]``)."""
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise FileNotFoundError(
            f"Transformer folder {folder} has no tokenizer files; looked for {', '.join(TOKENIZER_FILES)}. "
            "Save the tokenizer beside the model (tokenizer.save_pretrained(folder))"
        )


def load_pretrained(auto_class: Any, source: str, **kwargs: Any) -> Any:
    """``auto_class.from_pretrained(source, **kwargs)``; damaged weights in a local folder raise ``ValueError`` naming them."""
    try:
        return auto_class.from_pretrained(source, **kwargs)
    except (SafetensorError, EOFError, RuntimeError, pickle.UnpicklingError) as err:
        if not Path(source).is_dir():
            raise
        # The libraries' messages do not say which file is broken.
        files = ", ".join(sorted(p.name for p in Path(source).iterdir() if p.suffix in (".safetensors", ".bin")))
        raise ValueError(
            f"the model weights in {source} ({files}) are damaged or truncated "
            f"({type(err).__name__}: {err}); save or download the model again"
        ) from err


@register
class Transformer(Module):
    """Token embeddings from a Hugging Face ``AutoModel`` with its ``AutoTokenizer``.

    Parameters
    ----------
    model_name_or_path:
        A folder with ``config.json``, weights and tokenizer files, or a hub id.
    max_seq_length:
        Longer inputs are truncated (one warning per module). ``None`` uses
        the tokenizer's and the model's limits; more tokens than the model's
        position embeddings hold (:meth:`max_positions`) is refused.
    do_lower_case:
        Lower-case text before tokenising (for cased vocabularies used uncased).
    output_hidden_states:
        Also return ``all_layer_embeddings`` (needed by WeightedLayerPooling, WKPooling).
        Kept in the model's ``config.json``, so a saved model remembers it; ``None``
        takes the value from there.
    model_args, tokenizer_args, config_args:
        Passed to the ``from_pretrained`` calls.

    Example
    -------
    >>> from workbench.modules import Transformer, Pooling
    >>> from workbench import SentenceEncoder
    >>> t = Transformer("path/to/bert")                                   # doctest: +SKIP
    >>> enc = SentenceEncoder(modules=[t, Pooling(t.get_word_embedding_dimension())])  # doctest: +SKIP
    """

    st_name = "Transformer"
    # sentence-transformers 0.3 had one class per architecture; their folders are a Transformer's.
    st_legacy_names = ("BERT", "RoBERTa", "DistilBERT", "ALBERT", "XLMRoBERTa", "XLNet", "CamemBERT")
    config_keys = ("max_seq_length", "do_lower_case")

    def __init__(
        self,
        model_name_or_path: str | os.PathLike,
        max_seq_length: int | None = None,
        do_lower_case: bool = False,
        output_hidden_states: bool | None = None,
        model_args: dict[str, Any] | None = None,
        tokenizer_args: dict[str, Any] | None = None,
        config_args: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        source = str(model_name_or_path)
        local = Path(source).is_dir()
        if local:
            check_tokenizer_files(Path(source))
        config = AutoConfig.from_pretrained(source, **(config_args or {}))
        if output_hidden_states is not None:
            config.output_hidden_states = output_hidden_states
        self.auto_model = load_pretrained(AutoModel, source, config=config, **(model_args or {}))
        self.tokenizer = AutoTokenizer.from_pretrained(source, **(tokenizer_args or {}))
        if max_seq_length is None:
            limits = [self.max_positions(), self.tokenizer.model_max_length]
            limits = [n for n in limits if isinstance(n, int) and 0 < n < 1_000_000]
            max_seq_length = min(limits) if limits else 512
        self.max_seq_length = max_seq_length
        self.do_lower_case = do_lower_case
        self._warned_truncation = False
        self._fused = FusedEncoder(self.auto_model) if supports_fused(self.auto_model) else None

    @property
    def max_seq_length(self) -> int:
        """Tokens per text; longer texts are truncated."""
        return self._max_seq_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        # Checked here, not at the first long text: past the limit the model fails with a bare tensor-size error.
        value = positive_int("max_seq_length", value)
        limit = self.max_positions()
        if limit is not None and value > limit:
            raise ValueError(
                f"max_seq_length must be at most {limit} for this {self.auto_model.config.model_type} model "
                f"(the tokens its position embeddings cover), got {value}"
            )
        self._max_seq_length = value

    def max_positions(self) -> int | None:
        """The most tokens the model can take, or None when its positions set no limit.

        That is ``max_position_embeddings``, less the offset of models that
        number positions after the padding index (RoBERTa, XLM-R, MPNet);
        models without absolute position embeddings (DeBERTa-v2) have none.
        """
        config = self.auto_model.config
        positions = getattr(config, "max_position_embeddings", None)
        if not isinstance(positions, int) or positions < 1 or getattr(config, "position_biased_input", True) is False:
            return None
        padding_idx = getattr(getattr(self.auto_model, "embeddings", None), "padding_idx", None)
        return positions - (padding_idx + 1) if isinstance(padding_idx, int) else positions

    @property
    def output_hidden_states(self) -> bool:
        return bool(self.auto_model.config.output_hidden_states)

    def get_word_embedding_dimension(self) -> int:
        return int(self.auto_model.config.hidden_size)

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Tokenise a batch; inputs longer than ``max_seq_length`` are cut (one warning)."""
        if self.do_lower_case:
            texts = [t.lower() for t in texts]
        batch = self.tokenizer(
            texts,
            padding=True,
            truncation="longest_first",
            max_length=self.max_seq_length,
            return_tensors="pt",
        )
        if not self._warned_truncation and batch["input_ids"].shape[1] == self.max_seq_length:
            self._warn_if_truncated(texts, batch["attention_mask"])
        return dict(batch)

    def text_lengths(self, texts: list[str]) -> list[int]:
        """Token counts (capped at ``max_seq_length``); the encoder batches texts of equal length together."""
        if self.do_lower_case:
            texts = [t.lower() for t in texts]
        ids = self.tokenizer(
            texts,
            truncation=True,
            max_length=self.max_seq_length,
            return_attention_mask=False,
            return_token_type_ids=False,
        )["input_ids"]
        return [len(row) for row in ids]

    def _warn_if_truncated(self, texts: list[str], mask: torch.Tensor) -> None:
        # Only rows that reached the limit can have been cut; re-tokenise just those.
        full = [texts[i] for i in torch.nonzero(mask.sum(1) == self.max_seq_length).flatten().tolist()]
        lengths = [len(ids) for ids in self.tokenizer(full, truncation=False)["input_ids"]]
        cut = sum(n > self.max_seq_length for n in lengths)
        if cut:
            self._warned_truncation = True
            logger.warning(
                "%d text(s) longer than max_seq_length=%d tokens were truncated "
                "(raise encoder.max_seq_length to keep more; this warning is shown once).",
                cut,
                self.max_seq_length,
            )

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        # The packed-token path gives the same results faster, for inference and training alike.
        if self._fused is not None and not self.output_hidden_states and fused_enabled():
            features["token_embeddings"] = self._fused(features)
            return features
        inputs = {k: features[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in features}
        output = self.auto_model(**inputs, return_dict=True)
        features["token_embeddings"] = output.last_hidden_state
        if self.output_hidden_states:
            features["all_layer_embeddings"] = output.hidden_states
        return features

    def save(self, path: str | os.PathLike) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.auto_model.save_pretrained(path, safe_serialization=True)
        self.tokenizer.save_pretrained(path)
        write_json(path / "sentence_bert_config.json", self.get_config())

    @classmethod
    def load(cls, path: str | os.PathLike, **kwargs: Any) -> "Transformer":
        path = Path(path)
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"Transformer folder {path} has no config.json (the Hugging Face model config)")
        config: dict[str, Any] = {}
        for name in CONFIG_FILE_NAMES:
            if (path / name).exists():
                config = read_json(path / name)
                check_config(config, path / name)
                break
        return cls(path, **cls.config_from_file(config), **kwargs)

    @classmethod
    def config_from_file(cls, config: dict[str, Any]) -> dict[str, Any]:
        return {
            k: v for k, v in config.items() if k in (*cls.config_keys, "model_args", "tokenizer_args", "config_args")
        }
