from __future__ import annotations

import pytest

from nbplane.contents import paths
from nbplane.errors import InvalidInputError

ESCAPES = [
    "..",
    "../x.ipynb",
    "a/../../x.ipynb",
    "a/..",
    "/../etc/passwd",
    "//../x",
    ".",
    "./a.ipynb",
    "a/./b",
    "...",
    "a\x00b.ipynb",
    "a.ipynb\x00",
    "a\nb",
    "a\x7fb",
    "a\\b.ipynb",
    "..\\..\\x",
    "\\\\?\\C:\\x",
    "\\\\server\\share\\x",
    "C:",
    "C:x.ipynb",
    "c:/x",
    "C:\\Windows",
    "a.ipynb:stream",
    "a.ipynb::$DATA",
    "CON",
    "con.txt",
    "Nul",
    "aux.ipynb",
    "COM1",
    "lpt9.txt",
    "com¹",
    "CONIN$",
    "dir/PRN/x",
    "a.",
    "a ",
    "dir./x",
    "dir /x",
    "a<b",
    "a>b",
    "a|b",
    "a?b",
    "a*b",
    '"a"',
    "\ud800.ipynb",
    "x" * 256,
    "a/" + "y" * 256,
    "/".join(["d"] * 3000),
    ".~nbplane-1234.tmp",
    "dir/.~nbplane",
]


@pytest.mark.parametrize("path", ESCAPES)
def test_escape_attempts_are_rejected(path: str) -> None:
    with pytest.raises(InvalidInputError):
        paths.normalize(path)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", ""),
        ("/", ""),
        ("//", ""),
        ("a.ipynb", "a.ipynb"),
        ("/a.ipynb", "a.ipynb"),
        ("//a.ipynb", "a.ipynb"),
        ("/Workspace/dir/a b.ipynb", "Workspace/dir/a b.ipynb"),
        ("a//b/", "a/b"),
        ("/etc/passwd", "etc/passwd"),
        ("..a/b..c", "..a/b..c"),
        (".hidden", ".hidden"),
        ("données/é.ipynb", "données/é.ipynb"),
        ("x" * 255, "x" * 255),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert paths.normalize(raw) == expected


def test_normalize_rejects_non_strings() -> None:
    with pytest.raises(InvalidInputError):
        paths.normalize(b"a.ipynb")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["ws1", "ocid1.aidataplatform.oc1..x", "a_b-c"])
def test_identifiers_accepted(value: str) -> None:
    assert paths.check_identifier(value, "x") == value


@pytest.mark.parametrize("value", ["", ".", "..", "../ws", "a/b", "a\\b", "ws.", "-ws", "a" * 256, "C:"])
def test_identifiers_rejected(value: str) -> None:
    with pytest.raises(InvalidInputError):
        paths.check_identifier(value, "x")


@pytest.mark.parametrize(
    ("filename", "taken", "insert", "expected"),
    [
        ("Untitled.ipynb", set(), "", "Untitled.ipynb"),
        ("Untitled.ipynb", {"Untitled.ipynb"}, "", "Untitled1.ipynb"),
        ("Untitled.ipynb", {"Untitled.ipynb", "Untitled1.ipynb"}, "", "Untitled2.ipynb"),
        ("untitled.txt", {"untitled.txt"}, "", "untitled1.txt"),
        ("Untitled Folder", {"Untitled Folder"}, " ", "Untitled Folder 1"),
        ("a.ipynb", {"a.ipynb"}, "-Copy", "a-Copy1.ipynb"),
        ("a.b.ipynb", {"a.b.ipynb"}, "-Copy", "a.b-Copy1.ipynb"),
        ("x.tar.gz", {"x.tar.gz"}, "-Copy", "x-Copy1.tar.gz"),
    ],
)
def test_next_free_name(filename: str, taken: set[str], insert: str, expected: str) -> None:
    assert paths.next_free_name(filename, taken, insert) == expected


def test_copy_base_name_strips_copy_suffix() -> None:
    assert paths.copy_base_name("a-Copy2.ipynb") == "a.ipynb"
    assert paths.copy_base_name("a.ipynb") == "a.ipynb"
