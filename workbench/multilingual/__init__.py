"""Multilingual knowledge distillation (Reimers & Gurevych 2020) and cross-lingual evaluation.

A monolingual *teacher* (e.g. all-MiniLM-L6-v2) embeds English source
sentences; a *student* learns to map both a source sentence and each of its
translations onto the teacher's embedding of the source (MSE).  The student
then places translations next to each other, in the teacher's space.

What this package gives (every name is importable from ``workbench.multilingual``):

* ``teacher`` -- :class:`TeacherEmbeddings`, the teacher's embeddings of
  sentences, each sentence encoded once and kept on disk (keyed by the
  teacher's identity and the sentence's hash), so a second run encodes nothing;
* ``parallel`` -- :class:`ParallelSentencesDataset`, parallel sentences from
  TSV files, line-aligned files or any pairs, with length filters, a cap per
  language and a seeded held-out split, served as
  :class:`~workbench.data.Example` records for :class:`~workbench.losses.MSELoss`;
  and :func:`per_language`, the held-out metrics as a table, one row per language;
* ``recipe`` -- :func:`standard_parallel_data`, the data registry's Tatoeba,
  NTREX and stsb-multi-mt pairs for a list of languages;
* ``student`` -- :func:`build_student`, any encoder plus a Dense projection to the teacher's width;
* ``benchmarks`` -- :func:`sts_benchmarks` / :func:`sts_spearman`, cross-lingual
  STS (STS17 tracks, stsb-multi-mt per language and English-to-other pairs).

Example
-------
>>> from workbench import SentenceEncoder
>>> from workbench.losses import MSELoss
>>> from workbench.multilingual import ParallelSentencesDataset, build_student
>>> teacher = SentenceEncoder("all-MiniLM-L6-v2")                                  # doctest: +SKIP
>>> data = ParallelSentencesDataset(teacher, max_chars=400)                        # doctest: +SKIP
>>> data.add_files("newstest2019-src.eng.txt", "newstest2019-ref.deu.txt", "de", held_out=500)  # doctest: +SKIP
>>> student = build_student("static-multilingual", teacher.get_sentence_embedding_dimension())  # doctest: +SKIP
>>> student.fit([(data, MSELoss(student))], data.evaluator(), epochs=5, lr=1e-2)  # doctest: +SKIP
"""

from __future__ import annotations

from .benchmarks import (
    STS17_TRACKS,
    benchmark_sentences,
    crosslingual_stsb,
    sts_benchmarks,
    sts_spearman,
    stsb_parallel_pairs,
)
from .parallel import LanguageCounts, PairLike, ParallelSentencesDataset, per_language
from .recipe import FILE_CODES, standard_parallel_data
from .student import build_student
from .teacher import CACHE_NAME, TeacherEmbeddings, sentence_key, teacher_fingerprint

__all__ = [
    "CACHE_NAME",
    "FILE_CODES",
    "STS17_TRACKS",
    "LanguageCounts",
    "PairLike",
    "ParallelSentencesDataset",
    "TeacherEmbeddings",
    "benchmark_sentences",
    "build_student",
    "crosslingual_stsb",
    "per_language",
    "sentence_key",
    "standard_parallel_data",
    "sts_benchmarks",
    "sts_spearman",
    "stsb_parallel_pairs",
    "teacher_fingerprint",
]
