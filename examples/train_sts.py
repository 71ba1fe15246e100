"""Continue training a sentence encoder on STSb train; keep the best model on STSb dev; score it on STSb test.

    python examples/train_sts.py --output runs/sts [--loss cosent|cosine|angle] [--epochs 2] [--lr 5e-5]

Pairs are scored 0..1 (STSb's 0..5 divided by 5).  The model is evaluated on
STSb dev every ``--evaluation-steps`` steps and at each epoch end; the best one
is saved in ``--output`` (a folder that SentenceEncoder and sentence-transformers
both load) and scored on STSb test.  The last line printed is a JSON object
with start_test_spearman, dev_spearman, test_spearman, seconds and the settings.
"""

from __future__ import annotations

import time

from _common import finish, parser, setup, spearman, sts_evaluator, sts_result, stsb, trainer_options

from workbench import SentenceEncoder
from workbench.losses import AnglELoss, CoSENTLoss, CosineSimilarityLoss
from workbench.training.trainer import SCHEDULERS

LOSSES = {
    "cosine": lambda model, args: CosineSimilarityLoss(model),
    "cosent": lambda model, args: CoSENTLoss(model, scale=args.scale),
    "angle": lambda model, args: AnglELoss(model, scale=args.scale),
}


def main() -> dict:
    p = parser(__doc__)
    p.add_argument("--model", default="all-MiniLM-L6-v2", help="model to start from (zoo name or folder)")
    p.add_argument("--loss", choices=sorted(LOSSES), default="cosent", help="training loss")
    p.add_argument("--scale", type=float, default=20.0, help="scale (inverse temperature) of cosent and angle")
    p.add_argument("--scheduler", choices=SCHEDULERS, default="warmup_linear", help="learning-rate schedule")
    # The defaults are the run of bench/RESULTS.md: STSb test 0.8656 from 0.8203.
    p.set_defaults(epochs=2, lr=5e-5, evaluation_steps=180)
    args = p.parse_args()
    started = setup(args)

    model = SentenceEncoder(args.model, device="cpu")
    train = stsb("train", args.max_train)
    dev, test = sts_evaluator("dev", args.max_eval), sts_evaluator("test", args.max_eval)
    start_test = spearman(test, model)

    fit_started = time.perf_counter()
    trainer_history = model.fit(
        [(train, LOSSES[args.loss](model, args))],
        evaluator=dev,
        output_path=args.output,
        scheduler=args.scheduler,
        **trainer_options(args),
    )
    train_seconds = time.perf_counter() - fit_started

    return finish(
        started,
        model=args.model,
        loss=args.loss,
        warmup_ratio=args.warmup_ratio,
        scale=args.scale if args.loss != "cosine" else None,
        scheduler=args.scheduler,
        train_examples=len(train),
        **sts_result(args, trainer_history, start_test, dev, test),
        train_seconds=round(train_seconds, 1),
    )


if __name__ == "__main__":
    main()
