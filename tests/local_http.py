"""A real HTTP server on 127.0.0.1 serving a test's folder, counting what was fetched."""

from __future__ import annotations

import threading
import time
from collections import Counter
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 whose GET and HEAD requests go to :meth:`answer`; a context manager."""

    def __init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:  # noqa: N802 - the http.server name
                server.answer(self, head=True)

            def do_GET(self) -> None:  # noqa: N802
                server.answer(self, head=False)

            def log_message(self, *args: Any) -> None:  # keep the test output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}"

    def answer(self, handler: BaseHTTPRequestHandler, head: bool) -> None:
        raise NotImplementedError

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class LocalServer:
    """Serves ``root``; ``hits`` counts GET requests per path, ``delay`` slows every answer."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.hits: Counter[str] = Counter()
        self.delay = 0.0
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits[self.path] += 1
                time.sleep(server.delay)
                super().do_GET()

            def log_message(self, *args) -> None:  # keep the test output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, name: str = "") -> str:
        return f"http://{self.address}/{name}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def http_server(tmp_path) -> Iterator[LocalServer]:
    """A server for the files a test puts into ``server.root`` (a fresh folder under tmp_path)."""
    root = tmp_path / "served"
    root.mkdir()
    server = LocalServer(root)
    yield server
    server.close()
