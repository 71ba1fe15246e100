"""Parallel sentences as distillation examples, their held-out evaluation, and its table per language.

* :class:`ParallelSentencesDataset` -- parallel sentences from TSV files,
  line-aligned files or any pairs, with length filters, a cap per language and
  a seeded held-out split, served as :class:`~workbench.data.Example` records
  for :class:`~workbench.losses.MSELoss`;
* :func:`per_language` -- the held-out metrics as a table, one row per language.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from torch.utils.data import Dataset

from ..data import Example, read_parallel_files, read_parallel_tsv
from ..evaluation import MSEEvaluator, SequentialEvaluator, TranslationEvaluator
from .teacher import TeacherEmbeddings

PairLike = tuple[str, str] | Sequence[str] | Example


@dataclass
class _Corpus:
    name: str
    language: str
    pairs: list[tuple[str, str]]
    held_out: int


@dataclass
class LanguageCounts:
    """What happened to one language's pairs on the way to training (see :meth:`ParallelSentencesDataset.summary`)."""

    read: int = 0
    too_short_or_long: int = 0
    duplicates: int = 0
    held_out: int = 0
    overlap: int = 0
    over_cap: int = 0
    train: int = 0


@dataclass
class _Built:
    train: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    held_out: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    counts: dict[str, LanguageCounts] = field(default_factory=dict)
    texts: list[str] = field(default_factory=list)  # one training example per entry ...
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # ... labelled by this row
    embeddings: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))


def _rank(seed: int, *texts: str) -> bytes:
    """A seeded pseudo-random sort key that depends only on the texts (not on file order)."""
    return hashlib.blake2b("\0".join((str(seed), *texts)).encode("utf-8"), digest_size=8).digest()


