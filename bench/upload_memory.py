"""Push a ~50 MB notebook through ContentService in 4 MiB chunks and report memory.

Domain-level stand-in for the HTTP benchmark: run `python bench/upload_memory.py [--mb 50] [--chunk-mib 4]`.
tracemalloc counts Python allocations made during the upload only (the client's copy of the notebook is
built before tracing starts); RSS is sampled by a background task. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import tempfile
import time
import tracemalloc
from pathlib import Path

import nbformat
import psutil

from nbplane.contents import ChunkUpload, ContentLimits, ContentService


def build_notebook(target_bytes: int) -> bytes:
    nb = nbformat.v4.new_notebook()
    line = "x" * 1000 + "\n"
    per_cell = 1000
    while len(nb.cells) * per_cell * len(line) < target_bytes:
        cell = nbformat.v4.new_code_cell(f"print({len(nb.cells)})")
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=line * per_cell)]
        nb.cells.append(cell)
    return nbformat.writes(nb).encode()


async def sample_rss(peak: list[int], stop: asyncio.Event) -> None:
    proc = psutil.Process()
    while not stop.is_set():
        peak[0] = max(peak[0], proc.memory_info().rss)
        await asyncio.sleep(0.01)


async def run(mb: int, chunk_mib: int) -> None:
    data = build_notebook(mb * 1024 * 1024)
    digest, size, step = hashlib.sha256(data).hexdigest(), len(data), chunk_mib * 1024 * 1024
    n = -(-size // step)
    with tempfile.TemporaryDirectory() as tmp:
        limits = ContentLimits(max_upload_bytes=size + 1, max_chunks=n + 1)
        svc = ContentService(Path(tmp) / "data", Path(tmp) / "staging", limits)
        rss_before = psutil.Process().memory_info().rss
        peak_rss, stop = [rss_before], asyncio.Event()
        sampler = asyncio.create_task(sample_rss(peak_rss, stop))
        tracemalloc.start()
        started = time.perf_counter()
        for i in range(n):
            index = -1 if i == n - 1 else i + 1
            chunk = base64.b64encode(data[i * step : (i + 1) * step]).decode()
            result = await svc.create(
                "inst", "ws", "big.ipynb", upload=ChunkUpload("bench", index, n, size, digest), content=chunk
            )
            del chunk
        elapsed = time.perf_counter() - started
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        stop.set()
        await sampler
        stored = (Path(tmp) / "data" / "inst" / "ws" / "big.ipynb").stat().st_size
    mib = 1024 * 1024
    print(f"notebook            {size / mib:8.1f} MiB in {n} chunks of {chunk_mib} MiB")
    print(f"stored              {stored / mib:8.1f} MiB  etag {result.etag}")
    print(f"elapsed             {elapsed:8.2f} s")
    print(f"tracemalloc peak    {traced_peak / mib:8.1f} MiB (allocations during the upload)")
    print(f"RSS before / peak   {rss_before / mib:8.1f} / {peak_rss[0] / mib:.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--chunk-mib", type=int, default=4)
    args = parser.parse_args()
    asyncio.run(run(args.mb, args.chunk_mib))


if __name__ == "__main__":
    main()
