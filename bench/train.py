"""Training speed and quality against the sentence-transformers trainer, measured in the same run.

    .venv/bin/python bench/train.py [--steps 200] [--batch-size 16] [--repeats 2] [--lr 2e-5] [--seed 42] [--no-monitor]

Both trainers continue training all-MiniLM-L6-v2 (zoo) on STSb train (scores / 5)
with CosineSimilarityLoss, AdamW (lr, weight decay 0.01, linear schedule, 10%
warmup, gradient clipping at 1), the same batch size, seed and step count, no
evaluation during training.  The runs alternate (theirs, ours, ours, theirs, ...)
so that drifting machine load hits both alike; the best time of each counts.
Afterwards the same STSb dev evaluator scores both trained models.  A third
run trains ours with the notebook's TrainingMonitor subscribed (redrawing at
its default rate; outside Jupyter the widgets still build and serialise every
update, only the message to a browser is not sent), so the cost of watching
is measured too.  Prints a table, then one JSON line with samples_per_s_ratio
(ours / theirs), dev_spearman, reference_dev_spearman, monitor_overhead and more.

sentence-transformers' trainer needs its ``train`` extra (``datasets``, ``accelerate``).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from common import bench_parser, machine, set_threads, table

WARMUP_RATIO = 0.1
WEIGHT_DECAY = 0.01
MAX_GRAD_NORM = 1.0
MONITORED = "workbench + TrainingMonitor"


def warmup_steps(args: argparse.Namespace) -> int:
    return int(WARMUP_RATIO * args.steps)


@dataclass
class Run:
    """One training run: its wall time and the trained model."""

    seconds: float
    model: Any


def train_workbench(train: list, args: argparse.Namespace, callbacks: list[Any]) -> Run:
    """Train a fresh all-MiniLM-L6-v2 with workbench's trainer; ``callbacks`` subscribe to its events."""
    from workbench import SentenceEncoder
    from workbench.losses import CosineSimilarityLoss

    model = SentenceEncoder("all-MiniLM-L6-v2", device="cpu")
    start = time.perf_counter()
    model.fit(
        [(train, CosineSimilarityLoss(model))],
        epochs=1,
        steps_per_epoch=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=WEIGHT_DECAY,
        warmup_steps=warmup_steps(args),
        max_grad_norm=MAX_GRAD_NORM,
        seed=args.seed,
        callbacks=callbacks,
        show_progress_bar=False,
    )
    return Run(time.perf_counter() - start, model)


def train_sentence_transformers(train: list, args: argparse.Namespace) -> Run:
    """Train a fresh all-MiniLM-L6-v2 with sentence-transformers' trainer (Hugging Face Trainer underneath)."""
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss

    from workbench.sources import resolve_model

    model = SentenceTransformer(str(resolve_model("all-MiniLM-L6-v2")), device="cpu")
    dataset = Dataset.from_dict(
        {
            "sentence1": [e.texts[0] for e in train],
            "sentence2": [e.texts[1] for e in train],
            "score": [e.label for e in train],
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        training_args = SentenceTransformerTrainingArguments(
            output_dir=tmp,
            max_steps=args.steps,
            per_device_train_batch_size=args.batch_size,
            learning_rate=args.lr,
            weight_decay=WEIGHT_DECAY,
            warmup_steps=warmup_steps(args),
            lr_scheduler_type="linear",
            max_grad_norm=MAX_GRAD_NORM,
            seed=args.seed,
            data_seed=args.seed,
            use_cpu=True,
            save_strategy="no",
            eval_strategy="no",
            report_to="none",
            disable_tqdm=True,
            logging_steps=args.steps,
        )
        trainer = SentenceTransformerTrainer(
            model=model, args=training_args, train_dataset=dataset, loss=CosineSimilarityLoss(model)
        )
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    return Run(seconds, model)


def main() -> None:
    parser = bench_parser(
        __doc__,
        batch_size=16,
        repeats=2,
        repeats_help="runs of each trainer, alternating; the best time counts",
        threads_help="torch threads for both (1 is faster on a machine loaded by other work)",
    )
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--no-monitor", dest="monitor", action="store_false", help="skip the run with the TrainingMonitor attached"
    )
    args = parser.parse_args()
    set_threads(args.threads)

    try:
        import accelerate  # noqa: F401
        import datasets  # noqa: F401
    except ImportError as err:
        raise SystemExit(
            f"sentence-transformers' trainer needs {err.name}: pip install 'sentence-transformers[train]'"
        ) from err
    from workbench.data import load_dataset
    from workbench.evaluation import EmbeddingSimilarityEvaluator

    train = load_dataset("stsb", split="train", normalize=True)
    dev = EmbeddingSimilarityEvaluator.from_examples(load_dataset("stsb", split="dev", normalize=True), name="sts-dev")
    trainers = {
        "sentence-transformers": lambda: train_sentence_transformers(train, args),
        "workbench": lambda: train_workbench(train, args, []),
    }
    if args.monitor:
        from widgets import TrainingMonitor

        trainers[MONITORED] = lambda: train_workbench(train, args, [TrainingMonitor()])
    load_before = os.getloadavg()
    seconds: dict[str, float] = {}
    spearman: dict[str, float] = {}
    for repeat in range(args.repeats):
        # theirs, ours, ours, theirs, ...: neither always runs first.
        for name in trainers if repeat % 2 == 0 else reversed(trainers):
            run = trainers[name]()
            seconds[name] = min(seconds.get(name, float("inf")), run.seconds)
            if name not in spearman:  # same seed each repeat: score the first model only
                spearman[name] = dev(run.model)[dev.primary_metric]
    load_after = os.getloadavg()

    samples = args.steps * args.batch_size
    rate = {name: samples / s for name, s in seconds.items()}
    ours, theirs = "workbench", "sentence-transformers"
    result = {
        "machine": machine(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "steps": args.steps,
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "samples_per_s": round(rate[ours], 2),
        "reference_samples_per_s": round(rate[theirs], 2),
        "samples_per_s_ratio": round(rate[ours] / rate[theirs], 3),
        "dev_spearman": round(spearman[ours], 5),
        "reference_dev_spearman": round(spearman[theirs], 5),
        "dev_spearman_delta": round(spearman[ours] - spearman[theirs], 5),
    }
    if args.monitor:
        result.update(
            monitor_samples_per_s=round(rate[MONITORED], 2), monitor_overhead=round(1 - rate[MONITORED] / rate[ours], 4)
        )
    rows = [
        (
            name,
            f"{seconds[name]:.1f}",
            f"{rate[name]:.1f}",
            f"{rate[name] / rate[theirs]:.2f}x",
            f"{spearman[name]:.4f}",
        )
        for name in trainers
    ]
    print(f"machine: {result['machine']}; load average before {load_before[0]:.1f}, after {load_after[0]:.1f}")
    print(f"{args.steps} steps of batch {args.batch_size}, CosineSimilarityLoss, STSb train; best of {args.repeats}")
    print(table(rows, ("trainer", "seconds", "samples/s", "vs ST", "STSb dev Spearman")))
    if args.monitor:
        print(f"TrainingMonitor attached: {100 * result['monitor_overhead']:+.1f}% samples/s lost")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
