"""FastAPI dependencies: the services, the verified caller and the workspace scope of a request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Header, Request
from pydantic import BaseModel, ValidationError

from nbplane.api.errors import describe_validation
from nbplane.auth import access
from nbplane.auth.authenticator import RequestFacts, authenticate_before_body
from nbplane.auth.principal import Principal
from nbplane.errors import CannotParseError, InvalidInputError, MissingParameterError
from nbplane.jsonbounds import JsonTooDeepError, loads
from nbplane.scope import Scope
from nbplane.services import Services


async def get_services(request: Request) -> Services:
    """Async so that FastAPI calls it on the event loop (a plain `def` dependency runs in a worker thread)."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def current_principal(request: Request, services: ServicesDep) -> Principal:
    """Authenticated from the headers before the body is read (a signature's body digest is checked after)."""
    facts = RequestFacts.from_asgi(request.scope, b"")
    principal = await authenticate_before_body(services.authenticator, facts, request.body)
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def workspace_scope(
    aiDataPlatformId: str,
    workspaceKey: str,
    principal: CurrentPrincipal,
    services: ServicesDep,
    tenant: Annotated[str | None, Header(alias="datalake-tenant-id")] = None,
) -> Scope:
    return await access.resolve_workspace(
        services.db, principal, aiDataPlatformId, workspaceKey, tenant_id=tenant, cache=services.authenticator.cache
    )


WorkspaceScope = Annotated[Scope, Depends(workspace_scope)]


ModelT = TypeVar("ModelT", bound=BaseModel)


def parse_body(model: type[ModelT], raw: bytes, *, required: bool = True) -> ModelT:
    """The body as `model`: JSON whatever its content-type, depth-bounded (`jsonbounds`), OCI-style errors.
    With `required=False` an empty body is the model's defaults."""
    if not raw.strip() and not required:
        return model()
    if not raw.strip():
        raise MissingParameterError("A request body is required.")
    try:
        data = loads(raw)
    except JsonTooDeepError as exc:
        raise InvalidInputError(str(exc)) from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise CannotParseError(f"The request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInputError("The request body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        code, message = describe_validation(exc.errors(), located=False)
        if code == "MissingParameter":
            raise MissingParameterError(message) from exc
        raise InvalidInputError(message) from exc


def json_body(model: type[ModelT], *, required: bool = True) -> Callable[[Request], Awaitable[ModelT]]:
    """A dependency parsing the body (`parse_body`) once the caller is authenticated (an unauthenticated
    malformed body is a 401, not a 400)."""

    async def parse(request: Request, _: CurrentPrincipal) -> ModelT:
        return parse_body(model, await request.body(), required=required)

    parse.body_model = model  # type: ignore[attr-defined]  # read by nbplane.api.openapi
    parse.body_required = required  # type: ignore[attr-defined]
    return parse
