"""How much a faster setting (compute_dtype, backend, truncate_dim) changes an encoder's results.

:func:`fidelity_report` encodes the same texts under each setting and
compares every setting with a reference one:

* the cosine between the two embeddings of each STSb sentence (when both
  have the same width);
* STSb Spearman of each setting and its difference from the reference;
* SciFact nDCG@10 of each setting, and how many of the reference's top-10
  documents per query it still retrieves (top-10 overlap);
* the speed of each setting while encoding the STSb sentences.

Example
-------
>>> from workbench import SentenceEncoder
>>> from workbench.backends import fidelity_report
>>> model = SentenceEncoder("all-MiniLM-L6-v2")                                    # doctest: +SKIP
>>> fidelity_report(model, {}, {"compute_dtype": "int8"}, {"truncate_dim": 128},
...                 scifact_docs=1000)                                              # doctest: +SKIP
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
from scipy.stats import spearmanr

from ..evaluation.information_retrieval import InformationRetrievalEvaluator, retrieval_metrics
from ..typing import Encoder


@dataclass(frozen=True)
class Setting:
    """One way of running an encoder: ``compute_dtype``, ``backend`` and ``truncate_dim``, with a label.

    Example
    -------
    >>> Setting(compute_dtype="int8").label
    'torch/int8'
    >>> Setting(backend="onnx", truncate_dim=128).label
    'onnx/float32/128d'
    """

    compute_dtype: str = "float32"
    backend: str = "torch"
    truncate_dim: int | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        return "/".join([self.backend, self.compute_dtype] + ([f"{self.truncate_dim}d"] if self.truncate_dim else []))

    @classmethod
    def of(cls, value: "Setting | Mapping[str, Any]") -> "Setting":
        """A Setting from a Setting or a dict of its fields (unknown keys are an error)."""
        if isinstance(value, Setting):
            return value
        if not isinstance(value, Mapping):
            raise TypeError(
                f"a setting is a Setting or a dict such as {{'compute_dtype': 'int8'}}, got {type(value).__name__}"
            )
        unknown = set(value) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown setting key(s) {sorted(unknown)}; accepted: {sorted(cls.__dataclass_fields__)}")
        return cls(**value)

    def bind(self, model: Any) -> "SettingEncoder":
        """``model`` seen through this setting: its ``encode`` uses the setting's compute dtype, backend and width."""
        return SettingEncoder(model, self)


class SettingEncoder:
    """An encoder whose ``encode`` always runs with one :class:`Setting`; evaluators accept it as a model.

    Example
    -------
    >>> fast = Setting(compute_dtype="int8").bind(model)                                # doctest: +SKIP
    >>> fast.encode(["A man is eating."]).shape                                     # doctest: +SKIP
    (1, 384)
    """

    def __init__(self, model: Encoder, setting: Setting) -> None:
        self.model, self.setting = model, setting

    def encode(self, sentences: Sequence[str], **kwargs: Any) -> Any:
        kwargs.update(compute_dtype=self.setting.compute_dtype, truncate_dim=self.setting.truncate_dim)
        with use_backend(self.model, self.setting.backend):
            return self.model.encode(sentences, **kwargs)


@contextmanager
def use_backend(model: Any, backend: str) -> Iterator[Any]:
    """Run ``model`` on ``backend`` inside the block, then restore its own.

    Example
    -------
    >>> with use_backend(model, "onnx"):                                           # doctest: +SKIP
    ...     emb = model.encode(["A man is eating."])
    """
    from ..encoder import BACKENDS

    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    previous = model.backend
    model.backend = backend
    try:
        yield model
    finally:
        model.backend = previous


def scifact_evaluator(
    docs: int | None = None, queries: int | None = None, batch_size: int = 32, **kwargs: Any
) -> InformationRetrievalEvaluator:
    """An :class:`InformationRetrievalEvaluator` (cosine, nDCG@10 first) on SciFact's test queries, maybe shrunk.

    Parameters
    ----------
    docs:
        Keep this many documents: every relevant document of the kept queries,
        then the others in corpus order (``None``: all 5,183).
    queries:
        Keep the first this many test queries (``None``: all 300).
    batch_size, **kwargs:
        Passed to the evaluator.

    Example
    -------
    >>> ir = scifact_evaluator(docs=500, queries=50)                               # doctest: +SKIP
    >>> len(ir.corpus_ids), len(ir.query_ids)                                      # doctest: +SKIP
    (500, 50)
    """
    from ..data import load_dataset

    data = load_dataset("scifact", split="test")
    kept = [q for q in data.queries if data.relevant.get(q)][:queries]
    relevant = {q: data.relevant[q] for q in kept}
    wanted = {doc for q in kept for doc in relevant[q]}
    corpus = {doc: text for doc, text in data.corpus.items() if doc in wanted}
    for doc, text in data.corpus.items():
        if docs is not None and len(corpus) >= docs:
            break
        corpus.setdefault(doc, text)
    kwargs.setdefault("score_functions", ("cosine",))
    return InformationRetrievalEvaluator(
        {q: data.queries[q] for q in kept}, corpus, relevant, name="scifact", batch_size=batch_size, **kwargs
    )


