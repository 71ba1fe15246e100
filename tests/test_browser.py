"""The notebooks in a real browser: JupyterLab on localhost, driven by headless Chromium through Playwright.

Each test opens a notebook (a copy with small parameters), runs all its
cells from the Run menu, waits for its widgets to render, checks their DOM
and saves screenshots under ``artifacts/screenshots/``.

Every check of the page waits for its condition (Playwright's ``expect``,
``wait_for_function``): the kernel, the browser and plotly draw at their own
pace, and on a busy machine a count taken once can come before the drawing.
``tests/stress_browser.sh`` runs this file while every core is kept busy.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from browser_setup import CHROMIUM_ARGS, JupyterLab, ensure_chromium, prepare_notebook, wait_until
from notebook_kernel import KERNEL_NAME, REPO, notebook_kernel  # noqa: F401  (a fixture)

#: Seconds one test may take in all: bounded, but long enough for a machine whose every core is busy.
TEST_S = 1800
pytestmark = [pytest.mark.browser, pytest.mark.timeout(TEST_S)]

SCREENSHOTS = REPO / "artifacts" / "screenshots"
# Enough work for the widgets to show something worth seeing, little enough to run in about a minute each
# on a quiet machine. Notebook 03: 30 steps of 8 pairs, evaluated every 5, so the monitor is seen mid-run.
PARAMETERS: dict[str, dict[str, Any]] = {
    "03_train_sts": {
        "max_train": 240,
        "max_dev": 50,
        "max_test": 50,
        "batch_size": 8,
        "evaluation_steps": 5,
        "epochs": 1,
    },
    "06_clustering": {"newsgroups_docs": 400, "agnews_docs": 200},
    "02_sts_evaluation": {"include_mpnet": False, "max_pairs": 300},
    "05_semantic_search": {"max_corpus": 100, "max_queries": 10, "quora_questions": 500, "quora_queries": 20},
    # The committed table, a PCA map and one epoch, as in test_notebook_09.py.
    "09_your_own_data": {
        "table_path": str(REPO / "tests" / "fixtures" / "own_pairs.csv"),
        "map_projection": "pca",
        "epochs": 1,
        "batch_size": 16,
    },
}
KERNEL_READY_S = 180
#: Seconds a notebook may run before its results file must exist.
RUN_S = TEST_S - 300
#: How long a check waits for the page to show what it expects (drawing can lag far behind the kernel under load).
DRAW_S = 120


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
        trains = name in ("03_train_sts", "09_your_own_data")
        extra = {"output_path": str(results_dir / f"{name}-model")} if trains else {}
        prepare_notebook(name, root, {**parameters, **extra, "results_path": str(results_dir / f"{name}.json")})
    with JupyterLab(root, home, dict(os.environ)) as server:
        yield server


@pytest.fixture(scope="module")
def browser(lab, chromium):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=DRAW_S * 1000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, lab, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(DRAW_S * 1000)  # clicks, screenshots and wait_for wait this long too
    page = context.new_page()
    console: list[str] = []  # e.g. anywidget's "[anywidget] Failed to initialize model."
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    failed_before = request.session.testsfailed
    yield page
    if request.session.testsfailed > failed_before:
        # What the page showed, and what the browser logged, when the test failed, beside the screenshots.
        name = f"failed_{request.node.name}"
        shot(page, name)
        (SCREENSHOTS / f"{name}.html").write_text(page.content())
        (SCREENSHOTS / f"{name}.console.txt").write_text("\n".join(console))
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


def wait_for_results(lab: JupyterLab, results_dir: Path, name: str) -> None:
    """Wait until the notebook wrote its results file (every cell before it ran without error) and went idle.

    The kernel being done says nothing about the page: the browser may still be drawing what it sent.
    """
    results = results_dir / f"{name}.json"
    wait_until(results.is_file, RUN_S, f"{name} to write {results.name}; server log:\n{lab.log_tail()}")
    wait_until(lambda: lab.kernel_state(f"{name}.ipynb") == "idle", RUN_S, f"the kernel of {name} to finish")


def run_to_the_end(page: Any, lab: JupyterLab, results_dir: Path, name: str) -> None:
    """Run all cells of ``name`` in the browser and wait until it wrote its results and went idle."""
    run_all_cells(page, lab, name)
    wait_for_results(lab, results_dir, name)


def no_widget_failed(page: Any, name: str) -> None:
    """Assert that no widget of the page failed to render (called once the widgets checked have drawn)."""
    expect(page.get_by_text("Error displaying widget"), f"a widget of {name} failed to render").to_have_count(0)


def at_least(locator: Any, n: int) -> None:
    """Wait until ``locator`` matches ``n`` or more elements."""
    expect(locator.nth(n - 1)).to_be_attached()


def test_training_monitor_in_notebook_03(page, lab, results_dir):
    run_all_cells(page, lab, "03_train_sts")
    monitor = page.locator(".wb-monitor")
    monitor.wait_for(timeout=RUN_S * 1000)
    expect(monitor.locator(".wb-progress")).to_have_count(1)
    expect(monitor.locator(".wb-stop button, button.wb-stop")).to_have_count(1)
    # Mid-training: two evaluations drawn with their curve, the last step not reached yet. The progress is
    # read in the same instant the rest is seen, so a slow screenshot cannot change the verdict.
    width = page.wait_for_function(
        """() => {
        const monitor = document.querySelector('.wb-monitor');
        const rows = monitor.querySelectorAll('.wb-metrics-table tbody tr').length;
        const curve = [...monitor.querySelectorAll('.js-plotly-plot text')]
            .some(text => text.textContent.includes('sts-dev_spearman_cosine'));
        const bar = monitor.querySelector('.wb-progress .progress-bar');
        return rows >= 2 && curve && bar ? {width: parseFloat(bar.style.width)} : null;
    }""",
        timeout=RUN_S * 1000,
        polling=200,
    ).json_value()["width"]
    at_least(monitor.locator(".js-plotly-plot svg.main-svg"), 1)
    shot(monitor, "03_monitor_mid_training")
    monitor.scroll_into_view_if_needed()
    shot(page, "03_lab_mid_training")
    assert width < 100, f"training had finished ({width}% done) when two evaluations showed; give it more steps"

    wait_for_results(lab, results_dir, "03_train_sts")
    at_least(monitor.locator(".wb-metrics-table tbody tr"), 6)  # 240 pairs / 8 = 30 steps, evaluated every 5
    expect(monitor).to_contain_text("finished")
    no_widget_failed(page, "03_train_sts")
    shot(monitor, "03_monitor_finished")


def test_cluster_map_in_notebook_06(page, lab, results_dir):
    run_to_the_end(page, lab, results_dir, "06_clustering")
    news = page.locator(".wb-cluster-plot").first
    at_least(news.locator("canvas"), 1)  # the Scattergl map
    at_least(news.locator("svg.main-svg"), 1)
    # One keyword label per cluster on the map (k = 20).
    expect(news.locator(".annotation-text")).to_have_count(20)
    at_least(page.locator(".wb-cluster-explorer"), 2)  # 20 Newsgroups and AG News
    no_widget_failed(page, "06_clustering")
    shot(page.locator(".wb-cluster-explorer").first, "06_cluster_map_20newsgroups")
    shot(page.locator(".wb-cluster-explorer").nth(1), "06_cluster_map_ag_news")


#: How many times slower the page's CPU runs in test_cluster_map_on_a_slow_browser: plotly's 5 MB widget module
#: then takes seconds to load, as it does on a loaded machine.
CPU_SLOWDOWN = 20


def test_cluster_map_on_a_slow_browser(page, lab):
    """The map draws in full even when the browser needs more than 2 s to load plotly's widget module.

    anywidget gives a model 2 s to load its module; past that it drops every message the kernel sends the model
    (anywidget 0.11: its Runtime's ``ready`` promise rejects), so a figure whose traces, layout and CSS class
    came as updates stayed an empty 700 x 360 frame (issue 10, section 5).
    """
    import nbformat

    name = "slow_cluster_map"
    code = (
        f"import sys\nsys.path.insert(0, {str(REPO)!r})\n"
        "import numpy as np\nfrom widgets import ClusterExplorer\n"
        "points = np.random.default_rng(0).normal(size=(60, 8))\n"
        "explorer = ClusterExplorer(points, [f'text {i}' for i in range(60)], k=3, projection='pca')\n"
        "explorer.widget"
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    notebook.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": KERNEL_NAME, "language": "python"}
    nbformat.write(notebook, lab.root / f"{name}.ipynb")
    run_all_cells(page, lab, name)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": CPU_SLOWDOWN})
    # Slow until plotly's module has loaded and drawn a frame (anywidget's 2 s are over then); full speed for the rest.
    page.locator(".wb-cluster-explorer .js-plotly-plot").wait_for(timeout=RUN_S * 1000)
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
    plot = page.locator(".wb-cluster-explorer .wb-cluster-plot")
    expect(plot.locator(".legend .traces")).to_have_count(3)  # one trace per cluster, k = 3
    expect(plot.locator(".main-svg").first).to_have_attribute("height", "560")  # the layout's height, not plotly's 360
    no_widget_failed(page, name)
    shot(page.locator(".wb-cluster-explorer"), "slow_browser_cluster_map")


def test_sts_explorer_in_notebook_02(page, lab, results_dir):
    run_to_the_end(page, lab, results_dir, "02_sts_evaluation")
    explorer = page.locator(".wb-sts-explorer")
    expect(explorer.locator(".js-plotly-plot")).to_have_count(1)
    expect(explorer.locator(".js-plotly-plot .annotation-text", has_text="Spearman")).to_have_count(2)  # one per model
    expect(explorer.locator("table").first.locator("tbody tr")).to_have_count(2)
    no_widget_failed(page, "02_sts_evaluation")
    shot(explorer, "02_sts_explorer")


def test_search_results_in_notebook_05(page, lab, results_dir):
    run_to_the_end(page, lab, results_dir, "05_semantic_search")
    results = page.locator(".wb-search-results").last
    expect(results.locator("tbody tr")).to_have_count(5)
    box = page.locator(".wb-search").last
    no_widget_failed(page, "05_semantic_search")
    shot(box, "05_search_results")
    # Typing a query and pressing Enter searches again, in the browser: the result rows change.
    before = results.inner_text()
    query = box.locator("input[type=text]")
    query.fill("What is the best way to lose weight?")
    query.press("Enter")
    expect(results).not_to_have_text(before)
    expect(results.locator("tbody tr")).to_have_count(5)
    shot(box, "05_search_typed_query")


def choose_file(page: Any, picker: Any, path: Path) -> None:
    """Click ``picker``'s Upload button and pick ``path`` in the file dialog it opens, as a user does.

    ipywidgets' FileUpload keeps its ``<input type=file>`` out of the page (only its button is attached), so there
    is no input element to fill: the dialog is the way in.
    """
    with page.expect_file_chooser(timeout=DRAW_S * 1000) as chooser:
        picker.locator(".widget-upload").click()
    chooser.value.set_files(str(path))


def test_own_table_in_notebook_09(page, lab, results_dir, tmp_path):
    run_to_the_end(page, lab, results_dir, "09_your_own_data")
    picker = page.locator(".wb-table-picker")
    expect(picker).to_contain_text("own_pairs.csv: 360 rows")
    expect(picker.locator(".wb-table-preview tbody tr")).to_have_count(5)
    expect(page.locator(".wb-search-results").last.locator("tbody tr")).to_have_count(5)
    at_least(page.locator(".wb-cluster-plot canvas"), 1)  # the Scattergl map
    expect(page.locator(".wb-monitor")).to_contain_text("finished")
    no_widget_failed(page, "09_your_own_data")
    shot(picker, "09_table_picker")
    shot(page.locator(".wb-cluster-explorer"), "09_cluster_map")
    # A file chosen through the Upload button's file dialog replaces the table: its columns and rows show.
    upload = tmp_path / "questions.csv"
    upload.write_text("question,answer\nWhere is the station?,Two streets north.\nWhen does it open?,At nine.\n")
    choose_file(page, picker, upload)
    expect(picker).to_contain_text("questions.csv: 2 rows; texts ['question', 'answer'], no label")
    expect(picker.locator(".wb-table-preview tbody tr")).to_have_count(2)
    shot(picker, "09_table_picker_uploaded")
    # A file that is not a table is named in the form, with what is accepted.
    notes = tmp_path / "notes.txt"
    notes.write_text("not a table")
    choose_file(page, picker, notes)
    expect(picker).to_contain_text("notes.txt is not a table file; accepted:")
