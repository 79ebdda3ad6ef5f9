"""The collaborators one running server is made of, built once in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from nbplane.auth.authenticator import Authenticator
from nbplane.contents.service import ContentService
from nbplane.idempotency import RetryTokens
from nbplane.kernels.base import KernelBackend
from nbplane.kernels.culling import Culler
from nbplane.kernels.service import KernelService
from nbplane.sessions.service import SessionService
from nbplane.settings import Settings
from nbplane.store.db import Database
from nbplane.workspace_objects import WorkspaceObjectService, ZipTransfers


@dataclass
class Services:
    settings: Settings
    db: Database
    backend: KernelBackend
    kernels: KernelService
    sessions: SessionService
    contents: ContentService
    retry_tokens: RetryTokens
    authenticator: Authenticator
    culler: Culler
    workspace_objects: WorkspaceObjectService
    zip_transfers: ZipTransfers
