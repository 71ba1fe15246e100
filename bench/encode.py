"""Encoding speed and fidelity against sentence-transformers, measured in the same run.

    .venv/bin/python bench/encode.py [--sentences 10000] [--repeats 3] [--memmap 200000] [--scifact-docs N]
    .venv/bin/python bench/encode.py --model multilingual-e5-small --prompt-name query

all-MiniLM-L6-v2 (zoo; ``--model`` for another), batch 32, the machine's threads (``--threads`` to change);
``--prompt-name`` encodes every sentence, on both sides, with one of the model's prompts.  Prints a table, then one
JSON line with fp32_ratio, fp32_min_cos, bf16_ratio, bf16_min_cos, bf16_stsb_delta,
int8_ratio, int8_stsb_retained, int8_scifact_retained, onnx_ratio,
openvino_ratio, openvino_int8_ratio, openvino_int8_stsb_retained,
openvino_int8_scifact_retained, best_int8_ratio, cpu_model, cpu_flags,
memmap_peak_rss_mb (and more).  int8 is onnxruntime's dynamic quantization
(``encode(compute_dtype="int8")``), openvino int8 NNCF's int8 weights
(``backend="openvino"``); SciFact nDCG@10 is measured on the whole corpus
unless ``--scifact-docs`` shrinks it (0 skips it).  The CPU model and the
instruction sets that matter for bf16 and int8 are printed first.
"""

from __future__ import annotations

import json

from common import (
    bench_parser,
    cpu_flags,
    cpu_model,
    machine,
    min_cosine,
    run_child,
    set_threads,
    stsb_sentences,
    stsb_spearman,
    table,
    timed,
)

MEMMAP_CHILD = """
import json, itertools, sys, tempfile, time
sys.path.insert(0, '.')
from bench.common import peak_rss_mb, stsb_sentences
from workbench import SentenceEncoder
from workbench.corpus import encode_corpus
n = {n}
base = stsb_sentences(10000)
texts = (f"{{base[i % len(base)]}} ({{i // len(base)}})" for i in range(n))  # a stream: never all in memory
model = SentenceEncoder({model!r}, device="cpu")
with tempfile.TemporaryDirectory() as tmp:
    start = time.perf_counter()
    emb = encode_corpus(model, texts, tmp, total=n, chunk_size=10000, dtype="float16", compute_dtype="{compute_dtype}",
                        show_progress_bar=False)
    seconds = time.perf_counter() - start
    ok = bool((emb[-1] != 0).any())
print(json.dumps({{"peak_rss_mb": peak_rss_mb(), "seconds": seconds, "last_row_written": ok}}))
"""


