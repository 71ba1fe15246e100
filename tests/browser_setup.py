"""Set-up for the browser test: Debian's Chromium, a private JupyterLab server, notebooks with small parameters.

Everything here runs on localhost only: the server listens on 127.0.0.1
behind a random token, and its configuration, settings, workspaces and
runtime files live in a temporary folder, so the machine's own Jupyter set-up
neither affects the test nor is touched by it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

from notebook_kernel import KERNEL_NAME, NOTEBOOKS

CHROMIUM = Path("/usr/bin/chromium")
# No GPU, no background traffic, no first-run UI; SwiftShader keeps WebGL (plotly's Scattergl) drawing on the CPU.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--enable-unsafe-swiftshader",
]
#: Seconds one REST call to the server may take (a busy machine answers slowly).
API_S = 30
# JupyterLab would otherwise ask, in a pop-up, whether to fetch news and check for updates. And by default it
# renders only the cells in view (others wait for the browser to skip them or for idle CPU, which a busy machine
# never has): every cell is attached and drawn, so what a test waits for does not depend on scrolling or load.
QUIET_LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


class SetupError(RuntimeError):
    """The browser test's environment could not be prepared (the message says what failed)."""


def ensure_chromium(timeout_s: float = 900) -> Path:
    """Path of Debian's Chromium, installed with apt-get when missing.

    Raises
    ------
    FileNotFoundError
        Chromium is missing and there is no ``apt-get`` to install it.
    SetupError
        ``apt-get`` failed (its output's tail is in the message).
    """
    if CHROMIUM.is_file():
        return CHROMIUM
    if shutil.which("apt-get") is None:
        raise FileNotFoundError(f"{CHROMIUM} is missing and apt-get is not available to install Debian's chromium")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s)
        if done.returncode != 0:
            raise SetupError(
                f"{' '.join(command)} failed (exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )
    if not CHROMIUM.is_file():
        raise SetupError(f"apt-get installed chromium but {CHROMIUM} does not exist")
    return CHROMIUM


def prepare_notebook(name: str, folder: Path, parameters: dict[str, Any]) -> Path:
    """Copy ``notebooks/<name>.ipynb`` into ``folder`` with ``parameters`` injected (as papermill does) and the test kernel.

    Example
    -------
    >>> prepare_notebook("03_train_sts", Path("/tmp/lab"), {"max_train": 64})  # doctest: +SKIP
    PosixPath('/tmp/lab/03_train_sts.ipynb')
    """
    import nbformat
    import papermill

    target = folder / f"{name}.ipynb"
    papermill.execute_notebook(
        NOTEBOOKS / f"{name}.ipynb",
        target,
        parameters=parameters,
        prepare_only=True,
        kernel_name=KERNEL_NAME,
        progress_bar=False,
    )
    nb = nbformat.read(target, as_version=4)
    nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": KERNEL_NAME, "language": "python"}
    nbformat.write(nb, target)
    return target


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class JupyterLab:
    """A JupyterLab server on 127.0.0.1 serving ``root``, for one test session.

    Parameters
    ----------
    root
        The folder the server shows (the prepared notebooks).
    home
        A folder for the server's configuration, settings, workspaces, runtime files and log.
    env
        The environment of the server and its kernels (``JUPYTER_PATH`` must find the test kernel).

    Example
    -------
    >>> with JupyterLab(root, home, env) as lab:                 # doctest: +SKIP
    ...     page.goto(lab.url("lab/tree/03_train_sts.ipynb"))
    """

    def __init__(self, root: Path, home: Path, env: dict[str, str]) -> None:
        self.root, self.home = root, home
        self.port = free_port()
        self.token = secrets.token_hex(16)
        settings = home / "settings"
        for file, values in QUIET_LAB_SETTINGS.items():
            (settings / file).parent.mkdir(parents=True, exist_ok=True)
            (settings / file).write_text(json.dumps(values))
        self.env = {
            **env,
            "JUPYTER_CONFIG_DIR": str(home / "config"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        }
        self.log = home / "server.log"
        self.process: subprocess.Popen | None = None

    def url(self, path: str = "") -> str:
        """``http://127.0.0.1:<port>/<path>`` with the token."""
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path}{sep}token={self.token}"

    def api(self, path: str, method: str = "GET") -> Any:
        """Call the server's REST API; return the decoded JSON (None for an empty answer)."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=API_S) as response:
            body = response.read()
        return json.loads(body) if body else None

    def start(self, timeout_s: float = 120) -> None:
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.open_browser=False",
            "--allow-root",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                command, env=self.env, cwd=self.root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SetupError(f"JupyterLab exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                self.api("status")
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        raise SetupError(f"JupyterLab did not answer on port {self.port} within {timeout_s:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Shut the kernels down through the API, then the server (killed if it does not end in 30 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            self.shutdown_kernels()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # the server is going away anyway; the signal below ends its kernels too
        self.process.terminate()  # SIGTERM: the server stops without asking (SIGINT would ask to confirm)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def shutdown_kernels(self, timeout_s: float = 60) -> None:
        """Shut down every kernel (waiting for any that is still starting)."""
        # In a 1-tuple an empty listing still counts as an answer for wait_until.
        (kernels,) = wait_until(
            lambda: (k,) if (k := self._listing("kernels")) is not None else None,
            timeout_s,
            "the kernels to finish starting",
        )
        for kernel in kernels:
            self.api(f"kernels/{kernel['id']}", method="DELETE")

    def kernel_state(self, notebook: str) -> str | None:
        """Execution state (``idle``, ``busy``, ``starting``) of the kernel of ``notebook``; None when it has none."""
        sessions = self._listing("sessions")
        if sessions is None:
            return "starting"
        return next((s["kernel"]["execution_state"] for s in sessions if s["path"] == notebook), None)

    def _listing(self, what: str) -> list[dict[str, Any]] | None:
        """``api(what)``, or None when there is no answer yet.

        No answer yet: jupyter_server fails to describe a kernel that is still
        starting (error 500), and a loaded machine can answer later than ``API_S``.
        """
        try:
            return self.api(what)
        except urllib.error.HTTPError as error:
            if error.code == 500:
                return None
            raise
        except (TimeoutError, urllib.error.URLError) as error:
            if isinstance(error, TimeoutError) or isinstance(error.reason, TimeoutError):
                return None
            raise

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.is_file() else "(no log)"

    def __enter__(self) -> "JupyterLab":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def wait_until(predicate: Callable[[], Any], timeout_s: float, what: str, every_s: float = 0.5) -> Any:
    """Poll ``predicate()`` until it returns something truthy (returned); ``TimeoutError`` naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every_s)
    raise TimeoutError(f"waited {timeout_s:.0f} s for {what}")
