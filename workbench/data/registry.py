"""The data-set registry: where each data set's files are, how to check and fetch them, how to read them.

``registry.json`` lists every data set by name with its files (paths
relative to the data folder, SHA-256, download URL), format, license,
reader and public ``sources``.  A data set is looked for, in this order:

1. the folder named by ``WORKBENCH_DATA_DIR`` (e.g. a mirror of the data sets;
   :func:`workbench.paths.use_data_mirror` sets it to the mirror beside a checkout);
2. the cache, ``cache_dir("datasets")``;
3. its registered files' URLs, downloaded into the cache and checked against
   their SHA-256 (files the mirror built itself, ``"url": null``, have none);
4. its ``sources``, in registry order: first those whose files have the
   registered layout (``provides``; :func:`dataset_path` uses them too), then
   those read by a reader of their own upstream format (``reader``).  See
   :mod:`workbench.data.sources` for checksums, trust on first use,
   ``WORKBENCH_DATA_URL`` and the hub.

When all fail, the :class:`~workbench.data.sources.DataSourceError` lists
every place tried and why it failed.

Example
-------
>>> from workbench.data import load_dataset
>>> test = load_dataset("stsb", split="test", normalize=True)  # doctest: +SKIP
>>> len(test)  # doctest: +SKIP
1379
"""

from __future__ import annotations

import fnmatch
import posixpath
import string
from pathlib import Path
from typing import Any, Callable

from ..hooks import Hooks
from ..io import read_json
from ..paths import DATA_DIR_ENV, cache_dir, data_dir
from . import readers
from .sources import SOURCE_ERRORS, DataSourceError, describe, fetch_file, fetch_url

REGISTRY_NAME = "registry.json"
# Every data-set file or folder handed out in this process, first read first: the reproducibility record's data.
_READ: dict[Path, None] = {}


def files_read() -> list[Path]:
    """The data-set files and folders this process read through the registry, first read first, each once.

    :func:`workbench.reproducibility.reproducibility_record` checksums them.

    Example
    -------
    >>> path = dataset_path("stsb")  # doctest: +SKIP
    >>> path in files_read()  # doctest: +SKIP
    True
    """
    return list(_READ)


def _read(path: Path) -> Path:
    _READ[path.resolve()] = None
    return path


def registry_file() -> Path:
    """The registry JSON: beside this module when installed, else ``data/registry.json`` of the checkout."""
    here = Path(__file__).resolve().parent
    candidates = (here / REGISTRY_NAME, here.parents[1] / "data" / REGISTRY_NAME)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"data-set registry not found; looked at {[str(c) for c in candidates]}")


def load_registry() -> dict[str, dict[str, Any]]:
    """Data-set name -> entry, freshly read from :func:`registry_file`.

    Example
    -------
    >>> "stsb" in load_registry()
    True
    """
    return read_json(registry_file())["datasets"]


def _entry(name: str) -> dict[str, Any]:
    registry = load_registry()
    if name not in registry:
        raise KeyError(f"unknown data set {name!r}; known data sets: {sorted(registry)}")
    return registry[name]


def _relpath(name: str, entry: dict[str, Any], file: str) -> str:
    """The registry key for ``file``, given relative to the data folder or to the data set's folder."""
    keys = [*entry["files"]]
    folders: list[str] = []  # what sources provide: a file, or (unpacked archives) a folder with anything inside
    for source in entry.get("sources", []):
        for rel, role in source.get("provides", {}).items():
            (folders if "extract" in source["files"][role] else keys).append(rel)
    candidates = (f"{entry['path']}/{file}", file)
    for candidate in candidates:
        if any(key == candidate or key.startswith(candidate + "/") for key in keys + folders):
            return candidate
    for candidate in candidates:
        if any(candidate.startswith(folder + "/") for folder in folders):
            return candidate
    known = sorted(entry["files"])
    shown = known if len(known) <= 12 else known[:12] + [f"... ({len(known) - 12} more)"]
    raise KeyError(f"data set {name!r} has no file {file!r}; its files: {shown}")


