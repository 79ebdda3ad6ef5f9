"""How long `nbplane serve` takes to stop (SIGTERM) with idle keep-alive HTTPS clients connected.

    python bench/stop_latency.py [--clients 3] [--rounds 3]

Starts a real server on a fresh data dir per round, opens N keep-alive clients that each make one request and
then stay idle, sends SIGTERM and prints the time until the process has exited.
"""

from __future__ import annotations

import argparse
import signal
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.e2e.conftest import start_server


def one_round(clients: int) -> float:
    server = start_server(Path(tempfile.mkdtemp()) / "data")
    context = ssl.create_default_context(cafile=server.ca_bundle)
    idle = [httpx.Client(base_url=server.endpoint, verify=context) for _ in range(clients)]
    try:
        for client in idle:
            client.get("/health").raise_for_status()
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(60)
        return time.monotonic() - started
    finally:
        for client in idle:
            client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    times = [one_round(args.clients) for _ in range(args.rounds)]
    print(f"stop with {args.clients} idle keep-alive clients: " + ", ".join(f"{t:.2f} s" for t in times))
    print(f"median {statistics.median(times):.2f} s")


if __name__ == "__main__":
    main()
