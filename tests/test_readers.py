"""Every reader on the real mirror files (counts from the mirror's README) and on broken inputs."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pytest

from workbench.data import (
    NLI_LABELS,
    DataFormatError,
    Example,
    iter_beir_corpus,
    iter_quora_duplicates,
    nli_triplets,
    read_20newsgroups,
    read_beir,
    read_labelled_text,
    read_nli,
    read_parallel_files,
    read_parallel_tsv,
    read_quora_duplicates,
    read_senteval,
    read_sts17,
    read_sts_benchmark,
    read_sts_pairs,
    read_stsb_multi_mt,
)
from workbench.paths import checkout_mirror

MIRROR = checkout_mirror() or Path("no data mirror beside the checkout")
# The fixture skips without the mirror, and tests/conftest.py marks the tests using it slow.
mirror = pytest.mark.usefixtures("mirror")
STS17_TRACKS = [
    "extended.de-en",
    "extended.fr-en",
    "extended.it-en",
    "extended.nl-en",
    "track1.ar-ar",
    "track2.ar-en",
    "track3.es-es",
    "track4a.es-en",
    "track4b.es-en",
    "track5.en-en",
    "track6.tr-en",
]


# --------------------------------------------------------------------------- records


def test_example_validates_texts():
    assert Example(("a", "b"), 0.5).texts == ["a", "b"]
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str, got int"):
        Example(["a", 1])
    with pytest.raises(TypeError, match="one str"):
        Example("not a list")


# --------------------------------------------------------------------------- STS


@mirror
def test_sts_benchmark_splits_and_scores():
    path = MIRROR / "stsbenchmark.tsv.gz"
    sizes = {split: len(read_sts_benchmark(path, split)) for split in ("train", "dev", "test")}
    assert sizes == {"train": 5749, "dev": 1500, "test": 1379}
    rows = read_sts_benchmark(path)
    assert len(rows) == 8628 and all(0.0 <= r.label <= 5.0 for r in rows)
    assert rows[0].texts == ["A plane is taking off.", "An air plane is taking off."] and rows[0].label == 5.0
    normalized = read_sts_benchmark(path, "train", normalize=True)
    assert normalized[1].label == pytest.approx(3.8 / 5)
    assert sum(t != t.strip() for r in rows for t in r.texts) == 323  # source spaces kept
    with pytest.raises(ValueError, match="validation"):
        read_sts_benchmark(path, "validation")


@mirror
def test_stsb_multi_mt_matches_benchmark_scores():
    folder = MIRROR / "stsb-multi-mt"
    de = read_stsb_multi_mt(folder / "stsb-de-dev.csv")
    assert len(de) == 1500 and de[2].texts[0] == "Ein Mann verfüttert eine Maus an eine Schlange."
    en = read_stsb_multi_mt(folder / "stsb-en-test.csv", normalize=True)
    bench = read_sts_benchmark(MIRROR / "stsbenchmark.tsv.gz", "test", normalize=True)
    assert [r.label for r in en] == pytest.approx([r.label for r in bench])
    assert not any("\r" in t for r in en + de for t in r.texts)


@mirror
def test_sts17_joined_file_and_track_selection():
    path = MIRROR / "sts17" / "sts17-crosslingual.tsv"
    rows = read_sts17(path)
    assert Counter(r.guid for r in rows) == {t: 250 for t in STS17_TRACKS}
    assert {r.guid for r in read_sts17(path, "en-de")} == {"extended.de-en"}  # either order
    assert {r.guid for r in read_sts17(path, "track4a")} == {"track4a.es-en"}
    assert max(r.label for r in read_sts17(path, "track5.en-en", normalize=True)) <= 1.0
    with pytest.raises(ValueError, match="ambiguous"):
        read_sts17(path, "es-en")
    with pytest.raises(ValueError, match="unknown.*track5.en-en"):
        read_sts17(path, "xx-yy")


@mirror
@pytest.mark.parametrize("track", STS17_TRACKS)
def test_sts17_input_and_gold_files_equal_joined_file(track):
    folder = MIRROR / "sts17"
    gold = folder / f"STS.gs.{track}.txt"
    pairs = read_sts_pairs(folder / f"STS.input.{track}.txt", gold if gold.exists() else None)
    joined = read_sts17(folder / "sts17-crosslingual.tsv", track)
    assert [(p.texts, p.label) for p in pairs] == [(j.texts, j.label) for j in joined]


@mirror
def test_sts_pairs_without_scores_needs_gold_file():
    with pytest.raises(DataFormatError, match=r"STS.input.track4b.es-en.txt, line 1: no score.*gold"):
        read_sts_pairs(MIRROR / "sts17" / "STS.input.track4b.es-en.txt")


# --------------------------------------------------------------------------- NLI


@pytest.fixture(scope="module")
def snli_dev(mirror) -> list[Example]:
    return read_nli(MIRROR / "snli-esnli.tsv.gz", "dev")


def test_snli_counts_labels_and_tokenized_text(snli_dev):
    assert len(snli_dev) == 9842
    assert Counter(r.label for r in snli_dev) == {0: 3278, 1: 3329, 2: 3235}
    assert len(read_nli(MIRROR / "snli-esnli.tsv.gz", "test")) == 9824
    assert all(t.endswith(" ") for t in snli_dev[0].texts)


def test_nli_triplets(snli_dev):
    triplets = list(nli_triplets(snli_dev))
    relation = {(r.texts[0], r.texts[1]): r.label for r in snli_dev}
    assert len(triplets) > 3000 and all(len(t.texts) == 3 for t in triplets)
    for t in triplets[:500]:
        assert relation[t.texts[0], t.texts[1]] == NLI_LABELS["entailment"]
        assert relation[t.texts[0], t.texts[2]] == NLI_LABELS["contradiction"]
    named = [
        Example(["p", "e1"], "entailment"),
        Example(["p", "e2"], "entailment"),
        Example(["p", "c"], "contradiction"),
        Example(["q", "e"], "entailment"),
    ]
    assert [t.texts for t in nli_triplets(named)] == [["p", "e1", "c"], ["p", "e2", "c"]]


def test_nli_bad_label_names_line(tmp_path):
    path = tmp_path / "nli.tsv"
    path.write_text(
        "split\tdataset\tfilename\tsentence1\tsentence2\tlabel\ndev\tX\tY\ta\tb\tentailment\ndev\tX\tY\ta\tb\tmaybe\n"
    )
    with pytest.raises(DataFormatError, match=r"nli.tsv, line 3: label 'maybe'"):
        read_nli(path)


# --------------------------------------------------------------------------- parallel


@mirror
def test_ntrex_and_tatoeba_line_aligned():
    ntrex = MIRROR / "parallel" / "ntrex"
    rows = read_parallel_files(ntrex / "newstest2019-src.eng.txt", ntrex / "newstest2019-ref.deu.txt")
    assert len(rows) == 1997 and not any("\r" in t for r in rows for t in r.texts)
    assert rows[0].texts[0] == "Welsh AMs worried about 'looking like muppets'"
    tatoeba = MIRROR / "parallel" / "tatoeba"
    rows = read_parallel_files(tatoeba / "tatoeba.deu-eng.deu", tatoeba / "tatoeba.deu-eng.eng")
    assert len(rows) == 1000 and rows[0].texts == [
        "Maria sagte, sie wisse nicht, wo Tom sei.",
        "Mary said she didn't know where Tom was.",
    ]


def test_parallel_files_of_different_length(tmp_path):
    (tmp_path / "a.txt").write_text("one\r\ntwo\r\nthree\r\n")
    (tmp_path / "b.txt").write_text("eins\nzwei\n")
    with pytest.raises(DataFormatError, match=r"b.txt.*ended.*a.txt \(line 3\)"):
        read_parallel_files(tmp_path / "a.txt", tmp_path / "b.txt")
    (tmp_path / "pairs.tsv").write_text("one\teins\r\ntwo\tzwei\r\n")
    assert [r.texts for r in read_parallel_tsv(tmp_path / "pairs.tsv")] == [["one", "eins"], ["two", "zwei"]]


# --------------------------------------------------------------------------- Quora, BEIR


@mirror
def test_quora_duplicates_with_csv_quoting():
    rows, duplicates, empty = 0, 0, 0
    for row in iter_quora_duplicates(MIRROR / "quora" / "quora_duplicate_questions.tsv.gz"):  # streamed: 404k rows
        rows, duplicates, empty = rows + 1, duplicates + row.label, empty + ("" in row.texts)
        if row.guid == "8":
            assert row.texts[1] == 'When do you use "&" instead of "and"?'
    assert (rows, duplicates, empty) == (404000, 149170, 2)


def test_quora_quoted_line_break(tmp_path):
    path = tmp_path / "q.tsv"
    path.write_text(
        "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
        '0\t1\t2\t"two\nlines"\t"say ""hi"""\t1\n1\t3\t4\ta\tb\tno\n'
    )
    with pytest.raises(DataFormatError, match=r"q.tsv, line 4: is_duplicate 'no' is not a valid int"):
        read_quora_duplicates(path)
    path.write_text(path.read_text().replace("\tno", "\t0"))
    assert [r.texts for r in read_quora_duplicates(path)] == [["two\nlines", 'say "hi"'], ["a", "b"]]


