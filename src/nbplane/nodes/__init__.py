"""Several nbplane servers on one database: each registers as a node with an address and a heartbeat lease,
so that any server can tell where a local kernel runs and whether that server is still there."""

from nbplane.nodes.models import NodeInfo, Placement, PlacementKind
from nbplane.nodes.registry import NodeRegistry, NodeTiming

__all__ = ["NodeInfo", "NodeRegistry", "NodeTiming", "Placement", "PlacementKind"]
