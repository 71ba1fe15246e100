"""The saved-model folder format: ``modules.json``, ``config_sentence_transformers.json`` and each module's folder.

What a :class:`~workbench.SentenceEncoder` folder holds is sentence-transformers'
layout: ``modules.json`` lists the modules in order (type and sub-folder), and
``config_sentence_transformers.json`` the encoder's settings (prompts,
similarity function, requirements).  This module reads and checks both; a
field or value this library cannot honour is refused, naming it.  The
cross-encoder's folders share ``modules.json`` and the recorded versions.

Example
-------
>>> module_class("sentence_transformers.models.Pooling").__name__
'Pooling'
"""

from __future__ import annotations

import json
import logging
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .io import contained, folder_lock, read_json
from .modules import MODULES, ST_TYPES, Module, Pooling, Transformer

logger = logging.getLogger(__name__)

ST_CONFIG_NAME = "config_sentence_transformers.json"
MODULES_NAME = "modules.json"


def library_versions() -> dict[str, str]:
    """The versions a saved folder records under ``__version__``: torch, this library and transformers."""
    versions = {"pytorch": torch.__version__}
    for dist in ("sentence-workbench", "transformers"):
        try:
            versions[dist.replace("-", "_")] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return versions


def module_class(type_string: str) -> type[Module]:
    """Find the class for a ``modules.json`` type (ours or sentence-transformers', old or new paths)."""
    if type_string in ST_TYPES:
        return ST_TYPES[type_string]
    name = type_string.rsplit(".", 1)[-1]
    if type_string.startswith(("sentence_transformers.", "workbench.")) and name in MODULES:
        return MODULES[name]
    raise ValueError(
        f"modules.json names a module type this library does not provide: {type_string!r}; supported: {sorted(MODULES)}"
    )


def load_folder(folder: Path) -> tuple[list[nn.Module], dict[str, Any]]:
    """Modules and encoder config of a saved folder (or a plain Hugging Face model folder).

    Reads under the folder's lock, so a save in progress is never seen half done.
    """
    folder = Path(folder)
    with folder_lock(folder):
        config = read_json(folder / ST_CONFIG_NAME) if (folder / ST_CONFIG_NAME).exists() else {}
        check_encoder_config(config, folder / ST_CONFIG_NAME)
        if not (folder / MODULES_NAME).exists():
            if (folder / "config.json").exists():
                # A plain Hugging Face checkpoint: mean pooling, as sentence-transformers does.
                logger.warning("%s has no modules.json; using its transformer with mean pooling", folder)
                transformer = Transformer(folder)
                return [transformer, Pooling(transformer.get_word_embedding_dimension(), "mean")], config
            raise FileNotFoundError(
                f"{folder} is not a model folder: it has neither modules.json (sentence-transformers layout) "
                "nor config.json (Hugging Face layout)"
            )
        # A module without settings (Normalize) may have no folder at all.
        return [module_class(kind).load(path) for kind, path in module_entries(folder)], config


#: The fields of config_sentence_transformers.json (sentence-transformers 6.2 writes all but requirements).
ENCODER_CONFIG_FIELDS = (
    "__version__",
    "model_type",
    "prompts",
    "default_prompt_name",
    "similarity_fn_name",
    "truncate_dim",
    "requirements",
)


def check_encoder_config(config: Any, file: Path) -> None:
    """Refuse a ``config_sentence_transformers.json`` with a field or value this library cannot honour.

    Ignoring one would load a model that encodes differently from what its
    authors saved, so each field is either used or refused, naming it.
    """
    if not isinstance(config, dict):
        raise ValueError(f"{file} must hold a JSON object, got {type(config).__name__}")
    unknown = sorted(set(config) - set(ENCODER_CONFIG_FIELDS))
    if unknown:
        raise ValueError(
            f"{file}: field(s) {unknown} are not supported by this library (it reads "
            f"{', '.join(ENCODER_CONFIG_FIELDS)}); the model may encode differently than intended"
        )
    if config.get("model_type", "SentenceTransformer") != "SentenceTransformer":
        raise ValueError(
            f"{file}: model_type {config['model_type']!r} is not supported; only SentenceTransformer "
            "models (dense sentence embeddings) load here"
        )
    prompts = config.get("prompts") or {}
    if not isinstance(prompts, dict) or not all(
        isinstance(k, str) and isinstance(v, (str, type(None))) for k, v in prompts.items()
    ):
        raise ValueError(f"{file}: prompts must be an object of name -> text, got {prompts!r:.80}")
    _check_requirements(config.get("requirements"), file)


def _check_requirements(requirements: Any, file: Path) -> None:
    """Refuse a model whose ``requirements`` (package -> version specifier) this installation does not meet."""
    if not requirements:
        return
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    if not isinstance(requirements, dict):
        raise ValueError(f"{file}: requirements must be an object of package -> version specifier")
    unmet = []
    for package, wanted in requirements.items():
        spec = wanted.get("specifier") if isinstance(wanted, dict) else wanted
        name = {"pytorch": "torch"}.get(package, package)
        if name.replace("_", "-") == "sentence-transformers":
            continue  # this library stands in for it
        try:
            have = platform.python_version() if name == "python" else metadata.version(name)
            if not SpecifierSet(str(spec)).contains(have, prereleases=True):
                unmet.append(f"{name}{spec} (installed: {have})")
        except metadata.PackageNotFoundError:
            unmet.append(f"{name}{spec} (not installed)")
        except InvalidSpecifier:
            raise ValueError(f"{file}: requirements[{package!r}] = {spec!r} is not a version specifier") from None
    if unmet:
        raise ImportError(f"{file}: the model requires {', '.join(unmet)}")


def module_entries(folder: Path) -> list[tuple[str, Path]]:
    """``(type, folder)`` of each ``modules.json`` entry in ``idx`` order; a malformed file is refused."""
    file = folder / MODULES_NAME
    entries = read_json(file)
    expected = (
        'a non-empty JSON list of modules such as [{"idx": 0, "name": "0", "path": "", '
        '"type": "sentence_transformers.models.Transformer"}]'
    )
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{file} must hold {expected}; got {json.dumps(entries)[:80]}")
    found: dict[int, tuple[str, Path]] = {}
    for pos, entry in enumerate(entries):
        where = f"{file}, entry {pos}"
        if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
            raise ValueError(
                f'{where}: each entry must be an object with a string "type"; got {entry!r:.80}; expected {expected}'
            )
        idx = entry.get("idx", pos)
        if not isinstance(idx, int) or isinstance(idx, bool) or idx in found:
            raise ValueError(f'{where}: "idx" must be a whole number used once; got {idx!r}')
        path = contained(folder, entry.get("path", ""), f"{where}: path")
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(f"{where}: path {entry.get('path')!r} is a file; it must name a module folder")
        found[idx] = (entry["type"], path)
    return [found[idx] for idx in sorted(found)]
