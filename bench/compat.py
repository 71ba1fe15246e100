"""Folders move both ways between workbench and sentence-transformers, checked on the real all-MiniLM-L6-v2.

    .venv/bin/python bench/compat.py [--sentences 1000]

Installs sentence-transformers 6.2.0 (the ``bench`` extra) with pip when it is
missing, then checks these folders on STSb sentences:

1. all-MiniLM-L6-v2 from the zoo, saved by workbench, loaded by sentence-transformers;
2. the same model grown a Dense layer (384 -> 128, tanh) and Normalize, saved by
   workbench, loaded by sentence-transformers;
3. that model built and saved by sentence-transformers, loaded by workbench;
4. a cross-encoder built from all-MiniLM-L6-v2 (``CrossEncoder.from_encoder``), saved by
   workbench and loaded by sentence-transformers' ``CrossEncoder``, then saved by it and
   loaded by workbench, scoring STSb sentence pairs (scores must agree to 1e-5).
5. for each pooling mode: MiniLM with query/document prompts, Pooling with
   ``include_prompt=False``, truncation (``max_seq_length`` 24), Normalize and
   ``truncate_dim`` 256, saved by sentence-transformers and loaded by workbench, then
   saved by workbench and loaded by sentence-transformers; ``encode``,
   ``encode_query`` and ``encode_document`` are compared in both directions.

Prints a table, then one JSON line with the lowest cosine and largest absolute
difference of each direction; exits with status 1 when any cosine is below
0.99999 or any cross-encoder score differs by more than 1e-5.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from common import REPO, min_cosine, stsb_sentences, table

REFERENCE = "sentence-transformers==6.2.0"
MIN_COS = 0.99999
MAX_SCORE_DIFF = 1e-5


def ensure_sentence_transformers() -> None:
    """Install the reference with pip into this interpreter's environment when it is not importable."""
    if importlib.util.find_spec("sentence_transformers") is None:
        print(f"installing {REFERENCE} ...", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", REFERENCE], check=True, cwd=REPO)


def compare(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    return {"min_cos": min_cosine(a, b), "max_abs_diff": float(np.abs(a - b).max())}


def prompt_folder_checks(folder: Path, minilm: Path, mode: str, sentences: list[str]) -> dict[str, dict[str, float]]:
    """Case 4 for one pooling mode: both directions, each of encode, encode_query and encode_document."""
    from sentence_transformers import SentenceTransformer, models

    from workbench import SentenceEncoder

    word = models.Transformer(str(minilm), max_seq_length=24)
    built = SentenceTransformer(
        modules=[
            word,
            models.Pooling(word.get_embedding_dimension(), pooling_mode=mode, include_prompt=False),
            models.Normalize(),
        ],
        prompts={"query": "query: ", "document": "passage: "},
        truncate_dim=256,
        device="cpu",
    )
    built.save(str(folder / f"st-{mode}"))
    theirs = SentenceTransformer(str(folder / f"st-{mode}"), device="cpu")
    ours = SentenceEncoder(folder / f"st-{mode}", device="cpu")
    ours.save(folder / f"wb-{mode}")
    back = SentenceTransformer(str(folder / f"wb-{mode}"), device="cpu")
    checks = {}
    for method in ("encode", "encode_query", "encode_document"):
        mine = getattr(ours, method)(sentences)
        checks[f"prompts, {mode}, include_prompt=False: ST -> workbench, {method}"] = compare(
            mine, getattr(theirs, method)(sentences)
        )
        checks[f"prompts, {mode}, include_prompt=False: workbench -> ST, {method}"] = compare(
            getattr(back, method)(sentences), mine
        )
    return checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=1000)
    args = parser.parse_args()
    ensure_sentence_transformers()

    import torch
    from sentence_transformers import CrossEncoder as STCrossEncoder
    from sentence_transformers import SentenceTransformer, models

    from workbench import CrossEncoder, SentenceEncoder
    from workbench.modules import Dense, Normalize

    sentences = stsb_sentences(args.sentences)
    checks: dict[str, dict[str, float]] = {}
    cross: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ours = SentenceEncoder("all-MiniLM-L6-v2", device="cpu")
        ours.save(folder / "minilm")
        theirs = SentenceTransformer(str(folder / "minilm"), device="cpu")
        checks["zoo MiniLM: workbench -> ST"] = compare(theirs.encode(sentences), ours.encode(sentences))

        torch.manual_seed(0)
        grown = SentenceEncoder(modules=[*ours, Dense(384, 128, activation="tanh"), Normalize()], device="cpu")
        grown.save(folder / "grown")
        theirs = SentenceTransformer(str(folder / "grown"), device="cpu")
        checks["MiniLM + Dense + Normalize: workbench -> ST"] = compare(
            theirs.encode(sentences), grown.encode(sentences)
        )

        base = SentenceTransformer(str(ours.source_folder), device="cpu")
        torch.manual_seed(0)
        built = SentenceTransformer(
            modules=[*base, models.Dense(384, 128, activation_function=torch.nn.Tanh()), models.Normalize()],
            device="cpu",
        )
        built.save(str(folder / "st"))
        loaded = SentenceEncoder(folder / "st", device="cpu")
        checks["MiniLM + Dense + Normalize: ST -> workbench"] = compare(
            loaded.encode(sentences), built.encode(sentences)
        )

        torch.manual_seed(0)
        ce = CrossEncoder.from_encoder(ours, num_labels=1, device="cpu")
        pairs = list(zip(sentences[::2], sentences[1::2]))
        ce.save(folder / "ce")
        st_ce = STCrossEncoder(str(folder / "ce"), device="cpu")
        cross["cross-encoder: workbench -> ST"] = float(np.abs(st_ce.predict(pairs) - ce.predict(pairs)).max())
        st_ce.save(str(folder / "st-ce"))
        back = CrossEncoder(folder / "st-ce", device="cpu")
        cross["cross-encoder: ST -> workbench"] = float(np.abs(back.predict(pairs) - st_ce.predict(pairs)).max())
        for mode in ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"):
            checks.update(prompt_folder_checks(folder, ours.source_folder, mode, sentences))

    rows = [(name, f"{c['min_cos']:.7f}", f"{c['max_abs_diff']:.2e}") for name, c in checks.items()]
    rows += [(name, "(scores)", f"{diff:.2e}") for name, diff in cross.items()]
    print(f"{len(sentences):,} STSb sentences")
    print(table(rows, ("folder", "min cos", "max |diff|")))
    ok = all(c["min_cos"] >= MIN_COS for c in checks.values()) and all(d <= MAX_SCORE_DIFF for d in cross.values())
    print(json.dumps({"sentences": len(sentences), "checks": checks, "cross_encoder_max_abs_diff": cross, "ok": ok}))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
