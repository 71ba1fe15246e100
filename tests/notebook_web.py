"""Upstream-format files big enough for the notebooks' small parameters, for a local stand-in for the internet.

:func:`notebook_files` is :func:`http_fixtures.upstream_files` with the data sets the notebooks read grown to
dozens of rows: sentences made here from templates in six topics (so that paraphrases, duplicates, relevant
abstracts and newsgroups share a topic and a model has something to find), drawn with a fixed seed.  Nothing is
copied from the data mirror.  The "translations" swap a few dozen words for German or Spanish ones: enough to
give each language its own, line-aligned text.
"""

from __future__ import annotations

import csv
import io
import random
import tarfile
from collections.abc import Iterator

import http_fixtures as fx
from workbench.data import registry as reg
from workbench.data.sources import _url_path

# topic -> (subjects, verbs, objects); a sentence is "<subject> <verb> <object>."
TOPICS: dict[str, tuple[list[str], list[str], list[str]]] = {
    "food": (
        ["A man", "A woman", "The cook", "A child"],
        ["is eating", "is cooking", "is cutting", "likes"],
        ["bread", "pasta", "an apple", "hot soup", "rice"],
    ),
    "music": (
        ["A man", "A girl", "The band", "A woman"],
        ["is playing", "plays", "is tuning", "listens to"],
        ["a guitar", "the piano", "a violin", "the drums", "a flute"],
    ),
    "animals": (
        ["A dog", "A cat", "A horse", "A bird"],
        ["is running on", "sleeps on", "jumps over", "sits on"],
        ["the grass", "a fence", "the street", "the sofa", "the beach"],
    ),
    "space": (
        ["NASA", "The crew", "An astronomer", "A probe"],
        ["launched", "is studying", "photographed", "reached"],
        ["a rocket", "the moon", "a comet", "the orbit", "Mars"],
    ),
    "money": (
        ["The bank", "The market", "Investors", "The company"],
        ["raised", "cut", "sold", "reported"],
        ["interest rates", "shares", "bonds", "its profits", "the loans"],
    ),
    "weather": (
        ["Heavy rain", "A storm", "Strong wind", "Snow"],
        ["hit", "closed", "covered", "damaged"],
        ["the city", "the roads", "the old town", "the coast", "the valley"],
    ),
}
WORDS = {  # English word -> (German, Spanish)
    "a": ("ein", "un"),
    "an": ("ein", "un"),
    "the": ("der", "el"),
    "man": ("Mann", "hombre"),
    "woman": ("Frau", "mujer"),
    "child": ("Kind", "niño"),
    "girl": ("Mädchen", "niña"),
    "dog": ("Hund", "perro"),
    "cat": ("Katze", "gato"),
    "horse": ("Pferd", "caballo"),
    "bird": ("Vogel", "pájaro"),
    "is": ("ist", "está"),
    "eating": ("essend", "comiendo"),
    "playing": ("spielend", "tocando"),
    "plays": ("spielt", "toca"),
    "bread": ("Brot", "pan"),
    "soup": ("Suppe", "sopa"),
    "rice": ("Reis", "arroz"),
    "street": ("Straße", "calle"),
    "moon": ("Mond", "luna"),
    "rain": ("Regen", "lluvia"),
    "storm": ("Sturm", "tormenta"),
    "snow": ("Schnee", "nieve"),
    "city": ("Stadt", "ciudad"),
    "bank": ("Bank", "banco"),
    "market": ("Markt", "mercado"),
    "on": ("auf", "en"),
    "over": ("über", "sobre"),
    "hit": ("traf", "golpeó"),
    "cut": ("senkte", "recortó"),
    "and": ("und", "y"),
}
LANGUAGES = {"de": 0, "es": 1}
GROUPS = {"rec.food.cooking": "food", "rec.music.misc": "music", "sci.space": "space", "misc.finance": "money"}
AG_SECTIONS = {1: "weather", 2: "animals", 3: "money", 4: "space"}  # AG News labels: World, Sports, Business, Sci/Tech


def sentence(rng: random.Random, topic: str, obj: str | None = None) -> str:
    subjects, verbs, objects = TOPICS[topic]
    return f"{rng.choice(subjects)} {rng.choice(verbs)} {obj or rng.choice(objects)}."


def translate(text: str, lang: str) -> str:
    """Word-by-word "translation" of a template sentence (words without an entry stay)."""
    if lang == "en":
        return text
    words = text.rstrip(".").split()
    return " ".join(WORDS.get(w.lower(), (w, w))[LANGUAGES[lang]] for w in words) + "."


def scored_pairs(rng: random.Random, n: int) -> Iterator[tuple[str, str, float]]:
    """``n`` sentence pairs with 0-5 scores: paraphrases (same topic and object), related, unrelated."""
    topics = sorted(TOPICS)
    for i in range(n):
        topic = rng.choice(topics)
        obj = rng.choice(TOPICS[topic][2])
        kind = i % 3
        if kind == 0:
            yield sentence(rng, topic, obj), sentence(rng, topic, obj), round(rng.uniform(3.6, 5.0), 3)
        elif kind == 1:
            yield sentence(rng, topic, obj), sentence(rng, topic), round(rng.uniform(1.6, 3.4), 3)
        else:
            other = rng.choice([t for t in topics if t != topic])
            yield sentence(rng, topic, obj), sentence(rng, other), round(rng.uniform(0.0, 1.4), 3)


