"""SentEval transfer accuracy (MR, CR, SUBJ, MPQA, SST2, TREC, MRPC) of frozen sentence embeddings.

    .venv/bin/python bench/senteval.py [--models glove.6B.50d all-MiniLM-L6-v2] [--tasks MR TREC] [--max-per-task N]

Logistic regression on each model's embeddings with SentEval's protocols
(workbench.evaluation.SentEvalEvaluator: 10-fold cross-validation for MR, CR,
SUBJ, MPQA; the fixed splits of SST2, TREC, MRPC; C from 2^-2..2^3).  Prints a
table of accuracies (MRPC also F1) and one JSON line: per model, the accuracy of
each task, average_accuracy and seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time

from common import machine, table

DEFAULT_MODELS = ("glove.6B.50d", "all-MiniLM-L6-v2")


def main() -> None:
    from workbench.data import SENTEVAL_TASKS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), help="zoo names or model folders")
    parser.add_argument("--tasks", nargs="+", default=list(SENTEVAL_TASKS), help="SentEval tasks to run")
    parser.add_argument("--max-per-task", type=int, default=None, help="stratified subsample per task (quick runs)")
    parser.add_argument("--batch-size", type=int, default=64, help="encoding batch size")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args()

    import torch

    from workbench import SentenceEncoder
    from workbench.evaluation import SentEvalEvaluator

    if args.threads:
        torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")  # one line per finished task
    evaluator = SentEvalEvaluator(tasks=args.tasks, max_per_task=args.max_per_task, batch_size=args.batch_size)
    load_before = os.getloadavg()
    results: dict[str, dict[str, float]] = {}
    for name in args.models:
        start = time.perf_counter()
        metrics = evaluator(SentenceEncoder(name, device="cpu"))
        results[name] = {key.removeprefix(f"{evaluator.name}_"): round(value, 2) for key, value in metrics.items()}
        results[name]["seconds"] = round(time.perf_counter() - start, 1)

    tasks = list(evaluator.tasks)
    rows = []
    for name, scores in results.items():
        cells = [f"{scores[f'{task}_accuracy']:.2f}" for task in tasks]
        if "MRPC_f1" in scores:
            cells[tasks.index("MRPC")] += f" / {scores['MRPC_f1']:.1f}"
        rows.append((name, *cells, f"{scores['average_accuracy']:.2f}", f"{scores['seconds']:.0f}"))
    header = ("model", *(f"{t} (acc / F1)" if t == "MRPC" else t for t in tasks), "average", "seconds")
    print(f"machine: {machine()}; load average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}")
    subsample = f", at most {args.max_per_task} rows per task" if args.max_per_task else ""
    print(f"SentEval accuracy (%), logistic regression on frozen embeddings{subsample}")
    print(table(rows, header))
    print(json.dumps({"machine": machine(), "tasks": tasks, "max_per_task": args.max_per_task, "results": results}))


if __name__ == "__main__":
    main()
