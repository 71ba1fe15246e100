"""The widgets take a user's tables: TablePicker's form, SearchBox, ClusterExplorer and STSExplorer."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("ipywidgets")

from widgets import ClusterExplorer, SearchBox, STSExplorer, TablePicker  # noqa: E402
from workbench.data import DataFormatError  # noqa: E402
from workbench.evaluation.base import LookupEncoder  # noqa: E402

FIXTURE = Path(__file__).parent / "fixtures" / "own_pairs.csv"
PAIR = ["sentence1", "sentence2"]


def upload(picker: TablePicker, name: str, content: bytes) -> None:
    """What the browser sends when a file is chosen in the FileUpload."""
    picker.upload.value = (
        {
            "name": name,
            "type": "",
            "size": len(content),
            "content": memoryview(content),
            "last_modified": datetime(2024, 1, 1, tzinfo=timezone.utc),
        },
    )


def test_a_path_loads_with_the_default_mapping_and_a_preview():
    picker = TablePicker()
    picker.path.value = str(FIXTURE)
    picker.load_button.click()
    assert list(picker.text_columns.options) == ["sentence1", "sentence2", "score", "topic"]
    # Text columns by default: every non-numeric column; the 'score' column is the label.
    assert picker.text_columns.value == ("sentence1", "sentence2", "topic") and picker.label_column.value == "score"
    table = picker.select(texts=PAIR, label="score")
    assert len(table) == 360 and table[0].texts == pd.read_csv(FIXTURE).loc[0, PAIR].tolist()
    assert "360 rows" in picker.status.value
    assert picker.preview.value.count("</tr>") == 1 + picker.preview_rows  # the header and five rows
    assert "<th>topic</th>" not in picker.preview.value  # only the chosen columns


def test_an_upload_is_read_by_its_file_name(tmp_path):
    frame = pd.read_csv(FIXTURE).head(30)
    picker = TablePicker()
    path = tmp_path / "mine.parquet"
    frame.to_parquet(path, index=False)
    upload(picker, "mine.parquet", path.read_bytes())
    assert picker.frame is not None and len(picker.frame) == 30 and picker.name == "mine.parquet"
    upload(picker, "notes.txt", b"hello\n")
    assert "notes.txt is not a table file" in picker.status.value
    assert len(picker.frame) == 30  # the table loaded before is kept


def test_a_bad_choice_is_shown_in_the_form_and_raised_by_table():
    picker = TablePicker(FIXTURE)
    picker.text_columns.value = ("sentence1", "score")  # a click on the label column
    assert "column &#x27;score&#x27; is given both as a text and as the label" in picker.status.value
    picker.label_column.value = "(none)"
    assert "column &#x27;score&#x27; holds numbers" in picker.status.value
    assert picker.error is not None
    with pytest.raises(DataFormatError, match="'score' holds numbers"):
        picker.table
    with pytest.raises(DataFormatError, match="no column 'sentense2'"):
        picker.select(texts=["sentence1", "sentense2"])
    picker.path.value = "/nonexistent/pairs.csv"
    picker.load_button.click()
    assert "no table file at /nonexistent/pairs.csv" in picker.status.value
    with pytest.raises(ValueError, match="no table loaded yet"):
        TablePicker().table


def test_search_box_and_cluster_explorer_take_a_file(tmp_path):
    # Without 'score': SearchBox refuses corpus columns named like its result columns.
    frame = pd.read_csv(FIXTURE).drop_duplicates("sentence1").head(40).drop(columns="score")
    path = tmp_path / "sentences.jsonl"
    frame.to_json(path, orient="records", lines=True)
    texts = frame["sentence1"].tolist()
    rng = np.random.default_rng(0)
    model = LookupEncoder({text: rng.normal(size=8) for text in texts})
    box = SearchBox(model, path, text_column="sentence1", top_k=3)
    hit = box.search(texts[5])
    assert hit["text"].iloc[0] == texts[5] and hit["topic"].iloc[0] == frame["topic"].iloc[5]
    explorer = ClusterExplorer(model, path, labels="topic", text_column="sentence1", k=6, projection="pca")
    assert explorer.texts == texts and explorer.true_labels == frame["topic"].tolist()
    assert set(explorer.scores) >= {"nmi", "ari"}
    with pytest.raises(DataFormatError, match="no column 'txt'"):
        ClusterExplorer(model, path, text_column="txt", projection="pca")


def test_sts_explorer_from_a_table():
    frame = pd.read_csv(FIXTURE).head(30)
    explorer = STSExplorer.from_table({"given": frame["score"].to_numpy() / 5}, frame, texts=PAIR, genre="topic")
    assert explorer.results["gold"].tolist() == frame["score"].tolist()
    assert set(explorer.genre.options) == {"all", *frame["topic"]}
    with pytest.raises(DataFormatError, match="no column 'score'"):
        STSExplorer.from_table({"given": frame["score"]}, frame.drop(columns="score"), texts=PAIR)
