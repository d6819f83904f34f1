from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class BlobInfo(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    digest: str = Field(description="sha256 of the content, 64 hex characters.")
    size: int = Field(description="Bytes.")
    created_at: datetime


class BlobList(BaseModel):
    blobs: list[BlobInfo]
    next_page_token: str | None = None