def _stsb_pairs(split: str, limit: int | None = None) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Unique sentences of the first ``limit`` STSb pairs, the row of each pair's two sentences, and the gold scores."""
    from ..data import load_dataset

    data = load_dataset("stsb", split=split)[:limit]
    unique = list(dict.fromkeys(text for example in data for text in example.texts[:2]))
    row = {text: i for i, text in enumerate(unique)}
    left = np.array([row[e.texts[0]] for e in data])
    right = np.array([row[e.texts[1]] for e in data])
    return unique, left, right, np.array([float(e.label) for e in data])


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


def fidelity_report(
    model: Any,
    reference: Setting | Mapping[str, Any],
    *settings: Setting | Mapping[str, Any],
    stsb_split: str = "test",
    stsb_pairs: int | None = None,
    scifact_docs: int | None = None,
    scifact_queries: int | None = None,
    top_k: int = 10,
    batch_size: int = 32,
    callbacks: Iterable[Any] | None = None,
) -> Any:
    """Compare ``settings`` with ``reference`` on one model: one DataFrame row per setting (reference first).

    Parameters
    ----------
    model:
        A :class:`~workbench.SentenceEncoder`.
    reference, settings:
        :class:`Setting` objects or dicts of their fields, e.g. ``{}`` (float32
        torch), ``{"compute_dtype": "int8"}``, ``{"backend": "onnx"}``, ``{"truncate_dim": 128}``.
    stsb_split, stsb_pairs:
        STSb split whose sentences are encoded (cosines, Spearman, speed), and
        how many of its pairs to use (``None``: all).
    scifact_docs, scifact_queries:
        Size of the SciFact retrieval check (see :func:`scifact_evaluator`);
        ``scifact_docs=0`` skips it.
    top_k:
        Depth of the retrieval overlap.
    batch_size, callbacks:
        Passed to ``encode`` (callbacks receive its ``progress_*`` events).

    Returns
    -------
    pandas.DataFrame with columns ``setting, backend, compute_dtype, truncate_dim,
    dim, sentences_per_s, speedup, mean_cosine, min_cosine, stsb_spearman,
    stsb_delta`` and, with SciFact, ``scifact_ndcg@10, ndcg_retained,
    top<k>_overlap``.  Cosines are NaN where the widths differ.

    Example
    -------
    >>> report = fidelity_report(model, {}, {"compute_dtype": "int8"}, scifact_docs=0)  # doctest: +SKIP
    >>> report[["setting", "speedup", "mean_cosine", "stsb_delta"]]                 # doctest: +SKIP
    """
    import pandas as pd

    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    all_settings = [Setting.of(reference)] + [Setting.of(s) for s in settings]
    labels = [s.label for s in all_settings]
    if len(set(labels)) < len(labels):
        raise ValueError(f"settings must differ (or carry different names), got {labels}")
    sentences, left, right, gold = _stsb_pairs(stsb_split, stsb_pairs)
    ir = None
    if scifact_docs != 0:
        ir = scifact_evaluator(scifact_docs, scifact_queries, batch_size, map_at_k=(max(100, top_k),))
    rows, base_emb, base_ranked, base_speed = [], None, None, None
    for setting in all_settings:
        encoder = setting.bind(model)
        # Exports, sessions and low-precision copies are made on first use; keep that out of the timing.
        encoder.encode(sentences[:batch_size], batch_size=batch_size, show_progress_bar=False)
        started = time.perf_counter()
        emb = np.asarray(
            encoder.encode(sentences, batch_size=batch_size, callbacks=callbacks, show_progress_bar=False),
            dtype=np.float32,
        )
        speed = len(sentences) / max(time.perf_counter() - started, 1e-9)
        rho = float(spearmanr(_cosines(emb[left], emb[right]), gold).statistic)
        base_emb = emb if base_emb is None else base_emb
        base_speed = speed if base_speed is None else base_speed
        same_width = emb.shape[1] == base_emb.shape[1]
        cos = _cosines(emb, base_emb) if same_width else np.full(len(emb), np.nan)
        row = {
            **{k: v for k, v in asdict(setting).items() if k != "name"},
            "setting": setting.label,
            "dim": emb.shape[1],
            "sentences_per_s": speed,
            "speedup": speed / base_speed,
            "mean_cosine": float(cos.mean()),
            "min_cosine": float(cos.min()),
            "stsb_spearman": rho,
        }
        if ir is not None:
            hits = ir.search(encoder)["cosine"]
            ranked = [[ir.corpus_ids[i] for _, i in query_hits] for query_hits in hits]
            base_ranked = ranked if base_ranked is None else base_ranked
            metrics = retrieval_metrics(ranked, [ir.qrels[q] for q in ir.query_ids], **ir.cutoffs)
            row["scifact_ndcg@10"] = metrics["ndcg@10"]
            row[f"top{top_k}_overlap"] = float(
                np.mean([len(set(a[:top_k]) & set(b[:top_k])) / top_k for a, b in zip(ranked, base_ranked)])
            )
        rows.append(row)
    report = pd.DataFrame(rows)
    report["stsb_delta"] = report["stsb_spearman"] - report["stsb_spearman"].iloc[0]
    columns = [
        "setting",
        "backend",
        "compute_dtype",
        "truncate_dim",
        "dim",
        "sentences_per_s",
        "speedup",
        "mean_cosine",
        "min_cosine",
        "stsb_spearman",
        "stsb_delta",
    ]
    if ir is not None:
        report["ndcg_retained"] = report["scifact_ndcg@10"] / report["scifact_ndcg@10"].iloc[0]
        columns += ["scifact_ndcg@10", "ndcg_retained", f"top{top_k}_overlap"]
    return report[columns]
