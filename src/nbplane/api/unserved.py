"""The AIDP operations nbplane does not serve, and the message that says so.

`aidp_operations.tsv` lists every operation of Oracle's `aidp-python-client` (client class, SDK method,
HTTP method, path). A request the router cannot place is matched against it; when it is an AIDP operation,
the 404 names the operation's API group (the client class: `CatalogClient` -> "Catalog API") and lists the
groups nbplane serves. What is served is read from the app's own routes, so the list cannot drift.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from starlette.routing import BaseRoute, Match, WebSocketRoute

from nbplane.api import urls

_NAMES = {"MLOpsClient": "MLOps"}


def group_name(client: str) -> str:
    """`WorkspaceObjectClient` -> "Workspace Object"."""
    if client in _NAMES:
        return _NAMES[client]
    return " ".join(re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z][a-z]*|[a-z]+", client.removesuffix("Client")))


@dataclass(frozen=True)
class Operation:
    client: str
    sdk_op: str
    method: str
    path: str  # the SDK's template, after the version prefix
    pattern: re.Pattern[str]
    literal_segments: int

    @property
    def group(self) -> str:
        return group_name(self.client)

    def sample_path(self) -> str:
        return urls.ROOT + re.sub(r"\{[^}]+\}", "x", self.path)


def _pattern(path: str) -> re.Pattern[str]:
    parts = []
    for segment in path.strip("/").split("/"):
        name = segment[1:-1] if segment.startswith("{") and segment.endswith("}") else None
        if name is None:
            parts.append(re.escape(segment))
        else:  # object and content paths may hold '/'
            parts.append(".+" if name.endswith("Path") else "[^/]+")
    return re.compile("/" + "/".join(parts))


def load_operations() -> list[Operation]:
    """Every AIDP operation, most specific path first (so `…/actions/copy` wins over `…/{key}`)."""
    text = resources.files("nbplane.api").joinpath("aidp_operations.tsv").read_text(encoding="utf-8")
    found = []
    for line in text.splitlines()[1:]:
        if not line.strip():
            continue
        client, sdk_op, method, path = line.split("\t")
        literals = sum(1 for s in path.strip("/").split("/") if not s.startswith("{"))
        found.append(Operation(client, sdk_op, method.upper(), path, _pattern(path), literals))
    return sorted(found, key=lambda op: -op.literal_segments)


def _routed(routes: list[BaseRoute], op: Operation) -> bool:
    """Whether some HTTP route (or included router) takes this method and path."""
    scope = {"type": "http", "method": op.method, "path": op.sample_path(), "root_path": ""}
    for route in routes:
        if isinstance(route, WebSocketRoute):
            continue
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return True
    return False


class UnservedOperations:
    """Knows which AIDP operations an app routes and describes a request for one it does not."""

    def __init__(self, routes: list[BaseRoute]) -> None:
        self._operations = load_operations()
        self._served = {op for op in self._operations if _routed(routes, op)}
        self._served_clients = {op.client for op in self._served}
        self.served_groups = sorted(group_name(c) for c in self._served_clients)

    def find(self, method: str, path: str) -> Operation | None:
        """The AIDP operation a request names, if any."""
        if not path.startswith(urls.ROOT + "/"):
            return None
        rest = path[len(urls.ROOT) :]
        for op in self._operations:
            if op.method == method.upper() and op.pattern.fullmatch(rest):
                return op
        return None

    def message(self, method: str, path: str) -> str | None:
        """The 404 message for an unserved AIDP operation; None when the request names no AIDP operation
        or one that is served (then the route's own answer stands)."""
        op = self.find(method, path)
        if op is None or op in self._served:
            return None
        served = _join(self.served_groups)
        if op.client in self._served_clients:
            return f"nbplane does not serve {op.sdk_op} of the {op.group} API; of the AIDP APIs it serves {served}."
        return f"nbplane does not serve the {op.group} API; it serves {served}."


def _join(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]
