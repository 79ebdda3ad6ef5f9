"""What forwarding costs: two nbplane servers on one PostgreSQL database, a kernel on A, and the
`execute_request "1+1"` round trip over A's own websocket and over B's (which proxies to A), plus a session
get answered by A and by B (which asks A for the kernel's state).

    NBPLANE_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test \
        .venv/bin/python bench/node_forwarding.py [-n 200]

Creates a database of its own and drops it at the end; prints medians and p90s. Not a test: it asserts
nothing about timing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import PostgresDatabases
from tests.e2e.conftest import start_server, stop_server, workspace_token
from tests.e2e.test_nodes import NODE_ENV, second_node_data_dir
from tests.e2e.wsclient import V1, KernelSocket

CODE = "1+1"


async def measure(n: int, warmup: int, once: Callable[[], Awaitable[None]]) -> tuple[float, float]:
    for _ in range(warmup):
        await once()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        await once()
        samples.append((time.perf_counter() - start) * 1000)
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(0.9 * (len(ordered) - 1))]


def main(n: int, warmup: int) -> None:
    base = os.environ.get("NBPLANE_TEST_POSTGRES_URL")
    if not base:
        sys.exit("set NBPLANE_TEST_POSTGRES_URL (a PostgreSQL server this script may create a database on)")
    databases = PostgresDatabases(base)
    try:
        asyncio.run(run(databases.new(), n, warmup))
    finally:
        databases.drop_all()


async def run(url: str, n: int, warmup: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "a").mkdir()
        a = start_server(Path(tmp) / "a" / "data", url, env=NODE_ENV)
        b = None
        try:
            b = start_server(second_node_data_dir(a, Path(tmp) / "b" / "data"), url, env=NODE_ENV)
            headers = {"Authorization": f"token {workspace_token(a)}"}
            context = ssl.create_default_context(cafile=a.ca_bundle)
            async with httpx.AsyncClient(verify=context, headers=headers, timeout=60) as http:
                created = await http.post(f"{a.endpoint}{a.sessions_path}", json={"path": "bench.ipynb"})
                session_id, kernel_id = created.json()["id"], created.json()["kernel"]["id"]
                rows = []
                for label, server in (("A (runs the kernel)", a), ("B (proxies to A / asks A)", b)):
                    ws = server.endpoint.replace("https://", "wss://") + server.notebook_path
                    sock = await KernelSocket.open(
                        f"{ws}/api/kernels/{kernel_id}/channels", protocol=V1, headers=headers, ssl_context=context
                    )

                    async def execute(sock: KernelSocket = sock) -> None:
                        assert (await sock.execute(CODE)).reply["content"]["status"] == "ok"

                    async def get(server_endpoint: str = server.endpoint) -> None:
                        answer = await http.get(f"{server_endpoint}{a.sessions_path}/{session_id}")
                        assert answer.json()["kernel"]["execution_state"] in ("idle", "busy")

                    rows.append((f"execute via {label}", *await measure(n, warmup, execute)))
                    rows.append((f"get session via {label}", *await measure(n, warmup, get)))
                    await sock.close()
                await http.delete(f"{a.endpoint}{a.sessions_path}/{session_id}")
            print(f"n={n} (after {warmup} warm-up), ms")
            print(f"{'path':<40} {'median':>8} {'p90':>8}")
            for label, median, p90 in rows:
                print(f"{label:<40} {median:8.2f} {p90:8.2f}")
        finally:
            for server in (b, a):
                if server is not None:
                    stop_server(server)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    main(args.n, args.warmup)