def registered(name: str, key: str) -> str:
    """Where a registered file of the registry is downloaded from (``host/path``)."""
    return _url_path(reg.load_registry()[name]["files"][key]["url"])


def source(name: str, source_id: str, role: str) -> str:
    """Where a file of one of a data set's sources is downloaded from (``host/path``)."""
    (spec,) = [s["files"][role] for s in reg.load_registry()[name]["sources"] if s["id"] == source_id]
    return _url_path(spec["url"])


def _csv(rows: list[list[str]], header: list[str] | None = None) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([header, *rows] if header else rows)
    return buffer.getvalue().encode()


def _lines(lines: list[str], end: str = "\n") -> bytes:
    return "".join(line + end for line in lines).encode()


STSB_SIZES = {"train": 48, "dev": 24, "test": 30}
GENRES = ["main-captions", "main-forums", "main-news"]


def stsb_rows(seed: int = 1) -> dict[str, list[tuple[str, str, float]]]:
    """Split -> (sentence1, sentence2, score) of the STS benchmark fixture."""
    rng = random.Random(seed)
    return {split: list(scored_pairs(rng, n)) for split, n in STSB_SIZES.items()}


def sts_files(stsb: dict[str, list[tuple[str, str, float]]], seed: int = 2) -> dict[str, bytes]:
    """sbert.net's stsbenchmark.tsv.gz, stsb-multi-mt's CSVs (en, de, es) and three SemEval-2017 tracks."""
    rows = [
        [split, GENRES[i % 3], "MSRvid", "2012test", f"{i:04d}", f"{score:.3f}", s1, s2]
        for split, pairs in stsb.items()
        for i, (s1, s2, score) in enumerate(pairs)
    ]
    files = {"sbert.net/datasets/stsbenchmark.tsv.gz": fx.gz(fx.tsv([fx.STSB_HEADER, *rows]))}
    for lang in ("en", "de", "es"):
        for split, pairs in stsb.items():
            files[registered("stsb-multi-mt", f"stsb-multi-mt/stsb-{lang}-{split}.csv")] = _csv(
                [[translate(s1, lang), translate(s2, lang), str(score)] for s1, s2, score in pairs]
            )
    rng = random.Random(seed)
    for track, first, second in (("track5.en-en", "en", "en"), ("track4a.es-en", "es", "en")):
        pairs = list(scored_pairs(rng, 20))
        files[registered("sts17", f"sts17/STS.input.{track}.txt")] = fx.tsv(
            [[translate(a, first), translate(b, second)] for a, b, _ in pairs]
        ).encode()
        files[registered("sts17", f"sts17/STS.gs.{track}.txt")] = _lines([f"{score:.6f}" for *_, score in pairs])
    files[registered("sts17", "sts17/STS.input.extended.de-en.txt")] = fx.tsv(
        [[a, translate(b, "de"), str(score)] for a, b, score in scored_pairs(rng, 20)]
    ).encode()
    return files


def parallel_files(seed: int = 3) -> dict[str, bytes]:
    """Tatoeba (deu, spa) and NTREX (English news and its deu, spa references): line-aligned."""
    rng = random.Random(seed)
    topics = sorted(TOPICS)
    news = [sentence(rng, topics[i % len(topics)]) for i in range(60)]
    files = {registered("ntrex", "parallel/ntrex/newstest2019-src.eng.txt"): _lines(news, "\r\n")}
    for lang, code in (("de", "deu"), ("es", "spa")):
        files[registered("ntrex", f"parallel/ntrex/newstest2019-ref.{code}.txt")] = _lines(
            [translate(s, lang) for s in news], "\r\n"
        )
        english = [sentence(rng, topics[i % len(topics)]) for i in range(30)]
        files[registered("tatoeba", f"parallel/tatoeba/tatoeba.{code}-eng.eng")] = _lines(english)
        files[registered("tatoeba", f"parallel/tatoeba/tatoeba.{code}-eng.{code}")] = _lines(
            [translate(s, lang) for s in english]
        )
    return files


SNLI_SIZES = {"train": 6, "dev": 16, "test": 8}  # premises; each has an entailment, a neutral and a contradiction


def snli_zip(seed: int = 4) -> bytes:
    """The Stanford SNLI 1.0 zip: JSON lines per split, one pair without a gold label ("-") per split."""
    rng = random.Random(seed)
    topics = sorted(TOPICS)
    members = {"snli_1.0/README.txt": "Stanford Natural Language Inference corpus\n"}
    for split, n in SNLI_SIZES.items():
        rows = []
        for i in range(n):
            topic = topics[i % len(topics)]
            obj = rng.choice(TOPICS[topic][2])
            premise = sentence(rng, topic, obj)
            other = rng.choice([t for t in topics if t != topic])
            for gold, hypothesis in (
                ("entailment", sentence(rng, topic, obj)),
                ("neutral", sentence(rng, topic)),
                ("contradiction", sentence(rng, other)),
            ):
                rows.append({"gold_label": gold, "sentence1": premise, "sentence2": hypothesis})
        rows.append({"gold_label": "-", "sentence1": "Unclear.", "sentence2": "Maybe."})
        members[f"snli_1.0/snli_1.0_{split}.jsonl"] = fx.jsonl(
            [{**row, "pairID": f"{split}{i}"} for i, row in enumerate(rows)]
        )
    return fx.zipped(members)


