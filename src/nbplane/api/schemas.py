"""Wire models with the SDK's exact (mixed-case) JSON names.

Request models are strict (no str<->int coercion) and ignore unknown keys, as OCI services do;
response models always emit the fields the SDK marks required, with null where allowed.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

SESSION_TYPES = ("notebook", "file", "agentflow")
SessionType = Literal["notebook", "file", "agentflow"]


@functools.lru_cache(maxsize=8192)
def format_datetime(value: datetime, *, micro: bool = False) -> str:
    """RFC 3339 UTC with a Z: milliseconds for OCI fields, microseconds where Jupyter parses strictly."""
    # isoformat is several times cheaper than strftime, and lists format two stamps per session
    text = value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
    return (text if micro else text[:-3]) + "Z"


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class KernelIn(_Request):
    id: StrictStr | None = None
    name: StrictStr | None = None
    # read-only on the wire; accepted (the CLI's example body carries them) and ignored
    last_activity: StrictStr | None = None
    connections: StrictInt | None = None
    execution_state: StrictStr | None = None


NonEmpty = Annotated[StrictStr, Field(min_length=1, max_length=4096)]


class CreateSessionDetails(_Request):
    id: StrictStr | None = None
    path: NonEmpty | None = None
    name: Annotated[StrictStr, Field(max_length=1024)] | None = None
    type: SessionType | None = None
    cluster_id: Annotated[StrictStr, Field(max_length=255)] | None = None
    agent_flow_key: Annotated[StrictStr, Field(max_length=255)] | None = Field(None, alias="agentFlowKey")
    kernel: KernelIn | None = None


class PatchSessionDetails(_Request):
    id: StrictStr | None = None
    name: Annotated[StrictStr, Field(max_length=1024)] | None = None
    path: NonEmpty | None = None
    type: SessionType | None = None
    cluster_id: Annotated[StrictStr, Field(max_length=255)] | None = None
    kernel: KernelIn | None = None
    must_refresh_context: StrictBool = False


class KernelOut(BaseModel):
    id: str | None
    name: str
    last_activity: str | None
    connections: int
    execution_state: str


class StartKernelDetails(_Request):
    """Body of Jupyter's `POST /api/kernels`; Jupyter's gateway client also sends `env`."""

    name: Annotated[StrictStr, Field(min_length=1, max_length=255)] | None = None
    path: Annotated[StrictStr, Field(max_length=4096)] | None = None
    env: dict[str, object] | None = None


class JupyterKernelOut(BaseModel):
    """Jupyter's kernel model; `reason` only when set (dumped with exclude_none)."""

    id: str
    name: str
    last_activity: str
    execution_state: str
    connections: int
    reason: str | None = None


class SessionOut(BaseModel):
    """`Session` and `SessionSummary`. `lifecycleDetails` and `timeCreated` are nbplane additions
    (the SDK ignores keys it does not know); the rest is the SDK's model."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    name: str
    path: str | None
    type: str | None
    cluster_id: str | None
    kernel: KernelOut | None
    agent_flow_key: str | None = Field(serialization_alias="agentFlowKey")
    lifecycle_state: str = Field(serialization_alias="lifecycleState")
    lifecycle_details: str | None = Field(serialization_alias="lifecycleDetails")
    time_created: str = Field(serialization_alias="timeCreated")


class SessionCollection(BaseModel):
    items: list[SessionOut]


class ErrorBody(BaseModel):
    code: str
    message: str