def dataset_path(name: str, file: str | None = None, hooks: Hooks | None = None) -> Path:
    """Local path of a data set, or of one file or subfolder of it, fetching it when needed.

    Parameters
    ----------
    name
        A registry name, e.g. ``"stsb"``, ``"senteval"``.
    file
        A file or subfolder, relative to the data set's folder (``"MR"`` for
        ``senteval``) or to the data folder; None means the data set's ``path``.
    hooks
        Receives the download progress events.

    Returns
    -------
    Path
        A file, or a folder all of whose registered files are present.

    Raises
    ------
    KeyError
        Unknown data set (the message lists the known ones) or file.
    DataSourceError
        (a FileNotFoundError) Neither local nor downloadable from any
        source; the message lists each place tried and why it failed.

    Example
    -------
    >>> dataset_path("senteval", "MR")  # doctest: +SKIP
    PosixPath('/data/mirror/senteval/MR')
    """
    entry = _entry(name)
    rel = entry["path"] if file is None else _relpath(name, entry, file)
    wanted = {key: spec for key, spec in entry["files"].items() if key == rel or key.startswith(rel + "/")}
    try:
        return _read(_registered(name, wanted, rel, hooks))
    except DataSourceError as err:
        tried = err.tried
    for source in entry.get("sources", []):
        for provided, role in source.get("provides", {}).items():
            if rel != provided and not rel.startswith(provided + "/"):
                continue
            try:
                path = fetch_file(source["files"][role], hooks) / posixpath.relpath(rel, provided)
            except SOURCE_ERRORS as err:
                tried.append(f"source {source['id']} ({describe(source['files'][role])}): {err}")
                continue
            if path.exists():
                return _read(path)
            tried.append(f"source {source['id']}: has no {posixpath.relpath(rel, provided)}")
    raise DataSourceError(f"{rel} of data set {name!r}", tried)


def _registered(name: str, wanted: dict[str, dict[str, Any]], rel: str, hooks: Hooks | None) -> Path:
    """``rel`` from the data folder, the cache, or the registered URLs of the files ``wanted`` under it."""
    if not wanted:
        raise DataSourceError(
            rel, [f"registered files: data set {name!r} registers none under {rel} (it comes from its sources only)"]
        )
    tried = []
    folder = data_dir()
    if folder is None:
        tried.append(f"data folder: {DATA_DIR_ENV} is not set")
    # A folder comes wholly from one root, so its files always sit together.
    roots = [root for root in (folder, cache_dir("datasets")) if root is not None]
    for root in roots:
        missing = [key for key in wanted if not (root / key).is_file()]
        if not missing:
            return root / rel
        tried.append(
            f"{'data folder' if root == folder else 'cache'} {root}: lacks {missing[0]}"
            + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
        )
    cache = roots[-1]
    for key, spec in wanted.items():
        target = cache / key
        if target.is_file():
            continue
        if not spec.get("url"):
            tried.append(
                f"registered URL: {key} of data set {name!r} has no download URL (the mirror built it from "
                f"{spec.get('built_from', 'its sources')}); set {DATA_DIR_ENV} to a folder holding it"
            )
            raise DataSourceError(f"{rel} of data set {name!r}", tried)
        try:
            fetch_url(spec["url"], sha256=spec["sha256"], hooks=hooks, dest=target)
        except SOURCE_ERRORS as err:
            tried.append(f"registered URL {describe(spec)}: {err}")
            raise DataSourceError(f"{rel} of data set {name!r}", tried) from None
    return cache / rel


def _registered_glob(name: str, entry: dict[str, Any], pattern: str, hooks: Hooks | None) -> Path:
    """The folder of the registered files matching ``pattern`` (all in one folder), fetched as needed."""
    wanted = {key: spec for key, spec in entry["files"].items() if fnmatch.fnmatchcase(key, pattern)}
    folder = posixpath.dirname(pattern)
    return _registered(name, wanted, folder, hooks)


