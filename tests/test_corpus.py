"""Corpus-scale encoding: memmap output, resume without recomputing, clear errors."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.corpus import chunks_done, encode_corpus, estimate_memory, read_lines

TEXTS = [f"a man is eating food {i}" if i % 2 else f"the dog plays {i}" for i in range(23)]


def test_matches_plain_encode(tiny_encoder, tmp_path):
    emb = encode_corpus(tiny_encoder, TEXTS, tmp_path, chunk_size=5, dtype="float32")
    np.testing.assert_allclose(emb, tiny_encoder.encode(TEXTS), atol=1e-5)
    again = np.load(tmp_path / "embeddings.npy", mmap_mode="r")
    assert again.shape == (23, 32) and again.dtype == np.float32


def test_reads_a_text_file_and_writes_float16(tiny_encoder, tmp_path):
    (tmp_path / "corpus.txt").write_text("\n".join(TEXTS) + "\n")
    emb = encode_corpus(tiny_encoder, tmp_path / "corpus.txt", tmp_path / "out", chunk_size=10)
    assert emb.dtype == np.float16
    np.testing.assert_allclose(emb.astype(np.float32), tiny_encoder.encode(TEXTS), atol=2e-3)


def interrupt_after(model, chunks: int) -> list[int]:
    """Make ``model.encode`` raise KeyboardInterrupt once, on the call after ``chunks`` calls; returns call sizes."""
    calls: list[int] = []
    real_encode = type(model).encode.__get__(model)

    def interrupted(texts, **kw):
        if len(calls) == chunks:
            del model.encode  # once only: a second KeyboardInterrupt would stop pytest itself
            raise KeyboardInterrupt
        calls.append(len(texts))
        return real_encode(texts, **kw)

    model.encode = interrupted
    return calls


def count_calls(model) -> list[int]:
    """Record the size of every ``model.encode`` call from now on."""
    return interrupt_after(model, 10**9)


def test_resume_skips_finished_chunks(tiny_encoder, tmp_path):
    interrupt_after(tiny_encoder, 2)
    with pytest.raises(KeyboardInterrupt):
        encode_corpus(tiny_encoder, iter(TEXTS), tmp_path, total=23, chunk_size=5, dtype="float32")
    assert chunks_done(tmp_path) == [0, 1]

    calls = count_calls(tiny_encoder)
    emb = encode_corpus(tiny_encoder, iter(TEXTS), tmp_path, total=23, chunk_size=5, dtype="float32")
    assert calls == [5, 5, 3]  # chunks 2, 3, 4 only
    np.testing.assert_allclose(emb, type(tiny_encoder).encode(tiny_encoder, TEXTS), atol=1e-5)


def test_other_settings_in_the_same_folder_are_refused(tiny_encoder, tmp_path):
    encode_corpus(tiny_encoder, TEXTS, tmp_path, chunk_size=5)
    with pytest.raises(ValueError, match="other settings"):
        encode_corpus(tiny_encoder, TEXTS, tmp_path, chunk_size=7)


def test_stream_needs_a_total(tiny_encoder, tmp_path):
    with pytest.raises(ValueError, match="pass total="):
        encode_corpus(tiny_encoder, iter(TEXTS), tmp_path)


def test_short_stream_is_reported(tiny_encoder, tmp_path):
    with pytest.raises(ValueError, match="ended after 23 sentences; total says 30"):
        encode_corpus(tiny_encoder, iter(TEXTS), tmp_path, total=30, chunk_size=10)


def test_memory_estimate_scales_with_output(tiny_encoder):
    small = estimate_memory(tiny_encoder, 1000)
    big = estimate_memory(tiny_encoder, 1_000_000)
    assert big.output_on_disk_mb == pytest.approx(small.output_on_disk_mb * 1000)
    assert big.peak_ram_mb == small.peak_ram_mb  # RAM does not grow with the corpus


# ---------------------------------------------------------------- resume refuses what changed (issue 10, item 2)
def interrupted_file_run(model, tmp_path, texts=TEXTS, **options):
    """Write ``texts`` to corpus.txt and encode it into out/ until the third chunk interrupts."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(texts) + "\n", encoding="utf-8")
    interrupt_after(model, 2)
    with pytest.raises(KeyboardInterrupt):
        encode_corpus(model, corpus, tmp_path / "out", chunk_size=5, dtype="float32", **options)
    assert chunks_done(tmp_path / "out") == [0, 1]
    return corpus


