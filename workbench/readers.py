"""sentence-transformers' ``readers``: the data sets' original files as examples (see :mod:`workbench.compat`).

Example
-------
>>> from workbench.readers import STSBenchmarkDataReader, NLIDataReader, LabelSentenceReader, InputExample
"""

from .compat import InputExample, LabelSentenceReader, NLIDataReader, STSBenchmarkDataReader

__all__ = ["InputExample", "STSBenchmarkDataReader", "NLIDataReader", "LabelSentenceReader"]
