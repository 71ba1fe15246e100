"""Where data comes from: WORKBENCH_DATA_DIR, the data mirror beside the checkout, or neither."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from workbench import paths


@pytest.fixture
def checkout(tmp_path, monkeypatch) -> Path:
    """A fake checkout in tmp_path (no mirror beside it yet); WORKBENCH_DATA_DIR unset."""
    repo = tmp_path / "repo"
    repo.mkdir()
    monkeypatch.setattr(paths, "CHECKOUT", repo)
    monkeypatch.delenv(paths.DATA_DIR_ENV, raising=False)
    return repo


def test_the_mirror_beside_the_checkout_becomes_the_data_folder(checkout, tmp_path):
    mirror = tmp_path / "shared" / "datasets"
    mirror.mkdir(parents=True)
    assert paths.checkout_mirror() == mirror.resolve()
    assert paths.use_data_mirror() == mirror.resolve()
    assert os.environ[paths.DATA_DIR_ENV] == str(mirror.resolve()) and paths.data_dir() == mirror.resolve()


def test_without_a_mirror_nothing_is_set_and_data_downloads(checkout, tmp_path):
    assert paths.checkout_mirror() is None
    assert paths.use_data_mirror() is None
    assert paths.use_data_mirror(tmp_path / "no-mirror-here") is None  # a named mirror that is not there
    assert paths.DATA_DIR_ENV not in os.environ and paths.data_dir() is None


def test_an_installed_package_has_no_checkout_mirror(monkeypatch):
    monkeypatch.setattr(paths, "CHECKOUT", None)
    monkeypatch.delenv(paths.DATA_DIR_ENV, raising=False)
    assert paths.checkout_mirror() is None and paths.use_data_mirror() is None


def test_the_environment_variable_wins_and_is_made_absolute(checkout, tmp_path, monkeypatch):
    (tmp_path / "shared" / "datasets").mkdir(parents=True)  # a mirror that must not be used
    mine = tmp_path / "my-data"
    mine.mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(paths.DATA_DIR_ENV, "my-data")
    assert paths.use_data_mirror() == mine.resolve()
    assert paths.use_data_mirror(tmp_path / "shared" / "datasets") == mine.resolve()
    # Absolute now: a Jupyter kernel started in another folder finds the same data.
    assert os.environ[paths.DATA_DIR_ENV] == str(mine.resolve())


def test_an_explicit_mirror_is_used_when_the_variable_is_unset(checkout, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert paths.use_data_mirror(str(elsewhere)) == elsewhere.resolve()
    assert os.environ[paths.DATA_DIR_ENV] == str(elsewhere.resolve())


def test_a_variable_that_names_no_folder_is_an_error(checkout, tmp_path, monkeypatch):
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(tmp_path / "missing"))
    with pytest.raises(NotADirectoryError, match=r"WORKBENCH_DATA_DIR='.*missing' is not a folder"):
        paths.use_data_mirror()


def test_this_checkout_is_found():
    # The tests run from a source checkout: the package's parent holds pyproject.toml.
    assert paths.CHECKOUT == Path(__file__).resolve().parents[1]
