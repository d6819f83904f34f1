from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

ModelName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"),
    Field(description="Letters, digits, '_', '.', '-'; starts with a letter or digit."),
]
AliasName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]*$"),
    Field(description="Letters, digits, '_' and '-'. 'latest' and v<N> are reserved."),
]
TagKey = Annotated[str, StringConstraints(min_length=1, max_length=250, pattern=r"^[\w\-. /:]+$")]


class VersionStatus(StrEnum):
    PENDING_REGISTRATION = "PENDING_REGISTRATION"
    READY = "READY"
    FAILED_REGISTRATION = "FAILED_REGISTRATION"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisteredModelCreate(_In):
    name: ModelName
    description: str = Field(default="", max_length=100_000)
    tags: dict[TagKey, Annotated[str, StringConstraints(max_length=100_000)]] = Field(default_factory=dict)


class RegisteredModelUpdate(_In):
    description: str | None = Field(default=None, max_length=100_000)


class RegisteredModelOut(BaseModel):
    id: str
    name: str
    description: str
    latest_version: int
    aliases: dict[str, int]
    tags: dict[str, str]
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None
    deleted_at: datetime | None


class RegisteredModelList(BaseModel):
    models: list[RegisteredModelOut]
    next_page_token: str | None = None


class VersionCreate(_In):
    source: str = Field(description="runs:/<run id>/<path> of a model logged with shipyard.log_model.")
    description: str = Field(default="", max_length=100_000)
    tags: dict[TagKey, Annotated[str, StringConstraints(max_length=100_000)]] = Field(default_factory=dict)


class VersionUpdate(_In):
    description: str | None = Field(default=None, max_length=100_000)


class VersionFileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    path: str
    digest: str
    size: int


class ModelVersionOut(BaseModel):
    id: str
    model_name: str
    version: int
    source: str
    run_id: str | None
    flavor: str
    signature: dict[str, Any] | None
    input_example: Any | None
    manifest_digest: str | None
    description: str
    status: VersionStatus
    status_message: str
    tags: dict[str, str]
    aliases: list[str]
    created_by: str
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None
    deleted_at: datetime | None
    files: list[VersionFileOut]


class ModelVersionList(BaseModel):
    versions: list[ModelVersionOut]
    next_page_token: str | None = None


class AliasSet(_In):
    version: int = Field(ge=1)


class AliasChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    alias: str
    from_version: int | None
    to_version: int | None
    actor: str
    at: datetime


class AliasHistory(BaseModel):
    changes: list[AliasChangeOut]
    next_page_token: str | None = None


# -- protected aliases and change requests --------------------------------------------
COMMENT_MAX = 10_000


class ProtectedAliasOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    alias: str
    created_by: str
    created_at: datetime


class ProtectedAliasList(BaseModel):
    aliases: list[ProtectedAliasOut]
    next_page_token: str | None = None


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class AliasRequestCreate(_In):
    model: str = Field(min_length=1, max_length=255, description="The registered model's name.")
    alias: str = Field(min_length=1, max_length=255, description="A protected alias of the project.")
    version: int | None = Field(default=None, ge=1, description="The version to point at; null removes the alias.")
    comment: str = Field(default="", max_length=COMMENT_MAX, description="Why (required, not blank).")


class AliasDecision(_In):
    comment: str = Field(
        default="", max_length=COMMENT_MAX, description="Why (required to approve or reject; optional to cancel)."
    )


class AliasRequestOut(BaseModel):
    id: int
    model: str
    alias: str
    action: str = Field(description="'set' (point the alias at to_version) or 'delete' (remove it).")
    from_version: int | None = Field(description="Where the alias pointed when the request was made.")
    to_version: int | None
    requested_by: str
    comment: str
    created_at: datetime
    status: RequestStatus
    decided_by: str | None
    decision_comment: str | None
    decided_at: datetime | None


class AliasRequestList(BaseModel):
    requests: list[AliasRequestOut]
    next_page_token: str | None = None
