"""Train a sentence encoder on NLI pairs, evaluating on STSb dev; score the best model on STSb test.

    python examples/train_nli.py --output runs/nli [--loss softmax|mnrl] [--model all-MiniLM-L6-v2]

Data: the mirror holds SNLI's dev and test splits only (9,842 + 9,824 labelled
pairs, e-SNLI's tokenised text), not its 550k training pairs, so both splits
are the training data here; STSb dev and test do the evaluation.

* ``--loss softmax``: SoftmaxLoss, a 3-way classifier (entailment, neutral,
  contradiction) on ``(u, v, |u - v|)``, as in Sentence-BERT.
* ``--loss mnrl``: MultipleNegativesRankingLoss on (premise, entailed
  hypothesis, contradicting hypothesis) triplets: every other text of the
  batch is a negative, the contradiction a hard one.  A sampler keeps any text
  from appearing twice in a batch (it would be a false negative).

The last line printed is a JSON object with start_test_spearman,
dev_spearman, test_spearman, seconds and the settings.
"""

from __future__ import annotations

from _common import finish, nli_pairs, parser, setup, spearman, sts_evaluator, sts_result, trainer_options

from workbench import SentenceEncoder
from workbench.data import nli_triplets
from workbench.losses import MultipleNegativesRankingLoss, SoftmaxLoss

#: Examples per batch when --batch-size is not given: in-batch negatives profit from larger batches.
BATCH_SIZES = {"softmax": 16, "mnrl": 64}


def main() -> dict:
    p = parser(__doc__)
    p.add_argument(
        "--model",
        default="all-MiniLM-L6-v2",
        help="model to start from: zoo name, encoder folder, or Hugging Face model folder (mean pooling)",
    )
    p.add_argument("--loss", choices=sorted(BATCH_SIZES), default="softmax", help="training loss")
    p.set_defaults(batch_size=None, evaluation_steps=200)
    args = p.parse_args()
    args.batch_size = args.batch_size or BATCH_SIZES[args.loss]
    started = setup(args)

    model = SentenceEncoder(args.model, device="cpu")
    pairs = nli_pairs(args.max_train)
    if args.loss == "softmax":
        objective = (pairs, SoftmaxLoss(model, num_labels=3))
        sampler = "default"
    else:
        objective = (list(nli_triplets(pairs)), MultipleNegativesRankingLoss(model))
        sampler = "no_duplicates"
    dev, test = sts_evaluator("dev", args.max_eval), sts_evaluator("test", args.max_eval)
    start_test = spearman(test, model)
    history = model.fit(
        [objective], evaluator=dev, output_path=args.output, batch_sampler=sampler, **trainer_options(args)
    )

    return finish(
        started,
        model=args.model,
        loss=args.loss,
        data="snli dev+test (the mirror has no NLI train split)",
        train_examples=len(objective[0]),
        **sts_result(args, history, start_test, dev, test),
    )


if __name__ == "__main__":
    main()
