"""sentence-transformers' classic names: readers of the original layouts, InputExample, util, models."""

from __future__ import annotations

import gzip
import warnings

import numpy as np
import pytest
import torch

from workbench import InputExample, SentencesDataset, util
from workbench.clustering import community_detection
from workbench.data import DataFormatError, Example
from workbench.readers import LabelSentenceReader, NLIDataReader, STSBenchmarkDataReader
from workbench.search import paraphrase_mining_embeddings, semantic_search

STS_ROWS = [
    "main-captions\tMSRvid\t2012test\t0001\t5.000\tA plane is taking off.\tAn air plane is taking off.\n",
    # rows with the two attribution fields of the original files
    "main-news\theadlines\t2013\t0002\t1.5\tA man rides.\tA dog sleeps.\tsource-a\tsource-b\n",
    'main-forums\tdeft-forum\t2014\t0003\t0.0\tYes.\tNo "quoted" text.\n',
]


def test_sts_reader_reads_the_original_layout(tmp_path):
    (tmp_path / "sts-dev.csv").write_text("".join(STS_ROWS), encoding="utf-8")
    with gzip.open(tmp_path / "sts-test.csv.gz", "wt", encoding="utf-8") as fh:
        fh.write("".join(STS_ROWS))
    reader = STSBenchmarkDataReader(tmp_path)
    dev = reader.get_examples("sts-dev.csv")
    assert [ex.label for ex in dev] == [1.0, 0.3, 0.0]  # normalized by default, as in sentence-transformers
    assert dev[2].texts == ["Yes.", 'No "quoted" text.'] and isinstance(dev[0], Example)
    assert [ex.texts for ex in reader.get_examples("sts-test.csv.gz", max_examples=2)] == [ex.texts for ex in dev[:2]]
    assert [
        ex.label for ex in STSBenchmarkDataReader(tmp_path, normalize_scores=False).get_examples("sts-dev.csv")
    ] == [5.0, 1.5, 0.0]
    (tmp_path / "bad.csv").write_text(STS_ROWS[0] + "genre\tfile\t2012\t1\tfive\ta\tb\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"bad.csv, line 2: score 'five' is not a valid float"):
        reader.get_examples("bad.csv")
    (tmp_path / "short.csv").write_text("a\tb\tc\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"short.csv, line 1: 3 fields, but the sentences and score are read"):
        reader.get_examples("short.csv")


def test_readers_take_the_mirrors_files(mirror):
    sts = STSBenchmarkDataReader(mirror / "stsbenchmark.tsv.gz").get_examples("sts-dev.csv", max_examples=3)
    assert sts[0].texts == ["A man with a hard hat is dancing.", "A man wearing a hard hat is dancing."]
    assert sts[0].label == 1.0
    nli = NLIDataReader(mirror / "snli-esnli.tsv.gz").get_examples("dev.gz", max_examples=4)
    assert len(nli) == 4 and all(ex.label in (0, 1, 2) for ex in nli)
    with pytest.raises(ValueError, match="cannot tell the split from the file name 'sts-all.csv'"):
        STSBenchmarkDataReader(mirror / "stsbenchmark.tsv.gz").get_examples("sts-all.csv")


def test_nli_reader_reads_the_original_allnli_folder(tmp_path):
    for part, lines in (
        ("s1", ["A man eats .", "A dog runs ."]),
        ("s2", ["Someone eats .", "A cat sleeps ."]),
        ("labels", ["entailment", "Contradiction "]),
    ):
        with gzip.open(tmp_path / f"{part}.train.gz", "wt", encoding="utf-8") as fh:
            fh.write("".join(f"{line}\n" for line in lines))
    reader = NLIDataReader(tmp_path)
    examples = reader.get_examples("train.gz")
    assert [(ex.texts, ex.label) for ex in examples] == [
        (["A man eats .", "Someone eats ."], 1),
        (["A dog runs .", "A cat sleeps ."], 0),
    ]
    assert reader.get_num_labels() == 3
    with gzip.open(tmp_path / "labels.train.gz", "wt", encoding="utf-8") as fh:
        fh.write("entailment\n")
    with pytest.raises(DataFormatError, match=r"labels.train.gz ends after 1 lines"):
        reader.get_examples("train.gz")
    with pytest.raises(FileNotFoundError, match="s1.dev.gz"):
        reader.get_examples("dev.gz")


def test_label_sentence_reader_numbers_labels_in_order_of_appearance(tmp_path):
    (tmp_path / "train.tsv").write_text("DESC\tHow does it work ?\nNUM\tHow many ?\nDESC\tWhat is it ?\n")
    (tmp_path / "test.tsv").write_text("NUM\tHow far ?\nLOC\tWhere ?\n")
    reader = LabelSentenceReader(tmp_path)
    assert [(ex.texts, ex.label) for ex in reader.get_examples("train.tsv")] == [
        (["How does it work ?"], 0),
        (["How many ?"], 1),
        (["What is it ?"], 0),
    ]
    assert [ex.label for ex in reader.get_examples("test.tsv")] == [1, 2]  # the same ids across files
    swapped = LabelSentenceReader(tmp_path, label_col_idx=1, sentence_col_idx=0).get_examples("test.tsv")
    assert swapped[0].texts == ["NUM"]
    (tmp_path / "bad.tsv").write_text("only-one-field\n")
    with pytest.raises(DataFormatError, match=r"bad.tsv, line 1: 1 field\(s\)"):
        reader.get_examples("bad.tsv")


def test_input_example_and_dataset():
    example = InputExample(guid="g1", texts=("a", "b"), label=0.5)
    assert isinstance(example, Example) and example.texts == ["a", "b"] and example.guid == "g1"
    assert InputExample(texts=["x"]).label == 0  # sentence-transformers' default label
    with pytest.raises(TypeError, match=r"Example.texts\[0\] must be a str"):
        InputExample(texts=[1])
    data = SentencesDataset([example], model=None)
    assert len(data) == 1 and list(data) == [example]


def test_util_functions_are_the_workbench_ones_with_st_arguments():
    rng = np.random.default_rng(0)
    corpus, queries = rng.normal(size=(50, 8)), rng.normal(size=(3, 8))
    # sentence-transformers' positional order: query_chunk_size, corpus_chunk_size, top_k
    assert util.semantic_search(queries, corpus, 2, 7, 4) == semantic_search(
        queries, corpus, top_k=4, query_chunk_size=2, corpus_chunk_size=7
    )
    assert util.semantic_search(queries, corpus, score_function=util.dot_score, top_k=3) == semantic_search(
        queries, corpus, top_k=3, similarity_fn_name="dot"
    )
    assert util.paraphrase_mining_embeddings(corpus, top_k=3, max_pairs=10) == paraphrase_mining_embeddings(
        corpus, top_k=3, max_pairs=10
    )
    points = np.vstack([np.ones((4, 8)) + rng.normal(scale=0.01, size=(4, 8)), -np.ones((3, 8))])
    assert util.community_detection(points, threshold=0.9, min_community_size=3) == community_detection(
        points, threshold=0.9, min_community_size=3
    )
    torch.testing.assert_close(util.pytorch_cos_sim(queries, corpus), util.cos_sim(queries, corpus))


def test_paraphrase_mining_encodes_with_the_model(tiny_encoder):
    sentences = ["a man is eating food", "a man eats food", "a dog plays the piano"]
    pairs = util.paraphrase_mining(tiny_encoder, sentences, top_k=2)
    expected = paraphrase_mining_embeddings(tiny_encoder.encode(sentences, convert_to_tensor=True), top_k=2)
    assert [(i, j) for _, i, j in pairs] == [(i, j) for _, i, j in expected]


def test_classic_names_never_warn(tiny_bert_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from workbench import SentenceTransformer, models

        word = models.Transformer(str(tiny_bert_dir))
        pooling = models.Pooling(
            word.get_word_embedding_dimension(),
            pooling_mode_mean_tokens=True,
            pooling_mode_cls_token=False,
            pooling_mode_max_tokens=False,
        )
        model = SentenceTransformer(modules=[word, pooling], device="cpu")
    assert pooling.modes == ("mean",) and model.encode(["a dog"]).shape == (1, 32)
    assert models.Pooling(8, pooling_mode=("cls", "lasttoken")).modes == ("cls", "last_token")
    with pytest.raises(TypeError, match=r"unexpected argument\(s\) \['pooling_mode_median'\]"):
        models.Pooling(8, pooling_mode_median=True)
