"""Where the workbench keeps downloads and looks for data.

``WORKBENCH_CACHE``
    the cache folder for downloaded models and data sets
    (default ``~/.cache/sentence-workbench``).
``WORKBENCH_DATA_DIR``
    a folder holding data sets already (for example a mirror); looked in
    before the cache and before any download.
"""
from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "WORKBENCH_CACHE"
DATA_DIR_ENV = "WORKBENCH_DATA_DIR"


def cache_dir(*parts: str) -> Path:
    """The cache folder (created on demand), or a subfolder of it."""
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "sentence-workbench")
    path = root.joinpath(*parts).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path | None:
    """The folder named by ``WORKBENCH_DATA_DIR``, or None when it is not set."""
    value = os.environ.get(DATA_DIR_ENV)
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise NotADirectoryError(f"{DATA_DIR_ENV}={value!r} is not a folder")
    return path