def test_resume_with_another_input_of_the_same_length_is_refused(tiny_encoder, tmp_path):
    corpus = interrupted_file_run(tiny_encoder, tmp_path)
    changed = TEXTS[:7] + ["a completely different line"] + TEXTS[8:]
    corpus.write_text("\n".join(changed) + "\n", encoding="utf-8")
    calls = count_calls(tiny_encoder)
    with pytest.raises(ValueError, match="the input differs in lines 6-10, which the earlier run already encoded"):
        encode_corpus(tiny_encoder, corpus, tmp_path / "out", chunk_size=5, dtype="float32")
    assert calls == []  # refused before encoding anything
    with pytest.raises(ValueError, match="input differs in lines 6-10"):  # the same input as a list is checked too
        encode_corpus(tiny_encoder, changed, tmp_path / "out", chunk_size=5, dtype="float32")

    emb = encode_corpus(tiny_encoder, corpus, tmp_path / "out", chunk_size=5, dtype="float32", restart=True)
    np.testing.assert_allclose(emb, type(tiny_encoder).encode(tiny_encoder, changed), atol=1e-5)


def test_resume_with_an_input_stream_that_changed_is_refused(tiny_encoder, tmp_path):
    interrupt_after(tiny_encoder, 2)
    with pytest.raises(KeyboardInterrupt):
        encode_corpus(tiny_encoder, iter(TEXTS), tmp_path, total=23, chunk_size=5)
    with pytest.raises(ValueError, match="input differs in lines 1-5"):
        encode_corpus(tiny_encoder, iter(TEXTS[::-1]), tmp_path, total=23, chunk_size=5)


def test_resume_with_changed_model_weights_or_configuration_is_refused(tiny_encoder, tmp_path):
    corpus = interrupted_file_run(tiny_encoder, tmp_path)
    with torch.no_grad():
        weight = tiny_encoder[0].auto_model.encoder.layer[0].output.dense.weight
        saved = weight.clone()
        weight[0, 0] += 1.0
    with pytest.raises(ValueError, match="the model weights differ"):
        encode_corpus(tiny_encoder, corpus, tmp_path / "out", chunk_size=5, dtype="float32")
    with torch.no_grad():
        weight.copy_(saved)
    tiny_encoder.max_seq_length = 8
    with pytest.raises(ValueError, match="the model configuration differs") as refused:
        encode_corpus(tiny_encoder, corpus, tmp_path / "out", chunk_size=5, dtype="float32")
    assert "weights" not in str(refused.value)  # the weights are the earlier ones again
    tiny_encoder.max_seq_length = 32
    emb = encode_corpus(tiny_encoder, corpus, tmp_path / "out", chunk_size=5, dtype="float32")
    np.testing.assert_allclose(emb, tiny_encoder.encode(TEXTS), atol=1e-5)


def test_resume_with_other_encode_settings_names_each_one(tiny_encoder, tmp_path):
    corpus = interrupted_file_run(tiny_encoder, tmp_path, batch_size=4)
    with pytest.raises(
        ValueError,
        match=r"batch_size: 4 earlier, 8 now; .*normalize_embeddings: False earlier, "
        r"True now\. Pass restart=True",
    ):
        encode_corpus(
            tiny_encoder,
            corpus,
            tmp_path / "out",
            chunk_size=5,
            dtype="float32",
            batch_size=8,
            normalize_embeddings=True,
        )