def _fill(name: str, template: str, values: dict[str, Any], entry: dict[str, Any]) -> str:
    """Put ``values`` into a file template like ``"stsb-multi-mt/stsb-{lang}-{split}.csv"``."""
    fields = dict.fromkeys(f for _, f, _, _ in string.Formatter().parse(template) if f)
    missing = [f for f in fields if values.get(f) is None]
    if missing:
        choices = {
            f: list(entry.get({"lang": "languages", "split": "splits", "task": "tasks"}[f], ())) for f in missing
        }
        raise ValueError(f"load_dataset({name!r}) needs {', '.join(f'{f}=...' for f in missing)}; choices: {choices}")
    return template.format(**values)


def _check_split(name: str, entry: dict[str, Any], split: str | None) -> None:
    if split is not None and "splits" in entry and split not in entry["splits"]:
        raise ValueError(f"data set {name!r} has no split {split!r}; splits: {list(entry['splits'])}")


def _file(name: str, entry: dict[str, Any], values: dict[str, Any], hooks: Hooks | None) -> Path:
    return dataset_path(name, _fill(name, entry["load"]["file"], values, entry), hooks)


def _load_split_reader(reader: Callable[..., Any]) -> Callable[..., Any]:
    """Loader for a single-file reader that takes the split itself."""
    return lambda name, entry, split, hooks, **kw: reader(_file(name, entry, {}, hooks), split, **kw)


def _load_stsb_multi_mt(name, entry, split, hooks, lang=None, **kw):
    values = {**entry["load"].get("defaults", {}), "split": split}
    if lang is not None:
        values["lang"] = lang
    return readers.read_stsb_multi_mt(_file(name, entry, values, hooks), **kw)


def _load_sts17(name, entry, split, hooks, **kw):
    return readers.read_sts17(_file(name, entry, {}, hooks), **kw)


def _load_parallel(name, entry, split, hooks, lang=None):
    values = {"lang": lang}
    if lang is not None and lang not in entry["languages"]:
        raise ValueError(f"data set {name!r} has no language {lang!r}; languages: {entry['languages']}")
    paths = [dataset_path(name, _fill(name, t, values, entry), hooks) for t in entry["load"]["files"]]
    return readers.read_parallel_files(*paths)


def _load_quora(name, entry, split, hooks):
    return readers.read_quora_duplicates(_file(name, entry, {}, hooks))


def _judged(data: readers.BeirData) -> readers.BeirData:
    """Only the queries judged in the split (BEIR's queries.jsonl holds every split's queries)."""
    return readers.BeirData(data.corpus, {q: t for q, t in data.queries.items() if q in data.relevant}, data.relevant)


def _load_beir(name, entry, split, hooks):
    return _judged(readers.read_beir(dataset_path(name, entry["load"]["folder"], hooks), split or "test"))


def _load_labelled_text(name, entry, split, hooks, **kw):
    args = {**entry["load"].get("args", {}), **kw}
    if isinstance(args.get("label_type"), str):
        args["label_type"] = {"int": int, "float": float, "str": str}[args["label_type"]]
    return readers.read_labelled_text(_file(name, entry, {"split": split}, hooks), **args)


def _load_senteval(name, entry, split, hooks, task=None):
    task = readers.senteval_task_name(_fill(name, "{task}", {"task": task}, entry))
    folder = dataset_path(name, _fill(name, entry["load"]["folder"], {"task": task}, entry), hooks)
    result = readers.read_senteval(folder.parent, task)
    if split is None:
        return result
    if split not in result.splits:
        raise ValueError(f"SentEval task {task} has no split {split!r}; splits: {list(result.splits)}")
    return result.splits[split]


#: registry ``reader`` -> loader(name, entry, split, hooks, **kwargs).
LOADERS: dict[str, Callable[..., Any]] = {
    "sts_benchmark": _load_split_reader(readers.read_sts_benchmark),
    "stsb_multi_mt": _load_stsb_multi_mt,
    "sts17": _load_sts17,
    "nli": _load_split_reader(readers.read_nli),
    "parallel_files": _load_parallel,
    "quora_duplicates": _load_quora,
    "beir": _load_beir,
    "labelled_text": _load_labelled_text,
    "20newsgroups": _load_split_reader(readers.read_20newsgroups),
    "senteval": _load_senteval,
}