def question(text: str) -> str:
    return f"Why {text[0].lower()}{text[1:-1]}?"


QUORA_PAIRS = 60


def quora_tsv(n: int = QUORA_PAIRS, seed: int = 5) -> bytes:
    """Quora's TSV (CSV quoting, TAB delimiter): every other pair a duplicate (the same topic and object)."""
    rng = random.Random(seed)
    rows, qid = [], 0
    for i, (s1, s2, score) in enumerate(scored_pairs(rng, n)):
        duplicate = score > 3.5
        rows.append([str(i), str(qid + 1), str(qid + 2), question(s1), question(s2), str(int(duplicate))])
        qid += 2
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerows([["id", "qid1", "qid2", "question1", "question2", "is_duplicate"], *rows])
    return buffer.getvalue().encode()


SCIFACT_DOCS, SCIFACT_QUERIES = 40, 12


def scifact_zip(seed: int = 6) -> bytes:
    """BEIR's scifact.zip: abstracts of three sentences on one topic; each claim shares a topic and object with one."""
    rng = random.Random(seed)
    topics = sorted(TOPICS)
    corpus, queries, test = [], [], [["query-id", "corpus-id", "score"]]
    for i in range(SCIFACT_DOCS):
        topic = topics[i % len(topics)]
        obj = TOPICS[topic][2][(i // len(topics)) % len(TOPICS[topic][2])]
        doc_id = str(1000 + i)
        corpus.append(
            {
                "_id": doc_id,
                "title": sentence(rng, topic, obj),
                "text": " ".join(sentence(rng, topic, obj) for _ in range(3)),
            }
        )
        if i < SCIFACT_QUERIES:
            queries.append({"_id": str(i + 1), "text": sentence(rng, topic, obj)})
            test.append([str(i + 1), doc_id, "1"])
    queries.append({"_id": "900", "text": "A claim of the training split."})
    return fx.zipped(
        {
            "scifact/corpus.jsonl": fx.jsonl(corpus),
            "scifact/queries.jsonl": fx.jsonl(queries),
            "scifact/qrels/test.tsv": fx.tsv(test),
            "scifact/qrels/train.tsv": fx.tsv([["query-id", "corpus-id", "score"], ["900", "1000", "1"]]),
        }
    )


NEWSGROUPS_SIZES = {"train": 8, "test": 4}  # messages per group


def newsgroups_archive(seed: int = 7) -> bytes:
    """The 20news-bydate.tar.gz layout (``20news-bydate-<split>/<group>/<id>``, LF line breaks) in four groups."""
    rng = random.Random(seed)
    buffer = io.BytesIO()
    number = 50000
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for split, n in NEWSGROUPS_SIZES.items():
            for group, topic in GROUPS.items():
                for _ in range(n):
                    number += 1
                    body = (
                        f"From: user{number}@example.org\nSubject: Re: {sentence(rng, topic)}\nLines: 4\n\n"
                        f"In article <{number}@example.org> someone writes:\n> {sentence(rng, topic)}\n\n"
                        + "\n".join(sentence(rng, topic) for _ in range(3))
                        + "\n-- \nuser\n"
                    ).encode()
                    info = tarfile.TarInfo(f"20news-bydate-{split}/{group}/{number}")
                    info.size = len(body)
                    archive.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def newsgroups_messages() -> int:
    return sum(NEWSGROUPS_SIZES.values()) * len(GROUPS)


AG_ROWS = 40


def ag_news_csv(seed: int = 8) -> bytes:
    """AG News test.csv with the header the registered copy has (``label,title,description``), CRLF."""
    rng = random.Random(seed)
    rows = []
    for i in range(AG_ROWS):
        label = 1 + i % 4
        topic = AG_SECTIONS[label]
        rows.append([str(label), sentence(rng, topic).rstrip("."), f"{sentence(rng, topic)} {sentence(rng, topic)}"])
    return _csv(rows, ["label", "title", "description"])


def notebook_files() -> dict[str, bytes]:
    """``host/path`` -> bytes: :func:`http_fixtures.upstream_files`, with what the notebooks read grown."""
    files = fx.upstream_files()
    files.update(sts_files(stsb_rows()))
    files.update(parallel_files())
    files.update(
        {
            source("snli", "stanford", "folder"): snli_zip(),
            source("quora-duplicates", "quora", "data"): quora_tsv(),
            source("scifact", "beir", "archive"): scifact_zip(),
            source("20newsgroups", "scikit-learn", "archive"): newsgroups_archive(),
            registered("ag-news", "ag_news_test.csv"): ag_news_csv(),
        }
    )
    return files