@mirror
def test_beir_scifact():
    data = read_beir(MIRROR / "scifact")
    assert (len(data.corpus), len(data.queries), len(data.relevant)) == (5183, 300, 300)
    assert sum(map(len, data.relevant.values())) == 339
    assert data.corpus["4983"].startswith("Microstructural development of human newborn cerebral white matter")
    assert all(doc in data.corpus for docs in data.relevant.values() for doc in docs)


def test_beir_plain_corpus_and_errors(tmp_path):
    (tmp_path / "qrels").mkdir()
    (tmp_path / "corpus.jsonl").write_text(
        '{"_id": "d1", "title": "T", "text": "body"}\n{"_id": 2, "title": "", "text": "no title"}\n'
    )
    (tmp_path / "queries.jsonl").write_text('{"_id": "q1", "text": "query"}\n')
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\t2\t0\n")
    data = read_beir(tmp_path)
    assert data.corpus == {"d1": "T body", "2": "no title"} and data.relevant == {"q1": {"d1"}}
    with gzip.open(tmp_path / "bad.jsonl.gz", "wt") as fh:
        fh.write('{"_id": "ok", "text": ""}\n{"_id": broken\n')
    with pytest.raises(DataFormatError, match=r"bad.jsonl.gz, line 2: not valid JSON"):
        list(iter_beir_corpus(tmp_path / "bad.jsonl.gz"))
    with pytest.raises(FileNotFoundError, match="corpus.jsonl.gz"):
        read_beir(tmp_path / "qrels")


