"""get_content across type, format, content and hash."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC

import pytest

from nbplane.contents import ContentFormat, ContentType
from nbplane.errors import InvalidInputError, NotFoundError, UnsatisfiableError

from .conftest import SCOPE, Env, notebook_bytes

NB = notebook_bytes("print('hi')\nx = 2")
TEXT = "héllo\nworld\n".encode()
BINARY = bytes(range(256))


@pytest.fixture
def files(env: Env) -> Env:
    (env.root / "nb.ipynb").write_bytes(NB)
    (env.root / "text.txt").write_bytes(TEXT)
    (env.root / "bin.dat").write_bytes(BINARY)
    (env.root / "bad.ipynb").write_text("not json")
    (env.root / "dir").mkdir()
    return env


N, F, D = ContentType.NOTEBOOK, ContentType.FILE, ContentType.DIRECTORY
J, T, B = ContentFormat.JSON, ContentFormat.TEXT, ContentFormat.BASE64

OK_CASES = [
    # path, type, format -> type, format, content, mimetype
    ("nb.ipynb", None, None, N, J, "nb", None),
    ("nb.ipynb", "notebook", None, N, J, "nb", None),
    ("nb.ipynb", "notebook", "json", N, J, "nb", None),
    ("nb.ipynb", None, "json", N, J, "nb", None),
    ("nb.ipynb", "file", None, F, T, NB.decode(), "text/plain"),
    ("nb.ipynb", "file", "text", F, T, NB.decode(), "text/plain"),
    ("nb.ipynb", None, "text", F, T, NB.decode(), "text/plain"),
    ("nb.ipynb", "file", "base64", F, B, base64.b64encode(NB).decode(), "application/octet-stream"),
    ("text.txt", None, None, F, T, TEXT.decode(), "text/plain"),
    ("text.txt", "file", "text", F, T, TEXT.decode(), "text/plain"),
    ("text.txt", None, "base64", F, B, base64.b64encode(TEXT).decode(), "text/plain"),
    ("bin.dat", None, None, F, B, base64.b64encode(BINARY).decode(), "application/octet-stream"),
    ("bin.dat", "file", "base64", F, B, base64.b64encode(BINARY).decode(), "application/octet-stream"),
    ("bad.ipynb", "file", None, F, T, "not json", "text/plain"),
]


@pytest.mark.parametrize(("path", "type_", "fmt", "rtype", "rfmt", "content", "mime"), OK_CASES)
@pytest.mark.parametrize("want_hash", [0, 1])
async def test_get_with_content(files: Env, path: str, type_, fmt, rtype, rfmt, content, mime, want_hash: int) -> None:
    model = await files.svc.get(SCOPE, path, type=type_, format=fmt, content=1, hash=want_hash)
    raw = (files.root / path).read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    assert (model.type, model.format, model.mimetype) == (rtype, rfmt, mime)
    if content == "nb":
        assert isinstance(model.content, dict)
        assert model.content["cells"][0]["source"] == "print('hi')\nx = 2"
        assert model.content == json.loads(json.dumps(model.content))  # plain JSON-serialisable
    else:
        assert model.content == content
    assert model.name == path and model.path == path
    assert model.size == len(raw) and model.writable
    assert model.etag == f"sha256-{digest}"
    assert (model.hash, model.hash_algorithm) == ((digest, "sha256") if want_hash else (None, None))
    assert model.created.tzinfo is UTC and model.last_modified.tzinfo is UTC
    assert model.last_modified.timestamp() == pytest.approx((files.root / path).stat().st_mtime)


@pytest.mark.parametrize(
    ("path", "type_", "rtype"),
    [("nb.ipynb", None, N), ("nb.ipynb", "file", F), ("text.txt", None, F), ("bin.dat", None, F)],
)
@pytest.mark.parametrize("want_hash", [0, 1])
async def test_get_metadata_only(files: Env, path: str, type_, rtype, want_hash: int) -> None:
    model = await files.svc.get(SCOPE, path, type=type_, content=0, hash=want_hash)
    digest = hashlib.sha256((files.root / path).read_bytes()).hexdigest()
    assert model.type is rtype
    assert (model.content, model.format, model.mimetype) == (None, None, None)
    assert model.hash == (digest if want_hash else None)
    assert model.etag == f"sha256-{digest}"


@pytest.mark.parametrize(("type_", "content"), [(None, 0), (None, 1), ("directory", 0)])
@pytest.mark.parametrize("path", ["dir", "/dir/", ""])
async def test_directory_metadata(files: Env, type_, content: int, path: str) -> None:
    model = await files.svc.get(SCOPE, path, type=type_, content=content, hash=1)
    assert model.type is D
    assert (model.content, model.format, model.mimetype, model.hash, model.size) == (None,) * 5
    assert model.etag and model.etag.startswith("dir-")


async def test_directory_listing_is_refused(files: Env) -> None:
    with pytest.raises(InvalidInputError) as err:
        await files.svc.get(SCOPE, "dir", type="directory", content=1)
    assert not isinstance(err.value, UnsatisfiableError)


@pytest.mark.parametrize(
    ("path", "type_", "fmt", "content", "reason"),
    [
        ("nb.ipynb", "notebook", "text", 1, "bad format"),
        ("nb.ipynb", "notebook", "base64", 0, "bad format"),
        ("nb.ipynb", "file", "json", 1, "bad format"),
        ("nb.ipynb", "directory", None, 0, "bad type"),
        ("text.txt", "notebook", None, 1, "bad type"),
        ("text.txt", None, "json", 1, "bad format"),
        ("text.txt", "directory", None, 0, "bad type"),
        ("bin.dat", "file", "text", 1, "bad format"),
        ("bin.dat", None, "text", 1, "bad format"),
        ("bad.ipynb", None, None, 1, "bad type"),
        ("dir", "file", None, 0, "bad type"),
        ("dir", "notebook", None, 1, "bad type"),
        ("dir", "directory", "text", 0, "bad format"),
        ("dir", None, "base64", 0, "bad format"),
    ],
)
async def test_unsatisfiable(files: Env, path: str, type_, fmt, content: int, reason: str) -> None:
    with pytest.raises(UnsatisfiableError) as err:
        await files.svc.get(SCOPE, path, type=type_, format=fmt, content=content)
    assert err.value.reason == reason


@pytest.mark.parametrize(
    "kwargs", [{"type": "folder"}, {"format": "xml"}, {"content": 2}, {"hash": -1}, {"content": 0.5}]
)
async def test_bad_parameters(files: Env, kwargs: dict) -> None:
    with pytest.raises(InvalidInputError):
        await files.svc.get(SCOPE, "text.txt", **kwargs)


@pytest.mark.parametrize("path", ["missing.ipynb", "dir/missing.txt", "text.txt/below"])
async def test_missing_path(files: Env, path: str) -> None:
    with pytest.raises(NotFoundError):
        await files.svc.get(SCOPE, path)


async def test_leading_slashes_name_the_same_file(files: Env) -> None:
    models = [await files.svc.get(SCOPE, p) for p in ("nb.ipynb", "/nb.ipynb", "//nb.ipynb")]
    assert {m.path for m in models} == {"nb.ipynb"}
    assert len({m.etag for m in models}) == 1


async def test_etag_follows_content(files: Env) -> None:
    before = await files.svc.get(SCOPE, "text.txt", content=0)
    (files.root / "text.txt").write_bytes(b"changed")
    after = await files.svc.get(SCOPE, "text.txt", content=0)
    assert before.etag != after.etag == "sha256-" + hashlib.sha256(b"changed").hexdigest()
