"""The contract every module of an encoder follows.

A module is a ``torch.nn.Module`` whose ``forward`` takes the *features*
dictionary and returns it with new entries.  The keys used across the
project:

``input_ids``, ``attention_mask``, ``token_type_ids``
    what the first module's ``tokenize`` returns;
``token_embeddings`` (batch, tokens, dim)
    per-token vectors;
``all_layer_embeddings`` list of (batch, tokens, dim)
    every hidden state, when a Transformer is asked for them;
``token_weights_sum`` (batch,)
    the sum of the word weights when WordWeights ran;
``sentence_embedding`` (batch, dim)
    the vector of each sentence.

Each module keeps its settings in ``config.json`` (the keys named by
``config_keys``) and its weights in ``model.safetensors`` inside its own
folder, the layout of sentence-transformers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import torch
from safetensors.torch import save_file
from torch import nn

from ..io import read_json, read_tensor_file, write_json

#: module name -> class; filled by :func:`register`.
MODULES: dict[str, type["Module"]] = {}
#: sentence-transformers type string (as in modules.json) -> our class.
ST_TYPES: dict[str, type["Module"]] = {}

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


def register(cls: type["Module"]) -> type["Module"]:
    """Class decorator: make a module loadable by name and by its sentence-transformers type."""
    MODULES[cls.__name__] = cls
    for st_name in cls.st_types():
        ST_TYPES[st_name] = cls
    return cls


def read_weights(path: Path, owner: str) -> dict[str, torch.Tensor]:
    """The tensors in ``model.safetensors`` (or a legacy ``pytorch_model.bin``) of the module folder ``path``.

    A missing file names the folder and ``owner`` (the module class); a
    damaged one is named by :func:`workbench.io.read_tensor_file`.
    """
    for name in (WEIGHTS_NAME, "pytorch_model.bin"):
        if (path / name).exists():
            return read_tensor_file(path / name)
    raise FileNotFoundError(f"{owner} folder {path} has no {WEIGHTS_NAME} (nor pytorch_model.bin)")


def non_default(module: nn.Module, defaults: dict[str, Any]) -> dict[str, Any]:
    """The attributes of ``module`` named in ``defaults`` whose values differ from those defaults.

    For config fields that newer sentence-transformers releases added: written
    only when set, so that older releases (which refuse unknown keys) still load the folder.
    """
    return {key: getattr(module, key) for key, default in defaults.items() if getattr(module, key) != default}


def refuse_unknown_fields(
    config: dict[str, Any], known: tuple[str, ...] | list[str], what: str, consequence: str = ""
) -> None:
    """Raise ``ValueError`` naming the fields of a saved ``config`` that ``what`` (e.g. ``"Dense"``) does not read.

    A field this library ignored would make the loaded model compute something else than the saved one.

    Example
    -------
    >>> refuse_unknown_fields({"in_features": 4, "gate": 1}, ["in_features"], "Dense")
    Traceback (most recent call last):
    ValueError: Dense config field(s) ['gate'] are not supported (this library reads in_features)
    """
    unknown = sorted(set(config) - set(known))
    if unknown:
        raise ValueError(
            f"{what} config field(s) {unknown} are not supported (this library reads {', '.join(known)}){consequence}"
        )


class Module(nn.Module):
    """Base class: config round trip plus safetensors weights.

    Subclasses list their constructor arguments in ``config_keys``; the
    defaults of :meth:`save` and :meth:`load` then need no code of their own.
    """

    config_keys: ClassVar[tuple[str, ...]] = ()
    #: Name of the class in sentence-transformers, when it has one; ``None``
    #: for modules of our own (they are written as ``workbench.modules.<Name>``).
    st_name: ClassVar[str | None] = None
    #: Older sentence-transformers classes this module reads the folders of (``models.BERT`` in 0.3).
    st_legacy_names: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def st_types(cls) -> list[str]:
        if cls.st_name is None:
            return []
        return [
            f"sentence_transformers.models.{cls.st_name}",
            f"sentence_transformers.models.{cls.st_name.lower()}.{cls.st_name}",
            *(f"sentence_transformers.models.{name}" for name in cls.st_legacy_names),
        ]

    @classmethod
    def type_string(cls) -> str:
        """What ``modules.json`` records for this module."""
        if cls.st_name is not None:
            return f"sentence_transformers.models.{cls.st_name}"
        return f"workbench.modules.{cls.__name__}"

    def get_config(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.config_keys}

    def save(self, path: str | os.PathLike) -> None:
        """Write ``config.json`` and, when the module has any, ``model.safetensors``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        write_json(path / CONFIG_NAME, self.get_config())
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        if state:
            save_file(state, str(path / WEIGHTS_NAME))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Module":
        path = Path(path)
        if (path / CONFIG_NAME).exists():
            config = read_json(path / CONFIG_NAME)
        elif cls.config_keys:
            raise FileNotFoundError(f"{cls.__name__} folder {path} has no {CONFIG_NAME}")
        else:
            config = {}
        module = cls(**cls.config_from_file(config))
        module.load_weights(path)
        return module

    @classmethod
    def config_from_file(cls, config: dict[str, Any]) -> dict[str, Any]:
        """Map a config read from disk to constructor arguments (override for legacy keys)."""
        return {k: v for k, v in config.items() if k in cls.config_keys}

    def load_weights(self, path: Path) -> None:
        """Load ``model.safetensors`` (or a legacy ``pytorch_model.bin``) when the module has parameters."""
        if self.state_dict():
            self.load_state_dict(read_weights(path, type(self).__name__))

    def get_sentence_embedding_dimension(self) -> int | None:
        """The width of ``sentence_embedding`` after this module, or None if it does not set it."""
        return None
