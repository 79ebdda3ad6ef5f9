"""nbplane against a stock Jupyter Server on this machine, interleaved in one run, as one table with the
ratios to issue 12's goals.

    .venv/bin/python bench/vs_jupyter.py [--rounds 3] [--requests 150]

Starts `nbplane serve` (HTTPS, SQLite; rate limit off) twice, once with NBPLANE_KERNEL_POOL_SIZE=2 (a warm
pool, when the server has one) and once cold, and `jupyter server` (HTTP, token), each in a temporary
directory, and measures:

- create -> ready: POST a session, open its kernel's websocket, kernel_info_request -> kernel_info_reply;
  the raw floor is jupyter_client's own start + kernel_info over ZMQ; then DELETE;
- list sessions at 10 and 40 sessions (40 = 4 sessions per kernel on 10 kernels), 8 concurrent clients:
  server CPU per request and requests per server-CPU-second (CPU of the server process and its children
  other than kernels, by psutil), with a workspace token and with OCI signatures for nbplane, a token for
  Jupyter (and, like for like, a second Jupyter Server over HTTPS with nbplane's certificate);
- list at 1,000 and 10,000 sessions (rows seeded straight into nbplane's database), first page and a deep
  page (5,000 rows in), limit 100. Jupyter Server has no paging and keeps sessions in memory: n/a;
- execute "1+1" round trip over the websocket; idle RSS (server and non-kernel children) before any kernel,
  on a usual start (schema current) and on the very first one (which runs the migrations);
- 10 concurrent creates of distinct paths: the slowest, and how many write transactions were held over 50 ms
  (nbplane logs each one).

Not a test: it asserts nothing about timing. Bounded: a few minutes on two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psutil
from jupyter_client.manager import AsyncKernelManager

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nbplane.sessions.models import PageCursor
from tests.e2e.conftest import Server, start_server, stop_server, workspace_token
from tests.e2e.jupyterserver import JupyterServer, free_port, start_jupyter_server
from tests.e2e.wsclient import KernelSocket
from tests.signing import OciAuth

CLIENTS = 8


def server_cpu(pid: int) -> float:
    """CPU seconds of a server and its children, kernels excluded."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    for proc in procs:
        try:
            if proc is not root and any("ipykernel" in part for part in proc.cmdline()):
                continue
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def server_rss_mb(pid: int) -> float:
    root = psutil.Process(pid)
    total = root.memory_info().rss
    for proc in root.children(recursive=True):
        try:
            if not any("ipykernel" in part for part in proc.cmdline()):
                total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20


@dataclass
class Target:
    """One server as the load sees it: how to reach its sessions API and its kernels' websockets."""

    name: str
    pid: int
    base: str  # up to and including the notebook base path, e.g. https://…/notebook or http://…
    ws_base: str
    headers: dict[str, str]
    verify: ssl.SSLContext | bool = False
    auth: httpx.Auth | None = None
    ws_suffix: str = ""
    ws_headers: dict[str, str] = field(default_factory=dict)

    def client(self, **kwargs: object) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base, headers=self.headers, verify=self.verify, auth=self.auth, timeout=120, **kwargs
        )


def nbplane_target(server: Server, name: str, *, signed: bool = False) -> Target:
    verify = ssl.create_default_context(cafile=server.ca_bundle)
    token = {"Authorization": f"token {workspace_token(server)}"}
    base = server.endpoint + server.notebook_path
    return Target(
        name=name,
        pid=server.process.pid,
        base=base,
        ws_base=base.replace("https://", "wss://"),
        headers={} if signed else token,
        verify=verify,
        auth=OciAuth(server.signer()) if signed else None,
        ws_headers=token,
    )


def jupyter_target(server: JupyterServer) -> Target:
    return Target(
        name="jupyter",
        pid=server.process.pid,
        base=server.url,
        ws_base=server.url.replace("http://", "ws://"),
        headers=server.headers,
        ws_suffix=f"?token={server.token}",
    )


async def kernel_info(target: Target, kernel_id: str, session_id: str) -> None:
    url = f"{target.ws_base}/api/kernels/{kernel_id}/channels{target.ws_suffix}"
    sep = "&" if "?" in url else "?"
    ssl_context = target.verify if isinstance(target.verify, ssl.SSLContext) else None
    sock = await KernelSocket.open(
        f"{url}{sep}session_id={session_id}", headers=target.ws_headers or None, ssl_context=ssl_context
    )
    try:
        msg_id = await sock.send("shell", "kernel_info_request", {})
        while True:
            msg = await sock.recv(60)
            if msg["msg_type"] == "kernel_info_reply" and msg["parent_header"].get("msg_id") == msg_id:
                return
    finally:
        await sock.close()


