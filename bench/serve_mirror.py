"""Serve the data mirror over HTTP in the layout ``WORKBENCH_DATA_URL`` expects, for a run through the download path.

Builds a folder of symlinks ``<host>/<path>`` -> mirror file and serves it on 127.0.0.1, so a workbench
with ``WORKBENCH_DATA_DIR`` unset downloads from it as it would from the public sources.

Served by default: every registered file whose URL is set and whose mirror copy has the registry's SHA-256,
that is the upstream bytes themselves.  ``--stand-in NAME`` also serves a data set's mirror-built file at the
URL of the source that provides its layout (``provides`` in the registry), e.g. ``stsb``'s
``stsbenchmark.tsv.gz`` at ``sbert.net/datasets/stsbenchmark.tsv.gz``: the same layout, but the mirror's
bytes, not the source's.  A source with a published checksum the mirror file does not match is never served.

Example::

    python bench/serve_mirror.py --mirror ../shared/datasets --stand-in stsb --port 8765
    # in another shell:
    WORKBENCH_DATA_DIR= WORKBENCH_DATA_URL=http://127.0.0.1:8765 papermill notebooks/02_sts_evaluation.ipynb out.ipynb
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import tempfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from common import REPO  # also puts the checkout on sys.path
from workbench.data.registry import load_registry
from workbench.data.sources import _url_path
from workbench.download import sha256_file


def _matches(path: Path, spec: dict) -> bool:
    """Whether ``path`` has the checksum ``spec`` publishes (True when it publishes none)."""
    if "sha256" in spec:
        return sha256_file(path) == spec["sha256"]
    if "md5" in spec:
        return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest() == spec["md5"]
    return True


def mirror_layout(mirror: Path, stand_ins: frozenset[str] = frozenset()) -> dict[str, tuple[Path, str]]:
    """``host/path`` -> (mirror file, why it may be served) for every file the mirror can serve."""
    registry = load_registry()
    unknown = sorted(stand_ins - set(registry))
    if unknown:
        raise SystemExit(f"--stand-in: unknown data sets {unknown}; known: {sorted(registry)}")
    served: dict[str, tuple[Path, str]] = {}
    for name, entry in registry.items():
        for key, spec in entry["files"].items():
            local = mirror / key
            if spec.get("url") and local.is_file() and sha256_file(local) == spec["sha256"]:
                served[_url_path(spec["url"])] = (local, "upstream bytes (registry sha256)")
        if name not in stand_ins:
            continue
        for source in entry.get("sources", []):
            for rel, role in source.get("provides", {}).items():
                spec, local = source["files"][role], mirror / rel
                if "url" in spec and "extract" not in spec and local.is_file() and _matches(local, spec):
                    served[_url_path(spec["url"])] = (
                        local,
                        f"stand-in: the mirror's {rel}, not {source['id']}'s bytes",
                    )
    return served


def build(folder: Path, served: dict[str, tuple[Path, str]]) -> None:
    """Write the symlinks ``folder/<host>/<path>`` -> mirror file."""
    for url_path, (local, _) in served.items():
        link = folder / url_path
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(local.resolve())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirror", type=Path, default=REPO.parent / "shared" / "datasets", help="the data mirror")
    parser.add_argument(
        "--stand-in",
        action="append",
        default=[],
        metavar="NAME",
        help="also serve this data set's mirror-built file in its source's layout",
    )
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    args = parser.parse_args()
    served = mirror_layout(args.mirror, frozenset(args.stand_in))
    with tempfile.TemporaryDirectory(prefix="mirror-as-web-") as tmp:
        build(Path(tmp), served)
        handler = functools.partial(SimpleHTTPRequestHandler, directory=tmp)
        with ThreadingHTTPServer(("127.0.0.1", args.port), handler) as server:
            stand = {path: why for path, (_, why) in served.items() if why.startswith("stand-in")}
            print(f"serving {len(served)} files ({len(stand)} stand-ins) from {tmp}", flush=True)
            for path, why in stand.items():
                print(f"  {path}: {why}", flush=True)
            print(f"WORKBENCH_DATA_URL=http://127.0.0.1:{server.server_address[1]}", flush=True)
            server.serve_forever()


if __name__ == "__main__":
    main()
