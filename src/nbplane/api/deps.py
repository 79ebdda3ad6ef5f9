"""FastAPI dependencies: the services, the verified caller and the workspace scope of a request."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Header, Request
from pydantic import BaseModel, ValidationError

from nbplane.api.errors import describe_validation
from nbplane.auth import access
from nbplane.auth.authenticator import RequestFacts
from nbplane.auth.principal import Principal
from nbplane.errors import CannotParseError, InvalidInputError, MissingParameterError
from nbplane.scope import Scope
from nbplane.services import Services


async def get_services(request: Request) -> Services:
    """Async so that FastAPI calls it on the event loop (a plain `def` dependency runs in a worker thread)."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def request_facts(request: Request) -> RequestFacts:
    return RequestFacts.from_asgi(request.scope, await request.body())


async def current_principal(request: Request, services: ServicesDep) -> Principal:
    principal = await services.authenticator.authenticate(await request_facts(request))
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


def json_body(model: type[ModelT], *, required: bool = True) -> Callable[[Request], Awaitable[ModelT]]:
    """A dependency parsing the body as JSON whatever its content-type, with OCI-style errors.
    With `required=False` an empty body is the model's defaults."""

    async def parse(request: Request) -> ModelT:
        raw = await request.body()
        if not raw.strip() and not required:
            return model()
        if not raw.strip():
            raise MissingParameterError("A request body is required.")
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
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

    return parse
