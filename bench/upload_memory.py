"""Upload a ~50 MB notebook in chunks to a real `nbplane serve` and report the server's memory.

    python bench/upload_memory.py [--mb 50] [--chunk-mib 4] [--domain]

Starts `nbplane serve --port 0` on a fresh data dir, reads `nbplane info --json`, then sends the notebook with
the official SDK's `create_content` (one request per chunk, index -1 for the last) while a thread samples the
server process's RSS with psutil. `--domain` also runs the same upload through ContentService in-process
(tracemalloc + RSS), which isolates the contents layer from HTTP and JSON parsing. Not part of the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import nbformat
import psutil

MIB = 1024 * 1024


def build_notebook(target_bytes: int) -> bytes:
    nb = nbformat.v4.new_notebook()
    line = "x" * 1000 + "\n"
    per_cell = 1000
    while len(nb.cells) * per_cell * len(line) < target_bytes:
        cell = nbformat.v4.new_code_cell(f"print({len(nb.cells)})")
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=line * per_cell)]
        nb.cells.append(cell)
    return nbformat.writes(nb).encode()


class RssSampler(threading.Thread):
    """Peak RSS of one process (and its children), sampled every 10 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak = self.rss()
        self._halt = threading.Event()

    def rss(self) -> int:
        return int(self.process.memory_info().rss)

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.peak = max(self.peak, self.rss())
            except psutil.NoSuchProcess:
                return
            time.sleep(0.01)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def start_server(data_dir: Path, max_bytes: int) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    env = {
        **os.environ,
        "NBPLANE_UPLOAD_MAX_BYTES": str(max_bytes),
        "NBPLANE_MAX_BODY_BYTES": str(64 * MIB),
    }
    log = (data_dir.parent / "server.log").open("wb")
    command = [sys.executable, "-m", "nbplane", "serve", "--data-dir", str(data_dir), "--port", "0"]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"nbplane serve exited {process.returncode}; see {log.name}")
        if (data_dir / "server.json").exists():
            info = subprocess.run(
                [sys.executable, "-m", "nbplane", "info", "--data-dir", str(data_dir), "--json"],
                capture_output=True,
                text=True,
                check=True,
            )
            return process, json.loads(info.stdout)
        time.sleep(0.1)
    process.kill()
    raise SystemExit("nbplane serve did not start")


def http_upload(data: bytes, chunk_mib: int) -> None:
    import oci
    from aidp_python_client.aidataplatform_dp import NotebookClient
    from aidp_python_client.aidataplatform_dp.models import CreateContentDetails

    digest, size, step = hashlib.sha256(data).hexdigest(), len(data), chunk_mib * MIB
    n = -(-size // step)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        process, info = start_server(data_dir, size + MIB)
        try:
            os.environ["REQUESTS_CA_BUNDLE"] = info["ca_bundle"]
            client = NotebookClient(
                oci.config.from_file(info["oci_config"], info["profile"]), service_endpoint=info["endpoint"]
            )
            inst, ws = info["instance_id"], info["workspace_key"]
            client.get_content(inst, ws, "/", content=0)  # warm the server up before the baseline
            time.sleep(0.5)
            sampler = RssSampler(process.pid)
            baseline = sampler.rss()
            sampler.start()
            started = time.perf_counter()
            for i in range(n):
                details = CreateContentDetails(
                    upload_id="bench",
                    upload_chunk_index=-1 if i == n - 1 else i + 1,
                    total_chunks=n,
                    total_size_bytes=size,
                    sha256=digest,
                    format="json",
                    content=base64.b64encode(data[i * step : (i + 1) * step]).decode(),
                )
                result = client.create_content(inst, ws, "big.ipynb", details)
            elapsed = time.perf_counter() - started
            time.sleep(0.2)
            sampler.stop()
            after = sampler.rss()
            stored = (data_dir / "workspaces" / inst / ws / "big.ipynb").stat().st_size
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    print("HTTP (nbplane serve, official SDK create_content)")
    print(f"  notebook            {size / MIB:8.1f} MiB in {n} chunks of {chunk_mib} MiB (base64 on the wire)")
    print(f"  stored              {stored / MIB:8.1f} MiB  etag {result.headers.get('etag')}")
    print(f"  elapsed             {elapsed:8.2f} s")
    print(f"  server RSS baseline {baseline / MIB:8.1f} MiB")
    print(f"  server RSS peak     {sampler.peak / MIB:8.1f} MiB (+{(sampler.peak - baseline) / MIB:.1f} MiB)")
    print(f"  server RSS after    {after / MIB:8.1f} MiB")


async def domain_upload(data: bytes, chunk_mib: int) -> None:
    from nbplane.contents import ChunkUpload, ContentLimits, ContentService

    digest, size, step = hashlib.sha256(data).hexdigest(), len(data), chunk_mib * MIB
    n = -(-size // step)
    with tempfile.TemporaryDirectory() as tmp:
        limits = ContentLimits(max_upload_bytes=size + 1, max_chunks=n + 1)
        svc = ContentService(Path(tmp) / "data", Path(tmp) / "staging", limits)
        sampler = RssSampler(os.getpid())
        baseline = sampler.rss()
        sampler.start()
        tracemalloc.start()
        for i in range(n):
            index = -1 if i == n - 1 else i + 1
            chunk = base64.b64encode(data[i * step : (i + 1) * step]).decode()
            await svc.create(
                "inst", "ws", "big.ipynb", upload=ChunkUpload("bench", index, n, size, digest), content=chunk
            )
            del chunk
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        sampler.stop()
    print("Domain (ContentService in-process)")
    print(f"  tracemalloc peak    {traced_peak / MIB:8.1f} MiB (allocations during the upload)")
    print(f"  RSS baseline / peak {baseline / MIB:8.1f} / {sampler.peak / MIB:.1f} MiB (includes the client's copy)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--chunk-mib", type=int, default=4)
    parser.add_argument("--domain", action="store_true", help="also measure ContentService in-process")
    args = parser.parse_args()
    data = build_notebook(args.mb * MIB)
    http_upload(data, args.chunk_mib)
    if args.domain:
        asyncio.run(domain_upload(data, args.chunk_mib))


if __name__ == "__main__":
    main()
