"""Readers for the sentence-embedding data sets of the mirror (see ``data/registry.json``).

Each reader takes a path and returns :class:`~workbench.data.records.Example`
records (or, for retrieval and SentEval, a small container of them).  Large
files also have an ``iter_*`` generator that streams rows; the ``read_*``
functions return lists.

File conventions handled here (from the mirror's README):

* TSV files built for the mirror are TAB-separated *without* quoting (the
  sentences contain ``"``), so they are split on TAB, never parsed as CSV.
  The Quora file and the ``.csv`` files use CSV quoting.
* CRLF line ends (NTREX, banking77, stsb-multi-mt, ag_news) are stripped;
  records are split on LF only (20 Newsgroups text holds form feeds that
  ``str.splitlines`` would break on).
* UTF-8 is read with ``utf-8-sig`` so a BOM (MRPC) never reaches a header;
  SentEval's single-sentence tasks and TREC are read as Latin-1, as SentEval does.

Errors name the file: a missing file says what was expected there, a
malformed row gives the file and line number (:class:`DataFormatError`).
Blank lines at the end of a delimited file are ignored; a blank line
followed by more rows is an error.  Scores must be finite numbers, STS
scores within 0..5, binary labels 0 or 1.

Example
-------
>>> from workbench.data.readers import read_sts_benchmark
>>> dev = read_sts_benchmark("stsbenchmark.tsv.gz", "dev", normalize=True)  # doctest: +SKIP
>>> dev[0].texts, dev[0].label  # doctest: +SKIP
(['A man with a hard hat is dancing.', 'A man wearing a hard hat is dancing.'], 1.0)
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import os
import re
import tarfile
import zlib
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .records import Example

PathLike = str | os.PathLike

#: NLI label name -> class index (the AllNLI / SoftmaxLoss convention).
NLI_LABELS: dict[str, int] = {"contradiction": 0, "entailment": 1, "neutral": 2}
#: AG News class index (as in the file) -> topic.
AG_NEWS_LABELS: dict[int, str] = {1: "World", 2: "Sports", 3: "Business", 4: "Sci/Tech"}
STS_SPLITS = ("train", "dev", "test")
#: The range of STS gold scores (0: unrelated, 5: same meaning).
STS_SCALE = ("STS scale", 0.0, 5.0)


class DataFormatError(ValueError):
    """A data file does not have the expected layout; the message names file and line."""


# --------------------------------------------------------------------------- low-level


def _require(path: PathLike, expected: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing file {path}: expected {expected}")
    return path


def _decoded(path: PathLike, expected: str, encoding: str) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` split on LF only, line end kept, decoded line by line.

    Reading bytes and decoding each line gives exact line numbers for
    encoding errors, and never splits on the other characters that
    ``str.splitlines`` treats as line breaks.
    """
    path = _require(path, expected)
    codec = encoding
    try:
        with gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                try:
                    line = raw.decode(codec)
                except UnicodeDecodeError as err:
                    raise DataFormatError(f"{path}, line {lineno}: not valid {encoding} text ({err})") from None
                codec = "utf-8" if encoding == "utf-8-sig" else encoding  # a BOM only counts at the start
                yield lineno, line
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise DataFormatError(f"{path}: corrupt or truncated gzip file ({err})") from None


