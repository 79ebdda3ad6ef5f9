"""create_content: untitled items, copies and creation at an exact path."""

from __future__ import annotations

import nbformat
import pytest

from nbplane.contents import ContentType
from nbplane.errors import AlreadyExistsError, InvalidInputError, NotFoundError

from .conftest import SCOPE, Env, notebook_bytes


async def _names(env: Env, n: int, path: str = "", **kwargs) -> list[str]:
    return [(await env.svc.create(SCOPE, path, **kwargs)).name for _ in range(n)]


async def test_untitled_notebooks(env: Env) -> None:
    assert await _names(env, 3, type="notebook") == ["Untitled.ipynb", "Untitled1.ipynb", "Untitled2.ipynb"]
    nb = nbformat.reads((env.root / "Untitled1.ipynb").read_text(), as_version=4)
    nbformat.validate(nb)


async def test_untitled_notebook_by_ext(env: Env) -> None:
    model = await env.svc.create(SCOPE, "", ext=".ipynb")
    assert (model.name, model.type) == ("Untitled.ipynb", ContentType.NOTEBOOK)


async def test_untitled_files(env: Env) -> None:
    assert await _names(env, 2, type="file", ext=".txt") == ["untitled.txt", "untitled1.txt"]
    assert await _names(env, 2) == ["untitled", "untitled1"]  # empty body, as Jupyter
    assert (env.root / "untitled.txt").read_bytes() == b""


async def test_untitled_folders(env: Env) -> None:
    names = await _names(env, 3, type="directory")
    assert names == ["Untitled Folder", "Untitled Folder 1", "Untitled Folder 2"]
    assert all((env.root / n).is_dir() for n in names)


async def test_untitled_inside_a_subdirectory(env: Env) -> None:
    (env.root / "sub").mkdir()
    first = await env.svc.create(SCOPE, "/sub/", type="notebook")
    second = await env.svc.create(SCOPE, "sub", type="notebook")
    assert (first.path, second.path) == ("sub/Untitled.ipynb", "sub/Untitled1.ipynb")


async def test_create_returns_metadata(env: Env) -> None:
    model = await env.svc.create(SCOPE, "", type="notebook")
    assert model.content is None and model.format is None and model.mimetype is None
    assert model.etag and model.etag.startswith("sha256-") and model.size


async def test_create_at_exact_missing_path(env: Env) -> None:
    nb = await env.svc.create(SCOPE, "/new.ipynb")
    directory = await env.svc.create(SCOPE, "newdir", type="directory")
    text = await env.svc.create(SCOPE, "newdir/notes.md", type="file")
    assert (nb.type, directory.type, text.path) == (
        ContentType.NOTEBOOK,
        ContentType.DIRECTORY,
        "newdir/notes.md",
    )


@pytest.mark.parametrize(
    ("path", "kwargs", "error"),
    [
        ("exists.ipynb", {"type": "notebook"}, AlreadyExistsError),
        ("nope/x.ipynb", {}, NotFoundError),
        ("exists.ipynb/x.ipynb", {}, NotFoundError),
        ("x.txt", {"type": "notebook"}, InvalidInputError),
        ("x.txt", {"type": "file", "ext": ".md"}, InvalidInputError),
        ("", {"type": "spreadsheet"}, InvalidInputError),
        ("", {"ext": "txt"}, InvalidInputError),
        ("", {"ext": ".t:x"}, InvalidInputError),
        ("", {"format": "text"}, InvalidInputError),
        ("", {"content": "abc"}, InvalidInputError),
    ],
)
async def test_create_errors(env: Env, path: str, kwargs: dict, error: type[Exception]) -> None:
    (env.root / "exists.ipynb").write_bytes(notebook_bytes())
    with pytest.raises(error):
        await env.svc.create(SCOPE, path, **kwargs)


async def test_copy_naming(env: Env) -> None:
    (env.root / "a.ipynb").write_bytes(notebook_bytes("copied"))
    names = await _names(env, 2, copy_from="/a.ipynb")
    assert names == ["a-Copy1.ipynb", "a-Copy2.ipynb"]
    again = await env.svc.create(SCOPE, "", copy_from="a-Copy1.ipynb")
    assert again.name == "a-Copy3.ipynb"
    assert (env.root / "a-Copy3.ipynb").read_bytes() == (env.root / "a.ipynb").read_bytes()


async def test_copy_into_other_directory_and_exact_path(env: Env) -> None:
    (env.root / "a.ipynb").write_bytes(notebook_bytes("copied"))
    (env.root / "sub").mkdir()
    into_dir = await env.svc.create(SCOPE, "sub", copy_from="a.ipynb")
    exact = await env.svc.create(SCOPE, "sub/b.ipynb", copy_from="a.ipynb")
    second = await env.svc.create(SCOPE, "sub", copy_from="a.ipynb")
    assert (into_dir.path, exact.path, second.path) == ("sub/a.ipynb", "sub/b.ipynb", "sub/a-Copy1.ipynb")
    assert (env.root / "sub" / "b.ipynb").read_bytes() == (env.root / "a.ipynb").read_bytes()


@pytest.mark.parametrize(
    ("copy_from", "path", "error"),
    [
        ("missing.ipynb", "", NotFoundError),
        ("sub", "", InvalidInputError),
        ("a.ipynb", "a.ipynb", AlreadyExistsError),
    ],
)
async def test_copy_errors(env: Env, copy_from: str, path: str, error: type[Exception]) -> None:
    (env.root / "a.ipynb").write_bytes(notebook_bytes())
    (env.root / "sub").mkdir()
    with pytest.raises(error):
        await env.svc.create(SCOPE, path, copy_from=copy_from)
