"""The record every reader returns and every trainer and evaluator consumes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

Label = float | int | str | None


@dataclass
class Example:
    """One training or evaluation record: one or more texts and an optional label.

    ``texts`` holds one sentence (classification), a pair (STS, NLI,
    paraphrase, parallel text) or a triplet (anchor, positive, negative).

    Parameters
    ----------
    texts
        The sentences; each must be a ``str``.  A tuple is stored as a list.
    label
        A score (float, finite), a class index (int), a class name (str) or None.
    guid
        An identifier from the source file, when it has one.

    Example
    -------
    >>> Example(["A plane is taking off.", "An air plane is taking off."], 1.0)
    Example(texts=['A plane is taking off.', 'An air plane is taking off.'], label=1.0, guid=None)
    >>> Example(["ok", 3])
    Traceback (most recent call last):
    ...
    TypeError: Example.texts[1] must be a str, got int: 3
    """

    texts: list[str] = field(default_factory=list)
    label: Label = None
    guid: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.texts, str):
            raise TypeError(f"Example.texts must be a list of str, got one str: {self.texts[:60]!r}")
        self.texts = list(self.texts)
        for i, text in enumerate(self.texts):
            if not isinstance(text, str):
                raise TypeError(f"Example.texts[{i}] must be a str, got {type(text).__name__}: {text!r:.60}")
        # a NaN score would train and evaluate without complaint, and turn every metric into NaN
        if isinstance(self.label, float) and not math.isfinite(self.label):
            raise ValueError(f"Example.label must be a finite number, got {self.label!r} (texts {self.texts!r:.80})")
