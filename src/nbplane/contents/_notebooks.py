"""nbformat and nbconvert glue: parse, validate, serialise and render notebooks.

nbformat (with jsonschema and its format checkers, tens of MB) and nbconvert are imported by the first
function that needs them, not when the server starts: an idle server does not carry them.
"""

from __future__ import annotations

import base64
import warnings
from pathlib import Path
from typing import Any

from nbplane.contents.models import ContentFormat, ContentType
from nbplane.errors import InvalidInputError, MissingParameterError
from nbplane.jsonbounds import JsonTooDeepError, check_depth, loads

_MAX_MESSAGE = 500


class NotANotebookError(ValueError):
    """The bytes are not a JSON notebook document."""


def parse(data: bytes) -> dict[str, Any]:
    """Decode notebook bytes as Jupyter serves them: v4, multi-line strings rejoined; no schema check."""
    import nbformat

    try:
        obj = loads(data)
    except JsonTooDeepError as exc:
        raise NotANotebookError(str(exc)) from None
    except ValueError as exc:
        raise NotANotebookError("not valid JSON") from exc
    major = obj.get("nbformat") if isinstance(obj, dict) else None
    if not isinstance(major, int) or major not in nbformat.versions:
        raise NotANotebookError("no known nbformat version")
    try:
        nb = nbformat.versions[major].to_notebook_json(obj, minor=obj.get("nbformat_minor"))
        return nb if major == 4 else nbformat.convert(nb, 4)
    except Exception as exc:  # nbformat raises assorted errors on malformed input
        raise NotANotebookError(f"unreadable nbformat {major} document") from exc


def validate(nb: object) -> None:
    """Raise InvalidInputError carrying nbformat's message unless `nb` is a valid notebook.

    Missing cell ids are filled in place (nbformat's repair) rather than refused; older clients omit them.
    """
    if not isinstance(nb, dict):
        raise InvalidInputError("notebook content must be a JSON object")
    import nbformat
    from nbformat.validator import MissingIDFieldWarning

    try:
        check_depth(nb)  # nbformat recurses per level: an unbounded document ends in RecursionError
    except JsonTooDeepError as exc:
        raise InvalidInputError(f"invalid notebook: {exc}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MissingIDFieldWarning)
            nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        message = getattr(exc, "message", None) or str(exc)
        raise InvalidInputError(f"invalid notebook: {message[:_MAX_MESSAGE]}") from exc
    except (AttributeError, TypeError, KeyError, RecursionError) as exc:
        raise InvalidInputError("invalid notebook: malformed structure") from exc


def validate_file(path: Path) -> None:
    """Check that a staged file holds a valid notebook (InvalidInputError otherwise).

    The raw bytes are dropped as soon as they are parsed, so validation holds only the parsed form.
    """
    try:
        # Decoding first means json never holds the bytes and their decoded copy at once.
        nb = loads(path.read_text("utf-8"))
    except JsonTooDeepError as exc:
        raise InvalidInputError(f"invalid notebook: {exc}") from None
    except ValueError as exc:  # includes UnicodeDecodeError
        raise InvalidInputError("invalid notebook: not valid UTF-8 JSON") from exc
    validate(nb)


def serialize(nb: dict[str, Any]) -> bytes:
    """Jupyter's on-disk form: indent 1, sorted keys, trailing newline, nbformat version kept."""
    import nbformat

    return nbformat.writes(nbformat.from_dict(nb), version=nbformat.NO_CONVERT).encode("utf-8")


def new_notebook() -> bytes:
    import nbformat

    return serialize(nbformat.v4.new_notebook())


def render_html(nb: dict[str, Any]) -> str:
    """Render with nbconvert's HTMLExporter; image outputs stay inline as base64 data URIs."""
    import nbformat
    from nbconvert import HTMLExporter  # heavy import, only paid by export

    body, _ = HTMLExporter(embed_images=True).from_notebook_node(nbformat.from_dict(nb))
    return str(body)


def encode_for_save(rel: str, ctype: ContentType, cfmt: ContentFormat | None, content: object) -> bytes:
    """The bytes to store for a PUT of a notebook (validated, Jupyter-serialised) or a file."""
    if content is None:
        raise MissingParameterError("content is required")
    if ctype is ContentType.NOTEBOOK:
        if cfmt not in (None, ContentFormat.JSON):
            raise InvalidInputError("a notebook is saved with format json")
        if not rel.endswith(".ipynb"):
            raise InvalidInputError("a notebook's name must end with .ipynb")
        if isinstance(content, str):
            try:
                content = loads(content)
            except JsonTooDeepError as exc:
                raise InvalidInputError(f"invalid notebook: {exc}") from None
            except ValueError as exc:
                raise InvalidInputError("notebook content is not valid JSON") from exc
        if not isinstance(content, dict):
            raise InvalidInputError("notebook content must be a JSON object")
        validate(content)
        return serialize(content)
    if not isinstance(content, str):
        raise InvalidInputError("file content must be a string")
    if cfmt in (None, ContentFormat.TEXT):
        return content.encode("utf-8")
    if cfmt is ContentFormat.BASE64:
        try:
            return base64.b64decode(content, validate=True)
        except ValueError as exc:
            raise InvalidInputError("content is not valid base64") from exc
    raise InvalidInputError("a file is saved with format text or base64")
