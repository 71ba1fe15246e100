"""Multilingual distillation: teacher cache, parallel data set, students, cross-lingual STS helpers."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers

from workbench import SentenceEncoder
from workbench.data import Example
from workbench.losses import MSELoss
from workbench.modules import Normalize, StaticEmbedding
from workbench import multilingual
from workbench.multilingual import (
    ParallelSentencesDataset,
    TeacherEmbeddings,
    benchmark_sentences,
    build_student,
    crosslingual_stsb,
    per_language,
    sts_benchmarks,
    sts_spearman,
    stsb_parallel_pairs,
    teacher_fingerprint,
)

ENGLISH = [f"the man is eating {w} food" for w in "good bad great terrible".split()] + [
    "a child plays the piano",
    "the woman rides a horse",
    "a dog is sitting on the street",
    "the cat is happy",
]
GERMAN = [f"der Mann isst {i}" for i in range(len(ENGLISH))]
FRENCH = [f"l'homme mange {i}" for i in range(len(ENGLISH))]


@pytest.fixture()
def counting(tiny_encoder, monkeypatch):
    """The tiny encoder as teacher, with a record of every ``encode`` call's sentences."""
    calls: list[list[str]] = []
    original = tiny_encoder.encode

    def encode(sentences, **kwargs):
        calls.append(list(sentences))
        return original(sentences, **kwargs)

    monkeypatch.setattr(tiny_encoder, "encode", encode)
    return tiny_encoder, calls


def write_lines(path, lines, newline="\r\n"):
    path.write_bytes(newline.join(lines).encode() + newline.encode())
    return path


def test_the_package_exports_the_names_of_the_former_module():
    assert sorted(multilingual.__all__) == [
        "CACHE_NAME",
        "FILE_CODES",
        "LanguageCounts",
        "PairLike",
        "ParallelSentencesDataset",
        "STS17_TRACKS",
        "TeacherEmbeddings",
        "benchmark_sentences",
        "build_student",
        "crosslingual_stsb",
        "per_language",
        "sentence_key",
        "standard_parallel_data",
        "sts_benchmarks",
        "sts_spearman",
        "stsb_parallel_pairs",
        "teacher_fingerprint",
    ]
    assert [name for name in multilingual.__all__ if not hasattr(multilingual, name)] == []


# --------------------------------------------------------------------------- teacher cache


def test_teacher_cache_encodes_each_sentence_once_and_a_second_run_not_at_all(counting, tmp_path):
    teacher, calls = counting
    first = TeacherEmbeddings(teacher, folder=tmp_path, batch_size=4)
    emb = first(["a dog", "a cat", "a dog"])
    assert calls == [["a dog", "a cat"]] and first.encoded == 2
    assert np.array_equal(emb[0], emb[2])
    first(["a cat", "the man"])
    assert calls[-1] == ["the man"]

    second = TeacherEmbeddings(teacher, folder=tmp_path, batch_size=4)  # a new run: only the disk remains
    again = second(["a dog", "a cat", "the man"])
    assert len(calls) == 2 and second.encoded == 0 and len(second) == 3
    np.testing.assert_allclose(again[:2], emb[:2], rtol=0, atol=0)
    np.testing.assert_allclose(again[0], teacher.encode(["a dog"])[0], atol=1e-6)


def test_teacher_cache_key_changes_with_weights_and_precision(tiny_encoder, tmp_path):
    fp32 = TeacherEmbeddings(tiny_encoder, folder=tmp_path)
    assert TeacherEmbeddings(tiny_encoder, folder=tmp_path, compute_dtype="bfloat16").path != fp32.path
    fp32(["a dog"])
    with torch.no_grad():
        next(tiny_encoder.parameters()).add_(0.01)
    changed = TeacherEmbeddings(tiny_encoder, folder=tmp_path)
    assert changed.path != fp32.path and "a dog" not in changed
    assert teacher_fingerprint(tiny_encoder) != teacher_fingerprint(tiny_encoder, "bfloat16")