def test_files_it_did_not_write_are_never_replaced(tiny_encoder, tmp_path):
    foreign = np.arange(6.0).reshape(2, 3)
    np.save(tmp_path / "embeddings.npy", foreign)
    (tmp_path / "notes.txt").write_text("keep me")
    for restart in (False, True):
        with pytest.raises(FileExistsError, match="not written by encode_corpus"):
            encode_corpus(tiny_encoder, TEXTS, tmp_path, chunk_size=5, restart=restart)
    np.testing.assert_array_equal(np.load(tmp_path / "embeddings.npy"), foreign)

    (tmp_path / "embeddings.npy").unlink()
    (tmp_path / "progress.json").write_text('{"epoch": 3}')
    with pytest.raises(FileExistsError, match="progress.json was not written by encode_corpus"):
        encode_corpus(tiny_encoder, TEXTS, tmp_path, chunk_size=5, restart=True)
    assert (tmp_path / "progress.json").read_text() == '{"epoch": 3}'
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_a_record_without_fingerprints_is_not_resumed(tiny_encoder, tmp_path):
    encode_corpus(tiny_encoder, TEXTS, tmp_path, chunk_size=5)
    record = json.loads((tmp_path / "progress.json").read_text())
    old = {k: record[k] for k in ("n", "dim", "dtype", "chunk_size", "precision", "normalize", "chunks_done")}
    (tmp_path / "progress.json").write_text(json.dumps(old))
    with pytest.raises(ValueError, match="earlier version of workbench"):
        encode_corpus(tiny_encoder, TEXTS, tmp_path, chunk_size=5)
    assert encode_corpus(tiny_encoder, TEXTS, tmp_path, chunk_size=5, restart=True).shape == (23, 32)


# ---------------------------------------------------------------- damaged output is re-encoded (item 4)
def test_truncated_output_is_encoded_again_with_a_warning(tiny_encoder, tmp_path):
    expected = encode_corpus(tiny_encoder, TEXTS, tmp_path, chunk_size=5, dtype="float32").copy()
    path = tmp_path / "embeddings.npy"
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(size - 12 * 32 * 4)  # the last 12 rows: chunks 2 (partly), 3 and 4
    calls = count_calls(tiny_encoder)
    with pytest.warns(UserWarning, match=r"3 finished chunks \(lines 11-15, lines 16-20, lines 21-23\).*truncated"):
        emb = encode_corpus(tiny_encoder, TEXTS, tmp_path, chunk_size=5, dtype="float32")
    assert calls == [5, 5, 3]
    np.testing.assert_allclose(emb, expected, atol=1e-6)
    assert path.stat().st_size == size


def test_changed_output_bytes_are_encoded_again(tiny_encoder, tmp_path):
    expected = encode_corpus(tiny_encoder, TEXTS, tmp_path, chunk_size=5, dtype="float32").copy()
    emb = np.load(tmp_path / "embeddings.npy", mmap_mode="r+")
    emb[7, 3] = 0.0
    emb.flush()
    del emb
    calls = count_calls(tiny_encoder)
    with pytest.warns(UserWarning, match=r"1 finished chunks \(lines 6-10\).*file was changed"):
        again = encode_corpus(tiny_encoder, TEXTS, tmp_path, chunk_size=5, dtype="float32")
    assert calls == [5]
    np.testing.assert_allclose(again, expected, atol=1e-6)


def test_a_missing_output_file_is_encoded_again(tiny_encoder, tmp_path):
    encode_corpus(tiny_encoder, TEXTS, tmp_path, chunk_size=5)
    (tmp_path / "embeddings.npy").unlink()
    with pytest.warns(UserWarning, match="embeddings.npy is missing"):
        assert encode_corpus(tiny_encoder, TEXTS, tmp_path, chunk_size=5).shape == (23, 32)


