"""Saving and loading model folders safely: other files kept, concurrent saves, permissions, hostile or broken folders."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from workbench import SentenceEncoder, io
from workbench.io import SAVED_RECORD, save_into
from workbench.modules import Dense, Normalize, Pooling, Transformer
from workbench.training.checkpoint import STATE_KEYS, read_checkpoint, read_state, save_model_keeping, write_checkpoint


def trainer_state(step: int) -> dict:
    """A complete ``trainer_state.json`` for a checkpoint at ``step`` (``read_checkpoint`` checks its keys)."""
    return {**dict.fromkeys(STATE_KEYS), "global_step": step}


TEXT = ["a man is eating food ."]


def encoder(bert: Path, dense: bool = True, seed: int = 1) -> SentenceEncoder:
    torch.manual_seed(seed)
    transformer = Transformer(bert, max_seq_length=24)
    modules = [transformer, Pooling(32, ("max", "mean"))] + ([Dense(64, 8)] if dense else []) + [Normalize()]
    return SentenceEncoder(modules=modules, device="cpu")


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture()
def stacked(tiny_bert_dir):
    return encoder(tiny_bert_dir)


# ---------------------------------------------------------------- other files are kept (issue 10, item 1)
def test_save_keeps_the_other_files_of_the_folder(stacked, tmp_path):
    (tmp_path / "analysis.ipynb").write_text("{}")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "scores.csv").write_text("a,b\n")
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "notes.txt").write_text("mine")
    stacked.save(tmp_path)
    stacked.save(tmp_path)  # a second save as well
    assert (tmp_path / "analysis.ipynb").read_text() == "{}"
    assert (tmp_path / "results" / "scores.csv").read_text() == "a,b\n"
    assert (tmp_path / "1_Pooling" / "notes.txt").read_text() == "mine"
    np.testing.assert_allclose(SentenceEncoder(tmp_path, device="cpu").encode(TEXT), stacked.encode(TEXT), atol=1e-6)


def test_saving_into_the_working_directory_keeps_it(stacked, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("notebook.ipynb").write_text("{}")
    stacked.save(".")
    assert Path(os.getcwd()) == tmp_path
    assert Path("notebook.ipynb").read_text() == "{}"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".workbench-staging")]
    SentenceEncoder(".", device="cpu")


def test_saving_onto_a_file_is_refused(stacked, tmp_path):
    file = tmp_path / "model"
    file.write_text("not a folder")
    with pytest.raises(NotADirectoryError, match=f"{file}.*existing file"):
        stacked.save(file)
    assert file.read_text() == "not a folder"


def test_a_new_save_removes_only_stale_files_the_library_wrote(tiny_bert_dir, tmp_path):
    folder = tmp_path / "m"
    encoder(tiny_bert_dir, dense=True).save(folder)
    assert (folder / "2_Dense" / "model.safetensors").is_file()
    (folder / "3_Normalize" / "mine.txt").write_text("mine")
    (folder / "README.md").write_text("my notes")
    smaller = encoder(tiny_bert_dir, dense=False)  # Transformer, Pooling, Normalize: no 2_Dense
    smaller.save(folder)
    assert not (folder / "2_Dense").exists()
    # Normalize moved from 3_ to 2_: its old config went, its old folder stays for the user's file in it.
    assert tree(folder / "3_Normalize") == ["mine.txt"]
    assert (folder / "README.md").read_text() == "my notes"
    assert [type(m).__name__ for m in SentenceEncoder(folder, device="cpu")] == ["Transformer", "Pooling", "Normalize"]


def test_a_damaged_record_removes_nothing(tiny_bert_dir, tmp_path):
    encoder(tiny_bert_dir, dense=True).save(tmp_path)
    (tmp_path / SAVED_RECORD).write_text(json.dumps({"files": ["../outside.txt"], "folders": []}))
    (tmp_path.parent / "outside.txt").write_text("keep")
    encoder(tiny_bert_dir, dense=False).save(tmp_path)
    assert (tmp_path.parent / "outside.txt").read_text() == "keep"
    assert (tmp_path / "2_Dense" / "model.safetensors").is_file()  # unknown provenance now: left alone


def test_fit_output_path_and_save_write_the_same_way(tiny_bert_dir, tmp_path):
    out = tmp_path / "out"
    (out / "checkpoints" / "checkpoint-3").mkdir(parents=True)
    (out / "history.csv").write_text("step\n1\n")
    save_model_keeping(encoder(tiny_bert_dir, dense=True), out)
    save_model_keeping(encoder(tiny_bert_dir, dense=False), out)
    assert (out / "history.csv").read_text() == "step\n1\n"
    assert (out / "checkpoints" / "checkpoint-3").is_dir()
    assert not (out / "2_Dense").exists()


def test_model_and_other_files_are_kept_when_the_folder_needs_a_file_where_a_folder_is(stacked, tmp_path):
    (tmp_path / "modules.json").mkdir()
    with pytest.raises(IsADirectoryError, match="modules.json"):
        stacked.save(tmp_path)
    assert tree(tmp_path) == ["modules.json"]


# ---------------------------------------------------------------- concurrent saves (item 9)
def test_two_writers_and_a_reader_never_collide(tiny_bert_dir, tmp_path):
    folder = tmp_path / "shared"
    writers = [encoder(tiny_bert_dir, seed=1), encoder(tiny_bert_dir, seed=2)]
    expected = [w.encode(TEXT) for w in writers]
    writers[0].save(folder)
    errors: list[BaseException] = []
    loads = [0]
    done = threading.Event()

    def write(model: SentenceEncoder) -> None:
        try:
            for _ in range(6):
                model.save(folder)
        except BaseException as err:  # noqa: BLE001 - collected and reported below
            errors.append(err)

    def read() -> None:
        try:
            while not done.is_set():
                got = SentenceEncoder(folder, device="cpu").encode(TEXT)
                # Never a mix of the two writers' files: exactly one of their outputs.
                assert any(np.allclose(got, e, atol=1e-6) for e in expected), "the reader saw a half-written model"
                loads[0] += 1
        except BaseException as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=write, args=(w,)) for w in writers]
    reader = threading.Thread(target=read)
    reader.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join()
    assert not errors, errors
    assert loads[0] > 0
    assert not [p for p in tmp_path.rglob(".*") if p.name != SAVED_RECORD]  # no staging leftovers


def _write_tokens(folder: str, token: str, rounds: int) -> None:
    for i in range(rounds):

        def write(tmp: Path, value: str = f"{token}-{i}") -> None:
            (tmp / "a.txt").write_text(value)
            (tmp / "sub").mkdir()
            (tmp / "sub" / "b.txt").write_text(value)

        save_into(folder, write)


def _read_tokens(folder: str, seconds: float, queue: multiprocessing.Queue) -> None:
    seen, problems, end = 0, [], time.monotonic() + seconds
    while time.monotonic() < end:
        with io.folder_lock(folder):
            try:
                a, b = (Path(folder) / "a.txt").read_text(), (Path(folder) / "sub" / "b.txt").read_text()
                if a != b:
                    problems.append(f"mixed: {a} {b}")
            except OSError as err:
                problems.append(repr(err))
        seen += 1
    queue.put((seen, problems[:5]))


def test_writer_processes_take_turns_and_a_reader_sees_whole_saves(tmp_path):
    folder = str(tmp_path / "shared")
    _write_tokens(folder, "first", 1)
    ctx = multiprocessing.get_context("fork")  # the children only touch files
    queue = ctx.Queue()
    writers = [ctx.Process(target=_write_tokens, args=(folder, name, 40)) for name in ("x", "y")]
    reader = ctx.Process(target=_read_tokens, args=(folder, 2.0, queue))
    for p in [*writers, reader]:
        p.start()
    seen, problems = queue.get(timeout=60)
    for p in [*writers, reader]:
        p.join(timeout=60)
    assert [p.exitcode for p in writers] == [0, 0]
    assert seen > 0 and problems == []
    assert sorted(os.listdir(folder)) == [SAVED_RECORD, "a.txt", "sub"]


def test_leftovers_of_a_crashed_save_do_not_block_the_next(stacked, tmp_path):
    checkpoint = tmp_path / "checkpoint-1"
    write_checkpoint(checkpoint, stacked, trainer_state(1), {})
    # What a writer killed mid-swap (old scheme included) leaves beside the folder.
    for name in (f".checkpoint-1.old-{os.getpid()}", ".checkpoint-1.tmp-dead"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "x").write_text("stale")
    write_checkpoint(checkpoint, stacked, trainer_state(2), {})
    write_checkpoint(checkpoint, stacked, trainer_state(3), {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-1"]
    assert read_state(checkpoint)["global_step"] == 3
    model = tmp_path / "model"
    stacked.save(model)
    (model / ".workbench-staging-dead").mkdir()
    stacked.save(model)
    assert not (model / ".workbench-staging-dead").exists()


# ---------------------------------------------------------------- permissions follow the umask (item 13)
@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_saved_files_follow_the_umask(stacked, tmp_path, umask):
    old = os.umask(umask)
    try:
        stacked.save(tmp_path / "model")
        write_checkpoint(tmp_path / "checkpoint-1", stacked, trainer_state(1), {"optimizer": {"x": torch.ones(1)}})
    finally:
        os.umask(old)
    for path in [*(tmp_path / "model").rglob("*"), *(tmp_path / "checkpoint-1").rglob("*"), tmp_path / "checkpoint-1"]:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o777 if path.is_dir() else 0o666) & ~umask, f"{path}: {oct(mode)}"


# ---------------------------------------------------------------- hostile or broken folders (items 5, 11, section 3)
def _edit_modules(folder: Path, edit) -> None:
    path = folder / "modules.json"
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))


@pytest.mark.parametrize("where", ["../elsewhere", "/etc", "1_Pooling/../../elsewhere"])
def test_module_paths_outside_the_folder_are_refused(stacked, tmp_path, where):
    stacked.save(tmp_path / "m")
    shutil.copytree(tmp_path / "m" / "1_Pooling", tmp_path / "elsewhere")
    _edit_modules(tmp_path / "m", lambda e: [*e[:1], {**e[1], "path": where}, *e[2:]])
    with pytest.raises(ValueError, match="entry 1: path .*points outside the folder"):
        SentenceEncoder(tmp_path / "m", device="cpu")


def test_a_module_folder_that_is_a_symlink_out_of_the_folder_is_refused(stacked, tmp_path):
    stacked.save(tmp_path / "m")
    shutil.move(tmp_path / "m" / "1_Pooling", tmp_path / "elsewhere")
    (tmp_path / "m" / "1_Pooling").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ValueError, match="points outside the folder"):
        SentenceEncoder(tmp_path / "m", device="cpu")


@pytest.mark.parametrize(
    "content, message",
    [
        ([], "non-empty JSON list"),
        ({"0": "Transformer"}, "non-empty JSON list"),
        ([1], r"entry 0: each entry must be an object"),
        ([{"idx": 0, "path": ""}], r"entry 0: .*string \"type\""),
        ([{"idx": 0, "path": "", "type": 3}], r"string \"type\""),
        (
            [{"idx": "0", "path": "", "type": "sentence_transformers.models.Transformer"}],
            r"\"idx\" must be a whole number",
        ),
        ([{"idx": 0, "path": 5, "type": "sentence_transformers.models.Transformer"}], "path must be a path string"),
        (
            [
                {"idx": 0, "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 0, "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            ],
            "used once",
        ),
    ],
)
def test_malformed_modules_json_is_refused_with_the_file_named(stacked, tmp_path, content, message):
    stacked.save(tmp_path / "m")
    (tmp_path / "m" / "modules.json").write_text(json.dumps(content))
    with pytest.raises((ValueError, TypeError), match=message) as info:
        SentenceEncoder(tmp_path / "m", device="cpu")
    assert "modules.json" in str(info.value)


def test_an_encoder_needs_modules():
    with pytest.raises(ValueError, match="modules is empty"):
        SentenceEncoder(modules=[])
    with pytest.raises(TypeError, match="0: str"):
        SentenceEncoder(modules=["Transformer"])


def test_a_pooling_width_that_disagrees_with_the_transformer_is_refused(tiny_bert_dir, stacked, tmp_path):
    with pytest.raises(ValueError, match=r"module 1 \(Pooling\) has word_embedding_dimension=999.*width 32"):
        SentenceEncoder(modules=[Transformer(tiny_bert_dir), Pooling(999)])
    with pytest.raises(ValueError, match=r"module 2 \(Dense\) has in_features=10.*width 64"):
        SentenceEncoder(modules=[Transformer(tiny_bert_dir), Pooling(32, ("max", "mean")), Dense(10, 4)])
    stacked.save(tmp_path / "m")
    config = tmp_path / "m" / "1_Pooling" / "config.json"
    config.write_text(json.dumps(json.loads(config.read_text()) | {"word_embedding_dimension": 999}))
    with pytest.raises(ValueError, match=f"{tmp_path / 'm'}: module 1 .*999"):
        SentenceEncoder(tmp_path / "m", device="cpu")


def test_a_transformer_without_tokenizer_files_is_refused(tiny_bert_dir, stacked, tmp_path):
    stacked.save(tmp_path / "m")
    for name in ("tokenizer.json", "vocab.txt"):
        (tmp_path / "m" / name).unlink(missing_ok=True)
    with pytest.raises(
        FileNotFoundError, match=f"{tmp_path / 'm'} has no tokenizer files; looked for tokenizer.json, vocab.txt"
    ):
        SentenceEncoder(tmp_path / "m", device="cpu")


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_truncated_weights_name_the_file(stacked, tmp_path):
    stacked.save(tmp_path / "m")
    _truncate(tmp_path / "m" / "2_Dense" / "model.safetensors")
    with pytest.raises(ValueError, match="2_Dense/model.safetensors is damaged or truncated"):
        SentenceEncoder(tmp_path / "m", device="cpu")
    stacked.save(tmp_path / "m")
    _truncate(tmp_path / "m" / "model.safetensors")
    with pytest.raises(ValueError, match=rf"weights in {tmp_path / 'm'} \(model.safetensors\) are damaged"):
        SentenceEncoder(tmp_path / "m", device="cpu")


@pytest.mark.parametrize("keep", [0, 10, 0.5])
def test_a_corrupt_checkpoint_file_is_named(stacked, tmp_path, keep):
    folder = write_checkpoint(
        tmp_path / "checkpoint-1", stacked, trainer_state(1), {"optimizer": {"x": torch.ones(100)}}
    )
    data = (folder / "optimizer.pt").read_bytes()
    (folder / "optimizer.pt").write_bytes(data[: int(keep * len(data)) if keep < 1 else keep])
    with pytest.raises(ValueError, match="optimizer.pt is damaged or truncated"):
        read_checkpoint(folder)
