"""Retrieve and rerank, hard negatives and augmented SBERT, measured on real retrieval (issue 12, section 3).

    .venv/bin/python bench/rerank.py                      # the real run (each training within ~20 min on 2 cores)
    .venv/bin/python bench/rerank.py --tiny               # every stage on a few examples: proves it runs, no figures

Every model starts from the zoo's all-MiniLM-L6-v2 (cross-encoders from its
weights, via ``CrossEncoder.from_encoder``).  Stages:

1. **Quora, question-disjoint.**  The Quora pairs are split with
   ``workbench.data.splits.disjoint_split``: groups of duplicate questions go
   wholly to train or test, so no test question is seen in training.  A
   cross-encoder is trained on train pairs (BinaryCrossEntropyLoss, labels 0/1);
   the held-out retrieval task (``duplicate_retrieval``: ask one question of a
   group, find the others) is searched with the bi-encoder, and its top
   ``--quora-depth`` (50) are reranked: nDCG@10 before and after.
2. **SciFact, out of domain.**  The bi-encoder's top ``--scifact-depth`` (100)
   of every claim, reranked by the Quora cross-encoder: it measures transfer.
3. **STSb cross-encoder.**  Trained on STSb train (scores / 5, BCE on the
   sigmoid, as sentence-transformers' training_stsbenchmark), Spearman on test.
4. **Augmented SBERT.**  Silver pairs: each STSb train sentence with its
   ``--augsbert-neighbours`` nearest other train sentences by the bi-encoder,
   not already a gold pair, labelled by the STSb cross-encoder.  A bi-encoder
   trained on gold + silver (CosineSimilarityLoss): STSb test Spearman, and
   the held-out Quora nDCG@10 (behaviour outside STS should not change).
5. **MNRL with and without mined hard negatives.**  A bi-encoder trained on
   Quora train duplicate pairs with MultipleNegativesRankingLoss for
   ``--mnrl-steps`` steps; the same steps with one negative per pair mined by
   ``mine_hard_negatives`` (ranks ``--hn-range-min``.., a relative margin to
   the positive against false negatives).  Held-out Quora nDCG@10 for both.

Prints a table per stage, then one JSON line with at least ``quora_ndcg10_bi``,
``quora_ndcg10_rerank``, ``scifact_ndcg10_bi``, ``scifact_ndcg10_rerank``,
``cross_encoder_stsb_test``, ``augsbert_stsb_test``, ``mnrl_ndcg10``,
``mnrl_hard_negatives_ndcg10`` and ``seconds``; with ``--tiny`` the line says
``"tiny": true`` and its figures mean nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import time
from typing import Any

from common import machine, table

MODEL = "all-MiniLM-L6-v2"
# --tiny: a few examples per stage, to check the script end to end in about a minute.
TINY = {
    "quora_pairs": 3000,
    "quora_train_pairs": 48,
    "quora_queries": 8,
    "quora_corpus": 200,
    "quora_depth": 10,
    "scifact_queries": 4,
    "scifact_corpus": 60,
    "scifact_depth": 10,
    "ce_epochs": 1,
    "stsb_max_train": 48,
    "stsb_max_test": 60,
    "stsb_epochs": 1,
    "augsbert_neighbours": 1,
    "augsbert_epochs": 1,
    "mnrl_steps": 3,
    "mnrl_pairs": 48,
    "batch_size": 8,
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--quora-pairs", type=int, default=None, help="Quora pairs read from the file (default: all 404,290)")
    add("--quora-test-fraction", type=float, default=0.1, help="share of duplicate groups held out")
    add("--quora-train-pairs", type=int, default=40_000, help="train pairs for the Quora cross-encoder")
    add("--quora-queries", type=int, default=1_000, help="held-out Quora queries")
    add("--quora-corpus", type=int, default=20_000, help="held-out Quora questions searched")
    add("--quora-depth", type=int, default=50, help="bi-encoder hits reranked on Quora")
    add("--scifact-queries", type=int, default=None, help="SciFact claims (default: all 300)")
    add("--scifact-corpus", type=int, default=None, help="SciFact abstracts (default: all 5,183)")
    add("--scifact-depth", type=int, default=100, help="bi-encoder hits reranked on SciFact")
    add("--ce-epochs", type=int, default=1, help="epochs of the Quora cross-encoder")
    add("--stsb-max-train", type=int, default=None, help="STSb train pairs (default: all 5,749)")
    add("--stsb-max-test", type=int, default=None, help="STSb test pairs (default: all 1,379)")
    add("--stsb-epochs", type=int, default=4, help="epochs of the STSb cross-encoder")
    add("--augsbert-neighbours", type=int, default=3, help="silver partners per STSb train sentence")
    add("--augsbert-epochs", type=int, default=2, help="epochs of the augmented bi-encoder")
    add("--mnrl-steps", type=int, default=1_000, help="steps of each MNRL run")
    add("--mnrl-pairs", type=int, default=32_000, help="Quora train duplicate pairs for MNRL")
    add("--hn-range-min", type=int, default=10, help="skip the bi-encoder's closest candidates (likely positives)")
    add(
        "--hn-relative-margin",
        type=float,
        default=0.05,
        help="a negative must score below (1 - margin) x the positive's score",
    )
    add("--batch-size", type=int, default=16)
    add("--lr", type=float, default=2e-5)
    add("--seed", type=int, default=42)
    add("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    add("--tiny", action="store_true", help="every size tiny (overrides the size flags): a smoke run")
    args = parser.parse_args()
    if args.tiny:
        for key, value in TINY.items():
            setattr(args, key, value)
    return args


def train(
    model: Any, objectives: list, args: argparse.Namespace, epochs: int = 1, steps_per_epoch: int | None = None
) -> float:
    """Train ``model`` in place with the common settings; the seconds it took."""
    started = time.perf_counter()
    model.fit(
        objectives,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        batch_size=args.batch_size,
        lr=args.lr,
        warmup_ratio=0.1,
        seed=args.seed,
        show_progress_bar=False,
    )
    return time.perf_counter() - started


def retrieval_samples(model: Any, task: Any, depth: int) -> list[dict[str, Any]]:
    """Per query: its text, its relevant texts and the bi-encoder's top ``depth`` texts (the candidates)."""
    from workbench.search import semantic_search

    doc_ids = list(task.corpus)
    docs = [task.corpus[d] for d in doc_ids]
    query_ids = list(task.queries)
    corpus_embeddings = model.encode(docs, batch_size=64, convert_to_tensor=True, show_progress_bar=False)
    query_embeddings = model.encode(
        [task.queries[q] for q in query_ids], convert_to_tensor=True, show_progress_bar=False
    )
    hits = semantic_search(query_embeddings, corpus_embeddings, top_k=depth)
    return [
        {
            "query": task.queries[q],
            "positive": [task.corpus[d] for d in task.relevant[q]],
            "documents": [docs[h["corpus_id"]] for h in query_hits],
        }
        for q, query_hits in zip(query_ids, hits)
    ]


