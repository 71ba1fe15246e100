"""Data sets: the :class:`Example` record, file readers and the data-set registry.

Example
-------
>>> from workbench.data import Example, load_dataset
>>> Example(["a sentence"], label=1).texts
['a sentence']
>>> dev = load_dataset("stsb", split="dev")  # doctest: +SKIP
"""

from .readers import (
    AG_NEWS_LABELS,
    NLI_LABELS,
    SENTEVAL_TASKS,
    BeirData,
    DataFormatError,
    SentEvalTask,
    iter_20newsgroups,
    iter_beir_corpus,
    iter_nli,
    iter_parallel_files,
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
from .cleaning import clean_news_snippet, clean_newsgroup_message
from .records import Example
from .registry import dataset_path, files_read, load_dataset, load_registry
from .tables import Table, examples_from_table, is_table, read_table, texts_from_table

__all__ = [
    "AG_NEWS_LABELS",
    "NLI_LABELS",
    "SENTEVAL_TASKS",
    "BeirData",
    "DataFormatError",
    "Example",
    "SentEvalTask",
    "dataset_path",
    "files_read",
    "iter_20newsgroups",
    "iter_beir_corpus",
    "iter_nli",
    "iter_parallel_files",
    "iter_quora_duplicates",
    "load_dataset",
    "load_registry",
    "nli_triplets",
    "read_20newsgroups",
    "read_beir",
    "read_labelled_text",
    "read_nli",
    "read_parallel_files",
    "read_parallel_tsv",
    "read_quora_duplicates",
    "read_senteval",
    "read_sts17",
    "read_sts_benchmark",
    "read_sts_pairs",
    "read_stsb_multi_mt",
    # Text cleaners (cleaning.py).
    "clean_news_snippet",
    "clean_newsgroup_message",
    # A user's own tables (tables.py).
    "Table",
    "examples_from_table",
    "is_table",
    "read_table",
    "texts_from_table",
]
