"""export_contents as ipynb and HTML."""

from __future__ import annotations

import base64
import json

import nbformat
import pytest

from nbplane.contents import ExportFormat
from nbplane.errors import InvalidInputError, NotFoundError

from .conftest import SCOPE, Env, notebook

# A 1x1 transparent PNG.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()


@pytest.fixture
def nb_env(env: Env) -> Env:
    nb = notebook("unique_marker_variable = 42", png=PNG)
    nb["cells"].append(nbformat.v4.new_markdown_cell("# Heading for export"))
    (env.root / "sub").mkdir()
    (env.root / "sub" / "n.ipynb").write_text(nbformat.writes(nbformat.from_dict(nb)))
    (env.root / "t.txt").write_text("text")
    return env


@pytest.mark.parametrize("fmt", [None, "ipynb"])
async def test_export_ipynb(nb_env: Env, fmt: str | None) -> None:
    exported = await nb_env.svc.export(SCOPE, "/sub/n.ipynb", fmt)
    assert exported.format is ExportFormat.IPYNB
    assert (exported.name, exported.path) == ("n.ipynb", "sub/n.ipynb")
    assert exported.content == (nb_env.root / "sub" / "n.ipynb").read_text()
    assert json.loads(exported.content)["nbformat"] == 4
    assert exported.etag and exported.etag.startswith("sha256-")


async def test_export_html_inlines_images(nb_env: Env) -> None:
    exported = await nb_env.svc.export(SCOPE, "sub/n.ipynb", "html")
    assert exported.format is ExportFormat.HTML and exported.name == "n.html"
    html = exported.content
    assert html.lstrip().lower().startswith("<!doctype html")
    assert "unique_marker_variable" in html
    assert "Heading for export" in html
    assert f"data:image/png;base64,{PNG}" in html


@pytest.mark.parametrize(
    ("path", "fmt", "error"),
    [
        ("t.txt", None, InvalidInputError),
        ("sub", None, InvalidInputError),
        ("sub/n.ipynb", "pdf", InvalidInputError),
        ("missing.ipynb", None, NotFoundError),
    ],
)
async def test_export_errors(nb_env: Env, path: str, fmt: str | None, error: type[Exception]) -> None:
    with pytest.raises(error):
        await nb_env.svc.export(SCOPE, path, fmt)


async def test_export_unreadable_notebook(nb_env: Env) -> None:
    (nb_env.root / "bad.ipynb").write_text("{oops")
    with pytest.raises(InvalidInputError):
        await nb_env.svc.export(SCOPE, "bad.ipynb", "html")
