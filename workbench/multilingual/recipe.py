"""The registry recipe: English-to-other parallel data from the data mirror's Tatoeba, NTREX and stsb-multi-mt."""

from __future__ import annotations

from typing import Any, Sequence

from ..data import dataset_path
from .benchmarks import stsb_parallel_pairs
from .parallel import ParallelSentencesDataset
from .teacher import TeacherEmbeddings

#: Two-letter language code -> the three-letter code in the Tatoeba and NTREX file names.
FILE_CODES: dict[str, str] = {
    "de": "deu",
    "fr": "fra",
    "es": "spa",
    "it": "ita",
    "nl": "nld",
    "pt": "por",
    "pl": "pol",
    "ru": "rus",
}


def standard_parallel_data(
    teacher: TeacherEmbeddings | Any,
    languages: Sequence[str] = ("de", "fr", "es"),
    held_out: int = 500,
    stsb_splits: Sequence[str] = ("train", "dev"),
    **options: Any,
) -> ParallelSentencesDataset:
    """English-to-``languages`` parallel data of the data registry: Tatoeba, NTREX and stsb-multi-mt.

    Per language: the Tatoeba pairs, the NTREX news lines (``held_out`` of
    them set aside -- the same English lines in every language) and the
    translated sentences of the stsb-multi-mt ``stsb_splits`` (never its test
    split, which is an STS benchmark).

    Parameters
    ----------
    teacher
        As for :class:`ParallelSentencesDataset`.
    languages
        Two-letter codes among :data:`FILE_CODES`.
    held_out
        NTREX lines held out per language.
    stsb_splits
        stsb-multi-mt splits to train on; ``()`` for none.
    **options
        Passed to :class:`ParallelSentencesDataset` (``max_chars``, ``max_per_language``, ``exclude``, ``seed``, ...).

    Example
    -------
    >>> data = standard_parallel_data(teacher, ["de"], held_out=500, max_chars=500)   # doctest: +SKIP
    >>> data.summary()                                                                 # doctest: +SKIP
    """
    unknown = [lang for lang in languages if lang not in FILE_CODES]
    if unknown:
        raise ValueError(f"no parallel files known for {unknown}; languages: {sorted(FILE_CODES)}")
    data = ParallelSentencesDataset(teacher, **options)
    english_news = dataset_path("ntrex", "newstest2019-src.eng.txt")
    for lang in languages:
        code = FILE_CODES[lang]
        data.add_files(english_news, dataset_path("ntrex", f"newstest2019-ref.{code}.txt"), lang, held_out=held_out)
        data.add_files(
            dataset_path("tatoeba", f"tatoeba.{code}-eng.eng"),
            dataset_path("tatoeba", f"tatoeba.{code}-eng.{code}"),
            lang,
        )
        for split in stsb_splits:
            data.add_pairs(stsb_parallel_pairs(lang, split), lang, name=f"stsb-multi-mt {lang} {split}")
    return data
