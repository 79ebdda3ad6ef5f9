"""What deleting a workspace does to its runtime: delete its sessions and stop its kernels.

The one place that reaches into the session and kernel services for a workspace delete, so the kernel
runtime can be rewired here alone.
"""

from __future__ import annotations

from nbplane.errors import NotFoundError
from nbplane.kernels.service import KernelService
from nbplane.scope import Scope
from nbplane.sessions.models import ListSessionsQuery
from nbplane.sessions.service import SessionService
from nbplane.workspaces.service import Teardown


def runtime_teardown(sessions: SessionService, kernels: KernelService) -> Teardown:
    """A teardown that stops the workspace's pooled kernels, deletes every session of the workspace (each
    stops its kernel unless shared), then stops any kernel still running there (started through the kernels API)."""

    async def teardown(scope: Scope) -> None:
        await kernels.drain_pool(scope)
        while True:
            page = await sessions.list(scope, ListSessionsQuery(limit=1000))
            if not page.items:
                break
            for view in page.items:
                try:
                    await sessions.delete(scope, view.session.id, if_match=None)
                except NotFoundError:
                    pass  # deleted meanwhile
        for kernel in await kernels.list(scope):
            try:
                await kernels.shutdown(scope, kernel.id)
            except NotFoundError:
                pass

    return teardown
