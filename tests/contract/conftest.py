"""Every kernel backend against one set of cases: `make_backend()` returns a new backend instance on the same
"machine" (the fake's shared FakeMachine, or the local runtime dir), as a restarted server would have."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from nbplane.kernels.base import KernelBackend
from nbplane.kernels.fake import FakeKernelBackend, FakeMachine
from nbplane.kernels.local import LocalKernelBackend

MakeBackend = Callable[[], KernelBackend]


@pytest.fixture(params=["fake", "local"])
async def make_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MakeBackend]:
    made: list[KernelBackend] = []
    machine = FakeMachine()

    def make() -> KernelBackend:
        backend: KernelBackend
        if request.param == "fake":
            backend = FakeKernelBackend(machine=machine)
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