def test_teacher_cache_needs_an_id_for_non_torch_teachers(tmp_path):
    class Teacher:
        def encode(self, sentences, **kwargs):
            return np.ones((len(sentences), 3))

    with pytest.raises(TypeError, match="teacher_id"):
        TeacherEmbeddings(Teacher(), folder=tmp_path)
    with pytest.raises(ValueError, match="compute_dtype must be one of"):
        TeacherEmbeddings(Teacher(), folder=tmp_path, teacher_id="ones", compute_dtype="float16")
    cache = TeacherEmbeddings(Teacher(), folder=tmp_path, teacher_id="ones")
    assert cache([]).shape == (0, 0) and cache(["x"]).shape == (1, 3) and cache([]).shape == (0, 3)


def test_dataset_second_run_does_not_reencode(counting, tmp_path):
    teacher, calls = counting

    def run():
        data = ParallelSentencesDataset(TeacherEmbeddings(teacher, folder=tmp_path / "cache"))
        data.add_pairs(zip(ENGLISH, GERMAN), "de", held_out=2).add_pairs(zip(ENGLISH, FRENCH), "fr")
        return data, [data[i] for i in range(len(data))]

    _, first = run()
    assert len(calls) == 1 and sorted(calls[0]) == sorted(ENGLISH)  # each source once, though in two languages
    _, second = run()
    assert len(calls) == 1
    assert [e.texts for e in first] == [e.texts for e in second]
    assert all(np.array_equal(a.label, b.label) for a, b in zip(first, second))


# --------------------------------------------------------------------------- the data set


def fake_cache(tmp_path, dim=4):
    """A teacher whose embedding of a sentence is its length, repeated."""

    class Teacher:
        def encode(self, sentences, **kwargs):
            return np.array([[len(s)] * dim for s in sentences], dtype=np.float32)

    return TeacherEmbeddings(Teacher(), folder=tmp_path, teacher_id="length")


def test_examples_are_source_and_target_labelled_with_the_source_embedding(tmp_path):
    pairs = [("Hello there", "Hallo"), ("Bye", "Tschüss")]
    data = ParallelSentencesDataset(fake_cache(tmp_path)).add_pairs(pairs, "de")
    examples = [data[i] for i in range(len(data))]
    assert len(examples) == 4
    by_text = {e.texts[0]: e.label.tolist() for e in examples}
    assert by_text == {"Hello there": [11.0] * 4, "Hallo": [11.0] * 4, "Bye": [3.0] * 4, "Tschüss": [3.0] * 4}
    only_targets = ParallelSentencesDataset(fake_cache(tmp_path), include_source=False)
    only_targets.add_pairs([("Hello there", "Hallo")], "de")
    assert len(only_targets) == 1 and only_targets[0].texts == ["Hallo"]


def test_files_tsv_filters_duplicates_and_summary(tmp_path):
    src = write_lines(tmp_path / "src.eng.txt", ["Short.", "A sentence of medium length.", "x" * 50, "Short."])
    trg = write_lines(tmp_path / "ref.deu.txt", ["Kurz.", "Ein Satz mittlerer Länge.", "y", "Kurz."])
    tsv = tmp_path / "en-fr.tsv"
    tsv.write_text("Hello\tBonjour\nThe cat\tLe chat\n", encoding="utf-8")
    data = ParallelSentencesDataset(fake_cache(tmp_path), min_chars=2, max_chars=40)
    data.add_files(src, trg, "de").add_tsv(tsv, "fr")
    assert data.train_pairs["de"] == [
        ("Short.", "Kurz."),
        ("A sentence of medium length.", "Ein Satz mittlerer Länge."),
    ]
    assert all(not t.endswith("\r") for pair in data.train_pairs["de"] for t in pair)
    assert data.train_pairs["fr"] == [("Hello", "Bonjour"), ("The cat", "Le chat")]
    summary = data.summary()
    assert summary.loc["de"].to_dict() == {
        "read": 4,
        "too_short_or_long": 1,
        "duplicates": 1,
        "held_out": 0,
        "overlap": 0,
        "over_cap": 0,
        "train": 2,
    }
    assert data.languages == ["de", "fr"]