# --------------------------------------------------------------------------- labelled text


@mirror
def test_banking77_and_ag_news():
    train = read_labelled_text(MIRROR / "banking77" / "train.csv", "text", "category")
    test = read_labelled_text(MIRROR / "banking77" / "test.csv", "text", "category")
    assert (len(train), len(test), len({r.label for r in train})) == (10003, 3080, 77)
    assert train[0] == Example(["I am still waiting on my card?"], "card_arrival")
    ag = read_labelled_text(MIRROR / "ag_news_test.csv", ("title", "description"), "label", int)
    assert Counter(r.label for r in ag) == {1: 1900, 2: 1900, 3: 1900, 4: 1900}
    assert ag[0].texts[0].startswith("Fears for T N pension after talks Unions representing")


@mirror
def test_20newsgroups_unescaped():
    path = MIRROR / "20newsgroups.tsv.gz"
    train, test = read_20newsgroups(path, "train"), read_20newsgroups(path, "test")
    assert (len(train), len(test), len({r.label for r in train})) == (11314, 7532, 20)
    # The source's train messages carry their line breaks as TABs; test messages as LF.
    assert train[0].texts[0].startswith("From: mathew <mathew@mantis.co.uk>\tSubject: Alt.Atheism FAQ")
    assert test[0].texts[0].startswith("From: ") and "\nSubject: " in test[0].texts[0]
    assert all(r.texts[0].endswith("\n") for r in train + test)
    assert train[0].guid == "alt.atheism/49960"


def test_20newsgroups_escapes(tmp_path):
    path = tmp_path / "ng.tsv"
    path.write_text("split\tgroup\tid\ttext\ntrain\tg\t1\ta\\\\n\\tb\\r\\nc\x0cd\n")
    assert read_20newsgroups(path)[0].texts == ["a\\n\tb\r\nc\x0cd"]
    path.write_text("split\tgroup\tid\ttext\ntrain\tg\t1\tbad \\x escape\n")
    with pytest.raises(DataFormatError, match=r"ng.tsv, line 2: unknown escape"):
        read_20newsgroups(path)


# --------------------------------------------------------------------------- SentEval


