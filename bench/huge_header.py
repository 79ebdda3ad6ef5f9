"""What one unauthenticated huge request header costs a real server: time to the answer, the server's RSS,
and other clients' `/health` latency meanwhile.

    python bench/huge_header.py [--mib 256]

Starts a real server, sends `GET /health` with one header of N MiB (in 64 KiB pieces, stopping once the server
answers), and prints the status, the time it took, the RSS before and after, and the slowest `/health` another
client saw while it ran.
"""

from __future__ import annotations

import argparse
import ssl
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.e2e.conftest import start_server, stop_server
from tests.e2e.test_hostile_input import _send_huge_header


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=256)
    args = parser.parse_args()
    server = start_server(Path(tempfile.mkdtemp()) / "data")
    try:
        process = psutil.Process(server.process.pid)
        before = process.memory_info().rss
        slowest = 0.0
        done = threading.Event()

        def probe() -> None:
            nonlocal slowest
            context = ssl.create_default_context(cafile=server.ca_bundle)
            with httpx.Client(base_url=server.endpoint, verify=context, timeout=120) as client:
                while not done.is_set():
                    start = time.perf_counter()
                    client.get("/health")
                    slowest = max(slowest, time.perf_counter() - start)
                    time.sleep(0.05)

        prober = threading.Thread(target=probe)
        prober.start()
        start = time.perf_counter()
        response, sent = _send_huge_header(server, args.mib * 1024 * 1024)
        answered = time.perf_counter() - start
        done.set()
        prober.join()
        after = process.memory_info().rss
        status = response.split(b"\r\n", 1)[0].decode()
        print(f"header of {args.mib} MiB: {status!r} after {sent / 1024:.0f} KiB sent")
        print(f"answered and closed in {answered:.2f} s (includes the 2 s lingering close)")
        print(f"server RSS {before / 2**20:.0f} MiB before, {after / 2**20:.0f} MiB after")
        print(f"slowest /health meanwhile: {slowest * 1000:.0f} ms")
    finally:
        stop_server(server)


if __name__ == "__main__":
    main()