def test_held_out_lines_are_the_same_in_every_language_and_never_trained_on(tmp_path):
    english = [f"English news sentence number {i}." for i in range(60)]
    # The same English line also appears in a second source without a held-out split.
    data = ParallelSentencesDataset(fake_cache(tmp_path), seed=3)
    data.add_pairs(zip(english, [f"Deutsch {i}" for i in range(60)]), "de", held_out=10)
    data.add_pairs(zip(english, [f"Français {i}" for i in range(60)]), "fr", held_out=10)
    data.add_pairs([(english[i], f"Anderes Deutsch {i}") for i in range(60)], "de")
    held_de = [english.index(s) for s, _ in data.held_out["de"]]
    held_fr = [english.index(s) for s, _ in data.held_out["fr"]]
    assert len(held_de) == 10 and sorted(held_de) == sorted(held_fr)
    held_texts = {t for pairs in data.held_out.values() for pair in pairs for t in pair}
    trained = {data[i].texts[0] for i in range(len(data))}
    assert not trained & held_texts
    assert len(data.train_pairs["de"]) == 2 * 50 and data.summary().loc["de", "overlap"] == 10

    same_seed, other_seed = (
        ParallelSentencesDataset(fake_cache(tmp_path), seed=seed).add_pairs(zip(english, english), "de", held_out=10)
        for seed in (3, 4)
    )
    assert sorted(s for s, _ in same_seed.held_out["de"]) == sorted(s for s, _ in data.held_out["de"])
    assert sorted(other_seed.held_out["de"]) != sorted(same_seed.held_out["de"])


def test_cap_per_language_and_exclusion(tmp_path):
    pairs = [(f"source {i}", f"target {i}") for i in range(30)]
    data = ParallelSentencesDataset(fake_cache(tmp_path), max_per_language=12, exclude={"source 0", "target 1"})
    data.add_pairs(pairs, "de").add_pairs(pairs[:5], "fr")
    assert len(data.train_pairs["de"]) == 12 and len(data.train_pairs["fr"]) == 3
    assert not {"source 0", "source 1"} & {s for s, _ in data.train_pairs["de"]}
    assert data.summary().loc["de", ["overlap", "over_cap", "train"]].tolist() == [2, 16, 12]
    again = ParallelSentencesDataset(fake_cache(tmp_path), max_per_language=12, exclude={"source 0", "target 1"})
    # The capped choice depends on the pairs, not on the order they came in.
    assert set(again.add_pairs(reversed(pairs), "de").train_pairs["de"]) == set(data.train_pairs["de"])


def test_adding_after_use_rebuilds(tmp_path):
    data = ParallelSentencesDataset(fake_cache(tmp_path)).add_pairs([("a b", "c d")], "de")
    assert len(data) == 2
    data.add_pairs([("e f", "g h")], "de")
    assert len(data) == 4


@pytest.mark.parametrize(
    "pairs, message",
    [
        (["just a string"], "not a \\(source, target\\) pair"),
        ([("only one",)], "not a \\(source, target\\) pair"),
        ([("a", 3)], "not a \\(source, target\\) pair"),
    ],
)
def test_bad_pairs_are_named(tmp_path, pairs, message):
    with pytest.raises(ValueError, match=message):
        ParallelSentencesDataset(fake_cache(tmp_path)).add_pairs(pairs, "de")


def test_bad_settings_are_refused(tmp_path):
    cache = fake_cache(tmp_path)
    with pytest.raises(ValueError, match="max_chars"):
        ParallelSentencesDataset(cache, min_chars=10, max_chars=5)
    with pytest.raises(ValueError, match="max_per_language"):
        ParallelSentencesDataset(cache, max_per_language=0)
    with pytest.raises(ValueError, match="language"):
        ParallelSentencesDataset(cache).add_pairs([("a", "b")], "")
    with pytest.raises(ValueError, match="held_out"):
        ParallelSentencesDataset(cache).add_pairs([("a", "b")], "de", held_out=-1)
    with pytest.raises(ValueError, match="no parallel data"):
        len(ParallelSentencesDataset(cache))
    with pytest.raises(ValueError, match="held_out=n"):
        ParallelSentencesDataset(cache).add_pairs([("a", "b")], "de").evaluator()


