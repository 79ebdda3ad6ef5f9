"""Session create -> ready (the session's POST, then `kernel_info_reply` over the kernel's websocket) on
nbplane without and with the warm kernel pool (NBPLANE_KERNEL_POOL_SIZE), in one run.

    .venv/bin/python bench/pool_create.py [-n 10] [--pool-size 2]

Starts `nbplane serve` twice in a temporary directory (pool off, then on). Each round creates a session
for a new path, times it until the kernel answers over the websocket, then deletes it; with the pool, the
next round starts once the pool is full again (read from the server's database), so every timed create
finds a warm kernel, as a user who does not create sessions back to back would. Prints medians and p90s.
Not a test: it asserts nothing about timing.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.conftest import Server, start_server, stop_server, workspace_token
from tests.e2e.wsclient import V1, KernelSocket, new_session_id


def pooled_count(server: Server) -> int:
    with sqlite3.connect(server.data_dir / "nbplane.db", timeout=30) as db:
        return int(db.execute("SELECT count(*) FROM kernels WHERE status = 'pooled'").fetchone()[0])


async def wait_pool(server: Server, size: int, wait_s: float = 120) -> None:
    deadline = time.monotonic() + wait_s
    while pooled_count(server) < size:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the pool did not refill to {size} within {wait_s:g} s")
        await asyncio.sleep(0.05)


async def rounds(server: Server, n: int, pool_size: int) -> list[float]:
    headers = {"Authorization": f"token {workspace_token(server)}"}
    verify = ssl.create_default_context(cafile=server.ca_bundle)
    ws_base = server.endpoint.replace("https://", "wss://") + server.notebook_path
    samples: list[float] = []
    posts: list[float] = []
    async with httpx.AsyncClient(base_url=server.endpoint, verify=verify, headers=headers, timeout=120) as http:
        # The workspace's first start (cold in both modes) gives it its pool; not timed.
        for i in range(n + 1):
            if pool_size and i:
                await wait_pool(server, pool_size)
            start = time.perf_counter()
            body = {"path": f"bench/{i}.ipynb", "type": "notebook", "kernel": {"name": "python3"}}
            created = await http.post(server.sessions_path, json=body)
            created.raise_for_status()
            session = created.json()
            posted = (time.perf_counter() - start) * 1000
            url = f"{ws_base}/api/kernels/{session['kernel']['id']}/channels?session_id={new_session_id()}"
            sock = await KernelSocket.open(url, protocol=V1, headers=headers, ssl_context=verify)
            msg_id = await sock.send("shell", "kernel_info_request", {})
            while True:
                msg = await sock.recv(60)
                if msg["msg_type"] == "kernel_info_reply" and msg["parent_header"].get("msg_id") == msg_id:
                    break
            elapsed = (time.perf_counter() - start) * 1000
            await sock.close()
            if i:
                samples.append(elapsed)
                posts.append(posted)
            (await http.delete(f"{server.sessions_path}/{session['id']}")).raise_for_status()
    print(f"  (pool size {pool_size}: the POST alone, median {statistics.median(posts):.1f} ms)")
    return samples


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    return f"median {statistics.median(ordered):7.1f} ms   p90 {ordered[int(0.9 * (len(ordered) - 1))]:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=10, help="timed creates per mode (1..100)")
    parser.add_argument("--pool-size", type=int, default=2)
    args = parser.parse_args()
    n = max(1, min(args.n, 100))
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="nbplane-pool-bench-") as tmp:
        for label, size in (("no pool", 0), (f"pool of {args.pool_size}", args.pool_size)):
            server = start_server(Path(tmp) / f"data-{size}", env={"NBPLANE_KERNEL_POOL_SIZE": str(size)})
            try:
                results[label] = asyncio.run(rounds(server, n, size))
            finally:
                stop_server(server)
    print(f"session create -> kernel_info_reply over the websocket, {n} rounds each")
    for label, samples in results.items():
        print(f"  {label:<12} {summary(samples)}")
    cold, warm = (statistics.median(s) for s in results.values())
    print(f"  pooled / cold median: {warm / cold:.2f}")


if __name__ == "__main__":
    main()
