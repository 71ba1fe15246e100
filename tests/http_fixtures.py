"""A local stand-in for the internet: an HTTP server on 127.0.0.1 and small files in each data set's UPSTREAM format.

:class:`FileServer` serves ``{"host/path": bytes}`` under ``http://127.0.0.1:<port>/host/path`` (the layout
``WORKBENCH_DATA_URL`` expects) and logs every request; a path can be served cut short (its
``Content-Length`` promises more bytes than are sent).  :func:`upstream_files` writes a few rows of every
registered data set in the format its public source publishes: the sbert.net TSVs, the Stanford SNLI zip, the
BEIR zip, the 20 Newsgroups tar.gz, Quora's TSV, the GitHub files the registry names.  None of it is copied from
the data mirror; the rows are made up here.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import zipfile
from http.server import BaseHTTPRequestHandler
from typing import Any

from local_http import LoopbackServer

from workbench.data import registry as reg
from workbench.data.sources import _url_path


class FileServer(LoopbackServer):
    """Serve ``files`` (``"host/path"`` -> bytes) on 127.0.0.1; ``requests`` lists the paths asked for."""

    def __init__(self, files: dict[str, bytes]) -> None:
        super().__init__()
        self.files = dict(files)
        self.truncated: set[str] = set()
        self.requests: list[str] = []

    def answer(self, handler: BaseHTTPRequestHandler, head: bool) -> None:
        path = handler.path.split("?", 1)[0].lstrip("/")
        self.requests.append(path)
        body = self.files.get(path)
        if body is None:
            handler.send_error(404, f"no fixture {path}")
            return
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if not head:
            handler.wfile.write(body[: len(body) // 2] if path in self.truncated else body)
        if path in self.truncated:
            handler.close_connection = True


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def gz(text: str) -> bytes:
    return gzip.compress(text.encode(), mtime=0)


def tsv(rows: list[list[str]], crlf: bool = False) -> str:
    end = "\r\n" if crlf else "\n"
    return "".join("\t".join(row) + end for row in rows)


def zipped(members: dict[str, str]) -> bytes:
    """A zip of ``members``; the same bytes on every call (a fixed date), so checksums taken once hold."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, text in members.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), text)
    return buffer.getvalue()


def jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


# ----------------------------------------------------------------------------- upstream formats

STSB_ROWS = [  # split genre dataset year sid score sentence1 sentence2 (sbert.net's stsbenchmark.tsv.gz)
    [
        "train",
        "main-captions",
        "MSRvid",
        "2012test",
        "0001",
        "5.000",
        "A man is playing the guitar.",
        "A man plays a guitar.",
    ],
    ["train", "main-news", "headlines", "2013", "0002", "0.500", "A cat is eating.", 'The "bank" raised rates.'],
    [
        "dev",
        "main-captions",
        "MSRvid",
        "2012test",
        "0003",
        "4.2",
        "A woman is riding a horse.",
        "A woman rides a horse.",
    ],
    ["dev", "main-forums", "answers-forums", "2015", "0004", "1", "Good movie.", "A dog is sitting."],
    ["test", "main-captions", "MSRvid", "2012test", "0005", "5.000", "A man is eating bread.", "A man eats bread."],
    ["test", "main-captions", "MSRvid", "2012test", "0006", "0.250", "A child plays the piano.", "A man drives a car."],
    ["test", "main-forums", "answers-forums", "2015", "0007", "3.8", "The film was great.", "The movie was good."],
    [
        "test",
        "main-forums",
        "answers-forums",
        "2015",
        "0008",
        "0.6",
        "Someone is sitting.",
        "A horse is riding on the street.",
    ],
    ["test", "main-news", "headlines", "2013", "0009", "4.4", "A woman is playing music.", "A woman plays music."],
    ["test", "main-news", "headlines", "2013", "0010", "1.2", "The cat is happy.", "The dog is sad."],
]
STSB_HEADER = ["split", "genre", "dataset", "year", "sid", "score", "sentence1", "sentence2"]
NLI_HEADER = ["split", "dataset", "filename", "sentence1", "sentence2", "label"]
ALLNLI_ROWS = [
    ["train", "SNLI", "snli_1.0_train", "A man plays.", "A man is playing.", "entailment"],
    ["train", "MNLI", "multinli_1.0_train", "The bank is open.", "It is closed.", "contradiction"],
    ["dev", "SNLI", "snli_1.0_dev", "A dog runs.", "An animal moves.", "entailment"],
    ["dev", "MNLI", "multinli_1.0_dev_matched", "Rates rose.", "Rates fell.", "contradiction"],
    ["test", "SNLI", "snli_1.0_test", "A child sits.", "A child is standing.", "contradiction"],
    ["test", "SNLI", "snli_1.0_test", "A woman sings.", "A woman sings well.", "neutral"],
]
SNLI_SPLITS = {  # split -> (gold_label, sentence1, sentence2); "-": no agreement, skipped by readers
    "train": [("entailment", "A man is eating.", "Someone eats."), ("-", "A dog.", "A cat.")],
    "dev": [
        ("neutral", "A girl runs.", "A girl runs fast."),
        ("contradiction", "It rains.", "It is dry."),
        ("-", "Unclear.", "Maybe."),
    ],
    "test": [("entailment", "Two men talk.", "People talk.")],
}
NEWSGROUPS = {  # (split, group, id) -> message bytes as in the archive
    ("train", "alt.atheism", "49960"): b"From: a@b.c\nSubject: first\n\nA\tmessage\\with escapes.\n",
    ("train", "sci.space", "60001"): "From: caf\xe9@x.y\nSubject: 8-bit\n\nLatin-1 text.\n".encode("latin-1"),
    ("train", "alt.atheism", "54473-o"): b"not a numeric id: skipped\n",
    ("test", "alt.atheism", "53068"): b"From: d@e.f\nSubject: test one\n\nBody.\n",
    ("test", "alt.atheism", "9"): b"Subject: lower id sorts first\n\nBody.\n",
    ("test", "sci.space", "61000"): b"Subject: space\n\nOrbit.\n",
}
SCIFACT = {
    "corpus": [
        {"_id": "4983", "title": "Microstructural development", "text": "Alterations of the architecture."},
        {"_id": "5836", "title": "", "text": "Induction of myelodysplasia."},
        {"_id": "7912", "title": "Rare", "text": "Unjudged document."},
    ],
    "queries": [
        {"_id": "1", "text": "0-dimensional biomaterials show inductive properties."},
        {"_id": "3", "text": "1,000 genomes project enables mapping."},
        {"_id": "2", "text": "A training-only claim."},
    ],
    "test": [["query-id", "corpus-id", "score"], ["1", "4983", "1"], ["3", "5836", "1"]],
    "train": [["query-id", "corpus-id", "score"], ["2", "7912", "1"]],
}