@mirror
@pytest.mark.parametrize(
    "task, sizes, labels, protocol",
    [
        ("MR", {"all": 10662}, {1: 5331, 0: 5331}, "kfold"),
        ("CR", {"all": 3775}, {1: 2407, 0: 1368}, "kfold"),
        ("SUBJ", {"all": 10000}, {1: 5000, 0: 5000}, "kfold"),
        ("MPQA", {"all": 10606}, {1: 3312, 0: 7294}, "kfold"),
        (
            "SST2",
            {"train": 67349, "dev": 872, "test": 1821},
            {0: 29780 + 428 + 912, 1: 37569 + 444 + 909},
            "train/dev/test",
        ),
        ("TREC", {"train": 5452, "test": 500}, None, "train/test"),
        ("mrpc", {"train": 4076, "test": 1725}, {1: 2753 + 1147, 0: 1323 + 578}, "train/test"),
    ],
)
def test_senteval_tasks(task, sizes, labels, protocol):
    result = read_senteval(MIRROR / "senteval", task)
    assert {split: len(rows) for split, rows in result.splits.items()} == sizes
    assert result.protocol == protocol
    if labels is not None:
        assert Counter(r.label for rows in result.splits.values() for r in rows) == labels


@mirror
def test_senteval_encodings_and_protocol_details():
    trec = read_senteval(MIRROR / "senteval", "TREC")
    assert trec.splits["train"][65].texts == [
        "Which city has the oldest relationship as a sisterðcity with Los Angeles ?"
    ]
    assert trec.label_names[trec.splits["test"][0].label] == "NUM" and trec.kfold == 10
    mrpc = read_senteval(MIRROR / "senteval", "MRPC")
    assert mrpc.metrics == ("accuracy", "f1") and len(mrpc.splits["train"][0].texts) == 2
    assert read_senteval(MIRROR / "senteval", "SST2").kfold is None
    assert sum(r.texts == [""] for r in read_senteval(MIRROR / "senteval", "CR").splits["all"]) == 4


# --------------------------------------------------------------------------- broken inputs


def test_missing_file_names_path_and_expectation(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope.tsv.gz: expected the STS benchmark TSV"):
        read_sts_benchmark(tmp_path / "nope.tsv.gz")
    with pytest.raises(FileNotFoundError, match=r"MR.*rt-polarity.pos: expected SentEval MR"):
        read_senteval(tmp_path, "MR")


@pytest.mark.parametrize(
    "body, pattern",
    [
        (
            "split\tgenre\tdataset\tyear\tsid\tscore\tsentence1\tsentence2\n"
            "train\tg\td\ty\t1\t2.0\ta\tb\ntrain\tg\td\ty\t2\t2.0\tonly a\n",
            r"line 3: expected 8 fields",
        ),
        (
            "split\tgenre\tdataset\tyear\tsid\tscore\tsentence1\tsentence2\ntrain\tg\td\ty\t1\tfive\ta\tb\n",
            r"line 2: score 'five' is not a valid float",
        ),
        ("split\tsentence1\tsentence2\n", r"line 1: header .* lacks column\(s\) \['genre'"),
        ("", r"empty file"),
    ],
)
def test_malformed_sts_file(tmp_path, body, pattern):
    path = tmp_path / "sts.tsv"
    path.write_text(body)
    with pytest.raises(DataFormatError, match=f"sts.tsv(, )?.*{pattern}"):
        read_sts_benchmark(path)


def test_bad_encoding_and_bad_quoting_name_line(tmp_path):
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"ok\nsister\xf0city\n")
    with pytest.raises(DataFormatError, match=r"latin.txt, line 2: not valid utf-8"):
        read_parallel_files(latin, latin)
    csv_path = tmp_path / "bad.csv"
    csv_path.write_text('a,b,1.0\n"unterminated,b,2.0\n')
    with pytest.raises(DataFormatError, match=r"bad.csv, line \d+: bad CSV quoting"):
        read_stsb_multi_mt(csv_path)


def test_corrupt_gzip_named(tmp_path):
    path = tmp_path / "broken.tsv.gz"
    path.write_bytes(gzip.compress(b"split\tgroup\tid\ttext\n" * 1000)[:60])
    with pytest.raises(DataFormatError, match="broken.tsv.gz: corrupt or truncated gzip"):
        read_20newsgroups(path)


def test_jsonl_objects_need_ids(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"title": "no id"}) + "\n")
    with pytest.raises(DataFormatError, match=r'c.jsonl, line 1: expected a JSON object with an "_id"'):
        list(iter_beir_corpus(path))


STS_HEADER = "split\tgenre\tdataset\tyear\tsid\tscore\tsentence1\tsentence2\n"


