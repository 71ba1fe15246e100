"""The notebooks in a real browser: JupyterLab on localhost, driven by headless Chromium through Playwright.

Each test opens a notebook (a copy with small parameters), runs all its
cells from the Run menu, waits for its widgets to render, checks their DOM
and saves screenshots under ``artifacts/screenshots/``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from browser_setup import CHROMIUM_ARGS, JupyterLab, ensure_chromium, prepare_notebook, wait_until
from notebook_kernel import REPO, notebook_kernel  # noqa: F401  (a fixture)

pytestmark = pytest.mark.browser

SCREENSHOTS = REPO / "artifacts" / "screenshots"
# Enough work for the widgets to show something worth seeing, little enough to run in about a minute each.
PARAMETERS: dict[str, dict[str, Any]] = {
    "03_train_sts": {"max_train": 480, "max_dev": 100, "max_test": 100, "batch_size": 16, "eval_steps": 5, "epochs": 1},
    "06_clustering": {"newsgroups_docs": 400, "agnews_docs": 200},
    "02_sts_evaluation": {"include_mpnet": False, "max_pairs": 300},
    "05_semantic_search": {"max_corpus": 100, "max_queries": 10, "quora_questions": 1000, "quora_queries": 20},
}
KERNEL_READY_S = 120
RUN_S = 300


@pytest.fixture(scope="module")
def chromium() -> Path:
    try:
        return ensure_chromium()
    except FileNotFoundError as missing:
        pytest.skip(f"no Chromium for the browser test: {missing}")


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory) -> Path:
    """Where the prepared notebooks write their results (and notebook 03 its model)."""
    return tmp_path_factory.mktemp("lab-results")


@pytest.fixture(scope="module")
def lab(notebook_kernel, chromium, results_dir, tmp_path_factory):
    """A JupyterLab server whose root holds the notebooks of PARAMETERS, prepared with those parameters."""
    root, home = tmp_path_factory.mktemp("lab-root"), tmp_path_factory.mktemp("lab-home")
    for name, parameters in PARAMETERS.items():
        extra = {"output_dir": str(results_dir / "model")} if name == "03_train_sts" else {}
        prepare_notebook(name, root, {**parameters, **extra, "results_path": str(results_dir / f"{name}.json")})
    with JupyterLab(root, home, dict(os.environ)) as server:
        yield server


@pytest.fixture(scope="module")
def browser(lab, chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, lab):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    yield page
    context.close()
    lab.shutdown_kernels()  # one notebook's kernel at a time: the CPU is small


def shot(target: Any, name: str) -> Path:
    """Save a screenshot of a page or element to ``artifacts/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    target.screenshot(path=str(path))
    return path


def run_all_cells(page: Any, lab: JupyterLab, name: str) -> None:
    """Open ``name`` in JupyterLab, wait for its kernel, and start Run > Run All Cells."""
    # A workspace of its own, reset: JupyterLab would otherwise reopen the notebooks of the previous test.
    page.goto(lab.url(f"lab/workspaces/{name}/tree/{name}.ipynb?reset"))
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=KERNEL_READY_S * 1000)
    wait_until(lambda: lab.kernel_state(f"{name}.ipynb") == "idle", KERNEL_READY_S, f"the kernel of {name} to start")
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


def wait_for_results(page: Any, lab: JupyterLab, results_dir: Path, name: str) -> None:
    """Wait until the notebook wrote its results file (every cell before it ran without error) and went idle."""
    results = results_dir / f"{name}.json"
    wait_until(results.is_file, RUN_S, f"{name} to write {results.name}; server log:\n{lab.log_tail()}")
    wait_until(lambda: lab.kernel_state(f"{name}.ipynb") == "idle", 60, f"the kernel of {name} to finish")
    assert page.get_by_text("Error displaying widget").count() == 0, f"a widget of {name} failed to render"


def test_training_monitor_in_notebook_03(page, lab, results_dir):
    run_all_cells(page, lab, "03_train_sts")
    monitor = page.locator(".wb-monitor")
    monitor.wait_for(timeout=RUN_S * 1000)
    assert monitor.locator(".wb-progress").count() == 1
    assert monitor.locator(".wb-stop button, button.wb-stop").count() == 1
    # Mid-training: two evaluations drawn, the last step not reached yet.
    rows = monitor.locator(".wb-metrics-table tbody tr")
    page.wait_for_function("document.querySelectorAll('.wb-monitor .wb-metrics-table tbody tr').length >= 2",
                           timeout=RUN_S * 1000, polling=200)
    curve_title = monitor.locator(".js-plotly-plot text", has_text="sts-dev_spearman_cosine")
    curve_title.first.wait_for(timeout=30_000)
    width = monitor.locator(".wb-progress .progress-bar").first.evaluate("bar => parseFloat(bar.style.width)")
    shot(monitor, "03_monitor_mid_training")
    monitor.scroll_into_view_if_needed()
    shot(page, "03_lab_mid_training")
    assert width < 100, f"training had finished ({width}% done) before the screenshot; give it more steps"
    assert monitor.locator(".js-plotly-plot svg.main-svg").count() >= 1

    wait_for_results(page, lab, results_dir, "03_train_sts")
    assert rows.count() >= 6  # 480 pairs / 16 = 30 steps, evaluated every 5
    assert "finished" in monitor.inner_text()
    shot(monitor, "03_monitor_finished")


def test_cluster_map_in_notebook_06(page, lab, results_dir):
    run_all_cells(page, lab, "06_clustering")
    wait_for_results(page, lab, results_dir, "06_clustering")
    news = page.locator(".wb-cluster-plot").first
    assert news.locator("canvas").count() >= 1, "the Scattergl map has no canvas"
    assert news.locator("svg.main-svg").count() >= 1
    # One keyword label per cluster on the map (k = 20).
    assert news.locator(".annotation-text").count() == 20
    shot(page.locator(".wb-cluster-explorer").first, "06_cluster_map_20newsgroups")
    shot(page.locator(".wb-cluster-explorer").nth(1), "06_cluster_map_ag_news")


def test_sts_explorer_in_notebook_02(page, lab, results_dir):
    run_all_cells(page, lab, "02_sts_evaluation")
    wait_for_results(page, lab, results_dir, "02_sts_evaluation")
    explorer = page.locator(".wb-sts-explorer")
    assert explorer.locator(".js-plotly-plot").count() == 1
    assert explorer.locator(".js-plotly-plot .annotation-text", has_text="Spearman").count() == 2  # one per model
    assert explorer.locator("table").first.locator("tbody tr").count() == 2
    shot(explorer, "02_sts_explorer")


def test_search_results_in_notebook_05(page, lab, results_dir):
    run_all_cells(page, lab, "05_semantic_search")
    wait_for_results(page, lab, results_dir, "05_semantic_search")
    results = page.locator(".wb-search-results").last
    assert results.locator("tbody tr").count() == 5
    box = page.locator(".wb-search").last
    shot(box, "05_search_results")
    # Typing a query and pressing Enter searches again, in the browser: the result rows change.
    before = results.inner_text()
    query = box.locator("input[type=text]")
    query.fill("What is the best way to lose weight?")
    query.press("Enter")
    page.wait_for_function(
        "before => [...document.querySelectorAll('.wb-search-results')].pop().innerText !== before",
        arg=before, timeout=60_000)
    assert page.locator(".wb-search-results").last.locator("tbody tr").count() == 5
    shot(box, "05_search_typed_query")
