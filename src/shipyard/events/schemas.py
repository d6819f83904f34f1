from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    request_id: str | None
    source: str | None = None  # the caller's address
    seq: int | None = None  # position in the audit chain
    details: dict[str, Any]


class EventList(BaseModel):
    events: list[EventOut]
    next_page_token: str | None = None
