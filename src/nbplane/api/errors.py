"""The one mapping from domain errors to HTTP statuses and OCI error bodies."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match, WebSocketRoute
from starlette.types import Scope

from nbplane import errors
from nbplane.api.unserved import UnservedOperations

log = logging.getLogger(__name__)

# Resolved along the MRO, so subclasses inherit their parent's mapping unless listed.
ERROR_TABLE: dict[type[errors.NbplaneError], tuple[int, str]] = {
    errors.InvalidInputError: (400, "InvalidParameter"),
    errors.MissingParameterError: (400, "MissingParameter"),
    errors.CannotParseError: (400, "CannotParseRequest"),
    errors.NotAuthenticatedError: (401, "NotAuthenticated"),
    errors.NotFoundError: (404, "NotAuthorizedOrNotFound"),
    errors.ConflictError: (409, "Conflict"),
    errors.InvalidatedRetryTokenError: (409, "InvalidatedRetryToken"),
    errors.AlreadyExistsError: (409, "NotAuthorizedOrResourceAlreadyExists"),
    errors.PreconditionFailedError: (412, "NoEtagMatch"),
    errors.PayloadTooLargeError: (413, "PayloadTooLarge"),
    # 400 QuotaExceeded: an OCI code the SDK's default retry strategy does not retry (429 and 409
    # IncorrectState it would), since waiting does not free a kernel.
    errors.QuotaExceededError: (400, "QuotaExceeded"),
    errors.RateLimitedError: (429, "TooManyRequests"),
    errors.BackendError: (500, "InternalServerError"),
}

_HTTP_CODES = {
    400: "InvalidParameter",
    401: "NotAuthenticated",
    404: "NotFound",
    405: "MethodNotAllowed",
    413: "PayloadTooLarge",
}


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> list[str]:
    """Every method some route serves at the request's path (Starlette's own 405 names only the methods of the
    first route that matched the path, not those of the other routes at the same path)."""
    found = []
    for method in _METHODS:
        probe = {**scope, "method": method}
        if any(not isinstance(r, WebSocketRoute) and r.matches(probe)[0] is Match.FULL for r in routes):
            found.append(method)
    return found


def status_and_code(exc: errors.NbplaneError) -> tuple[int, str]:
    for cls in type(exc).__mro__:
        if cls in ERROR_TABLE:
            return ERROR_TABLE[cls]
    return 500, "InternalServerError"


def error_response(status: int, code: str, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, **extra}, status_code=status)


def describe_validation(errors_: Sequence[Any], *, located: bool = True) -> tuple[str, str]:
    """OCI code and a readable message for pydantic/FastAPI validation errors."""
    problems = []
    code = "InvalidParameter"
    for err in errors_:
        kind = err.get("type", "")
        loc = [str(p) for p in err.get("loc", ())]
        if located and loc and loc[0] in ("body", "query", "header", "path"):
            loc = loc[1:]  # FastAPI prefixes where the value came from
        where = ".".join(loc) or "request body"
        if kind == "json_invalid":
            return "CannotParseRequest", "The request body is not valid JSON."
        if kind == "missing" and not loc:
            return "MissingParameter", "A request body is required."
        if kind == "missing":
            code = "MissingParameter"
        problems.append(f"{where}: {err.get('msg', 'invalid value')}")
    return code, "Invalid request: " + "; ".join(problems)


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.NbplaneError)
    async def _domain(request: Request, exc: errors.NbplaneError) -> JSONResponse:
        status, code = status_and_code(exc)
        extra: dict[str, object] = {}
        if isinstance(exc, errors.UnsatisfiableError):
            extra["reason"] = exc.reason
        response = error_response(status, code, exc.message, **extra)
        if isinstance(exc, errors.RateLimitedError):
            response.headers["Retry-After"] = str(max(1, round(exc.retry_after + 0.499)))
        if status >= 500:
            log.error("request failed: %s", exc.message)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        code, message = describe_validation(exc.errors())
        return error_response(400, code, message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "InternalServerError" if exc.status_code >= 500 else "Error")
        message = exc.detail if isinstance(exc.detail, str) else "Request failed"
        if exc.status_code in (404, 405) and message in ("Not Found", "Method Not Allowed"):
            catalog: UnservedOperations | None = getattr(request.app.state, "unserved", None)
            unserved = catalog.message(request.method, request.url.path) if catalog else None
            if unserved is not None:
                return error_response(404, "NotFound", unserved)
        if exc.status_code == 404 and message == "Not Found":
            message = "There is no operation at this URI path and HTTP method."
        response = error_response(exc.status_code, code, message)
        if exc.status_code == 405:
            response.headers["Allow"] = ", ".join(allowed_methods(request.app.routes, request.scope))
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "InternalServerError", "An internal error occurred; see the server log.")
