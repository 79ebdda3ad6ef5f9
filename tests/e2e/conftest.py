"""A real `nbplane serve` over HTTPS, and the official SDK and CLI pointed at it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import oci
import psutil
import pytest
from aidp_python_client.aidataplatform_dp import NotebookClient

from tests.conftest import SKIP_NO_POSTGRES, PostgresDatabases
from tests.signing import OciAuth

pytestmark = pytest.mark.e2e


@dataclass
class Server:
    data_dir: Path
    process: subprocess.Popen[bytes]
    endpoint: str = ""
    ca_bundle: str = ""
    oci_config: str = ""
    profile: str = "DEFAULT"
    instance_id: str = ""
    workspace_key: str = ""
    log: Path = field(default_factory=Path)
    database_url: str | None = None
    _session_profiles: set[str] = field(default_factory=set)

    def sdk(self, **kwargs: Any) -> NotebookClient:
        config = oci.config.from_file(self.oci_config, self.profile)
        return NotebookClient(config, service_endpoint=self.endpoint, **kwargs)

    def cli(self, *args: str, check: bool = False, auth: str = "api_key") -> subprocess.CompletedProcess[str]:
        """Run the official `aidp` CLI against this server (`auth="security_token"`: a `nbplane auth session`
        profile)."""
        aidp = shutil.which("aidp", path=os.path.dirname(sys.executable)) or "aidp"
        profile = self.session_profile() if auth == "security_token" else self.profile
        command = [
            aidp,
            "--config-file",
            self.oci_config,
            "--profile",
            profile,
            "--auth",
            auth,
            "--endpoint",
            self.endpoint,
            "--instance-id",
            self.instance_id,
            *args,
        ]
        env = {**os.environ, "REQUESTS_CA_BUNDLE": self.ca_bundle}
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"aidp {args} exited {result.returncode}: {result.stderr}")
        return result

    def signer(self) -> oci.signer.Signer:
        config = oci.config.from_file(self.oci_config, self.profile)
        return oci.signer.Signer(
            config["tenancy"], config["user"], config["fingerprint"], private_key_file_location=config["key_file"]
        )

    def session_profile(self, profile: str = "SESSION") -> str:
        """Write (once) a security_token profile with `nbplane auth session`."""
        if profile not in self._session_profiles:
            self.nbplane("auth", "session", "--profile", profile)
            self._session_profiles.add(profile)
        return profile

    def nbplane(self, *args: str) -> str:
        """Run an `nbplane` command against this server's data dir and database; its stdout."""
        command = [sys.executable, "-m", "nbplane", *args, "--data-dir", str(self.data_dir)]
        if self.database_url:
            command += ["--database-url", self.database_url]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise AssertionError(f"nbplane {args} exited {result.returncode}: {result.stderr}")
        return result.stdout.strip()

    def http(self, *, signed: bool = True) -> httpx.Client:
        """An httpx client for raw requests, signed with the bootstrap API key unless `signed=False`."""
        if signed:
            return httpx.Client(
                base_url=self.endpoint,
                verify=ssl.create_default_context(cafile=self.ca_bundle),
                timeout=60,
                auth=OciAuth(self.signer()),
            )
        return httpx.Client(
            base_url=self.endpoint, verify=ssl.create_default_context(cafile=self.ca_bundle), timeout=60
        )

    @property
    def notebook_path(self) -> str:
        """The workspace's Jupyter-Server-style base URL path (`…/notebook`)."""
        return f"/20260430/aiDataPlatforms/{self.instance_id}/workspaces/{self.workspace_key}/notebook"

    @property
    def sessions_path(self) -> str:
        return f"/20260430/aiDataPlatforms/{self.instance_id}/workspaces/{self.workspace_key}/notebook/api/sessions"

    def kernel_processes(self) -> list[psutil.Process]:
        """ipykernel processes started from this server's data dir (they outlive the server process, so
        they are found by their connection file under `<data-dir>/runtime`, not as its children)."""
        return kernel_processes_under(self.data_dir / "runtime")


def kernel_processes_under(folder: Path) -> list[psutil.Process]:
    """Live (non-zombie) ipykernel processes whose connection file lies under `folder` (a sandboxed kernel's
    bubblewrap parent names the file too, and is not counted)."""
    marker = str(folder)
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            cmdline = proc.info.get("cmdline") or []
            if any("ipykernel" in part for part in cmdline) and any(marker in part for part in cmdline):
                if proc.status() != psutil.STATUS_ZOMBIE and proc.name() != "bwrap":
                    found.append(proc)
        except psutil.NoSuchProcess:
            continue
    return found


