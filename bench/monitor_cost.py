"""What the TrainingMonitor (progress display and Stop button) costs a training run, per step.

The Stop button does no work per step (a click is handled on the kernel
subshell it arrives on); the monitor records every ``step_end`` and redraws
at most every ``redraw_every_s``.  This runs the same tiny-BERT fit with and
without the monitor (alternating, median of 3) and times ``on_step_end``
alone over 20,000 events.

    PYTHONPATH=. HF_HUB_OFFLINE=1 .venv/bin/python bench/monitor_cost.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import make_tiny_bert  # noqa: E402

from widgets import TrainingMonitor  # noqa: E402
from workbench import SentenceEncoder  # noqa: E402
from workbench.data.records import Example  # noqa: E402
from workbench.hooks import Event  # noqa: E402
from workbench.losses import CosineSimilarityLoss  # noqa: E402
from workbench.modules import Pooling, Transformer  # noqa: E402
from workbench.training import Trainer  # noqa: E402

DATA = [
    Example(["a man is eating food", "a man eats bread"], 1.0),
    Example(["a cat sits", "the car drives"], 0.0),
] * 400


def seconds_per_step(bert: Path, with_monitor: bool) -> float:
    model = SentenceEncoder(modules=[Transformer(bert, max_seq_length=16), Pooling(32)], device="cpu")
    trainer = Trainer(
        model,
        [(DATA, CosineSimilarityLoss(model))],
        batch_size=4,
        seed=0,
        show_progress_bar=False,
        callbacks=[TrainingMonitor()] if with_monitor else [],
    )
    start = time.perf_counter()
    trainer.fit()
    return (time.perf_counter() - start) / trainer.global_step


def on_step_end_seconds(events: int = 20_000) -> float:
    class Run:
        objective_names, stop_reason = ["x"], None

    monitor, run = TrainingMonitor(), Run()
    monitor.on_train_begin(Event("train_begin", {"trainer": run, "total_steps": events}))
    fields = {
        "trainer": run,
        "total_steps": events,
        "epoch": 0,
        "losses": {"x": 0.5},
        "lr": 1e-5,
        "samples_per_s": 100.0,
        "grad_norm": 1.0,
    }
    start = time.perf_counter()
    for step in range(1, events + 1):
        monitor.on_step_end(Event("step_end", {**fields, "step": step}))
    return (time.perf_counter() - start) / events


def main() -> None:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        bert = make_tiny_bert(Path(tmp) / "bert")
        runs: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(3):
            for flag in (False, True):
                runs[flag].append(seconds_per_step(bert, flag))
    off, on = statistics.median(runs[False]), statistics.median(runs[True])
    noise = (max(runs[False]) - min(runs[False])) / off
    alone = on_step_end_seconds()
    print(
        f"fit, 200 steps: {off * 1e3:.2f} ms/step without the monitor, {on * 1e3:.2f} ms/step with it "
        f"({(on / off - 1) * 100:+.2f} %; run-to-run spread {noise * 100:.1f} %)"
    )
    print(f"monitor.on_step_end alone: {alone * 1e6:.1f} us/step = {alone / off * 100:.3f} % of a tiny-BERT step")


if __name__ == "__main__":
    main()