def rerank_ndcg(samples: list[dict[str, Any]], cross_encoder: Any, name: str) -> tuple[float, float, float]:
    """nDCG@10 of the bi-encoder's order and of the cross-encoder's reranking, and the seconds reranking took."""
    from workbench.evaluation import CrossEncoderRerankingEvaluator

    evaluator = CrossEncoderRerankingEvaluator(samples, at_k=10, name=name, batch_size=64)
    started = time.perf_counter()
    metrics = evaluator(cross_encoder)
    return metrics[f"{name}_base_ndcg@10"], metrics[f"{name}_ndcg@10"], time.perf_counter() - started


def bi_ndcg(model: Any, task: Any) -> float:
    """The bi-encoder's nDCG@10 on a retrieval task (the held-out Quora one)."""
    from workbench.evaluation import InformationRetrievalEvaluator

    evaluator = InformationRetrievalEvaluator(
        task.queries, task.corpus, task.relevant, name="ir", score_functions=("cosine",), batch_size=64
    )
    return evaluator(model)[evaluator.primary_metric]


def quora_data(args: argparse.Namespace) -> tuple[Any, Any]:
    """Train pairs and the held-out retrieval task of the question-disjoint Quora split."""
    from itertools import islice

    from workbench.data import dataset_path, iter_quora_duplicates
    from workbench.data.splits import disjoint_split, duplicate_retrieval

    pairs = [
        p
        for p in islice(iter_quora_duplicates(dataset_path("quora-duplicates")), args.quora_pairs)
        if all(t.strip() for t in p.texts)
    ]
    split = disjoint_split(pairs, test_fraction=args.quora_test_fraction, seed=args.seed)
    task = duplicate_retrieval(split.test, max_queries=args.quora_queries, max_corpus=args.quora_corpus)
    train_texts = {t for p in split.train for t in p.texts}
    leaked = [t for t in [*task.queries.values(), *task.corpus.values()] if t in train_texts]
    if leaked:  # the point of the split: refuse to report numbers from a leaking one
        raise SystemExit(f"{len(leaked)} held-out questions are also training questions, e.g. {leaked[0]!r}")
    print(
        f"Quora: {len(pairs):,} pairs -> train {len(split.train):,}, test {len(split.test):,}, "
        f"dropped {split.dropped:,} (a question on each side); held-out task {len(task.queries):,} queries over "
        f"{len(task.corpus):,} questions"
    )
    return split.train, task


