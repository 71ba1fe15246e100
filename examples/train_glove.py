"""Train GloVe-based sentence encoders on NLI, then on STSb; compare with the plain average of GloVe vectors.

    python examples/train_glove.py --output runs/glove [--arch avg|bilstm|cnn] [--no-idf]

The word vectors are the zoo's glove.6B.50d (400k words, 50 dimensions), kept
frozen.  Architectures:

* ``avg``: WordEmbeddings -> WordWeights (idf from the training sentences,
  ``--no-idf`` leaves it out) -> mean Pooling -> Dense (tanh);
* ``bilstm``: WordEmbeddings -> bidirectional LSTM -> max Pooling;
* ``cnn``: WordEmbeddings -> CNN (kernel widths 1, 3, 5) -> max Pooling.

Stage 1 trains on the mirror's SNLI pairs (its dev and test splits: the mirror
has no NLI train split) with SoftmaxLoss; stage 2 on STSb train with
CosineSimilarityLoss, evaluating on STSb dev and keeping the best model in
``--output``.  The last line printed is a JSON object with
baseline_test_spearman (average GloVe), dev_spearman, test_spearman, seconds
and the settings.
"""

from __future__ import annotations

import argparse
import math
from collections import Counter

from _common import finish, nli_pairs, parser, setup, spearman, sts_evaluator, stsb, trainer_options

from workbench import SentenceEncoder
from workbench.data import Example
from workbench.losses import CosineSimilarityLoss, SoftmaxLoss
from workbench.modules import CNN, LSTM, Dense, Pooling, WordEmbeddings, WordWeights

ARCHITECTURES = ("avg", "bilstm", "cnn")


def idf_weights(words: WordEmbeddings, examples: list[Example]) -> tuple[dict[str, float], float]:
    """Inverse document frequency of each word of ``examples`` (every text a document), and that of an unseen word.

    Example
    -------
    >>> import numpy as np
    >>> words = WordEmbeddings.from_arrays(np.eye(2, dtype=np.float32), ["cat", "dog"])
    >>> weights, unseen = idf_weights(words, [Example(["a cat", "the dog"]), Example(["cat cat"])])
    >>> round(weights["cat"], 3), round(unseen, 3)
    (0.405, 1.099)
    """
    documents = [text for example in examples for text in example.texts]
    frequency = Counter(token.lower() for text in documents for token in set(words.tokenizer.split(text)))
    idf = {word: math.log(len(documents) / count) for word, count in frequency.items()}
    return idf, math.log(len(documents))


def build(arch: str, glove: SentenceEncoder, idf: tuple[dict[str, float], float] | None) -> SentenceEncoder:
    """A new encoder of architecture ``arch`` on the (frozen) word vectors of ``glove``."""
    words: WordEmbeddings = glove[0]
    dim = words.get_word_embedding_dimension()
    modules = [words]
    if idf is not None:
        modules.append(WordWeights(words.tokenizer.vocab, idf[0], unknown_word_weight=idf[1]))
    if arch == "avg":
        modules += [Pooling(dim, "mean"), Dense(dim, 256, activation="tanh")]
    elif arch == "bilstm":
        lstm = LSTM(dim, hidden_dim=128)
        modules += [lstm, Pooling(lstm.get_word_embedding_dimension(), "max")]
    else:
        cnn = CNN(dim, out_channels=128, kernel_sizes=(1, 3, 5))
        modules += [cnn, Pooling(cnn.get_word_embedding_dimension(), "max")]
    return SentenceEncoder(modules=modules, device="cpu")


def main() -> dict:
    p = parser(__doc__)
    p.add_argument("--arch", choices=ARCHITECTURES, default="avg", help="what runs on top of the word vectors")
    p.add_argument(
        "--idf",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="weigh words by idf (default: on for avg, off for bilstm and cnn)",
    )
    p.add_argument("--nli-epochs", type=int, default=1, help="epochs of stage 1 (0 skips it)")
    p.add_argument("--nli-batch-size", type=int, default=64, help="batch size of stage 1")
    p.set_defaults(epochs=4, lr=1e-3)
    args = p.parse_args()
    started = setup(args)

    glove = SentenceEncoder("glove.6B.50d", device="cpu")
    glove[0].update_embeddings = False  # 400k x 50 vectors: training them would overfit the small data sets
    nli, sts = nli_pairs(args.max_train), stsb("train", args.max_train)
    dev, test = sts_evaluator("dev", args.max_eval), sts_evaluator("test", args.max_eval)
    baseline = spearman(test, glove)

    use_idf = args.arch == "avg" if args.idf is None else args.idf
    model = build(args.arch, glove, idf_weights(glove[0], nli + sts) if use_idf else None)
    options = trainer_options(args)
    if args.nli_epochs:
        model.fit(
            [(nli, SoftmaxLoss(model, num_labels=3))],
            **{**options, "epochs": args.nli_epochs, "batch_size": args.nli_batch_size, "evaluation_steps": 0},
        )
    model.fit([(sts, CosineSimilarityLoss(model))], evaluator=dev, output_path=args.output, **options)

    best = SentenceEncoder(args.output, device="cpu")
    test_spearman = spearman(test, best)
    return finish(
        started,
        arch=args.arch,
        idf=use_idf,
        nli_epochs=args.nli_epochs,
        sts_epochs=args.epochs,
        batch_size=args.batch_size,
        nli_batch_size=args.nli_batch_size,
        lr=args.lr,
        seed=args.seed,
        nli_examples=len(nli),
        sts_examples=len(sts),
        baseline_test_spearman=round(baseline, 5),
        dev_spearman=round(spearman(dev, best), 5),
        test_spearman=round(test_spearman, 5),
        gain_points=round(100 * (test_spearman - baseline), 2),
    )


if __name__ == "__main__":
    main()