# ---------------------------------------------------------------- one definition of a line (item 3)
@pytest.mark.parametrize(
    ("data", "lines"),
    [
        (b"a man\reats\nthe dog\n", ["a man\reats", "the dog"]),  # a stray \r stays inside its line
        (b"a man\r\nthe dog\r\n", ["a man", "the dog"]),  # \r\n endings
        (b"a man\nthe dog", ["a man", "the dog"]),  # no final newline
        (b"a man\nthe dog\n\n", ["a man", "the dog", ""]),  # the last line is empty
        (b"\r\n\n\r", ["", "", "\r"]),
    ],
)
def test_row_i_is_line_i_whatever_the_line_endings(tiny_encoder, tmp_path, data, lines):
    (tmp_path / "corpus.txt").write_bytes(data)
    assert list(read_lines(tmp_path / "corpus.txt")) == lines
    emb = encode_corpus(tiny_encoder, tmp_path / "corpus.txt", tmp_path / "out", chunk_size=2, dtype="float32")
    np.testing.assert_allclose(emb, tiny_encoder.encode(lines), atol=1e-5)


def test_a_latin1_file_is_refused_naming_the_line_or_read_with_its_encoding(tiny_encoder, tmp_path):
    lines = ["the dog plays", "a man is eating", "café au lait", "the end"]
    (tmp_path / "corpus.txt").write_bytes("\n".join(lines).encode("latin-1"))
    with pytest.raises(
        ValueError,
        match=r"corpus.txt, line 3: not valid utf-8 \(byte 0xe9 at position 3.*"
        r"pass encoding=",
    ):
        encode_corpus(tiny_encoder, tmp_path / "corpus.txt", tmp_path / "out")
    assert not (tmp_path / "out" / "embeddings.npy").exists()  # refused before any work
    emb = encode_corpus(tiny_encoder, tmp_path / "corpus.txt", tmp_path / "out", dtype="float32", encoding="latin-1")
    np.testing.assert_allclose(emb, tiny_encoder.encode(lines), atol=1e-5)


@pytest.mark.parametrize(("encoding", "message"), [("utf-16", "does not write a newline"), ("klingon", "unknown")])
def test_encodings_whose_lines_cannot_be_split_are_refused(tmp_path, encoding, message):
    (tmp_path / "c.txt").write_text("a\nb\n")
    with pytest.raises(ValueError, match=message):
        list(read_lines(tmp_path / "c.txt", encoding))


def test_a_utf8_bom_is_dropped_with_utf8_sig(tmp_path):
    (tmp_path / "c.txt").write_bytes(b"\xef\xbb\xbfone\r\ntwo\r\n")
    assert list(read_lines(tmp_path / "c.txt", "utf-8-sig")) == ["one", "two"]


def test_total_must_agree_with_a_list_and_extra_stream_items_are_reported(tiny_encoder, tmp_path):
    with pytest.raises(ValueError, match="total=20 but sentences holds 23 texts"):
        encode_corpus(tiny_encoder, TEXTS, tmp_path, total=20)
    with pytest.warns(UserWarning, match="more than total=20"):
        encode_corpus(tiny_encoder, iter(TEXTS), tmp_path / "stream", total=20, chunk_size=5)


# ---------------------------------------------------------------- properties of the line splitter (section 5)
LINE_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",)) | st.sampled_from("\r\n\u2028\x85\x0b\x0c"), max_size=40
)


def reference_lines(text: str) -> list[str]:
    """The definition: split on \\n; no line after a final \\n; the \\r of each \\r\\n dropped."""
    pieces = text.split("\n")
    ended, last = pieces[:-1], pieces[-1]
    return [p[:-1] if p.endswith("\r") else p for p in ended] + ([last] if last else [])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=LINE_TEXT)