def _registered_url(name: str, key: str) -> str:
    return _url_path(reg.load_registry()[name]["files"][key]["url"])


def registered_fixtures() -> dict[tuple[str, str], bytes]:
    """(data set, registered file) -> bytes, for the data sets whose registered files have URLs."""
    sts_input = tsv([["A man is eating.", "A man eats.", "4.8"], ["A cat plays.", "Rates rose.", "0.2"]])
    return {
        (
            "stsb-multi-mt",
            "stsb-multi-mt/stsb-en-test.csv",
        ): b'A man eats.,"A man, eating.",4.5\r\nA cat.,A dog.,1.0\r\n',
        (
            "stsb-multi-mt",
            "stsb-multi-mt/stsb-de-test.csv",
        ): b'Ein Mann isst.,"Ein Mann, essend.",4.5\r\nEine Katze.,Ein Hund.,1.0\r\n',
        ("sts17", "sts17/STS.input.track5.en-en.txt"): sts_input.encode(),
        ("sts17", "sts17/STS.gs.track5.en-en.txt"): b"4.8\n0.2\n",
        ("sts17", "sts17/STS.input.track4b.es-en.txt"): tsv(
            [["A man eats.", "Un hombre come."], ["A cat.", "Un perro."]]
        ).encode(),
        ("sts17", "sts17/STS.gs.track4b.es-en.txt"): b"5\n1\n",
        ("sts17", "sts17/STS.input.extended.de-en.txt"): tsv([["A man eats.", "Ein Mann isst.", "4.8"]]).encode(),
        ("tatoeba", "parallel/tatoeba/tatoeba.deu-eng.deu"): "Ich esse.\nDer Hund schläft.\n".encode(),
        ("tatoeba", "parallel/tatoeba/tatoeba.deu-eng.eng"): b"I eat.\nThe dog sleeps.\n",
        ("ntrex", "parallel/ntrex/newstest2019-src.eng.txt"): b"Rates rose.\r\nMarkets fell.\r\n",
        ("ntrex", "parallel/ntrex/newstest2019-ref.deu.txt"): "Die Zinsen stiegen.\r\nDie Märkte fielen.\r\n".encode(),
        (
            "banking77",
            "banking77/train.csv",
        ): b'text,category\r\nWhere is my card?,card_arrival\r\n"I lost it, help",lost_or_stolen_card\r\n',
        ("banking77", "banking77/test.csv"): b"text,category\r\nCard not here yet,card_arrival\r\n",
        (
            "ag-news",
            "ag_news_test.csv",
        ): b'label,title,description\r\n3,Fears for pension,"Unions say, fears."\r\n4,Space,Orbit reached',
        ("senteval", "senteval/MR/rt-polarity.pos"): b"a great movie \nfun and warm \n",
        ("senteval", "senteval/MR/rt-polarity.neg"): b"a dull film \n",
    }