def main() -> None:
    args = parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from workbench import CrossEncoder, SentenceEncoder, load_dataset, mine_hard_negatives
    from workbench.data import Example
    from workbench.evaluation import CrossEncoderCorrelationEvaluator, EmbeddingSimilarityEvaluator
    from workbench.losses import CosineSimilarityLoss, MultipleNegativesRankingLoss
    from workbench.losses.cross import BinaryCrossEntropyLoss
    from workbench.search import semantic_search

    started = time.perf_counter()
    load_before = os.getloadavg()
    rng = random.Random(args.seed)
    result: dict[str, Any] = {"machine": machine(), "tiny": args.tiny}
    timing: dict[str, float] = {}
    bi = SentenceEncoder(MODEL)

    def new_cross_encoder() -> CrossEncoder:
        torch.manual_seed(args.seed)
        return CrossEncoder.from_encoder(MODEL, num_labels=1)

    # 1. Quora: a cross-encoder from MiniLM's weights reranks the bi-encoder's top 50 on held-out questions.
    train_pairs, quora_task = quora_data(args)
    ce_train = rng.sample(train_pairs, min(args.quora_train_pairs, len(train_pairs)))
    quora_ce = new_cross_encoder()
    timing["quora_cross_encoder_train_s"] = train(
        quora_ce,
        [([Example(p.texts, float(p.label)) for p in ce_train], BinaryCrossEntropyLoss(quora_ce))],
        args,
        epochs=args.ce_epochs,
    )
    quora_samples = retrieval_samples(bi, quora_task, args.quora_depth)
    result["quora_ndcg10_bi"], result["quora_ndcg10_rerank"], timing["quora_rerank_s"] = rerank_ndcg(
        quora_samples, quora_ce, "quora"
    )
    result["quora_ce_train_pairs"] = len(ce_train)
    result["quora_queries"], result["quora_corpus"] = len(quora_task.queries), len(quora_task.corpus)

    # 2. SciFact: the same cross-encoder out of its domain, on the bi-encoder's top 100.
    scifact = load_dataset("scifact")
    query_ids = list(scifact.queries)[: args.scifact_queries]
    relevant = {q: scifact.relevant[q] for q in query_ids}
    corpus = scifact.corpus
    if args.scifact_corpus is not None:  # every relevant abstract stays, others fill up (as notebook 05)
        needed = set().union(*relevant.values())
        others = [d for d in corpus if d not in needed][: max(args.scifact_corpus - len(needed), 0)]
        corpus = {d: t for d, t in corpus.items() if d in needed or d in set(others)}
    scifact_task = type(scifact)(corpus, {q: scifact.queries[q] for q in query_ids}, relevant)
    scifact_samples = retrieval_samples(bi, scifact_task, args.scifact_depth)
    result["scifact_ndcg10_bi"], result["scifact_ndcg10_rerank"], timing["scifact_rerank_s"] = rerank_ndcg(
        scifact_samples, quora_ce, "scifact"
    )

    # 3. A cross-encoder on STSb train, Spearman on STSb test.
    stsb_train = load_dataset("stsb", split="train", normalize=True)[: args.stsb_max_train]
    stsb_test = load_dataset("stsb", split="test", normalize=True)[: args.stsb_max_test]
    stsb_ce = new_cross_encoder()
    timing["stsb_cross_encoder_train_s"] = train(
        stsb_ce, [(stsb_train, BinaryCrossEntropyLoss(stsb_ce))], args, epochs=args.stsb_epochs
    )
    ce_eval = CrossEncoderCorrelationEvaluator(
        [e.texts for e in stsb_test], [e.label for e in stsb_test], name="stsb-test"
    )
    result["cross_encoder_stsb_test"] = ce_eval(stsb_ce)[ce_eval.primary_metric]
    bi_eval = EmbeddingSimilarityEvaluator.from_examples(stsb_test, name="stsb-test")
    result["bi_encoder_stsb_test"] = bi_eval(bi)[bi_eval.primary_metric]

    # 4. Augmented SBERT: the STSb cross-encoder labels bi-encoder neighbour pairs of the train sentences.
    sentences = list(dict.fromkeys(t for e in stsb_train for t in e.texts))
    gold = {frozenset(e.texts) for e in stsb_train}
    embeddings = bi.encode(sentences, batch_size=64, convert_to_tensor=True, show_progress_bar=False)
    neighbours = semantic_search(embeddings, embeddings, top_k=args.augsbert_neighbours + 1)
    silver_pairs = list(
        dict.fromkeys(
            tuple(sorted((sentences[i], sentences[h["corpus_id"]])))
            for i, hits in enumerate(neighbours)
            for h in hits
            if h["corpus_id"] != i and frozenset((sentences[i], sentences[h["corpus_id"]])) not in gold
        )
    )
    silver_scores = stsb_ce.predict(silver_pairs, batch_size=64, show_progress_bar=False)
    if not all(math.isfinite(float(s)) for s in silver_scores):
        raise SystemExit("the STSb cross-encoder gave non-finite scores to silver pairs")
    silver = [Example(list(p), float(s)) for p, s in zip(silver_pairs, silver_scores)]
    augmented = SentenceEncoder(MODEL)
    timing["augsbert_train_s"] = train(
        augmented, [(stsb_train + silver, CosineSimilarityLoss(augmented))], args, epochs=args.augsbert_epochs
    )
    result["augsbert_stsb_test"] = bi_eval(augmented)[bi_eval.primary_metric]
    result["augsbert_silver_pairs"] = len(silver)
    result["augsbert_quora_ndcg10"] = bi_ndcg(augmented, quora_task)

    # 5. MNRL on Quora train duplicates, without and with one mined hard negative per pair, the same steps.
    duplicates = [Example(list(p.texts)) for p in train_pairs if p.label == 1]
    duplicates = rng.sample(duplicates, min(args.mnrl_pairs, len(duplicates)))
    mined_started = time.perf_counter()
    triplets = mine_hard_negatives(
        duplicates,
        bi,
        num_negatives=1,
        range_min=args.hn_range_min,
        relative_margin=args.hn_relative_margin,
        output_format="triplet",
        batch_size=64,
        seed=args.seed,
        show_progress_bar=False,
    )
    timing["mine_hard_negatives_s"] = time.perf_counter() - mined_started
    result["hard_negative_triplets"] = len(triplets)
    for key, data in (("mnrl_ndcg10", duplicates), ("mnrl_hard_negatives_ndcg10", triplets)):
        model = SentenceEncoder(MODEL)
        timing[f"{key}_train_s"] = train(
            model, [(data, MultipleNegativesRankingLoss(model))], args, steps_per_epoch=args.mnrl_steps
        )
        result[key] = bi_ndcg(model, quora_task)
    result["mnrl_steps"] = args.mnrl_steps

    result.update({key: round(value, 1) for key, value in timing.items()})
    result["load_average_before"] = [round(x, 2) for x in load_before]
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    result["seconds"] = round(time.perf_counter() - started, 1)
    figures = [
        (key, f"{value:.4f}")
        for key, value in result.items()
        if isinstance(value, float) and not key.endswith("_s") and key != "seconds"
    ]
    print(f"machine: {result['machine']}" + ("  (--tiny: the figures mean nothing)" if args.tiny else ""))
    print(table(figures, ("figure", "value")))
    print(table([(key, f"{value:.1f}") for key, value in timing.items()], ("stage", "seconds")))
    print(json.dumps({key: round(v, 5) if isinstance(v, float) else v for key, v in result.items()}))


if __name__ == "__main__":
    main()
