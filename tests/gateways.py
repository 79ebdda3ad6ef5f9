"""A real Jupyter Kernel Gateway or Enterprise Gateway for tests: started on 127.0.0.1 with a random port
and an auth token, listing its kernels, and stopped (with its kernels) afterwards.

Enterprise Gateway 3.x needs jupyter_client<7 and jupyter_server<2, which nbplane's own dependencies rule
out, so it cannot live in nbplane's venv: it runs from its own, named by NBPLANE_TEST_ENTERPRISE_GATEWAY
(the path of that venv's `jupyter-enterprisegateway`), or else made here once, at first use, as `.venv-eg` in
the checkout (pip from PyPI; the tests skip, saying why, when that cannot be done)."""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

EG_ENV = "NBPLANE_TEST_ENTERPRISE_GATEWAY"
EG_MISSING = (
    "Jupyter Enterprise Gateway is not installed: jupyter-enterprise-gateway 3.x requires jupyter_client<7 and "
    "jupyter_server<2, which conflict with nbplane's jupyter-client>=8.6, so it needs its own venv; set "
    f"{EG_ENV} to that venv's jupyter-enterprisegateway, or let the tests make .venv-eg (that failed here)"
)
EG_REQUIREMENTS = ("jupyter-enterprise-gateway>=3.2,<4", "ipykernel>=6.29,<7")


@dataclass
class RunningGateway:
    kind: str
    url: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def kernels(self) -> list[dict[str, object]]:
        response = httpx.get(f"{self.url}/api/kernels", headers=self.headers, timeout=30)
        response.raise_for_status()
        return list(response.json())

    def crash(self) -> None:
        """SIGKILL the gateway, and its kernels with it (nothing of a test may outlive it)."""
        children = psutil.Process(self.process.pid).children(recursive=True)
        self.process.kill()
        self.process.wait(30)
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def executable(kind: str) -> str | None:
    """The gateway's command, or None when it is not installed here."""
    if kind == "kernelgateway":
        path = Path(sys.executable).parent / "jupyter-kernelgateway"
        return str(path) if path.exists() else None
    path_text = os.environ.get(EG_ENV)
    if path_text:
        return path_text if Path(path_text).exists() else None
    return _enterprise_gateway_venv()


@functools.cache
def _enterprise_gateway_venv() -> str | None:
    """`.venv-eg/bin/jupyter-enterprisegateway` in the checkout, made on first use (about a minute, once)."""
    venv = Path(__file__).resolve().parents[1] / ".venv-eg"
    command = venv / "bin" / "jupyter-enterprisegateway"
    if not command.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, capture_output=True)
            pip = [str(venv / "bin" / "pip"), "install", "-q", *EG_REQUIREMENTS]
            subprocess.run(pip, check=True, capture_output=True, timeout=600)
        except (OSError, subprocess.SubprocessError):
            return None
    return str(command) if command.exists() else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_gateway(
    kind: str, workdir: Path, *, timeout: float = 120.0, port: int | None = None, token: str | None = None
) -> RunningGateway:
    command = executable(kind)
    if command is None:
        raise RuntimeError(f"{kind} is not installed")
    app = "KernelGatewayApp" if kind == "kernelgateway" else "EnterpriseGatewayApp"
    port, token = port or _free_port(), token or secrets.token_hex(16)
    args = [
        command,
        f"--{app}.ip=127.0.0.1",
        f"--{app}.port={port}",
        f"--{app}.auth_token={token}",
        f"--{app}.port_retries=0",
    ]
    args.append(
        "--JupyterWebsocketPersonality.list_kernels=True" if kind == "kernelgateway" else f"--{app}.list_kernels=True"
    )
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"{kind}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NBPLANE_", "JUPYTER_"))}
    with log.open("wb") as out:
        process = subprocess.Popen(args, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, env=env)
    running = RunningGateway(kind, f"http://127.0.0.1:{port}", token, process, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{kind} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{running.url}/api/kernelspecs", headers=running.headers, timeout=5).status_code == 200:
                return running
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    running.stop()
    raise RuntimeError(f"{kind} did not answer within {timeout} s: {log.read_text()[-2000:]}")
