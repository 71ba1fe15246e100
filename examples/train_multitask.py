"""Multi-task training: NLI classification and STS regression in one run, evaluated on STSb.

    python examples/train_multitask.py --output runs/multitask [--multi-task round_robin|proportional]

Objective 1: SoftmaxLoss on the mirror's SNLI pairs (its dev and test splits:
the mirror has no NLI train split).  Objective 2: CosineSimilarityLoss on STSb
train (scores / 5).  ``round_robin`` (default) takes one batch of each per
step, an epoch ending with the smaller data set; ``proportional`` draws one
objective per step by data-set size.  The best model on STSb dev is saved in
``--output`` and scored on STSb test; the last line printed is a JSON object
with start_test_spearman, dev_spearman, test_spearman, seconds and the settings.
"""

from __future__ import annotations

from _common import finish, nli_pairs, parser, setup, spearman, sts_evaluator, sts_result, stsb, trainer_options

from workbench import SentenceEncoder
from workbench.losses import CosineSimilarityLoss, SoftmaxLoss
from workbench.training.trainer import MULTI_TASK


def main() -> dict:
    p = parser(__doc__)
    p.add_argument("--model", default="all-MiniLM-L6-v2", help="model to start from (zoo name or folder)")
    p.add_argument("--multi-task", choices=MULTI_TASK, default="round_robin", help="how objectives share the steps")
    p.set_defaults(evaluation_steps=100)
    args = p.parse_args()
    started = setup(args)

    model = SentenceEncoder(args.model, device="cpu")
    objectives = {
        "nli": (nli_pairs(args.max_train), SoftmaxLoss(model, num_labels=3)),
        "sts": (stsb("train", args.max_train), CosineSimilarityLoss(model)),
    }
    dev, test = sts_evaluator("dev", args.max_eval), sts_evaluator("test", args.max_eval)
    start_test = spearman(test, model)
    history = model.fit(
        objectives, evaluator=dev, output_path=args.output, multi_task=args.multi_task, **trainer_options(args)
    )

    return finish(
        started,
        model=args.model,
        multi_task=args.multi_task,
        data="snli dev+test (the mirror has no NLI train split) and stsb train",
        train_examples={name: len(data) for name, (data, _) in objectives.items()},
        **sts_result(args, history, start_test, dev, test),
    )


if __name__ == "__main__":
    main()