def source_fixtures() -> dict[str, bytes]:
    """``host/path`` -> bytes of every public source (not hub) the registry names, in its upstream format."""
    snli = {
        f"snli_1.0/snli_1.0_{split}.jsonl": jsonl(
            [
                {"gold_label": gold, "sentence1": s1, "sentence2": s2, "pairID": f"{split}{i}"}
                for i, (gold, s1, s2) in enumerate(rows)
            ]
        )
        for split, rows in SNLI_SPLITS.items()
    }
    snli["snli_1.0/README.txt"] = "Stanford Natural Language Inference corpus\n"
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w") as tf:
        for (split, group, number), body in NEWSGROUPS.items():
            info = tarfile.TarInfo(f"20news-bydate-{split}/{group}/{number}")
            info.size = len(body)
            tf.addfile(info, io.BytesIO(body))
    newsgroups = gzip.compress(tar_buffer.getvalue(), mtime=0)  # "w:gz" would stamp the time: other bytes each call
    beir = zipped(
        {
            "scifact/corpus.jsonl": jsonl(SCIFACT["corpus"]),
            "scifact/queries.jsonl": jsonl(SCIFACT["queries"]),
            "scifact/qrels/test.tsv": tsv(SCIFACT["test"]),
            "scifact/qrels/train.tsv": tsv(SCIFACT["train"]),
        }
    )
    quora = (
        "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
        '0\t1\t2\t"What is a ""bank""?"\tWhat does bank mean?\t0\n'
        "1\t3\t4\tHow do I learn Python?\tWhat is the best way to learn Python?\t1\n"
    )
    return {
        "sbert.net/datasets/stsbenchmark.tsv.gz": gz(tsv([STSB_HEADER, *STSB_ROWS])),
        "sbert.net/datasets/AllNLI.tsv.gz": gz(tsv([NLI_HEADER, *ALLNLI_ROWS])),
        "nlp.stanford.edu/projects/snli/snli_1.0.zip": zipped(snli),
        "qim.fs.quoracdn.net/quora_duplicate_questions.tsv": quora.encode(),
        "public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/scifact.zip": beir,
        "ndownloader.figshare.com/files/5975967": newsgroups,
    }


def hub_fixtures() -> dict[tuple[str, str], bytes]:
    """(repo id, file name) -> bytes of the hub copies the registry names."""
    stsb = {
        split: gz(
            jsonl(
                [
                    {
                        "split": split,
                        "genre": r[1],
                        "dataset": r[2],
                        "year": r[3],
                        "sid": r[4],
                        "score": float(r[5]),
                        "sentence1": r[6],
                        "sentence2": r[7],
                    }
                    for r in STSB_ROWS
                    if r[0] == {"validation": "dev"}.get(split, split)
                ]
            )
        )
        for split in ("train", "validation", "test")
    }
    return {
        **{("mteb/stsbenchmark-sts", f"{split}.jsonl.gz"): data for split, data in stsb.items()},
        ("BeIR/scifact", "corpus.jsonl.gz"): gz(jsonl(SCIFACT["corpus"])),
        ("BeIR/scifact", "queries.jsonl.gz"): gz(jsonl(SCIFACT["queries"])),
        ("BeIR/scifact-qrels", "test.tsv"): tsv(SCIFACT["test"]).encode(),
    }


def upstream_files() -> dict[str, bytes]:
    """Everything a :class:`FileServer` needs to stand in for the public sources (hub aside)."""
    files = source_fixtures()
    for (name, key), data in registered_fixtures().items():
        files[_registered_url(name, key)] = data
    return files


def fixture_registry(files: dict[str, bytes] | None = None) -> dict[str, dict[str, Any]]:
    """The registry with checksums that match ``files`` (default :func:`upstream_files`), as served by a FileServer.

    Registered files' SHA-256 and the sources' published checksums become those of the served bytes; registered
    files that are not served are dropped (built files, ``url`` null, stay: no source serves them).
    """
    files = upstream_files() if files is None else files
    registry = reg.load_registry()
    for entry in registry.values():
        entry["files"] = {
            key: {**spec, "sha256": sha256(files[_url_path(spec["url"])])} if spec["url"] else spec
            for key, spec in entry["files"].items()
            if spec["url"] is None or _url_path(spec["url"]) in files
        }
        for source in entry.get("sources", []):
            for spec in source["files"].values():
                for algorithm in ("md5", "sha256"):
                    if algorithm in spec:
                        spec[algorithm] = hashlib.new(algorithm, files[_url_path(spec["url"])]).hexdigest()
    return registry
