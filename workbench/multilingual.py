"""Multilingual knowledge distillation (Reimers & Gurevych 2020) and cross-lingual evaluation.

A monolingual *teacher* (e.g. all-MiniLM-L6-v2) embeds English source
sentences; a *student* learns to map both a source sentence and each of its
translations onto the teacher's embedding of the source (MSE).  The student
then places translations next to each other, in the teacher's space.

What this module gives:

* :class:`TeacherEmbeddings` -- the teacher's embeddings of sentences, each
  sentence encoded once and kept on disk (keyed by the teacher's identity and
  the sentence's hash), so a second run encodes nothing;
* :class:`ParallelSentencesDataset` -- parallel sentences from TSV files,
  line-aligned files or any pairs, with length filters, a cap per language and
  a seeded held-out split, served as :class:`~workbench.data.Example` records
  for :class:`~workbench.losses.MSELoss`;
* :func:`build_student` -- any encoder plus a Dense projection to the teacher's width;
* :func:`sts_benchmarks` / :func:`sts_spearman` -- cross-lingual STS (STS17
  tracks, stsb-multi-mt per language and English-to-other pairs);
* :func:`per_language` -- the held-out metrics as a table, one row per language.

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

import copy
import hashlib
import io
import json
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from .data import Example, dataset_path, load_dataset, read_parallel_files, read_parallel_tsv
from .encoder import COMPUTE_DTYPES, SentenceEncoder, renamed_precision
from .evaluation import EmbeddingSimilarityEvaluator, MSEEvaluator, SequentialEvaluator, TranslationEvaluator
from .io import atomic_write_bytes, write_json
from .modules import Dense, Normalize, StaticEmbedding
from .paths import cache_dir

#: Subfolder of the workbench cache that holds teacher embeddings.
CACHE_NAME = "teacher-embeddings"
#: Cross-lingual pair -> STS17 track (the file's own name; the extended tracks are track5 with one side translated).
STS17_TRACKS: dict[str, str] = {
    "en-en": "track5.en-en", "en-de": "extended.de-en", "en-fr": "extended.fr-en", "en-it": "extended.it-en",
    "en-nl": "extended.nl-en", "es-en": "track4a.es-en", "es-es": "track3.es-es", "ar-en": "track2.ar-en",
    "ar-ar": "track1.ar-ar", "tr-en": "track6.tr-en",
}
#: Two-letter language code -> the three-letter code in the Tatoeba and NTREX file names.
FILE_CODES: dict[str, str] = {
    "de": "deu", "fr": "fra", "es": "spa", "it": "ita", "nl": "nld", "pt": "por", "pl": "pol", "ru": "rus",
}
PairLike = tuple[str, str] | Sequence[str] | Example


# --------------------------------------------------------------------------- teacher embeddings


def sentence_key(sentence: str) -> bytes:
    """The 32-byte key of a sentence in the teacher cache (SHA-256 of its UTF-8 bytes).

    Example
    -------
    >>> sentence_key("Hello").hex()[:12]
    '185f8db32271'
    """
    return hashlib.sha256(sentence.encode("utf-8")).digest()


def teacher_fingerprint(teacher: nn.Module, compute_dtype: str = "float32") -> str:
    """A hex digest that changes whenever the teacher's embeddings could change.

    It covers every module's class and settings, every weight, the
    tokenizers, the encoder's prompts and ``truncate_dim``, and the compute
    dtype of encoding.  Hashing all weights takes a fraction of a second for a
    MiniLM-sized model.

    Example
    -------
    >>> from workbench.modules import Dense
    >>> _ = torch.manual_seed(0)
    >>> a, b = Dense(2, 2), Dense(2, 2)
    >>> teacher_fingerprint(a) == teacher_fingerprint(a), teacher_fingerprint(a) == teacher_fingerprint(b)
    (True, False)
    """
    if not isinstance(teacher, nn.Module):
        raise TypeError(f"cannot fingerprint a {type(teacher).__name__}: the teacher must be a torch module "
                        "(a SentenceEncoder); otherwise give TeacherEmbeddings a teacher_id")
    digest = hashlib.blake2b(digest_size=16)

    def add(value: Any) -> None:
        digest.update(json.dumps(value, sort_keys=True, default=str).encode())

    # "precision" is the compute dtype's old name, kept so that existing caches stay valid
    add({"precision": compute_dtype, "prompts": getattr(teacher, "prompts", None),
         "default_prompt_name": getattr(teacher, "default_prompt_name", None),
         "truncate_dim": getattr(teacher, "truncate_dim", None)})
    for name, module in teacher.named_modules():
        getter = getattr(module, "get_config", None)
        add([name, type(module).__name__, getter() if callable(getter) else None])
        tokenizer = getattr(module, "tokenizer", None)
        backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
        if hasattr(backend, "to_str"):
            # Padding and truncation are set per call by Hugging Face tokenizers; they do not change embeddings.
            add({k: v for k, v in json.loads(backend.to_str()).items() if k not in ("padding", "truncation")})
    for name, tensor in teacher.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().flatten().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class TeacherEmbeddings:
    """The teacher's embeddings of sentences, each sentence encoded once and cached on disk.

    The cache is a folder per teacher identity (see :func:`teacher_fingerprint`)
    holding ``.npz`` shards of (sentence key, embedding) rows; every call that
    meets new sentences encodes only those and adds one shard.  Shards are
    written atomically, so an interrupted run leaves a usable cache.

    Parameters
    ----------
    teacher
        The model whose embeddings are the targets; anything with
        ``encode(sentences, batch_size=, compute_dtype=, ...)``.
    folder
        Where teacher caches live (one subfolder per teacher identity);
        default: ``teacher-embeddings`` in the workbench cache (``WORKBENCH_CACHE``).
    compute_dtype
        Passed to the teacher's ``encode`` (``float32``, ``bfloat16``, ``int8``); part of the cache key.
    precision
        Deprecated name of ``compute_dtype`` (a FutureWarning).
    batch_size
        Sentences per teacher forward pass.
    teacher_id
        A name that identifies the teacher instead of hashing its weights
        (needed for teachers that are not torch modules).
    callbacks
        Subscribers of the teacher's ``progress_*`` events.

    Attributes
    ----------
    path
        This teacher's cache folder.
    encoded
        How many sentences the teacher has encoded through this object
        (0 when everything came from the cache).

    Example
    -------
    >>> embed = TeacherEmbeddings(teacher, folder="cache")     # doctest: +SKIP
    >>> embed(["Hello", "Hello", "World"]).shape                # doctest: +SKIP
    (3, 384)
    >>> embed.encoded                                           # doctest: +SKIP
    2
    """

    def __init__(
        self,
        teacher: Any,
        folder: str | os.PathLike | None = None,
        compute_dtype: str = "float32",
        batch_size: int = 64,
        teacher_id: str | None = None,
        callbacks: Iterable[Any] | None = None,
        precision: str | None = None,
    ) -> None:
        compute_dtype = renamed_precision(precision, compute_dtype, "TeacherEmbeddings")
        if compute_dtype not in COMPUTE_DTYPES:
            raise ValueError(f"compute_dtype must be one of {COMPUTE_DTYPES}, got {compute_dtype!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        identity = teacher_fingerprint(teacher, compute_dtype) if teacher_id is None else f"{teacher_id}\0{compute_dtype}"
        self.teacher = teacher
        self.compute_dtype = compute_dtype
        self.batch_size = batch_size
        self.callbacks = list(callbacks or ())
        self.path = Path(folder if folder is not None else cache_dir(CACHE_NAME)) / hashlib.blake2b(
            identity.encode(), digest_size=10).hexdigest()
        self.encoded = 0
        self._rows: dict[bytes, np.ndarray] = {}
        self._load()

    def __len__(self) -> int:
        """Number of sentences in the cache."""
        return len(self._rows)

    def __contains__(self, sentence: str) -> bool:
        return sentence_key(sentence) in self._rows

    def __call__(self, sentences: Sequence[str]) -> np.ndarray:
        """Embeddings of ``sentences`` (float32, one row each), encoding only the ones not cached."""
        keys = [sentence_key(s) for s in sentences]
        missing = list({k: s for k, s in zip(keys, sentences) if k not in self._rows}.items())
        if missing:
            embeddings = np.asarray(self.teacher.encode(
                [s for _, s in missing], batch_size=self.batch_size, compute_dtype=self.compute_dtype,
                convert_to_numpy=True, callbacks=self.callbacks or None), dtype=np.float32)
            self._store([k for k, _ in missing], embeddings)
            self.encoded += len(missing)
        if not keys:
            return np.zeros((0, self.dimension or 0), dtype=np.float32)
        return np.stack([self._rows[k] for k in keys])

    def encode(self, sentences: str | Sequence[str], **options: Any) -> np.ndarray:
        """The cached embeddings with a model's ``encode`` call, so evaluators can score the teacher cheaply.

        ``options`` (batch size, progress bar, ...) are accepted and ignored:
        the teacher's settings were fixed when this object was made.

        Example
        -------
        >>> sts_spearman(TeacherEmbeddings(teacher), benchmarks)   # doctest: +SKIP
        """
        if isinstance(sentences, str):
            return self([sentences])[0]
        return self(sentences)

    @property
    def dimension(self) -> int | None:
        """Width of the cached embeddings (None while the cache is empty)."""
        return len(next(iter(self._rows.values()))) if self._rows else None

    def _load(self) -> None:
        for shard in sorted(self.path.glob("shard-*.npz")):
            with np.load(shard, allow_pickle=False) as data:
                keys, embeddings = data["keys"], data["embeddings"]
            if len(keys) != len(embeddings) or keys.shape[1:] != (32,):
                raise ValueError(f"{shard} is not a teacher-embedding shard ({keys.shape} keys, "
                                 f"{embeddings.shape} embeddings); delete it and run again")
            self._rows.update(zip((row.tobytes() for row in keys), embeddings))

    def _store(self, keys: list[bytes], embeddings: np.ndarray) -> None:
        if embeddings.ndim != 2 or len(embeddings) != len(keys):
            raise ValueError(f"the teacher returned embeddings of shape {embeddings.shape} for {len(keys)} "
                             "sentences; expected one vector per sentence")
        if self.dimension is not None and embeddings.shape[1] != self.dimension:
            raise ValueError(f"the teacher returned {embeddings.shape[1]}-d embeddings but {self.path} holds "
                             f"{self.dimension}-d ones; give this teacher its own teacher_id or folder")
        buffer = io.BytesIO()
        key_matrix = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), 32)
        np.savez(buffer, keys=key_matrix, embeddings=embeddings)
        name = hashlib.blake2b(key_matrix.tobytes(), digest_size=12).hexdigest()
        atomic_write_bytes(self.path / f"shard-{name}.npz", buffer.getvalue())
        if not (self.path / "teacher.json").exists():
            # For people browsing the cache: which teacher a folder belongs to.
            about = {"teacher": str(getattr(self.teacher, "source", type(self.teacher).__name__)),
                     "compute_dtype": self.compute_dtype}
            write_json(self.path / "teacher.json", about)
        self._rows.update(zip(keys, embeddings))


# --------------------------------------------------------------------------- parallel data


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
        for name, value, low in (("min_chars", min_chars, 0), ("max_chars", max_chars, 1),
                                 ("max_per_language", max_per_language, 1)):
            if value is not None and (not isinstance(value, int) or value < low):
                raise ValueError(f"{name} must be an integer >= {low}" + (" or None" if name != "min_chars" else "")
                                 + f", got {value!r}")
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
        return self.add_pairs(read_parallel_files(source_path, target_path), language, held_out,
                              name=f"{Path(source_path).name} + {Path(target_path).name}")

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
            translation.append(TranslationEvaluator(sources, targets, name=f"translation-{lang}",
                                                    batch_size=batch_size))
            mse.append(MSEEvaluator(sources, targets, teacher_embeddings=self.teacher(sources),
                                    name=f"mse-{lang}", batch_size=batch_size))
        if not translation:
            raise ValueError("no held-out pairs to evaluate on; give held_out=n when adding data")
        n = len(translation)
        return SequentialEvaluator(translation + mse, main_score_function=lambda scores: float(np.mean(scores[:n])),
                                   name="held-out")

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
            chosen = set(sorted(unique, key=lambda p: (_rank(self.seed, p[0]), p[1]))[:corpus.held_out])
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
                kept = sorted(allowed, key=lambda p: _rank(self.seed, "cap", *p))[:self.max_per_language]
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
        data.add_files(dataset_path("tatoeba", f"tatoeba.{code}-eng.eng"),
                       dataset_path("tatoeba", f"tatoeba.{code}-eng.{code}"), lang)
        for split in stsb_splits:
            data.add_pairs(stsb_parallel_pairs(lang, split), lang, name=f"stsb-multi-mt {lang} {split}")
    return data


# --------------------------------------------------------------------------- students


def build_student(
    base: str | os.PathLike | SentenceEncoder,
    dimension: int,
    activation: str = "identity",
    static_width: int | None = None,
    device: str | None = None,
) -> SentenceEncoder:
    """A student encoder: ``base`` plus, when its width differs, a Dense projection to ``dimension``.

    Works for any base: a static model (``"static-multilingual"``, 64-d), a
    Transformer with pooling, a saved folder.  A given encoder is copied, so
    the original stays as it was (e.g. to compare before and after training).

    A base that starts with StaticEmbedding and Normalize is prepared for
    training without changing its sentence similarities: its token vectors are
    rescaled to a mean norm of 1 (so one learning rate suits both the table
    and the projection), and ``static_width`` widens them by a random map with
    orthonormal columns.  A static model's capacity is its table: 64 numbers
    per token are too few to follow a 384-d teacher (256 are about enough).

    Parameters
    ----------
    base
        A :class:`~workbench.SentenceEncoder`, or what ``SentenceEncoder(...)`` loads.
    dimension
        The teacher's embedding width.
    activation
        Of the projection; ``identity`` (default) keeps it linear, fit for regressing onto the teacher.
    static_width
        Widen a static base's token vectors to this many dimensions (``None``: keep them).
        Uses torch's global random generator (seed it with ``torch.manual_seed``).
    device
        Where the student lives; default: the base's device (or the library default).

    Example
    -------
    >>> from workbench import SentenceEncoder
    >>> student = build_student("static-multilingual", 384, static_width=256)       # doctest: +SKIP
    >>> [type(m).__name__ for m in student], student.get_sentence_embedding_dimension()  # doctest: +SKIP
    (['StaticEmbedding', 'Normalize', 'Dense'], 384)
    >>> student[2].in_features                                                      # doctest: +SKIP
    256
    """
    if not isinstance(dimension, int) or dimension < 1:
        raise ValueError(f"dimension must be a positive integer (the teacher's width), got {dimension!r}")
    encoder = copy.deepcopy(base) if isinstance(base, SentenceEncoder) else SentenceEncoder(base, device=device)
    static = len(encoder) > 1 and isinstance(encoder[0], StaticEmbedding) and isinstance(encoder[1], Normalize)
    if static_width is not None:
        if not static:
            raise ValueError(f"static_width applies to a base that starts with StaticEmbedding and Normalize; "
                             f"this one starts with {[type(m).__name__ for m in encoder][:2]}")
        _widen(encoder[0], static_width)
    if static:
        # The sentence vector is normalised, so one scale for all token vectors changes no output. Adam moves
        # every weight by about the learning rate per step: at model2vec's row norms (~90) the table would
        # hardly move at a rate that suits the projection.
        with torch.no_grad():
            table = encoder[0].embedding.weight
            table /= table.norm(dim=1).mean()
    width = encoder.get_sentence_embedding_dimension()
    if width is None:
        raise ValueError(f"cannot tell the width of {type(encoder[-1]).__name__}'s output; "
                         "give a base whose modules report get_sentence_embedding_dimension()")
    if width != dimension:
        encoder.append(Dense(width, dimension, activation=activation))
    return encoder.to(device or encoder.device)


def _widen(static: StaticEmbedding, width: int) -> None:
    """Give the token vectors ``width`` dimensions; every dot product between them stays the same."""
    table = static.embedding.weight.detach()
    if not isinstance(width, int) or width < table.shape[1]:
        raise ValueError(f"static_width must be an integer of at least the current width {table.shape[1]}, "
                         f"got {width!r}")
    # Q has orthonormal columns (Q^T Q = I), so (x Q^T) . (y Q^T) = x . y.
    q, _ = torch.linalg.qr(torch.randn(width, table.shape[1], device=table.device))
    static.embedding = nn.EmbeddingBag.from_pretrained(table @ q.T, freeze=False, mode="mean")


# --------------------------------------------------------------------------- cross-lingual STS


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
        raise ValueError(f"stsb-multi-mt {split}: the en and {language} files are not row-aligned "
                         "(different lengths or scores)")
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


# --------------------------------------------------------------------------- reporting

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
        raise ValueError(f"no per-language metrics among {sorted(metrics)[:8]}; pass what "
                         "ParallelSentencesDataset.evaluator() returned")
    columns = ["src2trg_accuracy", "trg2src_accuracy", "min_accuracy", "mse"]
    frame = pd.DataFrame.from_dict(rows, orient="index")
    return frame[[c for c in columns if c in frame.columns]]
