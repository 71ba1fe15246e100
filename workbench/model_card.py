"""Model cards: the ``README.md`` that ``save()`` writes beside the weights, for both model families.

A card says what is known of the model and nothing else: what it was built
from, how it was trained (data sizes, losses, the main settings), the last
evaluation, the library versions, and how to load it.  The trainer keeps
what it knows on the model (:func:`record_training`, as ``model.training_record``),
so a model saved during or after ``fit`` describes its training.

The card is written through :func:`workbench.io.save_into` with
``keep_edited``: a ``README.md`` that the user wrote, or edited after the
library wrote it, is never replaced.  Cards hold no dates, so saving the
same model twice writes the same bytes.
"""

from __future__ import annotations

import math
import platform
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

CARD_NAME = "README.md"
#: Training settings shown on the card, in this order (keys of ``Trainer.settings``).
SHOWN_SETTINGS = (
    "epochs",
    "steps_per_epoch",
    "batch_size",
    "lr",
    "scheduler",
    "warmup_steps",
    "weight_decay",
    "max_grad_norm",
    "precision",
    "seed",
)


def record_training(trainer: Any, metrics: Mapping[str, float] | None = None, fresh: bool = False) -> None:
    """Keep on ``trainer.model`` (as ``training_record``) what its card should say about this training.

    Called by the trainer when training starts (``fresh=True``: an earlier
    run's evaluation is dropped), after each evaluation (``metrics``) and when
    training ends; the last evaluation is kept until a newer one comes.

    Example
    -------
    >>> record_training(trainer, fresh=True)                     # doctest: +SKIP
    >>> trainer.model.training_record["objectives"][0]["loss"]   # doctest: +SKIP
    'CosineSimilarityLoss'
    """
    model = trainer.model
    old = getattr(model, "training_record", None)
    evaluation = None if fresh or not isinstance(old, dict) else old.get("evaluation")
    if metrics is not None:
        evaluator = trainer.evaluator
        evaluation = {
            "evaluator": type(evaluator).__name__,
            "primary_metric": getattr(evaluator, "primary_metric", None),
            "step": trainer.global_step,
            "metrics": {str(k): float(v) for k, v in metrics.items()},
        }
    model.training_record = {
        "objectives": [{"name": o.name, "loss": type(o.loss).__name__, "examples": o.size} for o in trainer.objectives],
        "steps": trainer.global_step,
        "total_steps": trainer.total_steps,
        "settings": {key: trainer.settings[key] for key in SHOWN_SETTINGS if key in trainer.settings},
        "evaluation": evaluation,
    }


