"""Every kernel backend against one set of cases: `make_backend()` returns a new backend instance on the same
"machine" (the fake's shared FakeMachine, the local runtime dir, or one running gateway), as a restarted
server would have. The gateways are real: a `jupyter kernelgateway` and a Jupyter Enterprise Gateway (local
process proxy) that these fixtures start on 127.0.0.1 with a random port and an auth token."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from nbplane.kernels.base import KernelBackend
from nbplane.kernels.fake import FakeKernelBackend, FakeMachine
from nbplane.kernels.gateway import GatewayKernelBackend, GatewayTarget
from nbplane.kernels.local import LocalKernelBackend
from tests.gateways import EG_MISSING, RunningGateway, executable, start_gateway

MakeBackend = Callable[[], KernelBackend]

GATEWAYS = ("kernelgateway", "enterprisegateway")

# What a gateway backend does differently by design, not by defect.
GATEWAY_SKIPS = {
    "test_orphans_are_stopped": "a gateway is shared by every nbplane node and may run kernels nbplane did not start, "
    "so the gateway backend never stops a gateway kernel for lacking a record on one node",
    "test_the_record_follows_a_restart": "a gateway restarts its kernel under the same remote id, so the record "
    "(cluster, gateway URL, remote id) stays valid and is not announced again",
}


@pytest.fixture(scope="session")
def gateways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RunningGateway]]:
    """Gateways started on first use, stopped at the end of the session."""
    running: dict[str, RunningGateway] = {}
    yield running
    for gateway in running.values():
        gateway.stop()


def _gateway(
    kind: str, gateways: dict[str, RunningGateway], tmp_path_factory: pytest.TempPathFactory
) -> RunningGateway:
    if executable(kind) is None:
        pytest.skip(EG_MISSING if kind == "enterprisegateway" else "jupyter-kernel-gateway is not installed")
    if kind not in gateways:
        gateways[kind] = start_gateway(kind, tmp_path_factory.mktemp(kind))
    return gateways[kind]


@pytest.fixture(params=["fake", "local", *GATEWAYS])
async def make_backend(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    gateways: dict[str, RunningGateway],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[MakeBackend]:
    made: list[KernelBackend] = []
    machine = FakeMachine()
    gateway = None
    if request.param in GATEWAYS:
        reason = GATEWAY_SKIPS.get(request.node.originalname)
        if reason:
            pytest.skip(reason)
        gateway = _gateway(request.param, gateways, tmp_path_factory)

    def make() -> KernelBackend:
        backend: KernelBackend
        if request.param == "fake":
            backend = FakeKernelBackend(machine=machine)
        elif gateway is not None:
            # Enterprise Gateway refuses kernels for its own user when that is root: name one, as a cluster does.
            target = GatewayTarget(gateway.url, gateway.token, kernel_env={"KERNEL_USERNAME": "nbplane-contract"})
            backend = GatewayKernelBackend(target, cluster_key="contract", start_timeout=90, adopt_timeout=30)
        else:
            backend = LocalKernelBackend(tmp_path / "runtime", start_timeout=60, adopt_timeout=10, restart_limit=2)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.close(stop_kernels=True)
    if request.param == "local":  # nothing this test started may outlive it
        await LocalKernelBackend(tmp_path / "runtime").stop_orphans(())


@pytest.fixture
def workdir(tmp_path: Path) -> str:
    path = tmp_path / "work"
    path.mkdir()
    return str(path)