class ParallelSentencesDataset(Dataset):
    """Parallel sentences as MSE-distillation examples, labelled with the teacher's embedding of the source.

    Every training pair ``(source, target)`` gives the example
    ``Example([target], teacher(source))``, and every distinct source sentence
    ``Example([source], teacher(source))`` (so the student also keeps the
    teacher's place for the source language).  Use it with
    :class:`~workbench.losses.MSELoss`.

    Data are added per language (:meth:`add_files`, :meth:`add_tsv`,
    :meth:`add_pairs`; several sources per language are fine) and processed
    on first use, in this order:

    1. pairs with a side shorter than ``min_chars`` or longer than
       ``max_chars`` characters are dropped, and repeated pairs;
    2. each source added with ``held_out=n`` gives up ``n`` pairs, chosen by a
       seeded hash of the *source sentence* -- so line-aligned files that share
       their English side (NTREX) hold out the same lines in every language;
    3. every training pair that contains a held-out sentence (either side,
       any language) or a sentence of ``exclude`` is dropped: held-out and
       evaluation sentences are never trained on;
    4. at most ``max_per_language`` pairs per language are kept (a seeded choice);
    5. the teacher embeds the distinct sources of training and held-out
       pairs, through the on-disk cache of :class:`TeacherEmbeddings`.

    Parameters
    ----------
    teacher
        A :class:`TeacherEmbeddings`, or a model (it is wrapped in one with the default cache).
    min_chars, max_chars
        Length limits in characters, for both sides of a pair (``max_chars=None``: no limit).
    max_per_language
        Cap on the training pairs of each language (``None``: no cap).
    exclude
        Sentences never to train on, e.g. those of the evaluation benchmarks.
    include_source
        Also train on each source sentence itself (on by default, as in the paper).
    seed
        Seed of the held-out split and the cap.

    Example
    -------
    >>> import numpy as np
    >>> class Teacher:  # the length of a sentence, as a 2-d "embedding"
    ...     def encode(self, sentences, **kwargs):
    ...         return np.array([[len(s), 1.0] for s in sentences])
    >>> import tempfile
    >>> embed = TeacherEmbeddings(Teacher(), folder=tempfile.mkdtemp(), teacher_id="length")
    >>> data = ParallelSentencesDataset(embed)
    >>> data = data.add_pairs([("Good morning", "Guten Morgen"), ("Thanks", "Danke")], "de", held_out=1)
    >>> len(data), data.held_out["de"]
    (2, [('Thanks', 'Danke')])
    >>> data[0].texts, data[0].label.tolist()
    (['Good morning'], [12.0, 1.0])
    >>> data[1].texts, data[1].label.tolist()
    (['Guten Morgen'], [12.0, 1.0])
    """

    def __init__(
        self,
        teacher: TeacherEmbeddings | Any,
        min_chars: int = 1,
        max_chars: int | None = None,
        max_per_language: int | None = None,
        exclude: Iterable[str] = (),
        include_source: bool = True,
        seed: int = 0,
    ) -> None:
        for name, value, low in (
            ("min_chars", min_chars, 0),
            ("max_chars", max_chars, 1),
            ("max_per_language", max_per_language, 1),
        ):
            if value is not None and (not isinstance(value, int) or value < low):
                raise ValueError(
                    f"{name} must be an integer >= {low}"
                    + (" or None" if name != "min_chars" else "")
                    + f", got {value!r}"
                )
        if max_chars is not None and max_chars < min_chars:
            raise ValueError(f"max_chars ({max_chars}) is below min_chars ({min_chars}); no pair could pass")
        self.teacher = teacher if isinstance(teacher, TeacherEmbeddings) else TeacherEmbeddings(teacher)
        self.min_chars, self.max_chars = min_chars, max_chars
        self.max_per_language = max_per_language
        self.exclude = frozenset(exclude)
        self.include_source = include_source
        self.seed = seed
        self._corpora: list[_Corpus] = []
        self._built: _Built | None = None

    # ------------------------------------------------------------------ adding data
    def add_pairs(
        self, pairs: Iterable[PairLike], language: str, held_out: int = 0, name: str | None = None
    ) -> "ParallelSentencesDataset":
        """Add ``(source, target)`` pairs of one language; returns the data set (calls chain).

        Parameters
        ----------
        pairs
            Tuples ``(source, target)``, or examples whose first two texts are source and target.
        language
            The target language's name (e.g. ``"de"``); pairs of the same name are pooled.
        held_out
            How many pairs of these to set aside for evaluation (see the class description).
        name
            What to call this source in error messages (default: ``<language> #<n>``).
        """
        if not isinstance(language, str) or not language:
            raise ValueError(f"language must be a non-empty string such as 'de', got {language!r}")
        if not isinstance(held_out, int) or held_out < 0:
            raise ValueError(f"held_out must be a non-negative integer, got {held_out!r}")
        name = name or f"{language} #{sum(c.language == language for c in self._corpora) + 1}"
        checked = []
        for i, pair in enumerate(pairs):
            texts = pair.texts if isinstance(pair, Example) else pair
            if isinstance(texts, str) or len(texts) < 2 or not all(isinstance(t, str) for t in texts[:2]):
                raise ValueError(f"{name}: item {i} is not a (source, target) pair of strings: {pair!r:.120}")
            checked.append((texts[0], texts[1]))
        self._corpora.append(_Corpus(name, language, checked, held_out))
        self._built = None
        return self

    def add_files(
        self, source_path: str | os.PathLike, target_path: str | os.PathLike, language: str, held_out: int = 0
    ) -> "ParallelSentencesDataset":
        """Add two line-aligned files (one sentence per line; CRLF is fine): source and its translation.

        Example
        -------
        >>> data.add_files("newstest2019-src.eng.txt", "newstest2019-ref.deu.txt", "de", held_out=500)  # doctest: +SKIP
        """
        return self.add_pairs(
            read_parallel_files(source_path, target_path),
            language,
            held_out,
            name=f"{Path(source_path).name} + {Path(target_path).name}",
        )

    def add_tsv(self, path: str | os.PathLike, language: str, held_out: int = 0) -> "ParallelSentencesDataset":
        """Add a TAB-separated file with ``source<TAB>target`` per line.

        Example
        -------
        >>> data.add_tsv("en-de.tsv", "de")  # doctest: +SKIP
        """
        return self.add_pairs(read_parallel_tsv(path), language, held_out, name=Path(path).name)

    # ------------------------------------------------------------------ results of processing
    @property
    def languages(self) -> list[str]:
        """The languages added, in the order they were first added."""
        return list(dict.fromkeys(c.language for c in self._corpora))

    @property
    def train_pairs(self) -> dict[str, list[tuple[str, str]]]:
        """Language -> the ``(source, target)`` pairs trained on."""
        return self._processed().train

    @property
    def held_out(self) -> dict[str, list[tuple[str, str]]]:
        """Language -> the held-out ``(source, target)`` pairs (empty lists for languages without)."""
        return self._processed().held_out

    def summary(self) -> pd.DataFrame:
        """One row per language: pairs read, dropped by each rule, held out, and trained on."""
        counts = self._processed().counts
        return pd.DataFrame([{"language": lang, **vars(c)} for lang, c in counts.items()]).set_index("language")

    def build(self) -> "ParallelSentencesDataset":
        """Filter, split, cap and embed now rather than on first use; returns the data set.

        Processing happens once; adding data makes the next use process again.
        """
        self._processed()
        return self

    def __len__(self) -> int:
        return len(self._processed().texts)

    def __getitem__(self, index: int) -> Example:
        built = self._processed()
        return Example([built.texts[index]], built.embeddings[built.rows[index]])

    # ------------------------------------------------------------------ evaluation
    def evaluator(self, batch_size: int = 64, max_pairs: int | None = None) -> SequentialEvaluator:
        """Held-out evaluation per language: translation accuracy (both directions) and MSE to the teacher.

        Evaluators are named ``translation-<language>`` and ``mse-<language>``;
        the primary metric, ``held-out_combined_score``, is the mean of the
        languages' ``mean_accuracy``.  The teacher embeddings come from the cache.

        Parameters
        ----------
        batch_size
            Passed to the student's ``encode``.
        max_pairs
            Use at most this many held-out pairs per language (the first ones).
        """
        built = self._processed()
        translation, mse = [], []
        for lang, pairs in built.held_out.items():
            pairs = pairs[:max_pairs]
            if not pairs:
                continue
            sources, targets = [s for s, _ in pairs], [t for _, t in pairs]
            translation.append(
                TranslationEvaluator(sources, targets, name=f"translation-{lang}", batch_size=batch_size)
            )
            mse.append(
                MSEEvaluator(
                    sources,
                    targets,
                    teacher_embeddings=self.teacher(sources),
                    name=f"mse-{lang}",
                    batch_size=batch_size,
                )
            )
        if not translation:
            raise ValueError("no held-out pairs to evaluate on; give held_out=n when adding data")
        n = len(translation)
        return SequentialEvaluator(
            translation + mse, main_score_function=lambda scores: float(np.mean(scores[:n])), name="held-out"
        )

    # ------------------------------------------------------------------ processing
    def _processed(self) -> _Built:
        if self._built is None:
            self._built = self._build()
        return self._built

    def _build(self) -> _Built:
        if not self._corpora:
            raise ValueError("no parallel data yet; add some with add_files, add_tsv or add_pairs")
        built = _Built()
        candidates: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for corpus in self._corpora:
            counts = built.counts.setdefault(corpus.language, LanguageCounts())
            counts.read += len(corpus.pairs)
            fitting = [p for p in corpus.pairs if self._fits(p[0]) and self._fits(p[1])]
            counts.too_short_or_long += len(corpus.pairs) - len(fitting)
            unique = list(dict.fromkeys(fitting))
            counts.duplicates += len(fitting) - len(unique)
            chosen = set(sorted(unique, key=lambda p: (_rank(self.seed, p[0]), p[1]))[: corpus.held_out])
            built.held_out.setdefault(corpus.language, []).extend(p for p in unique if p in chosen)
            counts.held_out += len(chosen)
            candidates[corpus.language].extend(p for p in unique if p not in chosen)
        banned = set(self.exclude).union(t for pairs in built.held_out.values() for pair in pairs for t in pair)
        for lang, pairs in candidates.items():
            counts = built.counts[lang]
            unique = list(dict.fromkeys(pairs))  # the same pair from two sources
            counts.duplicates += len(pairs) - len(unique)
            allowed = [p for p in unique if p[0] not in banned and p[1] not in banned]
            counts.overlap = len(unique) - len(allowed)
            kept = allowed
            if self.max_per_language is not None and len(allowed) > self.max_per_language:
                kept = sorted(allowed, key=lambda p: _rank(self.seed, "cap", *p))[: self.max_per_language]
            counts.over_cap = len(allowed) - len(kept)
            counts.train = len(kept)
            built.train[lang] = kept
        all_pairs = (*built.train.values(), *built.held_out.values())
        sources = list(dict.fromkeys(s for pairs in all_pairs for s, _ in pairs))
        built.embeddings = self.teacher(sources)
        row = {s: i for i, s in enumerate(sources)}
        examples = [(t, row[s]) for pairs in built.train.values() for s, t in pairs]
        if self.include_source:
            trained_sources = dict.fromkeys(s for pairs in built.train.values() for s, _ in pairs)
            examples = [(s, row[s]) for s in trained_sources] + examples
        built.texts = [text for text, _ in examples]
        built.rows = np.array([r for _, r in examples], dtype=np.int64)
        return built

    def _fits(self, text: str) -> bool:
        return len(text) >= self.min_chars and (self.max_chars is None or len(text) <= self.max_chars)


