"""What the notebook and browser tests share: where the notebooks are, and a Jupyter kernel of this interpreter.

The kernel gets its own name in a private Jupyter data folder, so a
``python3`` kernelspec elsewhere on the machine (another Python, another
virtual environment) can never run the notebooks instead of ``.venv``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
KERNEL_NAME = "sentence-workbench-tests"


def install_kernel(prefix: Path) -> Path:
    """Write a kernelspec that runs this interpreter below ``prefix``; return the folder to put on ``JUPYTER_PATH``.

    Example
    -------
    >>> data = install_kernel(Path("/tmp/k"))  # doctest: +SKIP
    >>> sorted(p.name for p in (data / "kernels").iterdir())  # doctest: +SKIP
    ['sentence-workbench-tests']
    """
    from ipykernel.kernelspec import install

    install(kernel_name=KERNEL_NAME, display_name="Python (sentence-workbench tests)", prefix=str(prefix))
    return prefix / "share" / "jupyter"


@pytest.fixture(scope="session")
def notebook_kernel(tmp_path_factory) -> str:
    """The name of a kernel running this interpreter, findable by papermill and Jupyter servers started by the tests."""
    data = install_kernel(tmp_path_factory.mktemp("jupyter"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", os.pathsep.join(filter(None, [str(data), os.environ.get("JUPYTER_PATH")])))
        # Kernels run in notebooks/, so folders given relative to here must become absolute.
        for name in ("WORKBENCH_DATA_DIR", "WORKBENCH_CACHE"):
            if os.environ.get(name):
                patch.setenv(name, str(Path(os.environ[name]).resolve()))
        yield KERNEL_NAME
