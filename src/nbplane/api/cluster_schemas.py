"""Wire models of the Cluster API with the SDK's JSON names (`Cluster`, `ClusterSummary`, `DefaultCluster`,
`CreateClusterDetails`, `UpdateClusterDetails`, `Start/Stop/RestartClusterDetails`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from nbplane.api.schemas import format_datetime
from nbplane.clusters import Cluster

DisplayName = Annotated[StrictStr, Field(min_length=1, max_length=255)]
Description = Annotated[StrictStr, Field(max_length=4096)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class CreateClusterDetails(_Request):
    type: Literal["USER", "AI_COMPUTE", "DFL"] = "USER"
    display_name: DisplayName = Field(alias="displayName")
    description: Description | None = None


class UpdateClusterDetails(_Request):
    type: Literal["USER", "AI_COMPUTE"] | None = None
    display_name: DisplayName | None = Field(None, alias="displayName")
    description: Description | None = None


class ClusterActionDetails(_Request):
    """Start, stop and restart details: the SDK's models have no fields."""


def _common(c: Cluster) -> dict[str, Any]:
    return {
        "key": c.key,
        "displayName": c.display_name,
        "description": c.description,
        "type": "USER",
        "timeCreated": format_datetime(c.time_created),
        "timeUpdated": format_datetime(c.time_updated) if c.time_updated else None,
        "state": c.state.value,
        "stateDetails": c.state_details,
        "createdBy": c.created_by,
        "createdByName": c.created_by_name,
        "updatedBy": c.updated_by,
        "updatedByName": c.updated_by_name,
        "stoppedBy": c.stopped_by,
        "stoppedByName": c.stopped_by_name,
        "activeClusterResources": None,
        "driverConfig": None,
    }


def cluster_summary(c: Cluster) -> dict[str, Any]:
    """`ClusterSummary`, with the sessions and notebooks attached to the cluster."""
    return {
        **_common(c),
        "clusterRuntimeConfig": None,
        "workerConfig": None,
        "replicaConfig": None,
        "attachedNotebooks": sorted({s.path for s in c.attached if s.path}),
        "attachedSessions": [
            {
                "type": "FILE" if s.type == "file" else "NOTEBOOK",
                "path": s.path,
                "state": "ACTIVE",
                "lastCommandRun": None,
            }
            for s in c.attached
        ],
        "attachedAgentCount": 0,
    }


def cluster(c: Cluster) -> dict[str, Any]:
    """`Cluster`."""
    return {
        **_common(c),
        "sourceApi": "DEFAULT_CLUSTER_API" if c.is_default else "CLUSTER_API",
        "nodeType": None,
    }


def default_cluster(c: Cluster) -> dict[str, Any]:
    """`DefaultCluster`: a cluster with its workspace key."""
    return {
        **cluster(c),
        "workspaceKey": c.scope.workspace_key,
        "workerConfig": None,
        "clusterRuntimeConfig": None,
        "loggingConfig": None,
        "autoTerminationMinutes": None,
        "jdbcEndpointUrl": None,
        "logId": None,
        "logGroupId": None,
        "subscription": None,
    }