def main() -> None:
    parser = bench_parser(
        __doc__,
        batch_size=32,
        repeats=3,
        repeats_help=None,
        threads_help="threads for PyTorch and onnxruntime (default: PyTorch's, the machine's cores)",
    )
    parser.add_argument("--model", default="all-MiniLM-L6-v2", help="zoo name or model folder")
    parser.add_argument("--sentences", type=int, default=10_000)
    parser.add_argument("--prompt-name", default=None, help="one of the model's prompts, used by every run (e5: query)")
    parser.add_argument("--memmap", type=int, default=200_000, help="sentences for the memmap run (0 skips it)")
    parser.add_argument("--memmap-compute-dtype", default="bfloat16", choices=["float32", "bfloat16", "int8"])
    parser.add_argument(
        "--scifact-docs",
        type=int,
        default=None,
        help="SciFact documents for the int8 retrieval check (default all 5,183; 0 skips it)",
    )
    args = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    set_threads(args.threads)
    from workbench import SentenceEncoder
    from workbench.backends.fidelity import Setting, scifact_evaluator

    sentences = stsb_sentences(args.sentences)
    ours = SentenceEncoder(args.model, device="cpu")
    theirs = SentenceTransformer(str(ours.source_folder), device="cpu")
    bs = args.batch_size
    opts = {"batch_size": bs, "prompt_name": args.prompt_name}
    openvino_fp32, openvino_int8 = (
        Setting(compute_dtype=d, backend="openvino").bind(ours) for d in ("float32", "int8")
    )
    runs = {
        "sentence-transformers fp32": lambda: theirs.encode(sentences, **opts),
        "workbench fp32": lambda: ours.encode(sentences, **opts),
        "workbench bf16": lambda: ours.encode(sentences, compute_dtype="bfloat16", **opts),
        "workbench int8": lambda: ours.encode(sentences, compute_dtype="int8", **opts),
        "workbench onnx fp32": lambda: Setting(backend="onnx").bind(ours).encode(sentences, **opts),
        "workbench openvino fp32": lambda: openvino_fp32.encode(sentences, **opts),
        "workbench openvino int8": lambda: openvino_int8.encode(sentences, **opts),
    }
    # Warm up threads, allocators and the bf16 copy.
    theirs.encode(sentences[:512], **opts)
    ours.encode(sentences[:512], **opts)
    ours.encode(sentences[:512], compute_dtype="bfloat16", **opts)
    ours.encode(sentences[:512], compute_dtype="int8", **opts)  # exports on the first run (cached after)
    Setting(backend="onnx").bind(ours).encode(sentences[:512], **opts)
    openvino_fp32.encode(sentences[:512], **opts)  # converts on the first run (cached after)
    openvino_int8.encode(sentences[:512], **opts)

    seconds, outputs = {}, {}
    for _ in range(args.repeats):  # interleaved, so drifting machine load hits all alike
        for name, fn in runs.items():
            t, out = timed(fn, 1)
            seconds[name] = min(seconds.get(name, float("inf")), t)
            outputs[name] = out
    ref = outputs["sentence-transformers fp32"]
    base = seconds["sentence-transformers fp32"]
    fp32_rho, bf16_rho, int8_rho = (
        stsb_spearman(lambda texts, dtype=dtype: ours.encode(texts, compute_dtype=dtype, **opts))
        for dtype in ("float32", "bfloat16", "int8")
    )
    openvino_int8_rho = stsb_spearman(lambda texts: openvino_int8.encode(texts, **opts))
    int8_settings = ("workbench int8", "workbench openvino int8")
    result = {
        "machine": machine(),
        "cpu_model": cpu_model(),
        "cpu_flags": cpu_flags(),
        "bf16_supported": torch.backends.mkldnn.is_available() and "avx512_bf16" in cpu_flags(),
        "sentences": len(sentences),
        "prompt_name": args.prompt_name,
        "st_sentences_per_s": len(sentences) / base,
        "fp32_sentences_per_s": len(sentences) / seconds["workbench fp32"],
        "bf16_sentences_per_s": len(sentences) / seconds["workbench bf16"],
        "fp32_ratio": base / seconds["workbench fp32"],
        "fp32_min_cos": min_cosine(outputs["workbench fp32"], ref),
        "bf16_ratio": base / seconds["workbench bf16"],
        "bf16_min_cos": min_cosine(outputs["workbench bf16"], ref),
        "fp32_stsb_spearman": fp32_rho,
        "bf16_stsb_spearman": bf16_rho,
        "bf16_stsb_delta": bf16_rho - fp32_rho,
        "int8_sentences_per_s": len(sentences) / seconds["workbench int8"],
        "int8_ratio": base / seconds["workbench int8"],
        "int8_min_cos": min_cosine(outputs["workbench int8"], ref),
        "int8_stsb_spearman": int8_rho,
        "int8_stsb_retained": int8_rho / fp32_rho,
        "onnx_ratio": base / seconds["workbench onnx fp32"],
        "onnx_min_cos": min_cosine(outputs["workbench onnx fp32"], ref),
        "openvino_ratio": base / seconds["workbench openvino fp32"],
        "openvino_min_cos": min_cosine(outputs["workbench openvino fp32"], ref),
        "openvino_int8_ratio": base / seconds["workbench openvino int8"],
        "openvino_int8_min_cos": min_cosine(outputs["workbench openvino int8"], ref),
        "openvino_int8_stsb_spearman": openvino_int8_rho,
        "openvino_int8_stsb_retained": openvino_int8_rho / fp32_rho,
        "best_int8_ratio": base / min(seconds[name] for name in int8_settings),
        "best_int8": min(int8_settings, key=seconds.__getitem__),
    }
    if args.scifact_docs != 0:
        ir = scifact_evaluator(docs=args.scifact_docs, batch_size=bs)
        ndcg = {dtype: ir(Setting(compute_dtype=dtype).bind(ours))[ir.primary_metric] for dtype in ("float32", "int8")}
        openvino_ndcg = ir(openvino_int8)[ir.primary_metric]
        result.update(
            scifact_docs=len(ir.corpus_ids),
            fp32_scifact_ndcg10=ndcg["float32"],
            int8_scifact_ndcg10=ndcg["int8"],
            int8_scifact_retained=ndcg["int8"] / ndcg["float32"],
            openvino_int8_scifact_ndcg10=openvino_ndcg,
            openvino_int8_scifact_retained=openvino_ndcg / ndcg["float32"],
        )
    if args.memmap:
        child = run_child(MEMMAP_CHILD.format(n=args.memmap, compute_dtype=args.memmap_compute_dtype, model=args.model))
        result.update(
            memmap_sentences=args.memmap,
            memmap_compute_dtype=args.memmap_compute_dtype,
            memmap_peak_rss_mb=child["peak_rss_mb"],
            memmap_sentences_per_s=args.memmap / child["seconds"],
            memmap_last_row_written=child["last_row_written"],
        )

    rows = [
        (name, f"{len(sentences) / s:,.0f}", f"{base / s:.2f}x", f"{min_cosine(outputs[name], ref):.6f}")
        for name, s in seconds.items()
    ]
    print(f"machine: {result['machine']}")
    print(
        f"CPU: {result['cpu_model']}; instruction sets found: {', '.join(result['cpu_flags']) or 'none of those looked for'}"
    )
    print(table(rows, ("setting", "sentences/s", "vs ST fp32", "min cos vs ST")))
    print(
        f"STSb test Spearman: fp32 {fp32_rho:.4f}, bf16 {bf16_rho:.4f} (delta {bf16_rho - fp32_rho:+.4f}), "
        f"int8 {int8_rho:.4f} (retained {int8_rho / fp32_rho:.4f}), "
        f"openvino int8 {openvino_int8_rho:.4f} (retained {openvino_int8_rho / fp32_rho:.4f})"
    )
    if "int8_scifact_retained" in result:
        print(
            f"SciFact nDCG@10 ({result['scifact_docs']:,} docs): fp32 {result['fp32_scifact_ndcg10']:.4f}, "
            f"int8 {result['int8_scifact_ndcg10']:.4f} (retained {result['int8_scifact_retained']:.4f}), "
            f"openvino int8 {result['openvino_int8_scifact_ndcg10']:.4f} "
            f"(retained {result['openvino_int8_scifact_retained']:.4f})"
        )
    if args.memmap:
        print(
            f"memmap: {args.memmap:,} sentences -> float16 .npy, peak RSS {result['memmap_peak_rss_mb']:.0f} MB, "
            f"{result['memmap_sentences_per_s']:,.0f} sentences/s ({args.memmap_compute_dtype})"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