@pytest.fixture(scope="session", autouse=True)
def _no_leftover_kernels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Kernels outlive their servers by design; whatever a test left running under this run's temp dir is
    killed at the end of the run."""
    yield
    base = tmp_path_factory.getbasetemp()
    for proc in kernel_processes_under(base):
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()


def start_server(
    data_dir: Path, database_url: str | None = None, *extra: str, env: dict[str, str] | None = None
) -> Server:
    """`nbplane serve` with authentication on (as users run it); `extra` are more serve options and `env`
    adds NBPLANE_* settings (e.g. NBPLANE_KERNEL_RESTART_LIMIT). Test servers stop their kernels on SIGTERM
    (`NBPLANE_KERNELS_ON_STOP=stop`) unless `env` says otherwise, so no test leaves kernels behind."""
    log = data_dir.parent / f"{data_dir.name}.log"
    command = [sys.executable, "-m", "nbplane", "serve", "--data-dir", str(data_dir), "--port", "0", *extra]
    if database_url:
        command += ["--database-url", database_url]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NBPLANE_KERNELS_ON_STOP": "stop", **(env or {})}
    handle = log.open("wb")
    process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env)
    server = Server(data_dir=data_dir, process=process, log=log, database_url=database_url)
    deadline = time.monotonic() + 90
    server_file = data_dir / "server.json"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nbplane serve exited {process.returncode}:\n{log.read_text()}")
        if server_file.exists():
            info = json.loads(
                subprocess.run(
                    [sys.executable, "-m", "nbplane", "info", "--data-dir", str(data_dir), "--json"],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            server.endpoint = info["endpoint"]
            server.ca_bundle = info["ca_bundle"]
            server.oci_config = info["oci_config"]
            server.profile = info["profile"]
            server.instance_id = info["instance_id"]
            server.workspace_key = info["workspace_key"]
            try:
                with server.http() as client:
                    if client.get("/health").status_code == 200:
                        _trust(server.ca_bundle)
                        return server
            except httpx.TransportError:
                pass
        time.sleep(0.1)
    stop_server(server)
    raise RuntimeError(f"nbplane serve did not become ready:\n{log.read_text()}")


def workspace_token(server: Server) -> str:
    """A workspace API token for the server's default workspace (`Authorization: token <t>`), minted once
    per server and workspace with the admin command. Keyed by data dir too: a later server may get a freed port."""
    key = (server.endpoint, str(server.data_dir), server.database_url, server.workspace_key)
    if key not in _TOKENS:
        _TOKENS[key] = server.nbplane(
            "admin", "create-token", "--instance", server.instance_id, "--workspace", server.workspace_key
        )
    return _TOKENS[key]


_TOKENS: dict[tuple[str, str, str | None, str], str] = {}


def _trust(ca_file: str) -> None:
    """Make the SDK trust a server's CA the way users do: through REQUESTS_CA_BUNDLE. Every server of
    the run adds its CA to one bundle, so servers of different test modules can run side by side."""
    bundle = Path(
        os.environ.setdefault("NBPLANE_TEST_CA_BUNDLE", str(Path(ca_file).parent.parent.parent / "ca-bundle.pem"))
    )
    bundle.parent.mkdir(parents=True, exist_ok=True)  # the first server's folder may be gone by now
    with bundle.open("a") as handle:
        handle.write(Path(ca_file).read_text())
    os.environ["REQUESTS_CA_BUNDLE"] = str(bundle)


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One SQLite-backed server per test module."""
    running = start_server(tmp_path_factory.mktemp("srv") / "data")
    yield running
    stop_server(running)


@pytest.fixture(scope="module")
def pg_server(
    tmp_path_factory: pytest.TempPathFactory, postgres_databases: PostgresDatabases | None
) -> Iterator[Server]:
    if postgres_databases is None:
        pytest.skip(SKIP_NO_POSTGRES)
    running = start_server(tmp_path_factory.mktemp("pgsrv") / "data", postgres_databases.new())
    yield running
    stop_server(running)


@pytest.fixture
def cleanup_sessions(server: Server) -> Iterator[None]:
    """Delete every session of the default workspace after a test."""
    yield
    with server.http() as client:
        for item in client.get(server.sessions_path, params={"limit": 1000}).json()["items"]:
            client.delete(f"{server.sessions_path}/{item['id']}")


def cli_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The JSON the CLI prints after `Response:` (stdout on success, stderr on error)."""
    text = result.stdout if result.returncode == 0 else result.stderr
    return json.loads(text.split("Response:", 1)[1])
