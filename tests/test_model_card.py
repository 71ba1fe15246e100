"""Model cards: save() writes a README.md for both families; a README the user wrote or edited is never replaced."""

from __future__ import annotations

import json

import pytest
import torch

from workbench import CrossEncoder, SentenceEncoder
from workbench.data import Example
from workbench.evaluation import CrossEncoderCorrelationEvaluator, EmbeddingSimilarityEvaluator
from workbench.io import SAVED_RECORD
from workbench.losses import CosineSimilarityLoss
from workbench.losses.cross import BinaryCrossEntropyLoss
from workbench.training import fit

pytestmark = pytest.mark.usefixtures("one_thread")

PAIRS = [
    ("a man eats food", "a man eats bread"),
    ("a cat sleeps", "the dog barks"),
    ("kids play ball", "children play a game"),
    ("it rains", "a man eats food"),
]
LABELS = [1.0, 0.0, 1.0, 0.0]


def examples() -> list[Example]:
    return [Example(list(pair), label) for pair, label in zip(PAIRS, LABELS)] * 3


@pytest.fixture()
def new_ce(tiny_bert_dir):
    torch.manual_seed(0)
    return CrossEncoder.from_encoder(tiny_bert_dir, num_labels=1, max_length=32, device="cpu")


def test_an_untrained_encoder_card_tells_what_is_known_and_loads_as_it_says(tiny_encoder, tmp_path):
    tiny_encoder.save(tmp_path / "my-model")
    card = (tmp_path / "my-model" / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: sentence-transformers\n")
    assert "# SentenceEncoder saved by sentence-workbench" in card
    assert "| Modules | Transformer → Pooling |" in card
    assert f"| Output dimension | {tiny_encoder.get_sentence_embedding_dimension()} |" in card
    assert "| Max sequence length | 32 |" in card and "| Similarity function | cosine |" in card
    assert "Not trained with sentence-workbench" in card and "## Evaluation" not in card
    assert f"- torch: {torch.__version__}" in card
    # The usage block is code that runs: it loads this folder by its name.
    code = card.split("```python\n", 1)[1].split("```", 1)[0]
    assert 'SentenceEncoder("my-model")' in code
    import os

    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        scope: dict = {}
        exec(code, scope)  # noqa: S102 - the card's own example, on the folder just saved
    finally:
        os.chdir(here)
    assert scope["model"].get_sentence_embedding_dimension() == tiny_encoder.get_sentence_embedding_dimension()
    # A local folder is named by its folder name only, never by a machine's path.
    assert str(tmp_path) not in card
    tiny_encoder.save(tmp_path / "my-model")
    assert (tmp_path / "my-model" / "README.md").read_text() == card  # no dates: the same bytes again


def test_a_trained_encoder_card_lists_data_losses_settings_and_the_last_evaluation(tiny_encoder, tmp_path):
    data = examples()
    evaluator = EmbeddingSimilarityEvaluator([p[0] for p in PAIRS], [p[1] for p in PAIRS], LABELS, name="toy")
    history = fit(
        tiny_encoder,
        [(data, CosineSimilarityLoss(tiny_encoder))],
        evaluator,
        batch_size=4,
        epochs=2,
        lr=1e-4,
        seed=7,
        output_path=tmp_path / "run",
        show_progress_bar=False,
    )
    card = (tmp_path / "run" / "README.md").read_text()
    assert "Trained for" in card and "| CosineSimilarityLoss | CosineSimilarityLoss | 12 |" in card
    assert "| batch_size | 4 |" in card and "| seed | 7 |" in card and "| lr | 0.0001 |" in card
    record = tiny_encoder.training_record
    assert record["steps"] == 6 and record["total_steps"] == 6
    # The folder holds the best model; its card shows the evaluation of that model's step.
    best = history.dropna(subset=[evaluator.primary_metric])
    best = best.loc[best[evaluator.primary_metric].idxmax()]
    assert f"EmbeddingSimilarityEvaluator at step {int(best['step'])}" in card
    assert f"| **{evaluator.primary_metric}** | {best[evaluator.primary_metric]:.4f} |" in card
    # After fit, the record on the model has the last evaluation (that of the final weights).
    last = history.dropna(subset=[evaluator.primary_metric]).iloc[-1]
    assert record["evaluation"]["step"] == int(last["step"]) == 6
    assert record["evaluation"]["metrics"][evaluator.primary_metric] == pytest.approx(last[evaluator.primary_metric])
    # A new fit starts a new record: the earlier run's evaluation is not shown as this one's.
    fit(tiny_encoder, [(data[:4], CosineSimilarityLoss(tiny_encoder))], batch_size=4, show_progress_bar=False)
    assert tiny_encoder.training_record["evaluation"] is None and tiny_encoder.training_record["steps"] == 1


def test_cross_encoder_card_after_training(new_ce, tmp_path):
    evaluator = CrossEncoderCorrelationEvaluator(PAIRS, LABELS, name="toy")
    fit(
        new_ce, [(examples(), BinaryCrossEntropyLoss(new_ce))], evaluator, batch_size=4, seed=1, show_progress_bar=False
    )
    new_ce.save(tmp_path / "ce")
    card = (tmp_path / "ce" / "README.md").read_text()
    assert "# CrossEncoder saved by sentence-workbench" in card
    assert "| Outputs | 1 score |" in card and "| Activation | Sigmoid |" in card
    assert "| Max length (tokens per pair) | 32 |" in card
    assert "| BinaryCrossEntropyLoss | BinaryCrossEntropyLoss | 12 |" in card
    value = new_ce.training_record["evaluation"]["metrics"][evaluator.primary_metric]
    assert f"| **{evaluator.primary_metric}** | {value:.4f} |" in card
    assert 'CrossEncoder("ce")' in card
    assert CrossEncoder(tmp_path / "ce", device="cpu").num_labels == 1  # the README does not disturb loading


def test_a_readme_the_user_wrote_is_never_replaced(tiny_encoder, new_ce, tmp_path):
    for model, folder in ((tiny_encoder, tmp_path / "bi"), (new_ce, tmp_path / "ce")):
        folder.mkdir()
        (folder / "README.md").write_text("my own notes")
        model.save(folder)
        model.save(folder)
        assert (folder / "README.md").read_text() == "my own notes"
        assert "README.md" not in json.loads((folder / SAVED_RECORD).read_text())["files"]


def test_the_librarys_own_readme_is_updated_but_an_edited_one_stays(tiny_encoder, tmp_path):
    folder = tmp_path / "model"
    tiny_encoder.save(folder)
    record = json.loads((folder / SAVED_RECORD).read_text())
    assert "README.md" in record["files"] and set(record["sha256"]) == {"README.md"}
    tiny_encoder.max_seq_length = 16
    tiny_encoder.save(folder)  # unchanged since the library wrote it: replaced by the new card
    assert "| Max sequence length | 16 |" in (folder / "README.md").read_text()

    edited = (folder / "README.md").read_text() + "\nMy results: great.\n"
    (folder / "README.md").write_text(edited)
    tiny_encoder.max_seq_length = 24
    tiny_encoder.save(folder)
    tiny_encoder.save(folder)
    assert (folder / "README.md").read_text() == edited  # edited by the user: theirs now, kept and never removed
    assert "README.md" not in json.loads((folder / SAVED_RECORD).read_text())["files"]
    assert SentenceEncoder(folder, device="cpu").max_seq_length == 24

    (folder / "README.md").unlink()  # once the user removes it, the library writes its card again
    tiny_encoder.save(folder)
    assert "| Max sequence length | 24 |" in (folder / "README.md").read_text()


def test_a_damaged_digest_record_keeps_the_readme(tiny_encoder, tmp_path):
    folder = tmp_path / "model"
    tiny_encoder.save(folder)
    record = json.loads((folder / SAVED_RECORD).read_text())
    record["sha256"] = "not an object"
    (folder / SAVED_RECORD).write_text(json.dumps(record))
    before = (folder / "README.md").read_text()
    tiny_encoder.max_seq_length = 16
    tiny_encoder.save(folder)  # the record is ignored: nothing proves the README is the library's
    assert (folder / "README.md").read_text() == before
