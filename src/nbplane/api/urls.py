"""The API's URL prefixes, spelled once. Routers build their paths from these."""

from __future__ import annotations

API_VERSION = "20260430"
ROOT = f"/{API_VERSION}"
INSTANCE = f"{ROOT}/aiDataPlatforms/{{aiDataPlatformId}}"
WORKSPACES = f"{INSTANCE}/workspaces"
WORKSPACE = f"{WORKSPACES}/{{workspaceKey}}"
NOTEBOOK = f"{WORKSPACE}/notebook"
"""A workspace's Jupyter-Server-style base URL."""
NOTEBOOK_API = f"{NOTEBOOK}/api"

# The literal segments of NOTEBOOK_API; None stands for a path parameter (raw-path routing of contents).
NOTEBOOK_API_SEGMENTS: tuple[bytes | None, ...] = (
    b"",
    API_VERSION.encode(),
    b"aiDataPlatforms",
    None,
    b"workspaces",
    None,
    b"notebook",
    b"api",
)
