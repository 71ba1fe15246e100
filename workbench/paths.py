"""Where the workbench keeps downloads and looks for data.

``WORKBENCH_CACHE``
    the cache folder for downloaded models and data sets
    (default ``~/.cache/sentence-workbench``).
``WORKBENCH_DATA_DIR``
    a folder holding data sets already (for example a mirror); looked in
    before the cache and before any download.

A source checkout may have a data mirror beside it, ``../shared/datasets``:
:func:`use_data_mirror` makes it the data folder when ``WORKBENCH_DATA_DIR``
names none.  It is only a fast path: without it, data sets download from
their public sources.  The test suite, the examples, the benchmarks and the
notebooks all call it.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "WORKBENCH_CACHE"
DATA_DIR_ENV = "WORKBENCH_DATA_DIR"
#: Where a data mirror sits relative to a source checkout: beside it.
MIRROR_BESIDE_CHECKOUT = Path("..", "shared", "datasets")
#: The source checkout this package was imported from; None when it is installed (no pyproject.toml above it).
CHECKOUT: Path | None = Path(__file__).resolve().parents[1]
if not (CHECKOUT / "pyproject.toml").is_file():
    CHECKOUT = None


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


def checkout_mirror() -> Path | None:
    """The data mirror beside the source checkout (``<checkout>/../shared/datasets``), or None when there is none.

    None as well when the package is installed rather than run from a checkout.

    Example
    -------
    >>> mirror = checkout_mirror()
    >>> mirror is None or mirror.parts[-2:] == ("shared", "datasets")
    True
    """
    if CHECKOUT is None:
        return None
    mirror = (CHECKOUT / MIRROR_BESIDE_CHECKOUT).resolve()
    return mirror if mirror.is_dir() else None


def use_data_mirror(mirror: str | os.PathLike[str] | None = None) -> Path | None:
    """Make a data mirror the data folder, unless ``WORKBENCH_DATA_DIR`` names one already; return the folder in use.

    Parameters
    ----------
    mirror
        The mirror folder; None: the one beside the source checkout
        (:func:`checkout_mirror`).  A folder that does not exist is not
        used: data sets then come from the cache or download.

    Returns
    -------
    Path or None
        The data folder now in ``WORKBENCH_DATA_DIR``, as an absolute path
        (written back so, for processes started in other folders, such as a
        Jupyter kernel); None when there is none.

    Raises
    ------
    NotADirectoryError
        ``WORKBENCH_DATA_DIR`` names something that is not a folder.

    Example
    -------
    >>> import os, tempfile
    >>> from unittest import mock
    >>> with tempfile.TemporaryDirectory() as mirror, mock.patch.dict(os.environ, {DATA_DIR_ENV: ""}):
    ...     use_data_mirror(mirror) == Path(mirror).resolve() == Path(os.environ[DATA_DIR_ENV])
    True
    """
    folder = data_dir()
    if folder is None:
        candidate = checkout_mirror() if mirror is None else Path(mirror).expanduser()
        if candidate is None or not candidate.is_dir():
            return None
        folder = candidate
    folder = folder.resolve()
    os.environ[DATA_DIR_ENV] = str(folder)
    return folder