_HELD_OUT_KEY = re.compile(r"^(translation|mse)-(.+)_(src2trg_accuracy|trg2src_accuracy|min_accuracy|negative_mse)$")


def per_language(metrics: Mapping[str, float]) -> pd.DataFrame:
    """The metrics of :meth:`ParallelSentencesDataset.evaluator` as a table, one row per language.

    Columns: ``src2trg_accuracy``, ``trg2src_accuracy``, ``min_accuracy`` and
    ``mse`` (the teacher-student MSE times 100, lower is better).

    Example
    -------
    >>> per_language({"translation-de_src2trg_accuracy": 0.9, "translation-de_trg2src_accuracy": 0.8,
    ...               "translation-de_min_accuracy": 0.8, "mse-de_negative_mse": -0.25}).to_dict("index")
    {'de': {'src2trg_accuracy': 0.9, 'trg2src_accuracy': 0.8, 'min_accuracy': 0.8, 'mse': 0.25}}
    """
    rows: dict[str, dict[str, float]] = defaultdict(dict)
    for key, value in metrics.items():
        match = _HELD_OUT_KEY.match(key)
        if match:
            _, lang, metric = match.groups()
            rows[lang]["mse" if metric == "negative_mse" else metric] = -value if metric == "negative_mse" else value
    if not rows:
        raise ValueError(
            f"no per-language metrics among {sorted(metrics)[:8]}; pass what "
            "ParallelSentencesDataset.evaluator() returned"
        )
    columns = ["src2trg_accuracy", "trg2src_accuracy", "min_accuracy", "mse"]
    frame = pd.DataFrame.from_dict(rows, orient="index")
    return frame[[c for c in columns if c in frame.columns]]