@pytest.mark.parametrize("ending", ["\n", "\n\n", "\r\n\r\n", "\n\n\n"])
def test_trailing_blank_lines_are_ignored(tmp_path, ending):
    path = tmp_path / "sts.tsv"
    path.write_bytes(
        (STS_HEADER + "train\tg\td\ty\t1\t2.5\ta\tb\ntest\tg\td\ty\t2\t4.0\tc\td").encode() + ending.encode()
    )
    assert [(e.texts, e.label) for e in read_sts_benchmark(path)] == [(["a", "b"], 2.5), (["c", "d"], 4.0)]
    parallel = tmp_path / "par.tsv"
    parallel.write_bytes(b"hello\thallo\nyes\tja" + ending.encode())
    assert [e.texts for e in read_parallel_tsv(parallel)] == [["hello", "hallo"], ["yes", "ja"]]
    csv_path = tmp_path / "multi.csv"
    csv_path.write_bytes(b'a,b,1.0\r\n"c, quoted",d,2.0' + ending.encode())
    assert [e.label for e in read_stsb_multi_mt(csv_path)] == [1.0, 2.0]
    pairs = tmp_path / "STS.input.txt"
    pairs.write_bytes(b"a\tb\t3\nc\td\t1" + ending.encode())
    assert [e.label for e in read_sts_pairs(pairs)] == [3.0, 1.0]


def test_a_blank_line_between_rows_is_still_an_error(tmp_path):
    path = tmp_path / "sts.tsv"
    path.write_text(STS_HEADER + "train\tg\td\ty\t1\t2.5\ta\tb\n\ntest\tg\td\ty\t2\t4.0\tc\td\n")
    with pytest.raises(DataFormatError, match=r"sts.tsv, line 3: blank line before more rows \(line 4\)"):
        read_sts_benchmark(path)
    pairs = tmp_path / "STS.input.txt"
    pairs.write_text("a\tb\n\nc\td\n")
    gold = tmp_path / "STS.gs.txt"
    gold.write_text("1\n\n2\n")
    with pytest.raises(DataFormatError, match=r"STS.input.txt, line 2: blank line before more pairs"):
        read_sts_pairs(pairs, gold)
    gold.write_text("1\n4\n")
    pairs.write_text("a\tb\n\n")
    with pytest.raises(DataFormatError, match=r"STS.input.txt, line 2: blank, but .*STS.gs.txt line 2 scores it"):
        read_sts_pairs(pairs, gold)


@pytest.mark.parametrize(
    "score, problem",
    [
        ("nan", "is not a finite number"),
        ("inf", "is not a finite number"),
        ("-Infinity", "is not a finite number"),
        ("-7", r"is outside the STS scale 0..5"),
        ("5.5", r"is outside the STS scale 0..5"),
    ],
)
def test_sts_scores_must_be_finite_and_on_the_scale(tmp_path, score, problem):
    path = tmp_path / "sts.tsv"
    path.write_text(STS_HEADER + "train\tg\td\ty\t1\t2.5\ta\tb\n" + f"train\tg\td\ty\t2\t{score}\tc\td\n")
    with pytest.raises(DataFormatError, match=f"sts.tsv, line 3: score '{score}' {problem}"):
        read_sts_benchmark(path)
    multi = tmp_path / "multi.csv"
    multi.write_text(f"a,b,{score}\n")
    with pytest.raises(DataFormatError, match=f"multi.csv, line 1: score '{score}' {problem}"):
        read_stsb_multi_mt(multi)
    gold = tmp_path / "STS.gs.txt"
    gold.write_text(f"1\n{score}\n")
    pairs = tmp_path / "STS.input.txt"
    pairs.write_text("a\tb\nc\td\n")
    with pytest.raises(DataFormatError, match=f"STS.gs.txt, line 2: score '{score}' {problem}"):
        read_sts_pairs(pairs, gold)


def test_qrels_scores_must_be_finite(tmp_path):
    (tmp_path / "corpus.jsonl").write_text(json.dumps({"_id": "d1", "text": "doc"}) + "\n")
    (tmp_path / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "query"}) + "\n")
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\tnan\n")
    with pytest.raises(DataFormatError, match=r"test.tsv, line 2: score 'nan' is not a finite number"):
        read_beir(tmp_path)


def test_binary_labels_must_be_0_or_1(tmp_path):
    path = tmp_path / "quora.tsv"
    path.write_text("id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n0\t1\t2\ta\tb\t1\n1\t3\t4\tc\td\t7\n")
    with pytest.raises(DataFormatError, match=r"quora.tsv, line 3: is_duplicate '7' is not 0 or 1"):
        read_quora_duplicates(path)


def test_example_refuses_a_non_finite_label():
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="Example.label must be a finite number"):
            Example(["a", "b"], bad)
    assert Example(["a", "b"], 0.5).label == 0.5
