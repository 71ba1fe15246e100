# Two commands: `make lab` opens the workbench, `make test` runs the whole suite.
# Both create (or reuse) .venv and install what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# A CPU build of torch; an unpinned torch would pull a multi-GB CUDA build.
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.installed
# The data-set mirror beside the checkout (../shared/datasets) needs no line here: the tests, examples,
# benchmarks and notebooks call workbench.paths.use_data_mirror() themselves. Another folder:
# `WORKBENCH_DATA_DIR=/path make test`.
# Jupyter refuses to run as root unless told to (containers, CI machines).
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: setup lab test test-fast bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check "$(TORCH)"
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

lab: setup
	$(PY) -m workbench.zoo all-MiniLM-L6-v2
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(LAB_ARGS)

test: setup
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not slow and not notebook and not browser"

bench: setup
	$(PY) bench/encode.py

clean:
	rm -rf $(VENV) .pytest_cache artifacts