def _lines(path: PathLike, expected: str, encoding: str = "utf-8-sig") -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` without the LF or CRLF."""
    for lineno, line in _decoded(path, expected, encoding):
        if line.endswith("\n"):
            line = line[:-1]
        yield lineno, line[:-1] if line.endswith("\r") else line


def _rows(
    path: PathLike,
    expected: str,
    columns: Iterable[str],
    *,
    header: bool = True,
    quoted: bool = False,
    delimiter: str = "\t",
    encoding: str = "utf-8-sig",
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line_number, row)`` dicts of a delimited file.

    With ``header`` the file's first row names the columns and must contain
    every name in ``columns``; without it ``columns`` names the fields.
    ``quoted`` selects CSV quoting; otherwise fields are split on
    ``delimiter`` with no quoting at all.
    """
    columns = list(columns)
    if quoted:
        rows = _csv_rows(path, expected, delimiter, encoding)
    else:
        rows = ((n, line.split(delimiter)) for n, line in _lines(path, expected, encoding))
    names = None if header else columns
    blank = None  # the first blank line, fine only when nothing but blank lines follows
    for lineno, fields in rows:
        if fields in ([], [""]) and (names is None or len(names) > 1):
            blank = blank or lineno
            continue
        if blank is not None:
            raise DataFormatError(
                f"{path}, line {blank}: blank line before more rows (line {lineno}); "
                "only blank lines at the end of the file are ignored"
            )
        if names is None:
            names = fields
            missing = [c for c in columns if c not in names]
            if missing:
                raise DataFormatError(
                    f"{path}, line {lineno}: header {names} lacks column(s) {missing}; expected {expected}"
                )
            continue
        if len(fields) != len(names):
            raise DataFormatError(f"{path}, line {lineno}: expected {len(names)} fields {names}, found {len(fields)}")
        yield lineno, dict(zip(names, fields))
    if names is None:
        raise DataFormatError(f"{path}: empty file; expected {expected}")


def _csv_rows(path: PathLike, expected: str, delimiter: str, encoding: str) -> Iterator[tuple[int, list[str]]]:
    # csv wants the raw lines, line ends included, to read quoted line breaks.
    reader = csv.reader(
        (line for _, line in _decoded(path, expected, encoding)),
        delimiter=delimiter,
        quotechar='"',
        doublequote=True,
        strict=True,
    )
    try:
        for fields in reader:
            yield reader.line_num, fields
    except csv.Error as err:
        raise DataFormatError(f"{path}, line {reader.line_num}: bad CSV quoting ({err})") from None


def _convert(convert: Callable[[str], Any], value: str, path: PathLike, lineno: int, what: str) -> Any:
    try:
        return convert(value)
    except (TypeError, ValueError):
        raise DataFormatError(f"{path}, line {lineno}: {what} {value!r} is not a valid {convert.__name__}") from None


def _number(value: str, path: PathLike, lineno: int, what: str, scale: tuple[str, float, float] | None = None) -> float:
    """``value`` as a finite float, within ``scale`` (name, low, high) when given; else a :class:`DataFormatError`."""
    number = _convert(float, value, path, lineno, what)
    if not math.isfinite(number):
        raise DataFormatError(f"{path}, line {lineno}: {what} {value!r} is not a finite number")
    if scale is not None and not scale[1] <= number <= scale[2]:
        raise DataFormatError(
            f"{path}, line {lineno}: {what} {value!r} is outside the {scale[0]} {scale[1]:g}..{scale[2]:g}"
        )
    return number


def _score(value: str, path: PathLike, lineno: int, normalize: bool) -> float:
    """An STS gold score (0..5), divided by 5 when ``normalize``."""
    score = _number(value, path, lineno, "score", STS_SCALE)
    return score / STS_SCALE[2] if normalize else score


def _binary(value: str, path: PathLike, lineno: int, what: str) -> int:
    label = _convert(int, value, path, lineno, what)
    if label not in (0, 1):
        raise DataFormatError(f"{path}, line {lineno}: {what} {value!r} is not 0 or 1")
    return label


def _check_choice(value: str | None, choices: Iterable[str], what: str) -> None:
    """Refuse ``value`` unless it is one of ``choices``; ``None`` (no choice made: all of them) passes."""
    choices = list(choices)
    if value is not None and value not in choices:
        raise ValueError(f"unknown {what} {value!r}; choose one of {choices}")


# --------------------------------------------------------------------------- STS


def read_sts_benchmark(path: PathLike, split: str | None = None, normalize: bool = False) -> list[Example]:
    """Read the STS benchmark gzip TSV (``split genre dataset year sid score sentence1 sentence2``).

    Parameters
    ----------
    path
        ``stsbenchmark.tsv.gz`` (or the same layout uncompressed).
    split
        ``"train"``, ``"dev"``, ``"test"`` or None for all rows.
    normalize
        Divide the 0-5 score by 5, giving 0-1 labels (what cosine losses expect).

    Returns
    -------
    list[Example]
        ``texts=[sentence1, sentence2]``, ``label`` the score as float,
        ``guid`` ``"<split>-<line>"``.  Sentences keep their source spaces.

    Example
    -------
    >>> rows = read_sts_benchmark("stsbenchmark.tsv.gz", "test")  # doctest: +SKIP
    >>> len(rows)  # doctest: +SKIP
    1379
    """
    _check_choice(split, STS_SPLITS, "STS benchmark split")
    columns = ("split", "genre", "dataset", "year", "sid", "score", "sentence1", "sentence2")
    return [
        Example([row["sentence1"], row["sentence2"]], _score(row["score"], path, n, normalize), f"{row['split']}-{n}")
        for n, row in _rows(path, "the STS benchmark TSV (stsbenchmark.tsv.gz)", columns)
        if split is None or row["split"] == split
    ]


def read_stsb_multi_mt(path: PathLike, normalize: bool = False) -> list[Example]:
    """Read one stsb-multi-mt CSV (no header: ``sentence1,sentence2,score``; CRLF).

    Example
    -------
    >>> rows = read_stsb_multi_mt("stsb-multi-mt/stsb-de-dev.csv")  # doctest: +SKIP
    >>> rows[0].label  # doctest: +SKIP
    5.0
    """
    rows = _rows(
        path,
        "an stsb-multi-mt CSV such as stsb-de-dev.csv",
        ("sentence1", "sentence2", "score"),
        header=False,
        quoted=True,
        delimiter=",",
    )
    return [Example([r["sentence1"], r["sentence2"]], _score(r["score"], path, n, normalize)) for n, r in rows]


def read_sts17(path: PathLike, track: str | None = None, normalize: bool = False) -> list[Example]:
    """Read the joined STS17 TSV (``track sentence1 sentence2 score``).

    Parameters
    ----------
    track
        A track as named in the file (``"track5.en-en"``, ``"extended.de-en"``),
        its first part (``"track4a"``) or its language pair when that is
        unique (``"ar-en"``); None returns every track.  ``guid`` holds the track.

    Example
    -------
    >>> len(read_sts17("sts17/sts17-crosslingual.tsv", "en-de"))  # doctest: +SKIP
    250
    """
    rows = list(
        _rows(path, "the joined STS17 TSV (sts17-crosslingual.tsv)", ("track", "sentence1", "sentence2", "score"))
    )
    wanted = None if track is None else _match_track(track, dict.fromkeys(r["track"] for _, r in rows), path)
    return [
        Example([r["sentence1"], r["sentence2"]], _score(r["score"], path, n, normalize), r["track"])
        for n, r in rows
        if wanted is None or r["track"] == wanted
    ]


def _match_track(track: str, names: Iterable[str], path: PathLike) -> str:
    """Resolve a track given in full, by its first part, or by language pair (either order)."""
    names = list(names)
    if track in names:
        return track
    hits = [
        name
        for name in names
        if track in name.split(".") or track == "-".join(reversed(name.split(".")[-1].split("-")))
    ]
    if len(hits) != 1:
        why = "is ambiguous" if hits else "is unknown"
        raise ValueError(f"STS17 track {track!r} {why} in {path}; tracks: {names}")
    return hits[0]


def read_sts_pairs(input_path: PathLike, gold_path: PathLike | None = None, normalize: bool = False) -> list[Example]:
    """Read an STS input file (``sentence1<TAB>sentence2[<TAB>score]``), optionally with its gold file.

    With ``gold_path`` (one score per line, the SemEval ``STS.gs.*`` files)
    line *i* of the gold file scores line *i* of the input; input lines with
    no gold line or an empty gold line are not scored and are skipped.
    Without it, the input's own third column is used (rows where it is
    empty are skipped; a file with no third column needs its gold file).

    Example
    -------
    >>> rows = read_sts_pairs("sts17/STS.input.track4b.es-en.txt", "sts17/STS.gs.track4b.es-en.txt")  # doctest: +SKIP
    >>> len(rows)  # doctest: +SKIP
    250
    """
    inputs = _lines(input_path, "an STS input file (sentence1<TAB>sentence2[<TAB>score])")
    gold = _lines(gold_path, "an STS gold-score file (one score per line)") if gold_path is not None else None
    examples = []
    blank = None  # the first blank input line, fine only at the end of the file
    for item, gold_line in zip_longest(inputs, gold or ()):
        if item is None:
            if gold_line[1].strip():
                raise DataFormatError(f"{gold_path}, line {gold_line[0]}: more gold scores than lines in {input_path}")
            continue
        n, line = item
        if not line:
            if gold_line is not None and gold_line[1].strip():
                raise DataFormatError(f"{input_path}, line {n}: blank, but {gold_path} line {gold_line[0]} scores it")
            blank = blank or n
            continue
        if blank is not None:
            raise DataFormatError(
                f"{input_path}, line {blank}: blank line before more pairs (line {n}); "
                "only blank lines at the end of the file are ignored"
            )
        fields = line.split("\t")
        if len(fields) not in (2, 3):
            raise DataFormatError(f"{input_path}, line {n}: expected 2 or 3 TAB-separated fields, found {len(fields)}")
        if gold is not None:
            score, where = (gold_line[1] if gold_line else ""), gold_path
        elif len(fields) == 3:
            score, where = fields[2], input_path
        else:
            raise DataFormatError(
                f"{input_path}, line {n}: no score column; pass its gold file (STS.gs.*) as gold_path"
            )
        if score.strip():
            examples.append(Example(fields[:2], _score(score, where, n, normalize)))
    return examples


def iter_sts_jsonl(path: PathLike, split: str | None = None, normalize: bool = False) -> Iterator[Example]:
    """Stream STS pairs from JSON lines (``{"sentence1", "sentence2", "score", ...}``; gzipped or not).

    The layout of the hub copies of the STS benchmark (e.g. ``mteb/stsbenchmark-sts``,
    one file per split); ``split`` becomes the ``guid`` prefix.

    Example
    -------
    >>> next(iter_sts_jsonl("test.jsonl.gz", "test")).label  # doctest: +SKIP
    2.5
    """
    rows = _jsonl(
        path, 'STS pairs as JSON lines with "sentence1", "sentence2", "score"', ("sentence1", "sentence2", "score")
    )
    for n, row in rows:
        yield Example(
            [row["sentence1"], row["sentence2"]], _score(str(row["score"]), path, n, normalize), f"{split}-{n}"
        )


def read_sts17_files(folder: PathLike, track: str | None = None, normalize: bool = False) -> list[Example]:
    """Read the SemEval-2017 STS release itself: ``STS.input.<track>.txt`` with ``STS.gs.<track>.txt``.

    Each input file is scored by its gold file where there is one, else by
    its own third column (the extended cross-lingual files); tracks are read
    in name order, ``guid`` holds the track as :func:`read_sts17` gives it.

    Example
    -------
    >>> len(read_sts17_files("sts17", "track5.en-en"))  # doctest: +SKIP
    250
    """
    folder = Path(folder)
    inputs = {p.name[len("STS.input.") : -len(".txt")]: p for p in sorted(folder.glob("STS.input.*.txt"))}
    if not inputs:
        raise FileNotFoundError(f"missing files {folder}/STS.input.*.txt: expected the SemEval-2017 STS test files")
    wanted = inputs if track is None else [_match_track(track, inputs, folder)]
    examples = []
    for name in wanted:
        gold = folder / f"STS.gs.{name}.txt"
        pairs = read_sts_pairs(inputs[name], gold if gold.is_file() else None, normalize)
        examples += [Example(ex.texts, ex.label, name) for ex in pairs]
    return examples


# --------------------------------------------------------------------------- NLI


def iter_nli(path: PathLike, split: str | None = None, dataset: str | None = None) -> Iterator[Example]:
    """Stream an NLI file in AllNLI layout (``split dataset filename sentence1 sentence2 label``).

    Labels become ints with :data:`NLI_LABELS` (contradiction 0, entailment 1,
    neutral 2); ``split`` (``"train"``, ``"dev"``, ``"test"``) and ``dataset``
    (``"SNLI"``, ``"MNLI"`` in sbert.net's AllNLI.tsv.gz) filter rows.

    Example
    -------
    >>> first = next(iter_nli("snli-esnli.tsv.gz", "dev"))  # doctest: +SKIP
    >>> first.label  # doctest: +SKIP
    2
    """
    columns = ("split", "dataset", "filename", "sentence1", "sentence2", "label")
    for n, row in _rows(path, "an NLI TSV in AllNLI layout (e.g. snli-esnli.tsv.gz)", columns):
        if (split is not None and row["split"] != split) or (dataset is not None and row["dataset"] != dataset):
            continue
        label = NLI_LABELS.get(row["label"])
        if label is None:
            raise DataFormatError(f"{path}, line {n}: label {row['label']!r} is not one of {list(NLI_LABELS)}")
        yield Example([row["sentence1"], row["sentence2"]], label, f"{row['split']}-{n}")


def read_nli(path: PathLike, split: str | None = None, dataset: str | None = None) -> list[Example]:
    """:func:`iter_nli` as a list.

    Example
    -------
    >>> len(read_nli("snli-esnli.tsv.gz", "dev"))  # doctest: +SKIP
    9842
    """
    return list(iter_nli(path, split, dataset))


def iter_snli_jsonl(path: PathLike) -> Iterator[Example]:
    """Stream the Stanford SNLI 1.0 release's JSON lines (``snli_1.0_<split>.jsonl``).

    Pairs whose annotators did not agree (``gold_label`` ``"-"``) have no
    label and are skipped, as everyone using SNLI does; labels are
    :data:`NLI_LABELS` indices, ``guid`` the ``pairID``.

    Example
    -------
    >>> next(iter_snli_jsonl("snli_1.0/snli_1.0_dev.jsonl")).label  # doctest: +SKIP
    2
    """
    expected = 'SNLI JSON lines with "gold_label", "sentence1", "sentence2"'
    for n, row in _jsonl(path, expected, ("gold_label", "sentence1", "sentence2")):
        if row["gold_label"] == "-":
            continue
        label = NLI_LABELS.get(row["gold_label"])
        if label is None:
            raise DataFormatError(
                f"{path}, line {n}: gold_label {row['gold_label']!r} is not one of {list(NLI_LABELS)} or '-'"
            )
        yield Example([row["sentence1"], row["sentence2"]], label, str(row.get("pairID", n)))


def nli_triplets(examples: Iterable[Example]) -> Iterator[Example]:
    """Turn NLI pairs into ``(anchor, positive, hard negative)`` triplets for MNRL.

    For each premise, every entailed hypothesis becomes a positive and is
    paired with one of the premise's contradictions (taken in turn);
    premises lacking either kind yield nothing.  Labels may be names or
    :data:`NLI_LABELS` indices.  Order follows the first appearance of each premise.

    Example
    -------
    >>> pairs = [Example(["p", "yes"], "entailment"), Example(["p", "no"], "contradiction"),
    ...          Example(["q", "maybe"], "neutral")]
    >>> [t.texts for t in nli_triplets(pairs)]
    [['p', 'yes', 'no']]
    """
    entail, contra = NLI_LABELS["entailment"], NLI_LABELS["contradiction"]
    groups: dict[str, tuple[list[str], list[str]]] = {}
    for ex in examples:
        label = NLI_LABELS.get(ex.label, ex.label) if isinstance(ex.label, str) else ex.label
        if label in (entail, contra):
            positives, negatives = groups.setdefault(ex.texts[0], ([], []))
            (positives if label == entail else negatives).append(ex.texts[1])
    for anchor, (positives, negatives) in groups.items():
        if negatives:
            for i, positive in enumerate(positives):
                yield Example([anchor, positive, negatives[i % len(negatives)]])


# --------------------------------------------------------------------------- parallel text


def read_parallel_tsv(path: PathLike) -> list[Example]:
    """Read a TAB-separated parallel file (``source<TAB>target`` per line, no header).

    Example
    -------
    >>> read_parallel_tsv("en-de.tsv")[0].texts  # doctest: +SKIP
    ['Hello', 'Hallo']
    """
    rows = _rows(path, "a parallel TSV (source<TAB>target per line)", ("source", "target"), header=False)
    return [Example([r["source"], r["target"]]) for _, r in rows]


def iter_parallel_files(*paths: PathLike) -> Iterator[Example]:
    """Stream line-aligned files (one sentence per line each) as tuples of translations.

    ``texts`` follows the order of ``paths``; CRLF is stripped.  Files of
    different lengths raise :class:`DataFormatError` naming both.

    Example
    -------
    >>> ex = next(iter_parallel_files("newstest2019-src.eng.txt", "newstest2019-ref.deu.txt"))  # doctest: +SKIP
    >>> ex.texts[0]  # doctest: +SKIP
    "Welsh AMs worried about 'looking like muppets'"
    """
    if len(paths) < 2:
        raise ValueError("iter_parallel_files needs at least two line-aligned files")
    streams = [
        _lines(p, "a text file with one sentence per line, aligned with " + ", ".join(map(str, paths))) for p in paths
    ]
    for lines in zip_longest(*streams):
        if None in lines:
            ended = [str(p) for p, line in zip(paths, lines) if line is None]
            longer = [f"{p} (line {line[0]})" for p, line in zip(paths, lines) if line is not None]
            raise DataFormatError(f"parallel files differ in length: {ended} ended while {longer} go on")
        yield Example([text for _, text in lines])


def read_parallel_files(*paths: PathLike) -> list[Example]:
    """:func:`iter_parallel_files` as a list.

    Example
    -------
    >>> len(read_parallel_files("tatoeba.deu-eng.deu", "tatoeba.deu-eng.eng"))  # doctest: +SKIP
    1000
    """
    return list(iter_parallel_files(*paths))


# --------------------------------------------------------------------------- pair classification


def iter_quora_duplicates(path: PathLike) -> Iterator[Example]:
    """Stream the Quora duplicate-questions TSV (CSV quoting, TAB delimiter).

    ``texts=[question1, question2]``, ``label`` 1 for duplicates else 0,
    ``guid`` the pair id.

    Example
    -------
    >>> next(iter_quora_duplicates("quora_duplicate_questions.tsv.gz")).guid  # doctest: +SKIP
    '0'
    """
    columns = ("id", "qid1", "qid2", "question1", "question2", "is_duplicate")
    rows = _rows(path, "the Quora duplicate-questions TSV", columns, quoted=True)
    for n, r in rows:
        yield Example([r["question1"], r["question2"]], _binary(r["is_duplicate"], path, n, "is_duplicate"), r["id"])


def read_quora_duplicates(path: PathLike) -> list[Example]:
    """:func:`iter_quora_duplicates` as a list.

    Example
    -------
    >>> len(read_quora_duplicates("quora_duplicate_questions.tsv.gz"))  # doctest: +SKIP
    404000
    """
    return list(iter_quora_duplicates(path))


# --------------------------------------------------------------------------- retrieval


@dataclass
class BeirData:
    """A BEIR retrieval set: ``corpus`` doc id -> text, ``queries`` id -> text,
    ``relevant`` query id -> ids of the relevant docs (qrels score > 0)."""

    corpus: dict[str, str]
    queries: dict[str, str]
    relevant: dict[str, set[str]]


def _jsonl(path: PathLike, expected: str, required: tuple[str, ...] = ("_id",)) -> Iterator[tuple[int, dict[str, Any]]]:
    for n, line in _lines(path, expected):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataFormatError(f"{path}, line {n}: not valid JSON ({err})") from None
        if not isinstance(obj, dict) or any(key not in obj for key in required):
            keys = ", ".join(json.dumps(key) for key in required)
            raise DataFormatError(
                f"{path}, line {n}: expected a JSON object with {'an' if len(required) == 1 else 'the keys'} {keys}"
            )
        yield n, obj


def iter_beir_corpus(path: PathLike) -> Iterator[tuple[str, str]]:
    """Stream ``(doc_id, text)`` from a BEIR ``corpus.jsonl(.gz)``; text is title and text joined by a space.

    Example
    -------
    >>> doc_id, text = next(iter_beir_corpus("scifact/corpus.jsonl.gz"))  # doctest: +SKIP
    """
    for _, doc in _jsonl(path, 'a BEIR corpus (JSON lines with "_id", "title", "text")'):
        title, text = doc.get("title") or "", doc.get("text") or ""
        yield str(doc["_id"]), f"{title} {text}" if title else text


def read_beir(folder: PathLike, split: str = "test") -> BeirData:
    """Read a BEIR folder: ``corpus.jsonl`` or ``corpus.jsonl.gz``, ``queries.jsonl``, ``qrels/<split>.tsv``.

    All queries of ``queries.jsonl`` are returned; ``relevant`` only holds
    those with a positive qrel.

    Example
    -------
    >>> data = read_beir("scifact")  # doctest: +SKIP
    >>> len(data.corpus), len(data.queries), len(data.relevant)  # doctest: +SKIP
    (5183, 300, 300)
    """
    folder = Path(folder)
    corpus_path = next((p for p in (folder / "corpus.jsonl", folder / "corpus.jsonl.gz") if p.is_file()), None)
    if corpus_path is None:
        raise FileNotFoundError(
            f"missing file {folder}/corpus.jsonl: expected a BEIR corpus (corpus.jsonl or corpus.jsonl.gz)"
        )
    return read_beir_files(corpus_path, folder / "queries.jsonl", folder / "qrels" / f"{split}.tsv")


def read_beir_files(corpus: PathLike, queries: PathLike, qrels: PathLike) -> BeirData:
    """Read a BEIR corpus, its queries and one qrels file given as paths (JSON lines may be gzipped).

    This is the hub's layout (``corpus.jsonl.gz``, ``queries.jsonl.gz`` and
    the qrels in a repository of their own); :func:`read_beir` reads a folder.

    Example
    -------
    >>> data = read_beir_files("corpus.jsonl.gz", "queries.jsonl.gz", "test.tsv")  # doctest: +SKIP
    """
    corpus_texts = dict(iter_beir_corpus(corpus))
    query_texts = {
        str(q["_id"]): q.get("text") or "" for _, q in _jsonl(queries, 'BEIR queries (JSON lines with "_id", "text")')
    }
    relevant: dict[str, set[str]] = {}
    for n, row in _rows(qrels, "BEIR qrels (query-id, corpus-id, score)", ("query-id", "corpus-id", "score")):
        if _number(row["score"], qrels, n, "score") > 0:
            relevant.setdefault(row["query-id"], set()).add(row["corpus-id"])
    return BeirData(corpus_texts, query_texts, relevant)


# --------------------------------------------------------------------------- labelled text


def read_labelled_text(
    path: PathLike,
    text_columns: str | Iterable[str] = "text",
    label_column: str = "label",
    label_type: Callable[[str], Any] = str,
    delimiter: str | None = None,
) -> list[Example]:
    """Read a labelled-text CSV/TSV with a header (banking77, AG News, ...).

    Parameters
    ----------
    text_columns
        Column(s) holding the text; several are joined with a space
        (AG News: ``("title", "description")``).
    label_column
        Column holding the class.
    label_type
        Converts the label, e.g. ``int`` for AG News' 1-4.
    delimiter
        Default: TAB for ``.tsv``/``.tsv.gz`` files, comma otherwise.

    Example
    -------
    >>> rows = read_labelled_text("banking77/test.csv", "text", "category")  # doctest: +SKIP
    >>> rows[0].label  # doctest: +SKIP
    'card_arrival'
    """
    columns = [text_columns] if isinstance(text_columns, str) else list(text_columns)
    if delimiter is None:
        delimiter = "\t" if ".tsv" in Path(path).name else ","
    expected = f"a labelled-text file with columns {columns + [label_column]}"
    return [
        Example([" ".join(r[c] for c in columns)], _convert(label_type, r[label_column], path, n, "label"))
        for n, r in _rows(path, expected, columns + [label_column], quoted=True, delimiter=delimiter)
    ]


_ESCAPES = {"\\": "\\", "t": "\t", "r": "\r", "n": "\n"}


def iter_20newsgroups(path: PathLike, split: str | None = None) -> Iterator[Example]:
    """Stream the 20 Newsgroups TSV (``split group id text``), decoding ``\\\\ \\t \\r \\n`` in ``text``.

    ``texts=[message]`` (headers included, as in the files), ``label`` the
    group name, ``guid`` ``"<group>/<id>"`` (ids are unique only per group).
    In the mirror's source the *train* messages already had their line
    breaks turned into TABs; test messages keep LF.

    Example
    -------
    >>> next(iter_20newsgroups("20newsgroups.tsv.gz", "train")).label  # doctest: +SKIP
    'alt.atheism'
    """
    _check_choice(split, ("train", "test"), "20 Newsgroups split")
    for n, row in _rows(path, "the 20 Newsgroups TSV (20newsgroups.tsv.gz)", ("split", "group", "id", "text")):
        if split is None or row["split"] == split:
            yield Example([_unescape(row["text"], path, n)], row["group"], f"{row['group']}/{row['id']}")


def iter_20newsgroups_archive(path: PathLike, split: str | None = None) -> Iterator[Example]:
    """Stream the 20 Newsgroups "bydate" release itself, ``20news-bydate.tar.gz``, without unpacking it.

    Gives what :func:`iter_20newsgroups` gives for the mirror's TSV: train
    then test, groups in name order, ids in numeric order, the whole message
    (headers included) as text; UTF-8, else Latin-1 (a few messages are
    8-bit).  Members whose name is not a number (``54473-o``) are skipped.

    Example
    -------
    >>> next(iter_20newsgroups_archive("20news-bydate.tar.gz", "test")).label  # doctest: +SKIP
    'alt.atheism'
    """
    _check_choice(split, ("train", "test"), "20 Newsgroups split")
    path = _require(path, "the 20 Newsgroups archive (20news-bydate.tar.gz)")
    messages: dict[tuple[str, str, int], str] = {}
    try:
        with tarfile.open(path) as archive:
            for member in archive:
                parts = member.name.split("/")
                if not member.isfile() or len(parts) != 3 or not parts[2].isdigit():
                    continue
                folder, group, number = parts
                member_split = folder.removeprefix("20news-bydate-")
                if member_split not in ("train", "test") or (split is not None and member_split != split):
                    continue
                raw = archive.extractfile(member).read()
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    text = raw.decode("latin-1")
                messages[(member_split, group, int(number))] = text
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise DataFormatError(f"{path}: corrupt or truncated tar archive ({err})") from None
    order = {"train": 0, "test": 1}
    for member_split, group, number in sorted(messages, key=lambda key: (order[key[0]], key[1], key[2])):
        yield Example([messages[member_split, group, number]], group, f"{group}/{number}")


def _unescape(text: str, path: PathLike, lineno: int) -> str:
    def sub(match: re.Match) -> str:
        try:
            return _ESCAPES[match.group(1)]
        except KeyError:
            raise DataFormatError(f"{path}, line {lineno}: unknown escape {match.group(0)!r}") from None

    return re.sub(r"\\(.?)", sub, text)


def read_20newsgroups(path: PathLike, split: str | None = None) -> list[Example]:
    """:func:`iter_20newsgroups` as a list.

    Example
    -------
    >>> len(read_20newsgroups("20newsgroups.tsv.gz", "test"))  # doctest: +SKIP
    7532
    """
    return list(iter_20newsgroups(path, split))


# --------------------------------------------------------------------------- SentEval


@dataclass
class SentEvalTask:
    """One SentEval transfer task and how SentEval evaluates it.

    Attributes
    ----------
    name
        ``"MR"``, ``"CR"``, ``"SUBJ"``, ``"MPQA"``, ``"SST2"``, ``"TREC"`` or ``"MRPC"``.
    splits
        Split name -> examples: ``{"all": ...}`` for the cross-validated
        tasks, else ``train``/``dev``/``test``.  Labels are class indices
        into ``label_names``; MRPC examples are sentence pairs.
    label_names
        Class names by index.
    kfold
        Folds of the cross-validation: over ``all`` for MR, CR, SUBJ, MPQA;
        over ``train`` for model selection for TREC and MRPC; None for SST2
        (which selects on ``dev``).
    metrics
        What SentEval reports (MRPC adds F1 to accuracy).
    """

    name: str
    splits: dict[str, list[Example]]
    label_names: tuple[str, ...]
    kfold: int | None
    metrics: tuple[str, ...] = ("accuracy",)

    @property
    def protocol(self) -> str:
        """``"kfold"`` (cross-validation over all rows) or the fixed splits, e.g. ``"train/test"``."""
        return "kfold" if list(self.splits) == ["all"] else "/".join(self.splits)


# task -> (file of class 1, file of class 0, (name of class 0, name of class 1)); SentEval's labels.
_BINARY_TASKS = {
    "MR": ("rt-polarity.pos", "rt-polarity.neg", ("negative", "positive")),
    "CR": ("custrev.pos", "custrev.neg", ("negative", "positive")),
    "SUBJ": ("subj.objective", "subj.subjective", ("subjective", "objective")),
    "MPQA": ("mpqa.pos", "mpqa.neg", ("negative", "positive")),
}
TREC_CLASSES = ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")
SENTEVAL_TASKS = (*_BINARY_TASKS, "SST2", "TREC", "MRPC")


def senteval_task_name(task: str) -> str:
    """The canonical spelling of a SentEval task name (case-insensitive; ``SST`` means ``SST2``).

    Example
    -------
    >>> senteval_task_name("mrpc")
    'MRPC'
    """
    name = {"SST": "SST2"}.get(task.upper(), task.upper())
    _check_choice(name, SENTEVAL_TASKS, "SentEval task")
    return name


def read_senteval(folder: PathLike, task: str) -> SentEvalTask:
    """Read a SentEval task from ``folder/<TASK>/`` with the files and encodings SentEval uses.

    Sentences are returned as in the files (tokenized; MR lines end with a
    space; CR and MPQA keep their blank lines, which SentEval counts).

    Example
    -------
    >>> mr = read_senteval("senteval", "MR")  # doctest: +SKIP
    >>> mr.protocol, mr.kfold, len(mr.splits["all"])  # doctest: +SKIP
    ('kfold', 10, 10662)
    """
    name = senteval_task_name(task)
    root = Path(folder) / name
    if name in _BINARY_TASKS:
        one, zero, names = _BINARY_TASKS[name]
        examples = [
            Example([line], label)
            for label, file in ((1, one), (0, zero))
            for _, line in _lines(root / file, f"SentEval {name} sentences, one per line", "latin-1")
        ]
        return SentEvalTask(name, {"all": examples}, names, kfold=10)
    if name == "SST2":
        splits = {split: _read_sst2(root / f"sentiment-{split}") for split in ("train", "dev", "test")}
        return SentEvalTask(name, splits, ("negative", "positive"), kfold=None)
    if name == "TREC":
        splits = {
            split: _read_trec(root / file) for split, file in (("train", "train_5500.label"), ("test", "TREC_10.label"))
        }
        return SentEvalTask(name, splits, TREC_CLASSES, kfold=10)
    splits = {split: _read_mrpc(root / f"msr_paraphrase_{split}.txt") for split in ("train", "test")}
    return SentEvalTask(name, splits, ("not paraphrase", "paraphrase"), kfold=10, metrics=("accuracy", "f1"))


def _read_sst2(path: Path) -> list[Example]:
    examples = []
    for n, line in _lines(path, "SST2 rows (sentence<TAB>label)"):
        sentence, tab, label = line.rpartition("\t")
        if not tab:
            raise DataFormatError(f"{path}, line {n}: expected sentence<TAB>label")
        examples.append(Example([sentence], _binary(label, path, n, "label")))
    return examples


def _read_trec(path: Path) -> list[Example]:
    examples = []
    for n, line in _lines(path, "TREC questions (COARSE:fine question)", "latin-1"):
        tag, _, question = line.partition(" ")
        coarse = tag.partition(":")[0]
        if coarse not in TREC_CLASSES:
            raise DataFormatError(f"{path}, line {n}: {tag!r} does not start with a TREC class {TREC_CLASSES}")
        examples.append(Example([question], TREC_CLASSES.index(coarse)))
    return examples


def _read_mrpc(path: Path) -> list[Example]:
    columns = ("Quality", "#1 ID", "#2 ID", "#1 String", "#2 String")
    return [
        Example(
            [r["#1 String"], r["#2 String"]], _binary(r["Quality"], path, n, "Quality"), f"{r['#1 ID']}-{r['#2 ID']}"
        )
        for n, r in _rows(path, "an MRPC TSV (msr_paraphrase_*.txt)", columns)
    ]
