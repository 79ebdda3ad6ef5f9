"""AIDP operations nbplane does not serve answer 404 NotFound naming their API group."""

from __future__ import annotations

import pytest

from nbplane.api.unserved import group_name, load_operations
from tests.unit.conftest import InProcess


def served_part(message: str, prefix: str) -> str:
    """The list of served groups after `prefix`, checked to name Notebook and Workspace."""
    assert message.startswith(prefix), message
    served = message.removeprefix(prefix)
    assert "Notebook" in served and "Workspace" in served, message
    return served


@pytest.mark.parametrize(
    ("client", "name"),
    [
        ("CatalogClient", "Catalog"),
        ("WorkspaceObjectClient", "Workspace Object"),
        ("MLOpsClient", "MLOps"),
        ("DeltaShareClient", "Delta Share"),
        ("PrivateNetworkProfileClient", "Private Network Profile"),
    ],
)
def test_group_names_come_from_the_sdk_client_class(client: str, name: str) -> None:
    assert group_name(client) == name


def test_every_sdk_operation_is_known() -> None:
    operations = load_operations()
    assert len(operations) == 299
    assert len({op.client for op in operations}) == 20


@pytest.mark.parametrize(
    ("method", "path", "group"),
    [
        ("GET", "/aiDataPlatforms/I/catalogs", "Catalog"),
        ("GET", "/aiDataPlatforms/I/volumes/V/files", "Volume"),
        ("GET", "/aiDataPlatforms/I/workspaces/W/jobs", "Workflow"),
        ("GET", "/aiDataPlatforms/I/workspaces/W/agents/A", "Agent"),
        ("GET", "/aiDataPlatforms/I/workspaces/W/gitRepositories/G", "Git"),
    ],
)
async def test_unserved_groups_say_so(inproc: InProcess, method: str, path: str, group: str) -> None:
    response = await inproc.client.request(method, f"/20260430{path.replace('/I/', f'/{inproc.instance_id}/')}")
    assert response.status_code == 404, response.text
    body = response.json()
    assert body["code"] == "NotFound"
    served = served_part(body["message"], f"nbplane does not serve the {group} API; it serves ")
    assert group not in served
    assert response.headers["opc-request-id"]


async def test_an_unserved_operation_of_a_served_group_is_named(inproc: InProcess) -> None:
    url = f"/20260430/aiDataPlatforms/{inproc.instance_id}/workspaces/default/gitFolders"
    body = (await inproc.client.post(url, json={})).json()
    assert body["code"] == "NotFound"
    served_part(
        body["message"], "nbplane does not serve create_git_folder of the Workspace API; of the AIDP APIs it serves "
    )


async def test_other_paths_keep_the_plain_answer(inproc: InProcess) -> None:
    for path in ("/20260430/nothing/here", "/elsewhere"):
        body = (await inproc.client.get(path)).json()
        assert body == {"code": "NotFound", "message": "There is no operation at this URI path and HTTP method."}
    # a served operation that finds nothing is the resource's own 404
    missing = await inproc.client.get(f"/20260430/aiDataPlatforms/{inproc.instance_id}/workspaces/nope")
    assert missing.json()["code"] == "NotAuthorizedOrNotFound"