# --------------------------------------------------------------------------- students and training


def tiny_static_encoder() -> SentenceEncoder:
    words = sorted({w for s in ENGLISH + GERMAN + FRENCH for w in s.split()})
    tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0, **{w: i + 1 for i, w in enumerate(words)}}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    torch.manual_seed(0)
    return SentenceEncoder(modules=[StaticEmbedding(tokenizer, embedding_dim=8), Normalize()], device="cpu")


def test_build_student_adds_a_projection_only_when_needed_and_copies(tiny_encoder):
    static = tiny_static_encoder()
    student = build_student(static, 32)
    assert [type(m).__name__ for m in student] == ["StaticEmbedding", "Normalize", "Dense"]
    assert student[-1].activation == "identity" and student.get_sentence_embedding_dimension() == 32
    assert len(static) == 2 and student[0] is not static[0]
    # The token vectors are rescaled to unit mean norm, which the Normalize after them cancels.
    assert student[0].embedding.weight.norm(dim=1).mean().item() == pytest.approx(1.0, rel=1e-5)
    assert static[0].embedding.weight.norm(dim=1).mean().item() != pytest.approx(1.0, rel=1e-2)
    with torch.no_grad():
        normalised = student[1](student[0](student.tokenize(ENGLISH)))["sentence_embedding"]
    np.testing.assert_allclose(normalised.numpy(), static.encode(ENGLISH), atol=1e-6)
    wide = build_student(static, 32, static_width=20)
    assert wide[0].get_sentence_embedding_dimension() == 20 and wide[2].in_features == 20
    with torch.no_grad():
        wide_vectors = wide[1](wide[0](wide.tokenize(ENGLISH)))["sentence_embedding"].numpy()
    reference = static.encode(ENGLISH)
    np.testing.assert_allclose(wide_vectors @ wide_vectors.T, reference @ reference.T, atol=1e-5)
    with pytest.raises(ValueError, match="at least the current width 8"):
        build_student(static, 32, static_width=4)
    with pytest.raises(ValueError, match="StaticEmbedding and Normalize"):
        build_student(tiny_encoder, 32, static_width=64)
    same = build_student(tiny_encoder, 32)
    assert [type(m).__name__ for m in same] == ["Transformer", "Pooling"]
    with pytest.raises(ValueError, match="dimension"):
        build_student(tiny_encoder, 0)


@pytest.mark.parametrize("kind, lr", [("static", 5e-2), ("transformer", 1e-2)])
def test_distillation_pulls_translations_onto_the_teacher(kind, lr, tiny_encoder, tmp_path):
    """Both student kinds train with MSELoss on the data set; held-out metrics come out per language."""
    torch.manual_seed(1)
    teacher = build_student(tiny_encoder, 48)  # a width unlike the bases' gives both students a projection
    base = tiny_static_encoder() if kind == "static" else tiny_encoder
    student = build_student(base, 48)
    cache = TeacherEmbeddings(teacher, folder=tmp_path)
    data = ParallelSentencesDataset(cache).add_pairs(zip(ENGLISH, GERMAN), "de", held_out=2)
    data.add_pairs(zip(ENGLISH, FRENCH), "fr", held_out=2)
    evaluator = data.evaluator(batch_size=4)
    before = evaluator(student)
    history = student.fit(
        [(data, MSELoss(student))],
        evaluator,
        epochs=4,
        batch_size=8,
        lr=lr,
        weight_decay=0.0,
        seed=0,
        show_progress_bar=False,
    )
    after = evaluator(student)
    assert evaluator.primary_metric == "held-out_combined_score"
    assert {"translation-de_min_accuracy", "mse-fr_negative_mse"} <= set(history.columns)
    table = per_language(after)
    assert list(table.index) == ["de", "fr"] and list(table.columns) == [
        "src2trg_accuracy",
        "trg2src_accuracy",
        "min_accuracy",
        "mse",
    ]
    assert (per_language(after)["mse"] < 0.5 * per_language(before)["mse"]).all()


