"""Wire models of the Workspace Object API, with the SDK's exact JSON names.

Request models ignore unknown keys and are strict about types; path and rule checks are the
`workspace_objects` layer's. Responses emit every field the SDK marks required (null where unknown).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from nbplane.api.schemas import format_datetime
from nbplane.workspace_objects import WorkspaceObject

Path = Annotated[StrictStr, Field(max_length=4096)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class CopyWorkspaceObjectDetails(_Request):
    from_path: Path | None = Field(None, alias="fromPath")
    to_path: Path | None = Field(None, alias="toPath")
    is_delete_source: StrictBool | None = Field(None, alias="isDeleteSource")
    is_over_write: StrictBool | None = Field(None, alias="isOverWrite")
    # An I/O tuning hint of AIDP's copier; accepted and checked, nbplane streams in its own blocks.
    buffer_size: Annotated[StrictInt, Field(ge=1)] | None = Field(None, alias="bufferSize")
    is_include_outputs: StrictBool | None = Field(None, alias="isIncludeOutputs")
    # nbplane keeps no custom metadata, so there is none to copy.
    metadata_keys: Annotated[StrictStr, Field(max_length=4096)] | None = Field(None, alias="metadataKeys")


class MoveWorkspaceObjectDetails(_Request):
    from_path: Path | None = Field(None, alias="fromPath")
    to_path: Path | None = Field(None, alias="toPath")


class RenameWorkspaceObjectDetails(_Request):
    path: Path | None = None
    new_name: Annotated[StrictStr, Field(max_length=255)] | None = Field(None, alias="newName")


class ZipAndDownloadFolderDetails(_Request):
    source_folder_path: Path | None = Field(None, alias="sourceFolderPath")


class UploadAndExtractZipDetails(_Request):
    action: Literal["CREATE", "UPDATE"] | None = None
    operation_key: Annotated[StrictStr, Field(max_length=255)] | None = Field(None, alias="operationKey")
    zip_file_name: Annotated[StrictStr, Field(max_length=255)] | None = Field(None, alias="zipFileName")
    destination_folder_path: Path | None = Field(None, alias="destinationFolderPath")
    is_overwrite: StrictBool | None = Field(None, alias="isOverwrite")
    e_tag: Annotated[StrictStr, Field(max_length=255)] | None = Field(None, alias="eTag")
    size_in_bytes: Annotated[StrictInt, Field(ge=0)] | None = Field(None, alias="sizeInBytes")


def details_out(obj: WorkspaceObject) -> dict[str, Any]:
    """`WorkspaceObjectDetails`. The key is the path: nbplane objects are files, named by where they are."""
    return {
        "path": obj.path,
        "key": obj.path,
        "displayName": obj.name,
        "timeCreated": format_datetime(obj.created),
        "timeUpdated": format_datetime(obj.updated),
        "type": obj.type.value,
        "description": None,
        "systemTags": None,
    }


def summary_out(obj: WorkspaceObject) -> dict[str, Any]:
    """`WorkspaceObjectSummary`; `compositeEtag` is the object's etag (nbplane keeps no separate metadata)."""
    return {
        "path": obj.path,
        "displayName": obj.name,
        "timeCreated": format_datetime(obj.created),
        "timeUpdated": format_datetime(obj.updated),
        "metadata": None,
        "compositeEtag": obj.etag,
        "type": obj.type.value,
        "description": None,
        "systemTags": None,
        "createdBy": None,
        "createdByName": None,
        "updatedBy": None,
    }
