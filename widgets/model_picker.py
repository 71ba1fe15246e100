"""ModelPicker: choose a zoo model or a local folder; the encoder loads when first used."""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import ipywidgets as w

from workbench import SentenceEncoder
from workbench.zoo import zoo_names

from ._common import WidgetView, error_text


class ModelPicker(WidgetView):
    """A dropdown of the zoo's models and a box for a local model folder (which wins when filled in).

    Parameters
    ----------
    default
        A zoo name, or a local folder (it goes into the folder box).
    device
        Where loaded models run (default: a GPU when there is one).
    names
        The dropdown's choices (default: every zoo model).

    Attributes
    ----------
    dropdown, folder, load_button, status
        The controls; Load loads the chosen model now.

    Example
    -------
    >>> from widgets import ModelPicker
    >>> picker = ModelPicker(default="all-MiniLM-L6-v2")
    >>> picker.source
    'all-MiniLM-L6-v2'
    >>> picker.on_change(lambda source: print("now", source))
    >>> # picker.model is the SentenceEncoder, loaded on first use
    """

    def __init__(
        self, default: str = "all-MiniLM-L6-v2", device: str | None = None, names: Sequence[str] | None = None
    ) -> None:
        names = list(names) if names is not None else zoo_names()
        in_zoo = default in names
        if not in_zoo and not Path(default).expanduser().is_dir():
            raise ValueError(f"default {default!r} is neither one of {names} nor an existing folder")
        self.device = device
        self._callbacks: list[Callable[[str], Any]] = []
        self._loaded: tuple[str, SentenceEncoder] | None = None
        self.dropdown = w.Dropdown(
            options=names, value=default if in_zoo else names[0] if names else None, description="model"
        )
        self.folder = w.Text(
            value="" if in_zoo else default, placeholder="or a local model folder", continuous_update=False
        )
        self.load_button = w.Button(description="Load", icon="download")
        self.status = w.HTML()
        self.dropdown.observe(self._changed, names="value")
        self.folder.observe(self._changed, names="value")
        self.load_button.on_click(self._load_clicked)
        self.widget = w.VBox([w.HBox([self.dropdown, self.folder, self.load_button]), self.status]).add_class(
            "wb-model-picker"
        )
        self._show_choice()

    @property
    def source(self) -> str:
        """What loads: the folder when one is typed in, else the dropdown's zoo name."""
        return self.folder.value.strip() or self.dropdown.value

    @property
    def model(self) -> SentenceEncoder:
        """The chosen encoder, loaded on first use (and again only when the choice changes).

        A failure is raised and also shown in the status line, which would otherwise still say "loading".
        """
        source = self.source
        if self._loaded is None or self._loaded[0] != source:
            try:
                self._loaded = (source, self._load(source))
            except Exception as err:
                self.status.value = error_text(f"cannot load {source}", err)
                raise
        return self._loaded[1]

    def on_change(self, callback: Callable[[str], Any]) -> None:
        """Call ``callback(source)`` whenever the choice changes (before anything loads)."""
        self._callbacks.append(callback)

    def _load(self, source: str) -> SentenceEncoder:
        if self.folder.value.strip() and not Path(source).expanduser().is_dir():
            raise FileNotFoundError(
                f"model folder {source!r} does not exist; type an existing folder or clear the box to use the zoo model"
            )
        self.status.value = html.escape(f"loading {source}…")
        started = time.perf_counter()
        model = SentenceEncoder(source, device=self.device)
        # A model trained with prompts (e5's "query: "/"passage: ") encodes plain text without them: say so.
        prompts = f", prompts {', '.join(sorted(model.prompts))} (prompt_name=, encode_query)" if model.prompts else ""
        self.status.value = html.escape(
            f"loaded {source}: {model.get_sentence_embedding_dimension()}-d embeddings{prompts}, "
            f"{time.perf_counter() - started:.1f} s"
        )
        return model

    def _load_clicked(self, _button: Any) -> None:
        # A click has no caller to raise to: whatever went wrong (a missing folder, a malformed
        # modules.json, truncated weights, ...) is in the status line already, so nothing escapes.
        try:
            self.model  # noqa: B018  (the property loads, and reports into the status line)
        except Exception:
            pass

    def _changed(self, _change: Any) -> None:
        self._loaded = None  # free the old model; the new one loads when used
        self._show_choice()
        for callback in self._callbacks:
            callback(self.source)

    def _show_choice(self) -> None:
        source = self.source
        if self.folder.value.strip() and not Path(source).expanduser().is_dir():
            self.status.value = html.escape(f"no folder {source!r}")
        else:
            self.status.value = html.escape(f"{source} (loads when first used)")