async def create_ready_delete(target: Target, http: httpx.AsyncClient) -> tuple[float, float]:
    """ms from POST session to kernel_info_reply, and ms of the DELETE."""
    path = f"bench-{uuid.uuid4().hex[:8]}.ipynb"
    start = time.perf_counter()
    created = await http.post("/api/sessions", json={"path": path, "type": "notebook", "kernel": {"name": "python3"}})
    created.raise_for_status()
    body = created.json()
    await kernel_info(target, body["kernel"]["id"], uuid.uuid4().hex)
    ready = (time.perf_counter() - start) * 1e3
    start = time.perf_counter()
    (await http.delete(f"/api/sessions/{body['id']}")).raise_for_status()
    return ready, (time.perf_counter() - start) * 1e3


async def zmq_floor() -> float:
    """ms for jupyter_client to start a kernel and get its kernel_info_reply: the raw floor."""
    km = AsyncKernelManager(kernel_name="python3")
    start = time.perf_counter()
    await km.start_kernel()
    client = km.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        return (time.perf_counter() - start) * 1e3
    finally:
        client.stop_channels()
        await km.shutdown_kernel(now=True)


async def make_sessions(target: Target, count: int, kernels: list[str] | None = None) -> list[str]:
    """`count` sessions; with `kernels`, attached round-robin to those kernels. Returns their kernel ids."""
    out = []
    async with target.client() as http:
        for n in range(count):
            body: dict[str, object] = {"path": f"list-{uuid.uuid4().hex[:8]}-{n}.ipynb", "type": "notebook"}
            body["kernel"] = {"id": kernels[n % len(kernels)]} if kernels else {"name": "python3"}
            response = await http.post("/api/sessions", json=body)
            response.raise_for_status()
            out.append(response.json()["kernel"]["id"])
    return out


@dataclass
class ListLoad:
    cpu_ms_per_request: float
    per_cpu_second: float
    wall_ms_median: float


async def list_load(target: Target, requests: int, params: dict[str, str] | None = None) -> ListLoad:
    """CLIENTS concurrent clients, `requests` each, GET /api/sessions; server CPU over the whole load."""
    latencies: list[float] = []

    async def one_client(http: httpx.AsyncClient) -> None:
        for _ in range(requests):
            start = time.perf_counter()
            response = await http.get("/api/sessions", params=params)
            latencies.append((time.perf_counter() - start) * 1e3)
            response.raise_for_status()

    clients = [target.client() for _ in range(CLIENTS)]
    try:
        for http in clients:  # connections up, TLS done, before the clock starts
            (await http.get("/api/sessions", params=params)).raise_for_status()
        before = server_cpu(target.pid)
        await asyncio.gather(*(one_client(http) for http in clients))
        cpu = server_cpu(target.pid) - before
    finally:
        for http in clients:
            await http.aclose()
    total = CLIENTS * requests
    return ListLoad(cpu / total * 1e3, total / cpu if cpu else float("inf"), statistics.median(latencies))


async def sequential_list(target: Target, n: int, params: dict[str, str] | None = None) -> tuple[float, float]:
    """Median ms of one client's GETs, and server CPU ms per request."""
    async with target.client() as http:
        (await http.get("/api/sessions", params=params)).raise_for_status()
        before = server_cpu(target.pid)
        samples = []
        for _ in range(n):
            start = time.perf_counter()
            (await http.get("/api/sessions", params=params)).raise_for_status()
            samples.append((time.perf_counter() - start) * 1e3)
        cpu = server_cpu(target.pid) - before
    return statistics.median(samples), cpu / n * 1e3


