"""A stock `jupyter server` as a subprocess on a free port, for the gateway test and the benchmark."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass
class JupyterServer:
    process: subprocess.Popen[bytes]
    url: str
    token: str
    log: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_jupyter_server(root: Path, *args: str, env: dict[str, str] | None = None) -> JupyterServer:
    """Start `python -m jupyter_server` with token auth on 127.0.0.1; `args` add options (e.g. --gateway-url)."""
    root.mkdir(parents=True, exist_ok=True)
    port, token = free_port(), uuid.uuid4().hex
    log = root.parent / f"{root.name}-jupyter.log"
    command = [
        sys.executable,
        "-m",
        "jupyter_server",
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        *args,
    ]
    full_env = {**os.environ, "JUPYTER_CONFIG_DIR": str(root / ".jupyter"), "JUPYTER_RUNTIME_DIR": str(root / ".rt")}
    process = subprocess.Popen(
        command, stdout=log.open("wb"), stderr=subprocess.STDOUT, env={**full_env, **(env or {})}
    )
    server = JupyterServer(process, f"http://127.0.0.1:{port}", token, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jupyter server exited {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{server.url}/api/status", headers=server.headers, timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"jupyter server did not become ready:\n{log.read_text()}")
