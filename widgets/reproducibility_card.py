"""ReproducibilityCard: a run's reproducibility record as a small card, closed until clicked."""

from __future__ import annotations

import html
import os
from typing import Any, Mapping

import ipywidgets as w

from workbench.io import read_json
from workbench.reproducibility import RECORD_KEY

from ._common import WidgetView


class ReproducibilityCard(WidgetView):
    """The record :func:`workbench.reproducibility.write_results` put into a results JSON, as an HTML ``<details>``.

    Closed, it shows one line (workbench, torch and Python versions, the
    commit, the seed); opened, every field, and each data file with its
    SHA-256. Where widgets are not rendered (nbconvert, GitHub) the same card
    shows as plain HTML.

    Parameters
    ----------
    source
        A results JSON path, a results dict holding the record, or the record itself.

    Example
    -------
    >>> from workbench.reproducibility import reproducibility_record
    >>> card = ReproducibilityCard(reproducibility_record(seed=42, registry=False))
    >>> "seed 42" in card.summary and card.html.startswith("<details")
    True
    """

    def __init__(self, source: str | os.PathLike | Mapping[str, Any]) -> None:
        record = read_json(source) if isinstance(source, (str, os.PathLike)) else source
        if RECORD_KEY in record:
            record = record[RECORD_KEY]
        if not isinstance(record, Mapping) or "versions" not in record:
            where = source if isinstance(source, (str, os.PathLike)) else "the dict given"
            raise ValueError(
                f"{where} holds no reproducibility record; write results with workbench.reproducibility.write_results"
            )
        self.record = dict(record)
        self.summary = _summary(self.record)
        self.html = _card(self.record, self.summary)
        self.widget = w.HTML(self.html).add_class("wb-reproducibility")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        return {**bundle, "text/html": self.html} if bundle else bundle


def _summary(record: Mapping[str, Any]) -> str:
    versions = record["versions"]
    parts = [f"{name} {versions[name]}" for name in ("workbench", "torch", "python") if name in versions]
    commit = record.get("git_commit")
    parts.append(f"commit {commit[:10]}{' (modified)' if record.get('git_dirty') else ''}" if commit else "no commit")
    if record.get("seed") is not None:
        parts.append(f"seed {record['seed']}")
    return " · ".join(parts)


def _card(record: Mapping[str, Any], summary: str) -> str:
    cpu, threads = record.get("cpu", {}), record.get("threads", {})
    fields = {
        "created (UTC)": record.get("created"),
        "libraries": ", ".join(f"{name} {version}" for name, version in record["versions"].items()),
        "platform": record.get("platform"),
        "CPU": f"{cpu.get('model')} · {cpu.get('cores')} cores · flags {', '.join(cpu.get('flags', [])) or 'none'}"
        f" · torch uses {cpu.get('torch_capability')}",
        "GPU": ", ".join(f"{gpu['name']} ({gpu['memory_gib']} GiB)" for gpu in record.get("gpus", [])) or "none",
        "threads": ", ".join(f"{name} {n}" for name, n in threads.items()),
        "environment": ", ".join(f"{k}={v}" for k, v in record.get("environment", {}).items()) or "none set",
        "seed": record.get("seed"),
        "git commit": record.get("git_commit") or "not a git checkout (or no git)",
        "modified files": record.get("git_dirty"),
    }
    rows = "".join(f"<tr>{_th(k)}<td>{html.escape(str(v))}</td></tr>" for k, v in fields.items())
    files = "".join(
        f"<tr><td>{html.escape(f['path'])}</td><td>{f['bytes']:,}</td><td><code>{html.escape(f['sha256'])}</code></td></tr>"
        for f in record.get("data_files", [])
    )
    head = f"<tr>{_th('data file')}{_th('bytes')}{_th('sha256')}</tr>"
    data = f"<table><thead>{head}</thead><tbody>{files}</tbody></table>" if files else "<p>no data files recorded</p>"
    return (
        '<details class="wb-reproducibility-card" style="font-size: 12px; overflow-x: auto">'
        f"<summary>Reproducibility: {html.escape(summary)}</summary><table>{rows}</table>{data}</details>"
    )


def _th(text: str) -> str:
    # Left-aligned like the cells below or beside it (JupyterLab's own style right-aligns header cells).
    return f'<th style="text-align: left">{html.escape(text)}</th>'
