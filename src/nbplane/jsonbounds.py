"""Bounded JSON: a depth limit on every document parsed from a request or handed to nbformat.

Python's `json` recurses once per nesting level, and nbformat's validation and serialisation recurse deeper
still, so a few hundred nested arrays in a body used to end in `RecursionError` and a 500 (two tracebacks in the
log each time). `loads` turns both a parser recursion failure and anything deeper than `MAX_DEPTH` into
`JsonTooDeepError`; `check_depth` does the same for an object already parsed. The size of a body is bounded
before it is parsed, by the body limit (`NBPLANE_MAX_BODY_BYTES`, 413).
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64
"""Nesting levels (objects and arrays) a document may have. Notebooks nest a handful of levels (cells, outputs,
metadata, widget state: about a dozen at most in practice), so 64 leaves room for any real document while staying
far below the interpreter's recursion limit (1000) even with nbformat's jsonschema frames on top."""


class JsonTooDeepError(ValueError):
    """The document nests deeper than allowed; the message is safe to show."""


def too_deep_message(max_depth: int = MAX_DEPTH) -> str:
    return f"The JSON document nests deeper than the limit of {max_depth} levels."


def loads(data: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """`json.loads` with a depth bound; ValueError (JSONDecodeError, UnicodeDecodeError) as json raises it."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise JsonTooDeepError(too_deep_message(max_depth)) from None
    check_depth(value, max_depth=max_depth)
    return value


def depth(value: object) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0, `[]` is 1), computed without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        level += 1
        deepest = max(deepest, level)
        stack.extend((child, level) for child in children if isinstance(child, dict | list | tuple))
    return deepest


def check_depth(value: object, *, max_depth: int = MAX_DEPTH) -> None:
    """JsonTooDeepError unless `value` nests at most `max_depth` levels."""
    if depth(value) > max_depth:
        raise JsonTooDeepError(too_deep_message(max_depth))
