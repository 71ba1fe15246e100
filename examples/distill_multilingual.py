"""Make an English sentence encoder multilingual by knowledge distillation (Reimers & Gurevych 2020).

    python examples/distill_multilingual.py --output runs/multilingual [--languages de fr es] [--epochs 4]

The teacher (all-MiniLM-L6-v2, English) embeds English sentences; the student
(the zoo's multilingual static embeddings, widened from 64 to 256 dimensions,
plus a Dense projection to 384) learns to put each English sentence *and* its
translations where the teacher puts the English one (MSELoss).

Training data per language: Tatoeba, the NTREX news lines not held out, and
the stsb-multi-mt train and dev translations.  Held out: ``--held-out`` NTREX
lines (the same lines in every language, never trained on) for translation
accuracy.  STS17 and the stsb-multi-mt test split measure cross-lingual STS;
none of their sentences is trained on either.  The held-out metrics are
evaluated at each epoch end but never pick a model: the last one is saved, in
``--output`` (a folder SentenceEncoder loads).  The teacher's embeddings are
cached on disk, so a second run does not encode them again.

For quick runs, --max-train caps the training pairs of each language (a
seeded choice) and --max-eval the pairs of each STS benchmark.

The last line printed is a JSON object with translation_accuracy (per pair
``en-<lang>``, the lower of both directions) after and before training,
sts17_en_de_before/after, every STS score, and seconds.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from _common import finish, parser, setup

from workbench import SentenceEncoder
from workbench.losses import MSELoss
from workbench.multilingual import (
    FILE_CODES,
    TeacherEmbeddings,
    benchmark_sentences,
    build_student,
    per_language,
    standard_parallel_data,
    sts_benchmarks,
    sts_spearman,
)


def accuracy_by_pair(metrics: dict[str, float]) -> dict[str, float]:
    """``{"en-de": lower of both directions, ...}`` from the held-out metrics."""
    return {f"en-{lang}": round(float(value), 4) for lang, value in per_language(metrics)["min_accuracy"].items()}


def main() -> dict:
    p = parser(__doc__)
    p.add_argument(
        "--languages",
        nargs="+",
        default=["de", "fr", "es"],
        choices=sorted(FILE_CODES),
        help="languages to distil into",
    )
    p.add_argument("--teacher", default="all-MiniLM-L6-v2", help="the teacher (zoo name or folder)")
    p.add_argument("--student", default="static-multilingual", help="base of the student (any encoder)")
    p.add_argument(
        "--static-width",
        type=int,
        default=256,
        help="widen a static student's token vectors to this many dimensions (0: keep them)",
    )
    p.add_argument("--held-out", type=int, default=500, help="NTREX lines held out per language")
    p.add_argument("--max-chars", type=int, default=500, help="drop pairs with a longer side")
    p.add_argument(
        "--compute-dtype",
        default="bfloat16",
        choices=["float32", "bfloat16"],
        help="of the teacher's encoding (bfloat16: ~1.3x the float32 speed here, cosine to it > 0.9999)",
    )
    p.add_argument("--cache", type=Path, default=None, help="teacher-embedding cache (default: the workbench cache)")
    # A token table wants a far larger step than transformer weights and large batches (each optimiser
    # step updates the whole table).
    p.set_defaults(epochs=4, batch_size=512, lr=0.02, warmup_ratio=0.05, seed=0)
    args = p.parse_args()
    started = setup(args)
    torch.manual_seed(args.seed)

    benchmarks = sts_benchmarks(
        sts17=["en-en", "en-de", "en-fr", "es-en"], stsb=args.languages, crosslingual=args.languages
    )
    benchmarks = {name: pairs[: args.max_eval] for name, pairs in benchmarks.items()}
    teacher = SentenceEncoder(args.teacher)
    embed = TeacherEmbeddings(teacher, folder=args.cache, compute_dtype=args.compute_dtype)
    data = standard_parallel_data(
        embed,
        args.languages,
        held_out=args.held_out,
        max_chars=args.max_chars,
        max_per_language=args.max_train,
        exclude=benchmark_sentences(benchmarks),
        seed=args.seed,
    )
    print(
        data.summary().to_string(),
        f"\ntraining examples: {len(data)}; the teacher encoded {embed.encoded} sentences ({len(embed)} cached)",
        flush=True,
    )

    student = build_student(
        args.student, teacher.get_sentence_embedding_dimension(), static_width=args.static_width or None
    )
    evaluator = data.evaluator()
    before, sts_before = evaluator(student), sts_spearman(student, benchmarks)
    fit_started = time.perf_counter()
    # No weight decay: it would shrink the vectors of every token, also those no batch contained.
    history = student.fit(
        [(data, MSELoss(student))],
        evaluator,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=0.0,
        warmup_ratio=args.warmup_ratio,
        seed=args.seed,
        evaluation_steps=args.evaluation_steps,
        show_progress_bar=False if args.quiet else None,
    )
    train_seconds = time.perf_counter() - fit_started
    after, sts_after = evaluator(student), sts_spearman(student, benchmarks)
    student.save(args.output)

    table = per_language(after).rename(columns=lambda c: f"{c} after")
    table.insert(0, "min_accuracy before", per_language(before)["min_accuracy"])
    print("\nHeld-out NTREX lines\n" + table.round(4).to_string())
    print(
        "\nSpearman x 100 (cosine)\n"
        + "\n".join(f"{name:14s} {100 * sts_before[name]:6.2f} -> {100 * sts_after[name]:6.2f}" for name in benchmarks),
        flush=True,
    )
    reloaded = per_language(evaluator(SentenceEncoder(args.output)))
    return finish(
        started,
        teacher=args.teacher,
        student=args.student,
        static_width=args.static_width,
        languages=args.languages,
        held_out_pairs=args.held_out,
        training_examples=len(data),
        teacher_encoded=embed.encoded,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        steps=int(history["step"].max()),
        translation_accuracy=accuracy_by_pair(after),
        translation_accuracy_before=accuracy_by_pair(before),
        sts17_en_de_before=round(sts_before["sts17-en-de"], 4),
        sts17_en_de_after=round(sts_after["sts17-en-de"], 4),
        sts_before={k: round(v, 4) for k, v in sts_before.items()},
        sts_after={k: round(v, 4) for k, v in sts_after.items()},
        reloaded_identical=bool(reloaded.equals(per_language(after))),
        output=str(args.output),
        train_seconds=round(train_seconds, 1),
    )


if __name__ == "__main__":
    main()
