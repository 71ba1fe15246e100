"""Stop anywhere, in a real browser (issue 17): Run All on notebook 03, end training after a few steps with the
monitor's Stop button or with Kernel → Interrupt, and the rest of the notebook still runs.

Before the first evaluation is the hardest moment to stop: no metric has been computed yet.  The
notebook must still reach its results (the steps actually run, a test score of the best model), so
the cells queued by Run All after ``fit`` must run.  Every check waits for its condition.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from playwright.sync_api import expect

from browser_setup import JupyterLab, prepare_notebook, wait_until
from notebook_kernel import notebook_kernel  # noqa: F401  (a fixture)
from test_browser import browser, chromium, page, run_all_cells, shot  # noqa: F401  (fixtures and helpers)
from widgets.training_monitor import STOP_REASON

TEST_S = 1800  # a machine whose every core is busy runs the kernel, the server and Chromium slowly
pytestmark = [pytest.mark.browser, pytest.mark.timeout(TEST_S)]

NAME = "03_train_sts"
# 600 steps of 8 pairs, the first evaluation at step 500.  The stop is sent once the page shows step 2, and the
# page lags behind the kernel: with 100 steps a fast machine had finished training (and was past ``fit``) when
# Kernel → Interrupt arrived.  500 steps of MiniLM take a minute or more on a 2-core CPU, far longer than that lag.
STEPS, FIRST_EVALUATION = 600, 500
PARAMETERS = {
    "max_train": 8 * STEPS,
    "max_dev": 50,
    "max_test": 50,
    "batch_size": 8,
    "evaluation_steps": FIRST_EVALUATION,
    "epochs": 1,
}
#: Seconds for the notebook to reach training, and then to finish once stopped.
RUN_S = 900
#: Seconds for the page to show what the kernel sent (drawing lags far behind the kernel under load).
DRAW_S = 120


@pytest.fixture(scope="module")
def lab(notebook_kernel, chromium, tmp_path_factory):  # noqa: F811
    """A JupyterLab server for this file; each test puts its own copy of notebook 03 in its root."""
    root, home = tmp_path_factory.mktemp("lab-root"), tmp_path_factory.mktemp("lab-home")
    with JupyterLab(root, home, dict(os.environ)) as server:
        yield server


@pytest.fixture
def notebook_03(lab, tmp_path) -> dict[str, Path]:
    """Notebook 03 with many steps, written afresh into the server's root; where it writes its results and model."""
    paths = {"results": tmp_path / f"{NAME}.json", "model": tmp_path / "model"}
    prepare_notebook(
        NAME, lab.root, {**PARAMETERS, "results_path": str(paths["results"]), "output_path": str(paths["model"])}
    )
    return paths


def wait_for_training(page: Any) -> Any:
    """Wait until the monitor shows step 2 or later of the run; return the monitor."""
    monitor = page.locator(".wb-monitor")
    expect(monitor).to_contain_text(re.compile(rf"step ([2-9]|[1-9]\d+) / {STEPS}\b"), timeout=RUN_S * 1000)
    return monitor


def stop_button(monitor: Any) -> Any:
    return monitor.locator(".wb-stop button, button.wb-stop")


def menu(page: Any, menu_name: str, item: str) -> None:
    """Click ``item`` in the JupyterLab menu ``menu_name``."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(rf"^{menu_name}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(rf"^{item}$")).click()


def finished_results(lab: JupyterLab, paths: dict[str, Path]) -> dict[str, Any]:
    """The results file of the notebook, once it was written (every cell after ``fit`` ran) and the kernel is idle."""
    wait_until(paths["results"].is_file, RUN_S, f"{NAME} to write its results; server log:\n{lab.log_tail()}")
    wait_until(lambda: lab.kernel_state(f"{NAME}.ipynb") == "idle", RUN_S, f"the kernel of {NAME} to finish")
    return json.loads(paths["results"].read_text())


def check_stopped_run(page: Any, monitor: Any, results: dict[str, Any], paths: dict[str, Path], outcome: str) -> None:
    """The notebook reached its results after a stop before the first evaluation, and the page agrees."""
    steps = results["steps"]
    assert 2 <= steps < FIRST_EVALUATION, f"training ran {steps} steps; the stop came too early or too late"
    # One evaluation: of the weights training ended with. It is the best one, saved, and scored on test.
    assert results["evaluation_steps"] == [steps] and results["best"]["step"] == steps
    assert (paths["model"] / "modules.json").is_file()
    assert math.isfinite(results["test_spearman_after"]) and -1 <= results["test_spearman_after"] <= 1
    assert pd.read_csv(paths["model"] / "history.csv")["step"].max() == steps  # the history file agrees
    expect(monitor).to_contain_text(f"step {steps} / {STEPS}", timeout=DRAW_S * 1000)
    expect(monitor).to_contain_text(outcome, timeout=DRAW_S * 1000)
    expect(stop_button(monitor)).to_be_disabled(timeout=DRAW_S * 1000)
    expect(stop_button(monitor)).to_have_text("Stop", timeout=DRAW_S * 1000)
    # The test score printed by the cell after training, in the page.
    expect(page.locator(".jp-OutputArea-output", has_text="test Spearman:")).to_be_attached(timeout=DRAW_S * 1000)


def test_stop_button_before_the_first_evaluation_and_the_notebook_runs_on(page, lab, notebook_03):
    run_all_cells(page, lab, NAME)
    monitor = wait_for_training(page)
    stop = stop_button(monitor)
    expect(stop).to_be_enabled(timeout=DRAW_S * 1000)
    stop.click()
    results = finished_results(lab, notebook_03)
    check_stopped_run(page, monitor, results, notebook_03, f"stopped early: {STOP_REASON}")
    shot(monitor, "03_monitor_stopped")


def test_kernel_interrupt_before_the_first_evaluation_and_the_queued_cells_run(page, lab, notebook_03):
    run_all_cells(page, lab, NAME)
    monitor = wait_for_training(page)
    menu(page, "Kernel", "Interrupt Kernel")
    results = finished_results(lab, notebook_03)
    check_stopped_run(page, monitor, results, notebook_03, "interrupted")
    shot(monitor, "03_monitor_interrupted")