def _read_sts_jsonl(files, splits, normalize=False):
    return [ex for split in splits for ex in readers.iter_sts_jsonl(files[split], split, normalize)]


def _read_snli_release(files, splits):
    return [ex for split in splits for ex in readers.iter_snli_jsonl(files["folder"] / f"snli_1.0_{split}.jsonl")]


def _read_allnli_snli(files, splits):
    return [ex for ex in readers.iter_nli(files["data"], dataset="SNLI") if ex.guid.split("-")[0] in splits]


def _read_beir_hub(files, splits):
    (split,) = splits
    return _judged(readers.read_beir_files(files["corpus"], files["queries"], files[f"qrels-{split}"]))


def _read_20newsgroups_archive(files, splits):
    return list(readers.iter_20newsgroups_archive(files["archive"], splits[0] if len(splits) == 1 else None))


#: source ``reader`` -> reader(files: role -> local path, splits: the splits asked for, **kwargs).
SOURCE_READERS: dict[str, Callable[..., Any]] = {
    "sts_jsonl": _read_sts_jsonl,
    "sts17_files": lambda files, splits, **kw: readers.read_sts17_files(files["folder"], **kw),
    "snli_release": _read_snli_release,
    "allnli_snli": _read_allnli_snli,
    "beir_hub": _read_beir_hub,
    "20newsgroups_archive": _read_20newsgroups_archive,
}


def _source_file(name: str, entry: dict[str, Any], spec: dict[str, Any], hooks: Hooks | None) -> Path:
    if "registered" in spec:
        return _registered_glob(name, entry, spec["registered"], hooks)
    return fetch_file(spec, hooks)


def _from_sources(
    name: str, entry: dict[str, Any], split: str | None, hooks: Hooks | None, tried: list[str], **kwargs: Any
) -> Any:
    """Read the data set from the first of its reader sources that can be fetched."""
    splits = [split] if split is not None else list(entry.get("splits", ()))
    for source in entry.get("sources", []):
        if "reader" not in source:
            continue  # sources in the registered layout were tried through dataset_path
        try:
            files = {role: _source_file(name, entry, spec, hooks) for role, spec in source["files"].items()}
        except SOURCE_ERRORS as err:
            tried.append(f"source {source['id']}: {err}")
            continue
        for path in files.values():
            _read(path)
        return SOURCE_READERS[source["reader"]](files, splits, **kwargs)
    raise DataSourceError(f"data set {name!r}", tried)


def load_dataset(name: str, split: str | None = None, hooks: Hooks | None = None, **kwargs: Any) -> Any:
    """Read a registered data set with its reader, fetching its files when needed.

    Parameters
    ----------
    name
        Registry name.
    split
        ``"train"``, ``"dev"``, ``"test"`` as the data set has them; None
        means all rows (or, for SentEval, the whole :class:`~workbench.data.readers.SentEvalTask`).
    hooks
        Receives download progress events.
    **kwargs
        Reader options: ``normalize=True`` (STS scores / 5), ``lang=``
        (stsb-multi-mt, tatoeba, ntrex), ``track=`` (sts17), ``task=`` (senteval).

    Returns
    -------
    list[Example] | BeirData | SentEvalTask

    Example
    -------
    >>> pairs = load_dataset("tatoeba", lang="deu")  # doctest: +SKIP
    >>> mr = load_dataset("senteval", task="MR")  # doctest: +SKIP
    """
    entry = _entry(name)
    _check_split(name, entry, split)
    loader = LOADERS.get(entry["reader"])
    if loader is None:
        raise ValueError(f"data set {name!r} names reader {entry['reader']!r}, which is not one of {sorted(LOADERS)}")
    try:
        return loader(name, entry, split, hooks, **kwargs)
    except DataSourceError as err:
        return _from_sources(name, entry, split, hooks, err.tried, **kwargs)