def test_per_language_needs_held_out_metrics():
    with pytest.raises(ValueError, match="no per-language metrics"):
        per_language({"sts_spearman_cosine": 0.5})


# --------------------------------------------------------------------------- cross-lingual STS (mirror files)


def test_crosslingual_stsb_pairs_english_with_translation(mirror):
    from workbench.data import load_dataset

    pairs = crosslingual_stsb("de")
    english, german = (load_dataset("stsb-multi-mt", split="test", lang=lang) for lang in ("en", "de"))
    assert len(pairs) == 1379
    assert [p.texts for p in pairs[:3]] == [[e.texts[0], g.texts[1]] for e, g in zip(english[:3], german[:3])]
    assert [p.label for p in pairs] == [e.label for e in english]
    train = stsb_parallel_pairs("fr")
    assert len(train) == len(set(train)) > 10_000
    assert train[0][0] == load_dataset("stsb-multi-mt", split="train")[0].texts[0]


def test_sts_benchmarks_names_and_tracks(mirror):
    sets = sts_benchmarks(sts17=["en-de", "es-en"], stsb=["es"], crosslingual=["fr"])
    assert sorted(sets) == ["sts17-en-de", "sts17-es-en", "stsb-en-fr", "stsb-es"]
    assert {e.guid for e in sets["sts17-en-de"]} == {"extended.de-en"} and len(sets["sts17-en-de"]) == 250
    assert {e.guid for e in sets["sts17-es-en"]} == {"track4a.es-en"}
    sentences = benchmark_sentences(sets)
    assert sets["stsb-es"][0].texts[1] in sentences
    with pytest.raises(ValueError, match="unknown STS17"):
        sts_benchmarks(sts17=["xx-yy"])


def test_sts_spearman_scores_each_benchmark():
    from workbench.evaluation.base import LookupEncoder

    model = LookupEncoder({"a": [1.0, 0.0], "b": [0.6, 0.8], "c": [0.0, 1.0]})
    good = [Example(["a", "b"], 3.0), Example(["a", "c"], 0.0), Example(["b", "c"], 4.0)]
    bad = [Example(["a", "b"], 1.0), Example(["a", "c"], 5.0), Example(["b", "c"], 0.0)]
    assert sts_spearman(model, {"good": good, "bad": bad}) == pytest.approx({"good": 1.0, "bad": -1.0})


# --------------------------------------------------------------------------- the example script (real models)


@pytest.mark.slow
def test_example_script_runs_and_its_second_run_encodes_nothing(mirror, tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "examples" / "distill_multilingual.py"
    command = [
        sys.executable,
        str(script),
        "--output",
        str(tmp_path / "student"),
        "--cache",
        str(tmp_path / "cache"),
        "--languages",
        "de",
        "--held-out",
        "20",
        "--max-train",
        "100",
        "--max-eval",
        "30",
        "--epochs",
        "1",
        "--static-width",
        "0",
        "--batch-size",
        "64",
        "--quiet",
    ]

    def run() -> dict:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    first = run()
    assert set(first["translation_accuracy"]) == set(first["translation_accuracy_before"]) == {"en-de"}
    assert 0 <= first["translation_accuracy"]["en-de"] <= 1
    assert {"sts17_en_de_before", "sts17_en_de_after", "seconds"} <= set(first)
    assert first["teacher_encoded"] > 100 and first["reloaded_identical"] is True
    assert SentenceEncoder(tmp_path / "student", device="cpu").get_sentence_embedding_dimension() == 384
    second = run()
    assert second["teacher_encoded"] == 0
    assert second["translation_accuracy"] == first["translation_accuracy"]  # same data, seed and teacher embeddings
