"""Clusters: a workspace's compute targets (local, or a Jupyter Kernel/Enterprise Gateway)."""

from nbplane.clusters.models import (
    AttachedSession,
    Cluster,
    ClusterDetails,
    ClusterKind,
    ClusterState,
    GatewayDetails,
    ListClustersQuery,
)
from nbplane.clusters.service import ClusterService

__all__ = [
    "AttachedSession",
    "Cluster",
    "ClusterDetails",
    "ClusterKind",
    "ClusterService",
    "ClusterState",
    "GatewayDetails",
    "ListClustersQuery",
]
