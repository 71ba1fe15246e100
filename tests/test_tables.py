"""A user's own tables: one adapter (workbench/data/tables.py) and every entry point that takes one.

The fixture ``tests/fixtures/own_pairs.csv`` (scored pairs made from templates
by ``tests/fixtures/make_own_pairs.py``) is read in every format by writing
it out again under ``tmp_path``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.data import DataFormatError, Example, Table, examples_from_table, read_table, texts_from_table
from workbench.data import tables

FIXTURE = Path(__file__).parent / "fixtures" / "own_pairs.csv"
PAIR = ["sentence1", "sentence2"]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return pd.read_csv(FIXTURE)


def write(frame: pd.DataFrame, path: Path) -> Path:
    """``frame`` written in the format of ``path``'s suffix."""
    fmt = tables.table_format(path)
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path, index=False)
    return path


def test_the_fixture_is_the_generators_output(frame):
    """The committed CSV is what make_own_pairs.py writes (so its README line stays true)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_own_pairs", FIXTURE.with_name("make_own_pairs.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert frame.to_dict("records") == module.make_rows()
    assert len(frame) == 360 and frame["score"].between(0, 5).all()


@pytest.mark.parametrize(
    "name", ["pairs.csv", "pairs.tsv", "pairs.jsonl", "pairs.parquet", "pairs.csv.gz", "pairs.tsv.gz", "pairs.jsonl.gz"]
)
def test_every_format_gives_the_same_examples(frame, tmp_path, name):
    path = write(frame, tmp_path / name)
    examples = examples_from_table(path, texts=PAIR, label="score")
    assert len(examples) == 360
    assert examples[0] == Example([frame["sentence1"][0], frame["sentence2"][0]], float(frame["score"][0]))
    assert [e.label for e in examples] == frame["score"].tolist()
    assert all(type(e.label) is float for e in examples)  # Python floats, not numpy scalars


def test_str_paths_and_dataframes_agree(frame):
    assert examples_from_table(str(FIXTURE), PAIR, "score") == examples_from_table(frame, PAIR, "score")


def test_hugging_face_dataset(frame):
    datasets = pytest.importorskip("datasets")
    dataset = datasets.Dataset.from_pandas(frame)
    table = Table(dataset, texts=PAIR, label="score")
    assert list(table) == examples_from_table(frame, PAIR, "score")
    with pytest.raises(TypeError, match=r"several splits \['train', 'test'\]; give one, e.g. dataset\['train'\]"):
        Table(datasets.DatasetDict({"train": dataset, "test": dataset}))


def test_default_mapping_follows_sentence_transformers(frame):
    """No mapping: a 'label' or 'score' column is the label, every other column a text, in order."""
    table = Table(frame[["sentence1", "sentence2", "score"]])
    assert (table.text_columns, table.label_column) == (PAIR, "score")
    table = Table(pd.DataFrame({"anchor": ["a"], "positive": ["b"], "negative": ["c"]}))
    assert (table.text_columns, table.label_column, table[0].label) == (["anchor", "positive", "negative"], None, None)


def test_a_mistyped_column_is_named_with_the_columns_there(frame):
    with pytest.raises(DataFormatError) as info:
        Table(FIXTURE, texts=["sentence1", "sentense2"], label="score")
    message = str(info.value)
    assert "own_pairs.csv has no column 'sentense2' (did you mean 'sentence2'?)" in message
    assert "'sentence1', 'sentence2', 'score', 'topic'" in message
    with pytest.raises(DataFormatError, match="no column 'grade'.*columns: 'sentence1'"):
        Table(frame, texts=PAIR, label="grade")


def test_a_numeric_column_is_refused_as_text(frame):
    with pytest.raises(DataFormatError, match=r"column 'score' holds numbers \(float64\), not texts"):
        Table(frame, texts=["sentence1", "score"])
    # The default mapping takes every other column: a numeric id column is named.
    with pytest.raises(DataFormatError, match="column 'id' holds numbers"):
        Table(pd.DataFrame({"id": [1, 2], "text": ["a", "b"]}))


def test_empty_tables_and_cells(tmp_path, frame):
    with pytest.raises(ValueError, match=r"empty.csv has no rows \(columns: 'sentence1', 'sentence2', 'score'"):
        Table(write(frame.iloc[:0], tmp_path / "empty.csv"), PAIR, "score")
    holes = frame.head(10).copy()
    holes.loc[[3, 7], "sentence2"] = ""
    with pytest.raises(DataFormatError, match=r"column 'sentence2' has 2 empty cell\(s\), at rows 3, 7"):
        Table(write(holes, tmp_path / "holes.csv"), PAIR, "score")
    # Only empty cells are missing: texts like "NA" or "null" stay texts.
    words = pd.DataFrame({"text": ["NA", "null", "None"], "label": [0, 1, 0]})
    assert Table(write(words, tmp_path / "words.csv"), "text", "label").column("text") == ["NA", "null", "None"]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_labels_are_refused(frame, bad):
    scores = frame.head(8).copy()
    scores.loc[5, "score"] = bad
    with pytest.raises(DataFormatError, match=r"'score' has 1 (non-finite value|empty cell).*rows 5"):
        Table(scores, PAIR, "score")


def test_non_finite_labels_written_as_text(tmp_path):
    path = tmp_path / "scores.jsonl"
    path.write_text('{"a": "x", "b": "y", "score": "0.5"}\n{"a": "x", "b": "z", "score": "inf"}\n')
    with pytest.raises(DataFormatError, match=r"non-finite value\(s\).*rows 1"):
        Table(path, ["a", "b"], "score")
    path.write_text('{"a": "x", "b": "y", "score": "0.5"}\n{"a": "x", "b": "z", "score": "1"}\n')
    assert Table(path, ["a", "b"], "score").labels == [0.5, 1.0]


def test_class_names_and_booleans_as_labels():
    names = Table(pd.DataFrame({"text": ["a", "b"], "label": ["sports", "music"]}))
    assert names.labels == ["sports", "music"]
    flags = Table(pd.DataFrame({"text": ["a", "b"], "label": [True, False]}))
    assert flags.labels == [1, 0] and type(flags.labels[0]) is int


def test_files_that_are_not_tables(tmp_path):
    with pytest.raises(DataFormatError, match=r"notes.txt is not a table file; accepted: .csv, .tsv"):
        read_table(tmp_path / "notes.txt")
    with pytest.raises(FileNotFoundError, match="no table file at .*missing.csv"):
        read_table(tmp_path / "missing.csv")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataFormatError, match="broken.parquet could not be read as parquet"):
        read_table(tmp_path / "broken.parquet")
    with pytest.raises(TypeError, match="a table must be a pandas DataFrame, a datasets.Dataset or the path"):
        read_table(42)


def test_texts_from_table_picks_the_text_column(frame, tmp_path):
    assert texts_from_table(frame, "sentence1") == frame["sentence1"].tolist()
    assert texts_from_table(pd.DataFrame({"text": ["a"], "n": [1]})) == ["a"]
    assert texts_from_table(pd.DataFrame({"body": ["a", "b"]})) == ["a", "b"]
    with pytest.raises(ValueError, match="several columns and none is called 'text'; name the text column"):
        texts_from_table(frame)


def test_split_keeps_every_row_once(frame):
    table = Table(frame, PAIR, "score")
    train, held_out = table.split(0.2, seed=3)
    assert (len(train), len(held_out)) == (288, 72)
    rows = [tuple(e.texts) + (e.label,) for e in [*train, *held_out]]
    assert sorted(rows) == sorted(tuple(e.texts) + (e.label,) for e in table)
    assert [e.texts for e in held_out] == [e.texts for e in table.split(0.2, seed=3)[1]]
    assert table[:2] == [table[0], table[1]]


# ---------------------------------------------------------------------------- the entry points


def test_evaluators_take_tables(frame):
    from workbench.evaluation import BinaryClassificationEvaluator, EmbeddingSimilarityEvaluator
    from workbench.evaluation.base import LookupEncoder

    small = frame.head(20)
    by_table = EmbeddingSimilarityEvaluator.from_table(small, texts=PAIR, label="score", name="own")
    by_examples = EmbeddingSimilarityEvaluator.from_examples(examples_from_table(small, PAIR, "score"), name="own")
    assert by_table.sentences2 == by_examples.sentences2 and by_table.scores.tolist() == by_examples.scores.tolist()
    # from_examples takes a raw table too (default mapping).
    assert (
        EmbeddingSimilarityEvaluator.from_examples(small[PAIR + ["score"]]).scores.tolist() == small["score"].tolist()
    )
    rng = np.random.default_rng(0)
    model = LookupEncoder({t: rng.normal(size=4) for t in {*small["sentence1"], *small["sentence2"]}})
    assert by_table(model) == by_examples(model)
    binary = small.assign(label=(small["score"] > 2.5).astype(int))
    ev = BinaryClassificationEvaluator.from_table(binary, texts=PAIR, label="label")
    assert ev.labels.tolist() == binary["label"].tolist()
    with pytest.raises(DataFormatError, match="no column 'scroe'"):
        EmbeddingSimilarityEvaluator.from_table(small, texts=PAIR, label="scroe")


def test_information_retrieval_from_a_table():
    from workbench.evaluation import InformationRetrievalEvaluator

    frame = pd.DataFrame({"query": ["q1", "q2"], "document": ["d1", "d2"]})
    ir = InformationRetrievalEvaluator.from_examples(frame)
    assert ir.corpus_texts == ["d1", "d2"]


def test_fit_takes_a_dataframe_a_file_and_a_table(tiny_encoder, frame, tmp_path):
    from workbench.losses import CoSENTLoss

    small = frame.head(32)
    path = write(small[PAIR + ["score"]], tmp_path / "pairs.parquet")
    for data in (small[PAIR + ["score"]], path, Table(path, PAIR, "score")):
        history = tiny_encoder.fit([(data, CoSENTLoss(tiny_encoder))], epochs=1, batch_size=16, seed=0)
        assert history["step"].max() == 2 and np.isfinite(history["loss"]).all()
    # The default mapping of the whole file makes 'topic' a third text: the loss says it takes pairs.
    with pytest.raises(ValueError, match="its examples have 3 text"):
        tiny_encoder.fit([(small, CoSENTLoss(tiny_encoder))], epochs=1, batch_size=16)


def test_encode_corpus_reads_a_column(tiny_encoder, frame, tmp_path):
    from workbench.corpus import encode_corpus

    path = write(frame.head(12), tmp_path / "pairs.tsv")
    emb = encode_corpus(tiny_encoder, path, tmp_path / "out", text_column="sentence2", chunk_size=5, dtype="float32")
    np.testing.assert_allclose(emb, tiny_encoder.encode(frame["sentence2"].head(12).tolist()), atol=1e-5)
    # Resuming with another column of the same table is refused, not mixed in.
    with pytest.raises(ValueError, match="other settings.*text_column"):
        encode_corpus(tiny_encoder, path, tmp_path / "out", text_column="sentence1", chunk_size=5, dtype="float32")
    with pytest.raises(DataFormatError, match="no column 'sentence3'"):
        encode_corpus(tiny_encoder, path, tmp_path / "other", text_column="sentence3")
    assert json.loads((tmp_path / "out" / "progress.json").read_text())["text_column"] == "sentence2"
