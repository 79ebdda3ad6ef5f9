"""Real notebooks for the contents end-to-end tests: code, outputs and a PNG image, built with nbformat."""

from __future__ import annotations

import base64
import hashlib
import struct
import zlib
from typing import Any

import nbformat


def tiny_png() -> bytes:
    """A valid 1x1 red PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


PNG_B64 = base64.b64encode(tiny_png()).decode()
SOURCE = "print('hello from nbplane')"


def real_notebook(marker: str = "") -> dict[str, Any]:
    """A notebook with markdown, a code cell with stream output and one with a PNG display output."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# A real notebook {marker}"),
        nbformat.v4.new_code_cell(
            SOURCE,
            execution_count=1,
            outputs=[nbformat.v4.new_output("stream", name="stdout", text="hello from nbplane\n")],
        ),
        nbformat.v4.new_code_cell(
            "show_red_pixel()",
            execution_count=2,
            outputs=[
                nbformat.v4.new_output(
                    "display_data", data={"image/png": PNG_B64, "text/plain": "<red pixel>"}, metadata={}
                )
            ],
        ),
    ]
    nbformat.validate(nb)
    return dict(nbformat.from_dict(nb))


def notebook_bytes(nb: dict[str, Any]) -> bytes:
    return nbformat.writes(nbformat.from_dict(nb)).encode()


def chunk_bodies(data: bytes, chunk_size: int, upload_id: str) -> list[dict[str, Any]]:
    """The create/update bodies of a chunked upload: indexes 1..N-1, then -1 for the last chunk."""
    parts = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]
    digest = hashlib.sha256(data).hexdigest()
    return [
        {
            "upload_id": upload_id,
            "upload_chunk_index": -1 if i == len(parts) - 1 else i + 1,
            "total_chunks": len(parts),
            "total_size_bytes": len(data),
            "sha256": digest,
            "format": "json",
            "content": base64.b64encode(part).decode(),
        }
        for i, part in enumerate(parts)
    ]
