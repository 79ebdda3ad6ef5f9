"""`opc-retry-token` handling for create operations: replay the first response, run the work once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request, Response

from nbplane.auth.principal import Principal
from nbplane.idempotency import StoredResponse, request_fingerprint
from nbplane.scope import Scope
from nbplane.services import Services


async def with_retry_token(
    request: Request,
    services: Services,
    *,
    principal: Principal,
    operation: str,
    scope: Scope,
    token: str | None,
    run: Callable[[], Awaitable[tuple[Response, str | None]]],
    resource_exists: Callable[[str], Awaitable[bool]],
    fingerprint_extra: str = "",
) -> Response:
    """Run `run` (which returns the response and the id of what it created) under the token's guard.

    `fingerprint_extra` adds what identifies the request besides method, path and body (e.g. headers that
    name the object), so the same token with other such values is a conflict, not a replay.
    """
    if token is None:
        response, _ = await run()
        return response
    key = f"{principal.key}|{operation}|{scope.instance_id}|{scope.workspace_key}"
    path = request.url.path + ("\0" + fingerprint_extra if fingerprint_extra else "")
    fingerprint = request_fingerprint(request.method, path, await request.body())
    replay = await services.retry_tokens.claim(key, token, fingerprint, resource_exists)
    if replay is not None:
        headers = {"etag": replay.etag} if replay.etag else {}
        return Response(replay.body, status_code=replay.status_code, headers=headers, media_type="application/json")
    try:
        response, resource_id = await run()
    except BaseException:
        await services.retry_tokens.release(key, token)
        raise
    stored = StoredResponse(
        status_code=response.status_code,
        body=bytes(response.body).decode(),
        etag=response.headers.get("etag"),
        resource_id=resource_id,
    )
    await services.retry_tokens.complete(key, token, stored)
    return response
