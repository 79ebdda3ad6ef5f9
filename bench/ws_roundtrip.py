"""Round trip of `execute_request "1+1"` (send -> execute_reply and idle status) over nbplane's kernel
websocket, over a stock Jupyter Server's websocket, and directly over ZMQ with jupyter_client, in one run.

    .venv/bin/python bench/ws_roundtrip.py [-n 200]

Starts `nbplane serve` and `jupyter server` as subprocesses in a temporary directory; prints medians,
p90s and ratios to the ZMQ baseline. Not a test: it asserts nothing about timing.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from jupyter_client.manager import AsyncKernelManager

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.conftest import start_server, stop_server, workspace_token
from tests.e2e.jupyterserver import start_jupyter_server
from tests.e2e.wsclient import V1, KernelSocket

CODE = "1+1"


async def measure(n: int, warmup: int, once: Callable[[], Awaitable[None]]) -> list[float]:
    for _ in range(warmup):
        await once()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        await once()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


async def over_websocket(sock: KernelSocket, n: int, warmup: int) -> list[float]:
    async def once() -> None:
        result = await sock.execute(CODE)
        assert result.reply["content"]["status"] == "ok"

    return await measure(n, warmup, once)


async def over_zmq(n: int, warmup: int) -> list[float]:
    km = AsyncKernelManager(kernel_name="python3")
    await km.start_kernel()
    client = km.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)

        async def once() -> None:
            msg_id = client.execute(CODE)
            reply = idle = False
            while not (reply and idle):
                if not reply:
                    got = await client.get_shell_msg(timeout=30)
                    reply = got["parent_header"].get("msg_id") == msg_id
                msg = await client.get_iopub_msg(timeout=30)
                if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status":
                    idle = msg["content"]["execution_state"] == "idle"

        return await measure(n, warmup, once)
    finally:
        client.stop_channels()
        await km.shutdown_kernel(now=True)


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(0.9 * (len(ordered) - 1))]


async def main(n: int, warmup: int) -> None:
    with tempfile.TemporaryDirectory(prefix="nbplane-bench-") as tmp:
        root = Path(tmp)
        nbplane = start_server(root / "nbplane")
        jupyter = start_jupyter_server(root / "jupyter")
        results: dict[str, list[float]] = {}
        try:
            verify = ssl.create_default_context(cafile=nbplane.ca_bundle)
            headers = {"Authorization": f"token {workspace_token(nbplane)}"}
            base = nbplane.endpoint + nbplane.notebook_path
            async with httpx.AsyncClient(base_url=base, verify=verify, headers=headers, timeout=120) as http:
                kid = (await http.post("/api/kernels", json={})).json()["id"]
                ws_base = base.replace("https://", "wss://")
                for label, proto in (("nbplane ws (legacy)", None), ("nbplane ws (v1)", V1)):
                    sock = await KernelSocket.open(
                        f"{ws_base}/api/kernels/{kid}/channels", protocol=proto, headers=headers, ssl_context=verify
                    )
                    results[label] = await over_websocket(sock, n, warmup)
                    await sock.close()
                await http.delete(f"/api/kernels/{kid}")
            async with httpx.AsyncClient(base_url=jupyter.url, headers=jupyter.headers, timeout=120) as http:
                kid = (await http.post("/api/kernels", json={})).json()["id"]
                ws = jupyter.url.replace("http", "ws")
                for label, proto in (("jupyter server ws (legacy)", None), ("jupyter server ws (v1)", V1)):
                    sock = await KernelSocket.open(
                        f"{ws}/api/kernels/{kid}/channels?token={jupyter.token}", protocol=proto
                    )
                    results[label] = await over_websocket(sock, n, warmup)
                    await sock.close()
                await http.delete(f"/api/kernels/{kid}")
            results["zmq (jupyter_client)"] = await over_zmq(n, warmup)
        finally:
            jupyter.stop()
            stop_server(nbplane)
    base_median, _ = summary(results["zmq (jupyter_client)"])
    print(f"execute_request {CODE!r} round trip, n={n} (after {warmup} warm-up), ms")
    print(f"{'path':<28} {'median':>8} {'p90':>8} {'x zmq':>7}")
    for label, samples in results.items():
        median, p90 = summary(samples)
        print(f"{label:<28} {median:8.2f} {p90:8.2f} {median / base_median:7.2f}")
    nb, _ = summary(results["nbplane ws (legacy)"])
    js, _ = summary(results["jupyter server ws (legacy)"])
    print(f"nbplane / jupyter server (legacy, median): {nb / js:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="round trips per path")
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.warmup))