def versions() -> dict[str, str]:
    """Python's and the installed libraries' versions (those that are installed)."""
    found = {"python": platform.python_version()}
    for dist in ("sentence-workbench", "torch", "transformers", "tokenizers", "sentence-transformers"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return found


def _cell(value: Any) -> str:
    """``value`` for a Markdown table cell (pipes and line breaks would end the cell)."""
    if isinstance(value, float):
        return f"{value:.4f}" if math.isfinite(value) else str(value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]


def _base_model(source: str | None) -> str | None:
    """The name the model was loaded from; a local folder by its name only (the card must not show a machine's paths)."""
    if not source:
        return None
    return f"{Path(source).name} (a local folder)" if Path(source).is_dir() else source


def _training_lines(record: Mapping[str, Any] | None) -> list[str]:
    if not record:
        return [
            "## Training",
            "",
            (
                "Not trained with sentence-workbench in the session that saved it "
                "(the card of the folder it was loaded from, if any, tells more)."
            ),
            "",
        ]
    rows = [
        (o["name"], o["loss"], "streamed" if o["examples"] is None else f"{o['examples']:,}")
        for o in record["objectives"]
    ]
    lines = [
        "## Training",
        "",
        f"Trained for {record['steps']:,} of {record['total_steps']:,} steps on:",
        "",
        *_table(("objective", "loss", "examples"), rows),
        "",
    ]
    settings = record.get("settings") or {}
    if settings:
        lines += [*_table(("setting", "value"), list(settings.items())), ""]
    evaluation = record.get("evaluation")
    if evaluation:
        primary = evaluation.get("primary_metric")
        rows = [(f"**{key}**" if key == primary else key, value) for key, value in evaluation["metrics"].items()]
        lines += [
            "## Evaluation",
            "",
            f"{evaluation['evaluator']} at step {evaluation['step']:,}"
            + (" (primary metric in bold)" if primary else "")
            + ":",
            "",
            *_table(("metric", "value"), rows),
            "",
        ]
    return lines


def render_card(
    kind: str,
    folder_name: str,
    facts: list[tuple[str, Any]],
    base_model: str | None,
    training: Mapping[str, Any] | None,
    usage: str,
    tags: list[str],
) -> str:
    """The Markdown of a card: YAML front matter, the model's facts, usage, training, evaluation, versions."""
    front = ["---", "library_name: sentence-transformers", "tags:", *[f"- {tag}" for tag in tags]]
    if base_model and "(a local folder)" not in base_model:
        front.append(f"base_model: {base_model}")
    front.append("---")
    title = f"{kind} saved by sentence-workbench" + (f", from {base_model}" if base_model else "")
    facts = [("Base model", base_model or "unknown (built from modules)"), *facts]
    lines = [
        *front,
        "",
        f"# {title}",
        "",
        *_table(("", ""), facts),
        "",
        "## Usage",
        "",
        f"Load it from this folder (`{folder_name}` is its path):",
        "",
        "```python",
        usage,
        "```",
        "",
        *_training_lines(training),
        "## Framework versions",
        "",
        *[f"- {name}: {version}" for name, version in versions().items()],
        "",
    ]
    return "\n".join(lines)


def encoder_card(model: Any, folder_name: str) -> str:
    """The card of a :class:`~workbench.SentenceEncoder`."""
    transformer = model[0] if len(model) else None
    config = getattr(getattr(transformer, "auto_model", None), "config", None)
    source = model.source or getattr(config, "name_or_path", None) or None
    facts = [
        ("Model type", "SentenceEncoder (bi-encoder: one embedding per text)"),
        ("Modules", " → ".join(type(m).__name__ for m in model)),
        ("Max sequence length", model.max_seq_length),
        ("Output dimension", model.get_sentence_embedding_dimension()),
        ("Similarity function", model.similarity_fn_name),
    ]
    usage = (
        f'from workbench import SentenceEncoder\n\nmodel = SentenceEncoder("{folder_name}")\n'
        'embeddings = model.encode(["The weather is lovely today.", "It is sunny outside."])\n'
        "print(model.similarity(embeddings, embeddings))\n\n"
        "# or, with sentence-transformers:\n"
        f'# from sentence_transformers import SentenceTransformer; model = SentenceTransformer("{folder_name}")'
    )
    return render_card(
        "SentenceEncoder",
        folder_name,
        facts,
        _base_model(source),
        getattr(model, "training_record", None),
        usage,
        ["sentence-transformers", "sentence-similarity", "feature-extraction", "sentence-workbench"],
    )


def cross_encoder_card(model: Any, folder_name: str) -> str:
    """The card of a :class:`~workbench.CrossEncoder`."""
    facts = [
        ("Model type", f"CrossEncoder (scores a pair of texts read together; {type(model.model).__name__})"),
        (
            "Outputs",
            "1 score" if model.num_labels == 1 else ", ".join(model.id2label[i] for i in range(model.num_labels)),
        ),
        ("Activation", type(model.activation_fn).__name__),
        ("Max length (tokens per pair)", model.max_length),
    ]
    usage = (
        f'from workbench import CrossEncoder\n\nmodel = CrossEncoder("{folder_name}")\n'
        'scores = model.predict([("How old is the sun?", "The sun is 4.6 billion years old.")])\n'
        'ranking = model.rank("How old is the sun?", ["The sun is 4.6 billion years old.", "Paris is in France."])\n\n'
        "# or, with sentence-transformers:\n"
        f'# from sentence_transformers import CrossEncoder; model = CrossEncoder("{folder_name}")'
    )
    return render_card(
        "CrossEncoder",
        folder_name,
        facts,
        _base_model(model.source),
        getattr(model, "training_record", None),
        usage,
        ["sentence-transformers", "cross-encoder", "text-ranking", "sentence-workbench"],
    )
