"""What the training examples share: data folder, STSb loading and evaluation, common flags, the result line.

The examples read their data through :func:`workbench.data.load_dataset`, from the
data mirror beside the checkout when there is one (:func:`workbench.paths.use_data_mirror`).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

from workbench import SentenceEncoder
from workbench.data import Example, load_dataset
from workbench.evaluation import EmbeddingSimilarityEvaluator
from workbench.paths import use_data_mirror

use_data_mirror()


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The description as written (a script's docstring), defaults after each flag's help."""


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the flags every training example takes.

    Flags: ``--output``, ``--epochs``, ``--batch-size``, ``--lr``,
    ``--warmup-ratio``, ``--seed``, ``--evaluation-steps``, ``--max-train``,
    ``--max-eval``, ``--threads``; each example adds its own and may change
    the defaults with ``set_defaults``.

    Example
    -------
    >>> args = parser("demo").parse_args(["--output", "out", "--epochs", "2"])
    >>> args.epochs, args.batch_size, args.max_train
    (2, 16, None)
    """
    p = argparse.ArgumentParser(description=description, formatter_class=_HelpFormatter)
    p.add_argument("--output", required=True, type=Path, help="folder for the best model (and history, eval CSVs)")
    p.add_argument("--epochs", type=int, default=1, help="passes over the training data")
    p.add_argument("--batch-size", type=int, default=16, help="examples per step")
    p.add_argument("--lr", type=float, default=2e-5, help="peak learning rate of AdamW")
    p.add_argument("--warmup-ratio", type=float, default=0.1, help="fraction of the steps with a rising learning rate")
    p.add_argument("--seed", type=int, default=42, help="seed of the data order, dropout and new layers")
    p.add_argument(
        "--evaluation-steps",
        type=int,
        default=0,
        help="evaluate on STSb dev every this many steps (0: at epoch ends only)",
    )
    p.add_argument("--max-train", type=int, default=None, help="use only the first N training examples (quick runs)")
    p.add_argument("--max-eval", type=int, default=None, help="use only the first N pairs of STSb dev and test")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: PyTorch's choice)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or log lines, only the result line")
    return p


def setup(args: argparse.Namespace) -> float:
    """Apply ``--threads``, ``--quiet`` and ``--seed``; return the start time for :func:`finish`."""
    import torch

    # New layers (SoftmaxLoss's classifier) are made before fit() seeds anything.
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quiet:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # the weight-loading bars
    else:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    return time.perf_counter()


def limited(examples: list[Example], limit: int | None) -> list[Example]:
    """The first ``limit`` examples (all of them when ``limit`` is None)."""
    return examples if limit is None else examples[:limit]


def stsb(split: str, limit: int | None = None) -> list[Example]:
    """STSb pairs of ``split`` with scores scaled to 0..1."""
    return limited(load_dataset("stsb", split=split, normalize=True), limit)


def sts_evaluator(split: str, limit: int | None = None) -> EmbeddingSimilarityEvaluator:
    """Spearman/Pearson on STSb ``split``; the primary metric is ``sts-<split>_spearman_cosine``."""
    return EmbeddingSimilarityEvaluator.from_examples(stsb(split, limit), name=f"sts-{split}")


def spearman(evaluator: EmbeddingSimilarityEvaluator, model: Any) -> float:
    """The evaluator's primary metric (cosine Spearman) for ``model``."""
    return float(evaluator(model)[evaluator.primary_metric])


def nli_pairs(limit: int | None = None) -> list[Example]:
    """The mirror's SNLI pairs (its dev and test splits: it has no train split), labels 0..2."""
    return limited(load_dataset("snli", split="dev") + load_dataset("snli", split="test"), limit)


def trainer_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``fit`` options every example passes through from its flags."""
    return {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "warmup_ratio": args.warmup_ratio,
        "seed": args.seed,
        "evaluation_steps": args.evaluation_steps,
        "show_progress_bar": False if args.quiet else None,
    }


def sts_result(
    args: argparse.Namespace,
    history: Any,
    start_test: float,
    dev: EmbeddingSimilarityEvaluator,
    test: EmbeddingSimilarityEvaluator,
) -> dict[str, Any]:
    """The result fields of a run scored on STSb: its common settings, the steps run, test Spearman before
    training and the dev and test Spearman of the best model saved in ``--output``."""
    best = SentenceEncoder(args.output, device="cpu")
    return {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "steps": int(history["step"].max()),
        "start_test_spearman": round(start_test, 5),
        "dev_spearman": round(spearman(dev, best), 5),
        "test_spearman": round(spearman(test, best), 5),
    }


def finish(started: float, **result: Any) -> dict[str, Any]:
    """Print the result as one JSON line (with ``seconds`` since ``started``) and return it."""
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result), flush=True)
    return result