def seed_sessions(server: Server, start: int, count: int) -> list[tuple[datetime, str]]:
    """Insert `count` session rows (no kernels) straight into nbplane's SQLite database; their keyset keys,
    newest first, as the default DESC order lists them."""
    db = sqlite3.connect(server.data_dir / "nbplane.db", timeout=60)
    base = datetime(2020, 1, 1, tzinfo=UTC)
    rows = []
    for n in range(start, start + count):
        when = base + timedelta(milliseconds=n)
        ident = str(uuid.uuid4())
        stamp = when.strftime("%Y-%m-%d %H:%M:%S.%f")
        rows.append(
            (ident, server.instance_id, server.workspace_key, f"seed/{n}.ipynb", f"seed {n}", "notebook",
             "python3", "ACTIVE", stamp, stamp)
        )  # fmt: skip
    with db:
        db.executemany(
            "INSERT INTO sessions (id, instance_id, workspace_key, path, name, type, kernel_name, lifecycle_state,"
            " time_created, time_updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        db.execute("ANALYZE")
    db.close()
    keys = [(base + timedelta(milliseconds=start + i), row[0]) for i, row in enumerate(rows)]
    return sorted(keys, reverse=True)


async def exec_round_trip(target: Target, kernel_id: str, n: int) -> float:
    url = f"{target.ws_base}/api/kernels/{kernel_id}/channels{target.ws_suffix}"
    ssl_context = target.verify if isinstance(target.verify, ssl.SSLContext) else None
    sock = await KernelSocket.open(url, headers=target.ws_headers or None, ssl_context=ssl_context)
    try:
        for _ in range(5):
            await sock.execute("1+1")
        samples = []
        for _ in range(n):
            start = time.perf_counter()
            await sock.execute("1+1")
            samples.append((time.perf_counter() - start) * 1e3)
        return statistics.median(samples)
    finally:
        await sock.close()


async def concurrent_creates(server: Server, target: Target) -> tuple[float, int]:
    """10 concurrent creates of distinct paths: the slowest in ms, and the slow write transactions logged."""
    before = server.log.read_text().count("slow write transaction")
    async with target.client() as http:

        async def one(n: int) -> tuple[float, str]:
            start = time.perf_counter()
            body = {"path": f"concurrent-{n}.ipynb", "type": "notebook", "kernel": {"name": "python3"}}
            response = await http.post("/api/sessions", json=body)
            response.raise_for_status()
            return (time.perf_counter() - start) * 1e3, response.json()["id"]

        results = await asyncio.gather(*(one(n) for n in range(10)))
        for _, sid in results:
            (await http.delete(f"/api/sessions/{sid}")).raise_for_status()
    slow = server.log.read_text().count("slow write transaction") - before
    return max(ms for ms, _ in results), slow


def start_jupyter_tls(root: Path, tls_dir: Path) -> tuple[JupyterServer, Target]:
    """A second stock Jupyter Server serving HTTPS with nbplane's certificate, for a like-for-like transport."""
    root.mkdir(parents=True, exist_ok=True)
    port, token = free_port(), uuid.uuid4().hex
    log = root.parent / f"{root.name}-jupyter.log"
    command = [
        sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        f"--ServerApp.certfile={tls_dir / 'server.pem'}", f"--ServerApp.keyfile={tls_dir / 'server-key.pem'}",
    ]  # fmt: skip
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(root / ".jupyter"), "JUPYTER_RUNTIME_DIR": str(root / ".rt")}
    process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)
    server = JupyterServer(process, f"https://localhost:{port}", token, log)
    verify = ssl.create_default_context(cafile=str(tls_dir / "ca.pem"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jupyter server exited {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{server.url}/api/status", headers=server.headers, verify=verify, timeout=2).is_success:
                target = Target("jupyter tls", process.pid, server.url, server.url.replace("https", "wss"),
                                server.headers, verify=verify, ws_suffix=f"?token={token}")  # fmt: skip
                return server, target
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"jupyter server (TLS) did not become ready:\n{log.read_text()}")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def interleave(rounds: int, steps: list[tuple[str, Callable[[], Awaitable[object]]]]) -> dict[str, list[object]]:
    out: dict[str, list[object]] = {name: [] for name, _ in steps}
    for _ in range(rounds):
        for name, step in steps:
            out[name].append(await step())
    return out


async def main(rounds: int, requests: int) -> None:
    env = {"NBPLANE_RATE_LIMIT_PER_SECOND": "0"}
    with tempfile.TemporaryDirectory(prefix="nbplane-vs-jupyter-") as tmp:
        root = Path(tmp)
        for name in ("cold", "pooled"):
            (root / name).mkdir()
        cold_env = {**env, "NBPLANE_KERNEL_POOL_SIZE": "0"}
        cold = start_server(root / "cold" / "data", env=cold_env)
        await asyncio.sleep(2)
        rss_first = server_rss_mb(cold.process.pid)  # this start also created the schema (Alembic loaded)
        stop_server(cold)
        cold = start_server(root / "cold" / "data", env=cold_env)  # a usual start: the schema is current
        jupyter = start_jupyter_server(root / "jupyter")
        pooled: Server | None = None
        jupyter_tls: JupyterServer | None = None
        rows: list[tuple[str, str, str, str, str]] = []
        try:
            await asyncio.sleep(2)
            rss_nb, rss_jp = server_rss_mb(cold.process.pid), server_rss_mb(jupyter.process.pid)
            nb, nb_sig, jp = nbplane_target(cold, "nbplane"), nbplane_target(cold, "nbplane", signed=True), None
            jp = jupyter_target(jupyter)

            # ---- create -> ready and delete (cold), the ZMQ floor; then the pooled server ----------------
            async with nb.client() as nb_http, jp.client() as jp_http:
                for target, http in ((nb, nb_http), (jp, jp_http)):
                    await create_ready_delete(target, http)  # warm-up: imports, first kernel
                got = await interleave(
                    rounds + 2,
                    [
                        ("nb", lambda: create_ready_delete(nb, nb_http)),
                        ("jp", lambda: create_ready_delete(jp, jp_http)),
                        ("zmq", zmq_floor),
                    ],
                )
            nb_ready = median([r[0] for r in got["nb"]])  # type: ignore[index]
            jp_ready = median([r[0] for r in got["jp"]])  # type: ignore[index]
            nb_delete = median([r[1] for r in got["nb"]])  # type: ignore[index]
            jp_delete = median([r[1] for r in got["jp"]])  # type: ignore[index]
            floor = median(got["zmq"])  # type: ignore[arg-type]

            pooled = start_server(root / "pooled" / "data", env={**env, "NBPLANE_KERNEL_POOL_SIZE": "2"})
            pool = nbplane_target(pooled, "nbplane pool=2")
            async with pool.client() as pool_http:
                await asyncio.sleep(5)  # time for a pool, if the server has one, to fill
                pool_ready = []
                for _ in range(rounds + 2):
                    pool_ready.append((await create_ready_delete(pool, pool_http))[0])
                    await asyncio.sleep(2)  # the pool refills in the background
            stop_server(pooled)
            pooled = None

            rows.append(("create->ready, pool=2 (ms, median)", f"{median(pool_ready):.0f}", "-", "<= 40 ms",
                         f"{median(pool_ready) / 40:.2f}x of goal"))  # fmt: skip
            rows.append(("create->ready, cold (ms, median)", f"{nb_ready:.0f}", f"{jp_ready:.0f}",
                         f"<= 1.1x zmq floor {floor:.0f}", f"{nb_ready / floor:.2f}x floor"))  # fmt: skip
            rows.append(("delete (ms, median)", f"{nb_delete:.0f}", f"{jp_delete:.0f}", "-",
                         f"{nb_delete / jp_delete:.2f}x jupyter"))  # fmt: skip

            # ---- 10 concurrent creates ------------------------------------------------------------------
            slowest, slow_writes = await concurrent_creates(cold, nb)
            rows.append(("10 concurrent creates: slowest (ms)", f"{slowest:.0f}", "-", "-", "-"))
            rows.append(("  write transactions held > 50 ms", str(slow_writes), "-", "0", "met" if not slow_writes
                         else "not met"))  # fmt: skip

            # ---- list at 10 and 40 sessions ---------------------------------------------------------------
            nb_kernels = await make_sessions(nb, 10)
            jp_kernels = await make_sessions(jp, 10)
            jupyter_tls, jp_tls = start_jupyter_tls(root / "jupyter-tls", cold.data_dir / "tls")
            tls_kernels = await make_sessions(jp_tls, 10)
            for size in (10, 40):
                if size == 40:
                    await make_sessions(nb, 30, nb_kernels)
                    await make_sessions(jp, 30, jp_kernels)
                    await make_sessions(jp_tls, 30, tls_kernels)
                got = await interleave(
                    rounds,
                    [
                        ("token", lambda: list_load(nb, requests)),
                        ("sig", lambda: list_load(nb_sig, requests)),
                        ("jp", lambda: list_load(jp, requests)),
                        ("jp_tls", lambda: list_load(jp_tls, requests)),
                    ],
                )
                tls_cpu = median([g.cpu_ms_per_request for g in got["jp_tls"]])  # type: ignore[attr-defined]
                jp_cpu = median([g.cpu_ms_per_request for g in got["jp"]])  # type: ignore[attr-defined]
                jp_rate = median([g.per_cpu_second for g in got["jp"]])  # type: ignore[attr-defined]
                for label, key in (("token", "token"), ("OCI signature", "sig")):
                    cpu = median([g.cpu_ms_per_request for g in got[key]])  # type: ignore[attr-defined]
                    rate = median([g.per_cpu_second for g in got[key]])  # type: ignore[attr-defined]
                    rows.append((f"list @{size}, {label}: server CPU ms/request", f"{cpu:.2f}", f"{jp_cpu:.2f}",
                                 "<= 0.5x jupyter", f"{cpu / jp_cpu:.2f}x jupyter"))  # fmt: skip
                    rows.append((f"list @{size}, {label}: requests/server-CPU-s ({CLIENTS} clients)", f"{rate:.0f}",
                                 f"{jp_rate:.0f}", ">= 2x jupyter", f"{rate / jp_rate:.2f}x jupyter"))  # fmt: skip
                    rows.append(("  the same CPU vs Jupyter over TLS too", f"{cpu:.2f}", f"{tls_cpu:.2f}",
                                 "(like-for-like transport)", f"{cpu / tls_cpu:.2f}x jupyter tls"))  # fmt: skip

            # ---- exec round trip ------------------------------------------------------------------------
            jupyter_tls.stop()
            nb_exec = await exec_round_trip(nb, nb_kernels[0], 50)
            jp_exec = await exec_round_trip(jp, jp_kernels[0], 50)
            rows.append(('exec "1+1" round trip (ms, median)', f"{nb_exec:.2f}", f"{jp_exec:.2f}", "-",
                         f"{nb_exec / jp_exec:.2f}x jupyter"))  # fmt: skip

            # ---- list at 40 / 1,000 / 10,000 sessions: first page and a deep page ------------------------
            first40, cpu40 = await sequential_list(nb, 100)
            rows.append(("list @40, page 1 (ms median / CPU ms)", f"{first40:.2f} / {cpu40:.2f}", "-", "-", "-"))
            seeded = 0
            first_1k = 0.0
            for size in (1_000, 10_000):
                keys = seed_sessions(cold, seeded, size - 40 - seeded)
                seeded = size - 40
                first, cpu_first = await sequential_list(nb, 100)
                first_1k = first_1k or first
                rows.append((f"list @{size:,}, page 1 (ms median / CPU ms)", f"{first:.2f} / {cpu_first:.2f}",
                             "n/a", "flat (same page size)", f"{first / first_1k:.2f}x @1,000"))  # fmt: skip
                if size == 10_000:
                    deep = PageCursor(*keys[5_000 - 40]).encode()  # the newest 40 are the live sessions
                    deep_ms, cpu_deep = await sequential_list(nb, 100, {"page": deep})
                    rows.append(("list @10,000, page 51 (ms median / CPU ms)", f"{deep_ms:.2f} / {cpu_deep:.2f}",
                                 "n/a", "= page 1", f"{deep_ms / first:.2f}x page 1"))  # fmt: skip
            rows.append(("idle RSS, server + non-kernel children (MB)", f"{rss_nb:.0f}", f"{rss_jp:.0f}",
                         "<= 1.2x jupyter", f"{rss_nb / rss_jp:.2f}x jupyter"))  # fmt: skip
            rows.append(("  the same on the very first start (creates the schema)", f"{rss_first:.0f}",
                         f"{rss_jp:.0f}", "-", f"{rss_first / rss_jp:.2f}x jupyter"))  # fmt: skip
        finally:
            if pooled is not None:
                stop_server(pooled)
            if jupyter_tls is not None:
                jupyter_tls.stop()
            jupyter.stop()
            stop_server(cold)

    width = max(len(r[0]) for r in rows)
    print(f"nbplane vs Jupyter Server, {rounds} interleaved rounds, {CLIENTS} clients x {requests} requests per load")
    print(f"{'measure':<{width}}  {'nbplane':>15}  {'jupyter':>9}  {'goal':<24}  ratio")
    for measure, nbv, jpv, goal, ratio in rows:
        print(f"{measure:<{width}}  {nbv:>15}  {jpv:>9}  {goal:<24}  {ratio}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per measure")
    parser.add_argument("--requests", type=int, default=150, help="list requests per client per load")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    asyncio.run(main(args.rounds, args.requests))
