"""Why multilingual-e5-small scores about 0 on STS17 track4b (es-en, WMT news) and 73 on track4a.

For both es-en tracks: Spearman and Pearson of cosine vs gold, the same with the gold shifted by one
line (a reader that put scores on the wrong pairs would score better shifted), how often each first
sentence's nearest second sentence is its partner (are the pairs translations of each other?), the
spread of the partners' cosines and of the gold, and two surface baselines (length ratio, length).

    .venv/bin/python bench/sts17_track4b.py [--threads 1]
"""

from __future__ import annotations

import argparse

import numpy as np
from common import set_threads
from scipy.stats import pearsonr, spearmanr

from workbench import SentenceEncoder, load_dataset

TRACKS = ("track4a.es-en", "track4b.es-en")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    set_threads(args.threads)

    model = SentenceEncoder("multilingual-e5-small", device="cpu", default_prompt_name="query")
    data = load_dataset("sts17")
    for track in TRACKS:
        pairs = [e for e in data if e.guid == track]
        first = model.encode([e.texts[0] for e in pairs], batch_size=64)
        second = model.encode([e.texts[1] for e in pairs], batch_size=64)
        gold = np.array([e.label for e in pairs])
        sim = first @ second.T  # normalized embeddings: cosine
        cos = np.diag(sim)
        others = sim[~np.eye(len(pairs), dtype=bool)]
        partner = float((sim.argmax(1) == np.arange(len(pairs))).mean())
        ratio = [len(e.texts[1]) / len(e.texts[0]) for e in pairs]
        length = [len(e.texts[0]) for e in pairs]
        print(f"{track}: {len(pairs)} pairs")
        print(
            f"  cosine vs gold: Spearman {spearmanr(cos, gold).statistic:.4f}, Pearson {pearsonr(cos, gold).statistic:.4f};"
            f" gold shifted by -1/+1 lines: Spearman {spearmanr(cos, np.roll(gold, -1)).statistic:.4f}"
            f"/{spearmanr(cos, np.roll(gold, 1)).statistic:.4f}"
        )
        print(
            f"  nearest second sentence is the partner: {partner:.3f} (chance {1 / len(pairs):.3f});"
            f" cosine of partners mean {cos.mean():.3f} sd {cos.std():.3f}, of non-partners mean {others.mean():.3f}"
        )
        values, counts = np.unique(gold, return_counts=True)
        shown = dict(zip(values.tolist(), counts.tolist())) if len(values) <= 6 else f"{len(values)} distinct values"
        print(f"  gold: mean {gold.mean():.2f} sd {gold.std():.2f}, {shown}")
        print(
            f"  surface baselines vs gold (Spearman): second/first length ratio {spearmanr(ratio, gold).statistic:.4f},"
            f" first length {spearmanr(length, gold).statistic:.4f}"
        )


if __name__ == "__main__":
    main()
