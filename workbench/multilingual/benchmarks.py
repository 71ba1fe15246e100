"""Cross-lingual STS benchmarks (STS17 tracks, stsb-multi-mt per language and English-to-other) and their scores."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..data import Example, load_dataset
from ..evaluation import EmbeddingSimilarityEvaluator

#: Cross-lingual pair -> STS17 track (the file's own name; the extended tracks are track5 with one side translated).
STS17_TRACKS: dict[str, str] = {
    "en-en": "track5.en-en",
    "en-de": "extended.de-en",
    "en-fr": "extended.fr-en",
    "en-it": "extended.it-en",
    "en-nl": "extended.nl-en",
    "es-en": "track4a.es-en",
    "es-es": "track3.es-es",
    "ar-en": "track2.ar-en",
    "ar-ar": "track1.ar-ar",
    "tr-en": "track6.tr-en",
}


def crosslingual_stsb(language: str, split: str = "test") -> list[Example]:
    """STS benchmark pairs with ``sentence1`` in English and ``sentence2`` in ``language``, gold scores unchanged.

    Built from the line-aligned stsb-multi-mt files: row ``i`` of every
    language is the translation of row ``i`` of English.

    Example
    -------
    >>> crosslingual_stsb("de")[0].texts  # doctest: +SKIP
    ['A girl is styling her hair.', 'Ein Mädchen frisiert ihr Haar.']
    """
    english, other = _aligned_stsb(language, split)
    return [Example([en.texts[0], de.texts[1]], en.label) for en, de in zip(english, other)]


def stsb_parallel_pairs(language: str, split: str = "train") -> list[tuple[str, str]]:
    """Distinct ``(English, translation)`` sentence pairs of stsb-multi-mt (both sides of every row).

    Example
    -------
    >>> len(stsb_parallel_pairs("de"))  # doctest: +SKIP
    10397
    """
    english, other = _aligned_stsb(language, split)
    pairs = (pair for en, de in zip(english, other) for pair in zip(en.texts, de.texts))
    return list(dict.fromkeys(pairs))


def _aligned_stsb(language: str, split: str) -> tuple[list[Example], list[Example]]:
    english = load_dataset("stsb-multi-mt", split=split, lang="en")
    other = load_dataset("stsb-multi-mt", split=split, lang=language)
    if len(english) != len(other) or any(a.label != b.label for a, b in zip(english, other)):
        raise ValueError(
            f"stsb-multi-mt {split}: the en and {language} files are not row-aligned (different lengths or scores)"
        )
    return english, other


def sts_benchmarks(
    sts17: Sequence[str] = ("en-de", "es-en"),
    stsb: Sequence[str] = ("de", "es", "fr"),
    crosslingual: Sequence[str] = ("de", "es", "fr"),
    split: str = "test",
) -> dict[str, list[Example]]:
    """Cross-lingual STS test sets by name: ``sts17-<pair>``, ``stsb-<lang>`` and ``stsb-en-<lang>``.

    Parameters
    ----------
    sts17
        Language pairs of :data:`STS17_TRACKS` (``en-de`` is the extended de-en track, ``es-en`` track 4a).
    stsb
        stsb-multi-mt languages (both sentences in that language).
    crosslingual
        Languages paired with English by :func:`crosslingual_stsb`.
    split
        The stsb-multi-mt split.

    Example
    -------
    >>> sorted(sts_benchmarks(sts17=["en-de"], stsb=["de"], crosslingual=[]))  # doctest: +SKIP
    ['sts17-en-de', 'stsb-de']
    """
    unknown = [pair for pair in sts17 if pair not in STS17_TRACKS]
    if unknown:
        raise ValueError(f"unknown STS17 language pairs {unknown}; known: {sorted(STS17_TRACKS)}")
    sets = {f"sts17-{pair}": load_dataset("sts17", track=STS17_TRACKS[pair]) for pair in sts17}
    sets.update({f"stsb-{lang}": load_dataset("stsb-multi-mt", split=split, lang=lang) for lang in stsb})
    sets.update({f"stsb-en-{lang}": crosslingual_stsb(lang, split) for lang in crosslingual})
    return sets


def benchmark_sentences(benchmarks: Mapping[str, Sequence[Example]]) -> set[str]:
    """Every sentence of the benchmarks (to pass as ``exclude`` so that none is trained on).

    Example
    -------
    >>> sorted(benchmark_sentences({"toy": [Example(["a", "b"], 1.0)]}))
    ['a', 'b']
    """
    return {text for examples in benchmarks.values() for example in examples for text in example.texts}


def sts_spearman(model: Any, benchmarks: Mapping[str, Sequence[Example]], batch_size: int = 64) -> dict[str, float]:
    """Spearman correlation (cosine similarity vs gold score) of ``model`` on each benchmark.

    Example
    -------
    >>> from workbench.evaluation.base import LookupEncoder
    >>> model = LookupEncoder({"a": [1.0, 0.0], "b": [0.8, 0.6], "c": [0.0, 1.0]})
    >>> pairs = [Example(["a", "b"], 4.0), Example(["a", "c"], 0.5), Example(["b", "c"], 2.0)]
    >>> sts_spearman(model, {"toy": pairs})
    {'toy': 1.0}
    """
    scores = {}
    for name, examples in benchmarks.items():
        evaluator = EmbeddingSimilarityEvaluator.from_examples(examples, name=name, batch_size=batch_size)
        scores[name] = evaluator(model)[evaluator.primary_metric]
    return scores
