"""Bare model names on the hub: ``<name>`` then ``sentence-transformers/<name>``, served by a fake hub.

The seed's README names models such as ``bert-base-nli-mean-tokens``, which live on the hub under the
sentence-transformers organisation, some still in the 0.3 layout (``0_BERT``, ``models.BERT``).  Offline,
such a name gets the closest zoo model as a suggestion.
"""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from fake_hub import FakeHub
from workbench import SentenceEncoder
from workbench.encoder import module_class
from workbench.io import write_json
from workbench.modules import Dense, Pooling, Transformer
from workbench.sources import ModelNotFoundError, resolve_model

TEXTS = ["A man is eating food.", "Someone plays the guitar."]


def folder_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture()
def caches(tmp_path, monkeypatch):
    """Every cache under tmp_path: the workbench's (which holds its hub cache) and huggingface_hub's own."""
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    return tmp_path / "cache"


def go_online(monkeypatch) -> None:
    """Lift the suite's HF_HUB_OFFLINE=1 (huggingface_hub also keeps the value it read at import)."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


@pytest.fixture()
def hub(caches, monkeypatch):
    go_online(monkeypatch)
    with FakeHub() as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        yield fake


def old_layout(encoder: SentenceEncoder, folder: Path) -> Path:
    """Write ``encoder`` (Transformer, Pooling, Dense) the way sentence-transformers 0.3 did.

    ``models.BERT`` in ``0_BERT`` with ``sentence_bert_config.json``, a ``vocab.txt`` tokenizer and
    ``pytorch_model.bin`` weights; legacy pooling keys; ``models.Dense`` with a torch activation path.
    """
    transformer, pooling, dense = encoder
    bert = folder / "0_BERT"
    bert.mkdir(parents=True)
    transformer.auto_model.config.save_pretrained(bert)
    torch.save(transformer.auto_model.state_dict(), bert / "pytorch_model.bin")
    vocab = sorted(transformer.tokenizer.get_vocab().items(), key=lambda item: item[1])
    (bert / "vocab.txt").write_text("".join(f"{token}\n" for token, _ in vocab))
    write_json(bert / "tokenizer_config.json", {"do_lower_case": True, "max_len": 512})
    write_json(
        bert / "special_tokens_map.json",
        {k: f"[{k[:-6].upper()}]" for k in ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")},
    )
    write_json(bert / "sentence_bert_config.json", {"max_seq_length": 32, "do_lower_case": True})
    (folder / "1_Pooling").mkdir()
    write_json(
        folder / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": 32,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
        },
    )
    (folder / "2_Dense").mkdir()
    write_json(
        folder / "2_Dense" / "config.json",
        {
            "in_features": 32,
            "out_features": 16,
            "bias": True,
            "activation_function": "torch.nn.modules.activation.Tanh",
        },
    )
    torch.save(dense.state_dict(), folder / "2_Dense" / "pytorch_model.bin")
    write_json(folder / "config.json", {"__version__": "0.3.0"})
    write_json(
        folder / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "0_BERT", "type": "sentence_transformers.models.BERT"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
        ],
    )
    return folder


def test_bare_name_loads_from_the_sentence_transformers_org(hub, tiny_encoder, tmp_path, caches, monkeypatch):
    tiny_encoder.save(tmp_path / "saved")
    hub.add("sentence-transformers/tiny-nli-mean-tokens", folder_files(tmp_path / "saved"), repo_type="model")

    model = SentenceEncoder("tiny-nli-mean-tokens", device="cpu")
    np.testing.assert_allclose(model.encode(TEXTS), tiny_encoder.encode(TEXTS), atol=1e-6)
    assert caches in model.source_folder.parents
    asked = [path for _, path in hub.requests if path.startswith("/api/models/")]
    # <name> first (it is not there), then the organisation's copy
    assert asked[0].startswith("/api/models/tiny-nli-mean-tokens") and any(
        "sentence-transformers/tiny-nli" in p for p in asked
    )

    # Once downloaded, the bare name loads offline from the hub cache.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.requests.clear()
    assert resolve_model("tiny-nli-mean-tokens") == model.source_folder
    assert hub.requests == []


def test_bare_name_prefers_the_exact_id(hub, tiny_encoder, tmp_path):
    tiny_encoder.save(tmp_path / "saved")
    files = folder_files(tmp_path / "saved")
    hub.add("tiny-exact", files, repo_type="model")
    other = hub.add("sentence-transformers/tiny-exact", files | {"README.md": b"the org's copy"}, repo_type="model")
    folder = resolve_model("tiny-exact")
    # The saved folder has a README.md of its own (the model card): the org's copy must not be the one found.
    assert (folder / "README.md").read_bytes() != b"the org's copy" and other.commit not in str(folder)


def test_old_03_layout_with_bert_module_loads(hub, tiny_bert_dir, tmp_path):
    torch.manual_seed(1)
    transformer = Transformer(tiny_bert_dir, max_seq_length=32, do_lower_case=True)
    reference = SentenceEncoder(modules=[transformer, Pooling(32, "mean"), Dense(32, 16)], device="cpu")
    hub.add(
        "sentence-transformers/tiny-bert-nli-mean-tokens",
        folder_files(old_layout(reference, tmp_path / "old")),
        repo_type="model",
    )

    model = SentenceEncoder("tiny-bert-nli-mean-tokens", device="cpu")
    assert [type(m) for m in model] == [Transformer, Pooling, Dense]
    assert model.max_seq_length == 32 and model[0].do_lower_case and model[2].activation == "tanh"
    np.testing.assert_allclose(model.encode(TEXTS), reference.encode(TEXTS), atol=1e-5)


@pytest.mark.parametrize(
    "old_name", ["BERT", "RoBERTa", "DistilBERT", "XLMRoBERTa", "ALBERT", "CamemBERT", "XLNet", "Transformer"]
)
def test_old_transformer_type_names(old_name):
    assert module_class(f"sentence_transformers.models.{old_name}") is Transformer
    assert module_class("sentence_transformers.models.Pooling") is Pooling
    assert module_class("sentence_transformers.models.Dense") is Dense


def test_online_miss_lists_both_hub_ids(hub, caches):
    with pytest.raises(ModelNotFoundError) as err:
        resolve_model("no-such-mean-tokens")
    message = str(err.value)
    for repo_id in ("'no-such-mean-tokens'", "'sentence-transformers/no-such-mean-tokens'"):
        assert f"Hugging Face hub {repo_id}: no model of that name on {hub.url}" in message
    assert "not in the zoo" not in message  # the hub answered: no offline suggestion


def test_an_id_with_an_organisation_is_tried_as_given(hub, caches):
    with pytest.raises(ModelNotFoundError) as err:
        resolve_model("some-org/no-such-model")
    message = str(err.value)
    assert f"Hugging Face hub 'some-org/no-such-model': no model of that name on {hub.url}" in message
    assert "sentence-transformers/some-org" not in message


@pytest.mark.parametrize(
    "name, suggested, detail",
    [
        ("bert-base-nli-mean-tokens", "all-MiniLM-L6-v2", "English, 384-d"),
        ("roberta-large-nli-stsb-mean-tokens", "all-MiniLM-L6-v2", "English, 384-d"),
        ("distiluse-base-multilingual-cased", "static-multilingual", "64-d"),
        ("xlm-r-100langs-bert-base-nli-mean-tokens", "static-multilingual", "64-d"),
        ("paraphrase-mpnet-base-v2", "all-mpnet-base-v2", "768-d"),
        ("average_word_embeddings_komninos", "glove.6B.50d", "GloVe"),
    ],
)
def test_offline_error_suggests_the_closest_zoo_model(caches, name, suggested, detail):
    # The suite runs with HF_HUB_OFFLINE=1 (tests/conftest.py).
    with pytest.raises(ModelNotFoundError) as err:
        resolve_model(name)
    message = str(err.value)
    assert f"'{name}'" in message and f"'sentence-transformers/{name}'" in message
    assert f"{name} is not in the zoo; {suggested} is the closest model that needs no hub" in message
    suggestion = message.split("is not in the zoo;", 1)[1]
    assert detail in suggestion and "a different model" in suggestion and "HF_HUB_OFFLINE" in suggestion


def test_unreachable_hub_suggests_and_skips_the_second_id(caches, monkeypatch):
    go_online(monkeypatch)
    with socket.socket() as sock:  # a port nothing listens on: the connection is refused
        sock.bind(("127.0.0.1", 0))
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{sock.getsockname()[1]}")
    with pytest.raises(ModelNotFoundError) as err:
        resolve_model("bert-base-nli-mean-tokens")
    message = str(err.value)
    assert "Hugging Face hub 'bert-base-nli-mean-tokens': the hub could not be reached" in message
    assert "Hugging Face hub 'sentence-transformers/bert-base-nli-mean-tokens': not tried" in message
    assert "bert-base-nli-mean-tokens is not in the zoo; all-MiniLM-L6-v2 is the closest" in message
