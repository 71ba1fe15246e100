"""The checks that keep the code base in shape, run with the suite: lint, format, types, and the layer contract.

Their configuration is in pyproject.toml (``[tool.ruff]``, ``[tool.mypy]``, ``[tool.importlinter]``). The
tools come with the ``test`` extra; a missing tool fails here rather than skipping, so CI cannot pass
without the check.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def run(args: list[str], cwd: Path = REPO, **env: str) -> subprocess.CompletedProcess:
    """Run a check with this interpreter, on the code in ``cwd`` rather than any installed copy."""
    environ = {**os.environ, "PYTHONPATH": str(cwd), **env}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=environ, capture_output=True, text=True)


def test_the_layers_hold():
    out = run(["-c", LINT_IMPORTS, "--no-cache", "--no-logo"])
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


def test_the_layer_contract_catches_a_core_import_of_plotly_and_a_view_import_of_bench(tmp_path):
    """The contracts, on a two-package tree that breaks each: the import inside a function counts too."""
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    (tmp_path / "workbench").mkdir()
    (tmp_path / "workbench" / "__init__.py").write_text("def draw():\n    import plotly.graph_objects\n")
    (tmp_path / "widgets").mkdir()
    (tmp_path / "widgets" / "__init__.py").write_text("from bench.common import table\n")
    out = run(["-c", LINT_IMPORTS, "--no-cache", "--no-logo"], cwd=tmp_path)
    assert out.returncode != 0
    assert "2 broken" in out.stdout, out.stdout + out.stderr
    assert "workbench -> plotly" in out.stdout and "widgets -> bench" in out.stdout, out.stdout


def test_ruff_finds_nothing():
    out = run(["-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."])
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_code_is_formatted():
    # `ruff format .` fixes what this finds; notebooks and the quoted 0.3 README code are excluded (pyproject.toml).
    out = run(["-m", "ruff", "format", "--check", "--no-cache", "."])
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_finds_nothing_in_the_library_and_the_views():
    # The cache under .mypy_cache makes later runs take seconds instead of minutes.
    out = run(["-m", "mypy", "workbench", "widgets"])
    assert out.returncode == 0, out.stdout + out.stderr
