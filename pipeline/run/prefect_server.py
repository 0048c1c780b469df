"""Which Prefect API an audit talks to, and the temporary server started beside the work.

    api = choose_api()                   # PREFECT_API_URL, else a server running on 127.0.0.1:4200, else None
    with TemporaryServer() as server:    # started at once, in its own process
        ...                              # validate, import, load the rubric and classifiers meanwhile
        url = server.wait()              # its API URL once it answers; PolicyAuditError if it cannot start

Prefect starts its own temporary server inside the first flow call and the caller waits for all
of it (7-25 s on two cores). Started here as a subprocess the moment an audit is validated, it
comes up while the rest of the audit gets ready. It is the same server Prefect would start
(``prefect.server.api.server:create_app`` under uvicorn, no UI, SQLite in ``$PREFECT_HOME``) and
it is stopped when the block ends.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from types import TracebackType

import httpx

from pipeline.errors import PolicyAuditError

LOCAL_API = "http://127.0.0.1:4200/api"  # where `prefect server start` listens by default


def healthy(api_url: str, timeout: float = 0.5) -> bool:
    try:
        return httpx.get(api_url.rstrip("/") + "/health", timeout=timeout, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def choose_api() -> str | None:
    """The Prefect API to use: ``PREFECT_API_URL`` when set (checked), else a server already
    running at :data:`LOCAL_API`, else None (then start a :class:`TemporaryServer`)."""
    url = os.environ.get("PREFECT_API_URL")
    if url:
        if not healthy(url, timeout=5.0):
            raise PolicyAuditError(
                f"the Prefect API at PREFECT_API_URL={url} is unreachable. Start it with `prefect server start`, "
                "unset PREFECT_API_URL to use a temporary local server, or run with --no-prefect."
            )
        return url
    if healthy(LOCAL_API, timeout=0.3):
        return LOCAL_API
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TemporaryServer:
    """A Prefect API server for this process only, started in the background."""

    def __init__(self, startup_timeout: float | None = None) -> None:
        self.port = _free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.timeout = startup_timeout or float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90"))
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.ready_after: float | None = None

    def __enter__(self) -> TemporaryServer:
        env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
        env.update({"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"})
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "prefect.server.api.server:create_app",
             "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "error", "--lifespan", "on"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        return self

    def wait(self) -> str:
        """Block until the server answers; its API URL."""
        assert self.process is not None, "use TemporaryServer as a context manager"
        while not healthy(self.api_url, timeout=1.0):
            if self.process.poll() is not None:
                detail = (self.process.stderr.read() if self.process.stderr else b"").decode("utf-8", "replace")[-400:]
                raise PolicyAuditError(
                    f"the temporary Prefect server exited with code {self.process.returncode}: {detail.strip()} "
                    "(start one with `prefect server start`, or run with --no-prefect)"
                )
            if time.monotonic() - self.started > self.timeout:
                raise PolicyAuditError(
                    f"the temporary Prefect server did not start within {self.timeout:g} s "
                    "(raise PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, start one with `prefect server start`, "
                    "or run with --no-prefect)"
                )
            time.sleep(0.1)
        if self.ready_after is None:
            self.ready_after = time.monotonic() - self.started
        return self.api_url

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()
