"""Which backend runs a cluster's kernels: a workspace cluster is a compute target, `local` (the node's own
backend, one for every local cluster) or `gateway` (one `GatewayKernelBackend` per cluster and gateway
configuration, made on first use and kept while the server runs)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nbplane.errors import ConflictError
from nbplane.kernels.base import KernelBackend
from nbplane.kernels.gateway import GatewayTarget
from nbplane.scope import Scope

LOCAL = "local"
GATEWAY = "gateway"


@dataclass(frozen=True)
class ComputeTarget:
    scope: Scope
    cluster_key: str
    kind: str
    state: str
    gateway: GatewayTarget | None = None
    is_default: bool = False

    def require_active(self) -> None:
        """Kernels start only on an ACTIVE cluster."""
        if self.state != "ACTIVE":
            raise ConflictError(f"Cluster '{self.cluster_key}' is {self.state}; start it first.")


GatewayFactory = Callable[[ComputeTarget], KernelBackend]


class BackendResolver:
    def __init__(self, local: KernelBackend, gateway_factory: GatewayFactory | None = None) -> None:
        self.local = local
        self._factory = gateway_factory
        self._gateways: dict[tuple[object, ...], KernelBackend] = {}

    def backend_for(self, target: ComputeTarget) -> KernelBackend:
        if target.kind != GATEWAY or target.gateway is None:
            return self.local
        gw = target.gateway
        key = (target.scope, target.cluster_key, gw.url, gw.token, gw.ca_pem, tuple(sorted(gw.kernel_env.items())))
        backend = self._gateways.get(key)
        if backend is None:
            if self._factory is None:
                raise ConflictError("This server runs no gateway kernels.")
            backend = self._gateways[key] = self._factory(target)
        return backend

    def all(self) -> list[KernelBackend]:
        return [self.local, *self._gateways.values()]