def test_read_lines_follows_the_definition_for_any_text(tmp_path, text):
    (tmp_path / "c.txt").write_bytes(text.encode("utf-8"))
    assert list(read_lines(tmp_path / "c.txt")) == reference_lines(text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(
        st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=12).filter(
            lambda line: not line.endswith("\r")
        ),
        max_size=12,
    ),
    endings=st.lists(st.sampled_from(["\n", "\r\n"]), min_size=12, max_size=12),
    final=st.booleans(),
)
def test_any_mix_of_line_endings_gives_back_the_lines(tmp_path, lines, endings, final):
    text = "".join(line + ending for line, ending in zip(lines, endings))
    if lines and not final:  # drop the last ending, unless that would make an empty last line vanish
        text = text[: -len(endings[len(lines) - 1])] if lines[-1] else text
    (tmp_path / "c.txt").write_bytes(text.encode("utf-8"))
    assert list(read_lines(tmp_path / "c.txt")) == lines


class LineEncoder:
    """A stand-in model whose row for a text is (length, sum of code points, first code point): cheap and exact."""

    def get_sentence_embedding_dimension(self) -> int:
        return 3

    def encode(self, texts, **options):
        return np.array([[len(t), sum(map(ord, t)), ord(t[0]) if t else -1] for t in texts], dtype=np.float32)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=LINE_TEXT, chunk_size=st.integers(1, 4))
def test_row_i_of_encode_corpus_is_line_i(tmp_path, text, chunk_size):
    (tmp_path / "c.txt").write_bytes(text.encode("utf-8"))
    lines = reference_lines(text)
    emb = encode_corpus(
        LineEncoder(), tmp_path / "c.txt", tmp_path / "out", chunk_size=chunk_size, dtype="float32", restart=True
    )
    np.testing.assert_array_equal(emb, LineEncoder().encode(lines).reshape(len(lines), 3))


def test_lines_and_line_numbers_hold_across_read_batches(tmp_path):
    # Over 1 MB, so read_lines decodes the file in several batches.
    lines = [f"sentence {i}\r{i}" if i % 7 == 0 else f"sentence {i}" for i in range(150_000)]
    (tmp_path / "c.txt").write_bytes(("\r\n".join(lines) + "\r\n").encode())
    assert (tmp_path / "c.txt").stat().st_size > 2 * 2**20
    assert list(read_lines(tmp_path / "c.txt")) == lines
    with open(tmp_path / "c.txt", "ab") as fh:
        fh.write(b"ok\nna\xefve\n")
    with pytest.raises(ValueError, match=r"c.txt, line 150002: not valid utf-8 \(byte 0xef at position 2"):
        list(read_lines(tmp_path / "c.txt"))


# ---------------------------------------------------------------- the generic hashes behind the fingerprints
def test_hashes_tell_apart_what_changes_the_meaning(tmp_path):
    from workbench.fingerprint import hash_array, hash_file, hash_state_dict, hash_texts

    assert hash_texts(["ab", "c"]) != hash_texts(["a", "bc"]) != hash_texts(["a", "b", "c"])
    assert hash_texts(iter(["x"] * 5000)) == hash_texts(["x"] * 5000) != hash_texts(["x"] * 5001)
    assert hash_texts(["\ud800"]) != hash_texts(["\ud801"])  # lone surrogates hash, and differ
    zeros = np.zeros(4, dtype=np.float32)
    assert hash_array(zeros) != hash_array(zeros.astype(np.int32)) != hash_array(zeros.reshape(2, 2))
    state = {"w": torch.ones(2, 2, dtype=torch.bfloat16), "b": torch.zeros(2)}
    assert hash_state_dict(state) == hash_state_dict(dict(reversed(state.items())))
    assert hash_state_dict(state) != hash_state_dict(state | {"b": torch.tensor([0.0, 1e-30])})
    (tmp_path / "f").write_bytes(b"0123456789")
    assert hash_file(tmp_path / "f", 2, 3) == hashlib.sha256(b"234").hexdigest()
    assert hash_file(tmp_path / "f", 8, 30) == hashlib.sha256(b"89").hexdigest()  # up to where the file ends
    assert hash_file(tmp_path / "f") == hashlib.sha256(b"0123456789").hexdigest()
