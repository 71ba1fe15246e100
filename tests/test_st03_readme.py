"""The sentence-transformers 0.3 README runs here with ``sentence_transformers`` replaced by ``workbench``.

Every Python block of that README (quoted in ``fixtures/st03_readme_blocks.py``) runs in order in one
namespace, as the example scripts it comes from would: model names become the zoo's all-MiniLM-L6-v2,
``datasets/...`` a folder in the test's tmp_path holding the STS benchmark and AllNLI files in their
original layouts (a few rows of the mirror's copies, so that training takes seconds).  Only the block
that downloads a model from a web server is left out.  The printed results are checked.
"""

from __future__ import annotations

import gzip
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from workbench.data import read_nli, read_sts_benchmark
from workbench.sources import resolve_model

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from st03_readme_blocks import BLOCKS  # noqa: E402

pytestmark = pytest.mark.slow

NEEDS_NETWORK = {11}  # SentenceTransformer('http://www.server.com/...zip')
# What the example scripts define before the README's excerpts (the README leaves these out).
PREAMBLE = """
import scipy.spatial
from torch.utils.data import DataLoader
from workbench import SentenceTransformer, SentencesDataset, InputExample, losses, models
from workbench.evaluation import EmbeddingSimilarityEvaluator
from workbench.readers import STSBenchmarkDataReader, NLIDataReader
batch_size = train_batch_size = 16
train_num_labels = 3
num_epochs = 1
warmup_steps = 1
"""
# Printing added after two blocks, as the example scripts print (the README shows only their output).
PRINT_HITS = """
    ranked = sorted(range(len(corpus)), key=lambda i: distances[i])
    print("Query:", query)
    for i in ranked[:5]:
        print(corpus[i], "(Score: %.4f)" % (1 - distances[i]))
"""
PRINT_CLUSTERS = """
clustered = {}
for sentence_id, cluster_id in enumerate(cluster_assignment):
    clustered.setdefault(cluster_id, []).append(corpus[sentence_id])
for cluster in clustered.values():
    print("Cluster", cluster)
"""


def _original_layouts(mirror: Path, folder: Path) -> None:
    """``stsbenchmark/sts-{train,dev}.csv`` and ``AllNLI/{s1,s2,labels}.train.gz`` as the original data sets lay them out."""
    sts = folder / "stsbenchmark"
    sts.mkdir(parents=True)
    for split, n in (("train", 48), ("dev", 60)):
        rows = read_sts_benchmark(mirror / "stsbenchmark.tsv.gz", split)[:n]
        # genre, file, year, id, score, sentence1, sentence2 (the first columns are not read)
        lines = [
            f"main-captions\tMSRvid\t2012test\t{i:04d}\t{ex.label}\t{ex.texts[0]}\t{ex.texts[1]}\n"
            for i, ex in enumerate(rows)
        ]
        (sts / f"sts-{split}.csv").write_text("".join(lines), encoding="utf-8")
    nli = folder / "AllNLI"
    nli.mkdir()
    rows = read_nli(mirror / "snli-esnli.tsv.gz", "dev")[:48]
    names = {v: k for k, v in {"contradiction": 0, "entailment": 1, "neutral": 2}.items()}
    for part, values in (
        ("s1", [ex.texts[0] for ex in rows]),
        ("s2", [ex.texts[1] for ex in rows]),
        ("labels", [names[ex.label] for ex in rows]),
    ):
        with gzip.open(nli / f"{part}.train.gz", "wt", encoding="utf-8") as fh:
            fh.write("".join(f"{v.strip()}\n" for v in values))


def _adapted(index: int, block: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        block = block.replace(old, new)
    if index == 17:
        block += PRINT_HITS
    if index == 19:
        block += PRINT_CLUSTERS
    return block


def test_the_03_readme_runs_with_the_import_changed(mirror, tmp_path, capsys):
    _original_layouts(mirror, tmp_path / "datasets")
    minilm_folder = str(resolve_model("all-MiniLM-L6-v2"))
    saved = tmp_path / "output" / "model"
    replacements = {
        "sentence_transformers": "workbench",
        "'bert-base-nli-mean-tokens'": "'all-MiniLM-L6-v2'",
        "'name_of_model'": "'all-MiniLM-L6-v2'",
        "'bert-base-uncased'": repr(minilm_folder),
        "'path/to/your/BERT/model'": repr(minilm_folder),
        "'./my/path/to/model/'": repr(str(saved)),
        "'datasets/": repr(str(tmp_path / "datasets") + "/")[:-1],
    }
    namespace: dict = {"model_save_path": str(saved)}
    exec(PREAMBLE, namespace)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for index, block in enumerate(BLOCKS):
            if index in NEEDS_NETWORK:
                continue
            code = _adapted(index, block, replacements)
            if "KMeans" in code:
                # KMeans draws its start from numpy's global generator: seeded right before it, as whatever ran
                # earlier in this process (training, other tests) draws from that generator too.
                np.random.seed(0)
            exec(compile(code, f"<README block {index}>", "exec"), namespace)
            if index == 6:  # the NLI model was trained and saved, and evaluates sensibly
                assert (saved / "modules.json").is_file()
                nli_spearman = namespace["evaluator"](namespace["model"])["sts_spearman_cosine"]
    printed = capsys.readouterr().out
    ours = [w for w in caught if w.filename.startswith("<README") or f"{Path('workbench')}" in w.filename]
    assert not ours, [str(w.message) for w in ours]

    # Getting started: one embedding per sentence, printed
    assert "Sentence: The quick brown fox jumps over the lazy dog." in printed
    assert printed.count("Embedding: [") == 3
    assert nli_spearman > 0.5
    # continued training on STS, saved to model_save_path and loaded from there
    assert namespace["evaluator"].primary_metric == "sts_spearman_cosine"
    assert namespace["train_dataloader"].dataset[0].label <= 1.0  # normalize_scores=True
    assert namespace["model"].get_sentence_embedding_dimension() == 384
    # the custom-BERT block: mean pooling over the MiniLM transformer
    assert namespace["pooling_model"].modes == ("mean",)
    # semantic search: the README's best hits for each query.  The README printed them for
    # bert-base-nli-mean-tokens, whose best hit for "pasta" is the bread; all-MiniLM-L6-v2 puts
    # "eating food" (0.70) before the bread (0.53), in sentence-transformers as here.
    hits = {}
    for section in printed.split("Query: ")[1:]:
        lines = section.splitlines()
        hits[lines[0]] = [line.rsplit(" (Score", 1)[0] for line in lines[1:6]]
    assert set(hits["A man is eating pasta."][:2]) == {"A man is eating a piece of bread.", "A man is eating food."}
    assert hits["Someone in a gorilla costume is playing a set of drums."][0] == "A monkey is playing drums."
    assert hits["A cheetah chases prey on across a field."][0] == "A cheetah is running behind its prey."
    # clustering: the README's five clusters
    clusters = sorted(
        sorted(eval(line[len("Cluster ") :])) for line in printed.splitlines() if line.startswith("Cluster ")
    )
    assert clusters == sorted(
        sorted(c)
        for c in [
            ["The girl is carrying a baby.", "The baby is carried by the woman"],
            ["A cheetah is running behind its prey.", "A cheetah chases prey on across a field."],
            ["A monkey is playing drums.", "Someone in a gorilla costume is playing a set of drums."],
            ["A man is eating food.", "A man is eating a piece of bread.", "A man is eating pasta."],
            ["A man is riding a horse.", "A man is riding a white horse on an enclosed ground."],
        ]
    )
